"""The fake AI/ML API server: what a client talking HTTP to it sees."""

from __future__ import annotations

import asyncio
import base64
import http.client
import io
import json
import struct
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest

from nanobanana.testing import (
    MALFORMED_KINDS,
    RESPONSE_SHAPES,
    FakeServer,
    RecordedRequest,
    make_png,
    png_size,
)

ENDPOINT = "/v1/images/generations"
AUTH = {"Authorization": "Bearer test-key"}
NANO = "google/gemini-2.5-flash-image"
NANO_EDIT = "google/gemini-2.5-flash-image-edit"
PRO = "google/nano-banana-pro"
PRO_EDIT = "google/nano-banana-pro-edit"
NB2 = "google/nano-banana-2"
NB2_LITE = "google/gemini-3-1-flash-lite-image"
NEW_EDIT = "google/nano-banana-edit"
NEW_PRO_EDIT = "google/gemini-3-pro-image-edit"
TINY_PNG_URL = "data:image/png;base64," + base64.b64encode(make_png(2, 2, b"in")).decode()
VENDOR_ERROR_KEYS = {"message", "path", "requestId", "statusCode", "timestamp"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


class Reply:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


async def post(
    session: aiohttp.ClientSession,
    server: FakeServer,
    body: Any = None,
    *,
    headers: Mapping[str, str] = AUTH,
    raw: bytes | None = None,
    timeout: float = 5.0,
) -> Reply:
    if body is None and raw is None:
        body = {"model": NANO, "prompt": "a lighthouse at dawn"}
    data = raw if raw is not None else json.dumps(body).encode()
    async with session.post(
        server.url + ENDPOINT,
        # aiohttp warns (ResourceWarning) about bytes bodies over 1 MiB, not streams.
        data=io.BytesIO(data),
        headers={"Content-Type": "application/json", **headers},
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as response:
        return Reply(response.status, response.headers, await response.read())


async def get(session: aiohttp.ClientSession, url: str) -> Reply:
    async with session.get(url) as response:
        return Reply(response.status, response.headers, await response.read())


def check_png(data: bytes) -> tuple[int, int]:
    """Walk every chunk, check every CRC and the pixel data's length; return the size."""
    width, height = png_size(data)
    offset, idat, kinds = 8, b"", []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + payload) == crc, kind
        kinds.append(kind)
        idat += payload if kind == b"IDAT" else b""
        offset += 12 + length
    assert kinds[0] == b"IHDR"
    assert kinds[-1] == b"IEND"
    assert data[24:26] == b"\x08\x02"  # 8-bit RGB
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)
    return width, height


async def images_of(session: aiohttp.ClientSession, reply: Reply) -> list[bytes]:
    """The PNG files of a successful response, whatever its shape."""
    body = reply.json()
    if "output" in body:
        return [base64.b64decode(c["image_base64"]) for c in body["output"]["choices"]]
    items = body.get("images") or body["data"]
    found = []
    for item in items:
        if item.get("b64_json"):
            found.append(base64.b64decode(item["b64_json"], validate=True))
        else:
            download = await get(session, item["url"])
            assert download.status == 200
            assert download.headers["Content-Type"] == "image/png"
            found.append(download.body)
    return found


# -- PNG files -----------------------------------------------------------------------


def test_make_png_is_a_valid_deterministic_png() -> None:
    png = make_png(30, 20, b"a lighthouse at dawn")

    assert check_png(png) == (30, 20)
    assert png == make_png(30, 20, b"a lighthouse at dawn")
    assert png != make_png(30, 20, b"a lighthouse at dusk")


def test_make_png_pads_to_the_exact_size_with_a_private_chunk() -> None:
    png = make_png(16, 16, b"seed", pad_to=10_000)

    assert len(png) == 10_000
    assert check_png(png) == (16, 16)
    assert b"nbPd" in png
    assert make_png(16, 16, b"seed", pad_to=10) == make_png(16, 16, b"seed")


def test_make_png_and_png_size_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="width and height"):
        make_png(0, 10, b"x")
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(b"GIF89a" + bytes(40))


# -- response shapes -----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("shape", RESPONSE_SHAPES)
async def test_every_shape_carries_valid_pngs_of_the_asked_ratio(
    server: FakeServer, session: aiohttp.ClientSession, shape: str
) -> None:
    server.shape = shape
    body = {"model": NANO, "prompt": "racoon eating ice-cream", "num_images": 3}
    reply = await post(session, server, body | {"aspect_ratio": "16:9"})

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    images = await images_of(session, reply)
    assert [check_png(png) for png in images] == [(84, 48)] * 3
    assert len(set(images)) == 3


@pytest.mark.anyio
async def test_shapes_follow_the_documented_field_names(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    found = {}
    for shape in RESPONSE_SHAPES:
        server.shape = shape
        found[shape] = (await post(session, server)).json()

    assert found["data_b64"]["data"][0]["url"] is None
    assert found["data_b64"]["meta"]["usage"] == {"credits_used": 81900, "usd_spent": 0.039}
    image = found["images_url"]["images"][0]
    assert image["file_name"] == "output.png"
    assert image["content_type"] == "image/png"
    assert (image["width"], image["height"]) == (64, 64)
    assert image["file_size"] > 0
    assert found["data_url"]["description"] == ""
    assert found["data_url"]["meta"]["usage"] == {"tokens_used": 1290}
    assert found["nb2"]["data"][0]["mime_type"] == "image/png"
    assert found["nb2"]["data"][0]["b64_json"] is None
    assert found["nb2"]["meta"]["usage"] == {"credits_used": 81900}
    assert "description" in found["output_choices"]


@pytest.mark.anyio
async def test_prompts_decide_the_picture(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    async def image(prompt: str) -> bytes:
        reply = await post(session, server, {"model": NANO, "prompt": prompt})
        return (await images_of(session, reply))[0]

    first, again, other = await image("a cat"), await image("a cat"), await image("a dog")

    assert first == again
    assert first != other


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extra", "size"),
    [({}, (64, 64)), ({"resolution": "2K"}, (128, 128)), ({"resolution": "4K"}, (256, 256))],
)
async def test_resolution_scales_the_image(
    server: FakeServer, session: aiohttp.ClientSession, extra: dict[str, str], size: tuple[int, int]
) -> None:
    reply = await post(session, server, {"model": PRO, "prompt": "p"} | extra)

    assert [png_size(png) for png in await images_of(session, reply)] == [size]


@pytest.mark.anyio
async def test_image_size_overrides_the_ratio(session: aiohttp.ClientSession) -> None:
    async with FakeServer(image_size=(10, 7)) as server:
        reply = await post(session, server, {"model": NANO, "prompt": "p", "aspect_ratio": "9:16"})

        assert [png_size(png) for png in await images_of(session, reply)] == [(10, 7)]


@pytest.mark.anyio
@pytest.mark.parametrize("target", [8 * 1024, 256 * 1024, 1_500_000])
@pytest.mark.parametrize("shape", ["data_b64", "images_url"])
async def test_image_bytes_pads_files_to_that_size(
    session: aiohttp.ClientSession, target: int, shape: str
) -> None:
    async with FakeServer(image_bytes=target, shape=shape) as server:
        reply = await post(session, server)
        (png,) = await images_of(session, reply)

    assert len(png) == target
    assert check_png(png) == (64, 64)


@pytest.mark.anyio
async def test_files_are_served_and_unknown_files_are_404(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    server.shape = "images_url"
    url = (await post(session, server)).json()["images"][0]["url"]

    assert url.startswith(server.url + "/files/")
    assert url.endswith(".png")
    assert (await get(session, url)).status == 200
    missing = await get(session, server.url + "/files/nope.png")
    assert missing.status == 404
    assert set(missing.json()) == VENDOR_ERROR_KEYS


@pytest.mark.anyio
async def test_unknown_paths_get_a_vendor_404(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    reply = await get(session, server.url + "/v1/models/nope")

    assert reply.status == 404
    assert reply.json()["message"] == "Cannot GET /v1/models/nope"


# -- headers -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_success_headers_carry_ids_and_usage(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    body = {"model": NANO, "prompt": "p", "num_images": 3}
    first, second = await post(session, server, body), await post(session, server, body)

    uuid.UUID(first.headers["x-inference-id"])
    assert first.headers["x-inference-id"] != second.headers["x-inference-id"]
    assert first.headers["x-aimlapi-credits-used"] == "245700"
    assert first.headers["x-aimlapi-usd-spent"] == "0.117"
    assert first.json()["meta"]["usage"] == {"credits_used": 245700, "usd_spent": 0.117}
    assert "x-client-request-id" not in first.headers


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("req-1:a.b_c", "req-1:a.b_c"),
        ("x" * 128, "x" * 128),
        ("x" * 129, None),
        ("has space", None),
        ("semi;colon", None),
    ],
)
async def test_client_request_id_is_echoed_only_when_valid(
    server: FakeServer, session: aiohttp.ClientSession, sent: str, echoed: str | None
) -> None:
    reply = await post(session, server, headers=AUTH | {"X-Client-Request-Id": sent})

    assert reply.status == 200
    assert reply.headers.get("x-client-request-id") == echoed


# -- auth and validation -------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-key"}, {"Authorization": ""}],
)
async def test_a_missing_or_wrong_key_is_401(
    server: FakeServer, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    reply = await post(session, server, headers=headers)

    assert reply.status == 401
    assert reply.json()["message"] == "A valid API key is required"
    assert reply.json()["statusCode"] == 401
    assert set(reply.json()) == VENDOR_ERROR_KEYS
    assert "x-inference-id" in reply.headers
    assert server.requests[-1].outcome == "401"


@pytest.mark.anyio
async def test_api_key_none_accepts_any_bearer(session: aiohttp.ClientSession) -> None:
    async with FakeServer(api_key=None) as server:
        assert (await post(session, server, headers={"Authorization": "Bearer x"})).status == 200
        assert (await post(session, server, headers={})).status == 401


def _urls(count: int) -> list[str]:
    return [f"https://example.com/{i}.png" for i in range(count)]


INVALID_BODIES: list[tuple[Any, str]] = [
    ([NANO, "p"], "Expected object"),
    ({"prompt": "p"}, '"model"'),
    ({"model": 3, "prompt": "p"}, '"model"'),
    ({"model": NANO}, '"prompt"'),
    ({"model": NANO, "prompt": "   "}, '"prompt"'),
    ({"model": NANO, "prompt": ["p"]}, '"prompt"'),
    ({"model": NANO, "prompt": "p", "num_images": 0}, '"num_images"'),
    ({"model": NANO, "prompt": "p", "num_images": 5}, '"num_images"'),
    ({"model": NANO, "prompt": "p", "num_images": "2"}, '"num_images"'),
    ({"model": NANO, "prompt": "p", "num_images": 1.5}, '"num_images"'),
    ({"model": NANO, "prompt": "p", "num_images": True}, '"num_images"'),
    ({"model": NB2, "prompt": "p", "num_images": 1}, "'num_images'"),
    ({"model": NANO, "prompt": "p", "aspect_ratio": "7:3"}, '"aspect_ratio"'),
    ({"model": NB2, "prompt": "p", "aspect_ratio": "21:9"}, '"aspect_ratio"'),
    ({"model": PRO, "prompt": "p", "resolution": "8K"}, '"resolution"'),
    ({"model": NANO, "prompt": "p", "resolution": "1K"}, "'resolution'"),
    ({"model": NANO, "prompt": "p", "image_urls": _urls(1)}, "'image_urls'"),
    ({"model": NANO_EDIT, "prompt": "p"}, '"image_urls"'),
    ({"model": NANO_EDIT, "prompt": "p", "image_urls": []}, '"image_urls"'),
    ({"model": NANO_EDIT, "prompt": "p", "image_urls": _urls(1)[0]}, '"image_urls"'),
    ({"model": NANO_EDIT, "prompt": "p", "image_urls": [7]}, '"image_urls[0]"'),
    ({"model": NANO_EDIT, "prompt": "p", "image_urls": ["ftp://x/y.png"]}, '"image_urls[0]"'),
    ({"model": NANO_EDIT, "prompt": "p", "image_urls": ["not a url"]}, '"image_urls[0]"'),
    (
        {
            "model": NANO_EDIT,
            "prompt": "p",
            "image_urls": [TINY_PNG_URL, "data:image/png;base64,@@"],
        },
        '"image_urls[1]"',
    ),
    ({"model": PRO_EDIT, "prompt": "p", "image_urls": _urls(15)}, "at most 14"),
    ({"model": NB2, "prompt": "p", "image_urls": _urls(6)}, "at most 5"),
    ({"model": NANO, "prompt": "p", "provider": "openai"}, '"provider"'),
    ({"model": NB2, "prompt": "p", "provider": "google"}, "'provider'"),
    ({"model": NB2, "prompt": "p", "enable_web_search": "yes"}, '"enable_web_search"'),
    ({"model": PRO, "prompt": "p", "enable_web_search": True}, "'enable_web_search'"),
    ({"model": NEW_EDIT, "prompt": "p", "image_urls": _urls(4)}, "at most 3"),
    ({"model": NEW_EDIT, "prompt": "p", "aspect_ratio": "21:9"}, '"aspect_ratio"'),
    ({"model": NEW_EDIT, "prompt": "p", "seed": 4294967296}, '"seed"'),
    ({"model": NEW_EDIT, "prompt": "p", "seed": -1}, '"seed"'),
    ({"model": NEW_EDIT, "prompt": "p", "safety_setting": "none"}, '"safety_setting"'),
    ({"model": NEW_EDIT, "prompt": "p", "person_generation": "all"}, '"person_generation"'),
    ({"model": NEW_EDIT, "prompt": "p", "add_watermark": "no"}, '"add_watermark"'),
    ({"model": NEW_PRO_EDIT, "prompt": "p"}, '"image_urls"'),
    ({"model": NEW_PRO_EDIT, "prompt": "p", "image_urls": _urls(6)}, "at most 5"),
    (
        {"model": NEW_PRO_EDIT, "prompt": "p", "image_urls": _urls(1), "aspect_ratio": "2:3"},
        '"aspect_ratio"',
    ),
]

VALID_NEWER_BODIES: list[dict[str, Any]] = [
    {"model": NANO, "prompt": "p", "provider": "fal"},
    {"model": PRO, "prompt": "p", "provider": "auto", "resolution": "4K"},
    {"model": NB2, "prompt": "p", "enable_web_search": True},
    {"model": NB2_LITE, "prompt": "p", "enable_web_search": False, "aspect_ratio": "9:16"},
    {
        "model": NEW_EDIT,
        "prompt": "p",
        "image_urls": _urls(3),
        "aspect_ratio": "16:9",
        "num_images": 4,
        "seed": 4294967295,
        "enhance_prompt": False,
        "person_generation": "allow_adult",
        "safety_setting": "block_only_high",
        "add_watermark": True,
        "convert_base64_to_url": False,
        "provider": "google",
    },
    {"model": NEW_EDIT, "prompt": "p", "seed": 0},
    {"model": NEW_PRO_EDIT, "prompt": "p", "image_urls": _urls(5), "resolution": "2K"},
    {"model": PRO_EDIT, "prompt": "p", "image_urls": _urls(14)},
]


@pytest.mark.anyio
@pytest.mark.parametrize("body", VALID_NEWER_BODIES)
async def test_the_newer_parameters_and_models_are_served(
    server: FakeServer, session: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    reply = await post(session, server, body)

    assert reply.status == 200, reply.body
    assert len(reply.json()["data"]) == body.get("num_images", 1)


@pytest.mark.anyio
@pytest.mark.parametrize(("body", "detail"), INVALID_BODIES)
async def test_invalid_bodies_get_the_vendor_400(
    server: FakeServer, session: aiohttp.ClientSession, body: Any, detail: str
) -> None:
    reply = await post(session, server, body)

    assert reply.status == 400
    error = reply.json()
    assert set(error) == VENDOR_ERROR_KEYS
    assert error["message"].startswith("Body validation error! ")
    assert detail in error["message"]
    assert error["path"] == ENDPOINT
    assert error["statusCode"] == 400
    assert error["requestId"] == reply.headers["x-inference-id"]
    assert server.requests[-1].outcome == "400"


@pytest.mark.anyio
@pytest.mark.parametrize("raw", [b"", b"{not json", b"null"])
async def test_a_body_that_is_not_a_json_object_is_400(
    server: FakeServer, session: aiohttp.ClientSession, raw: bytes
) -> None:
    reply = await post(session, server, raw=raw)

    assert reply.status == 400
    assert reply.json()["message"].startswith("Body validation error!")


@pytest.mark.anyio
async def test_edits_accept_urls_data_urls_and_unknown_keys(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    big = "data:image/png;base64," + base64.b64encode(bytes(3_000_000)).decode()
    body = {
        "model": PRO_EDIT,
        "prompt": "make it night",
        "image_urls": ["https://example.com/a.png", TINY_PNG_URL, big, big],
        "resolution": "2K",
        "some_future_flag": {"nested": True},
    }
    reply = await post(session, server, body)

    assert reply.status == 200
    assert server.requests[-1].json["some_future_flag"] == {"nested": True}
    assert server.requests[-1].body_size > 8_000_000


@pytest.mark.anyio
async def test_unknown_models_are_served_unless_strict(session: aiohttp.ClientSession) -> None:
    body = {"model": "acme/future-image", "prompt": "p", "resolution": "2K", "num_images": 2}
    async with FakeServer() as lenient:
        assert (await post(session, lenient, body)).status == 200
    async with FakeServer(strict_models=True) as strict:
        reply = await post(session, strict, body)
        assert reply.status == 404
        assert "acme/future-image" in reply.json()["message"]
        assert (await post(session, strict, body | {"model": NANO, "num_images": 1})).status == 400


# -- fault switches ------------------------------------------------------------------


@pytest.mark.anyio
async def test_fail_next_responds_429_with_retry_after_then_recovers(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    server.fail_next(status=429, retry_after=2, retry_after_ms=1500)

    limited, after = await post(session, server), await post(session, server)

    assert limited.status == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.headers["retry-after-ms"] == "1500"
    assert "x-inference-id" in limited.headers
    assert limited.json()["message"] == "Too Many Requests"
    assert limited.json()["statusCode"] == "429"
    assert after.status == 200
    assert [r.outcome for r in server.requests] == ["fault:429", "ok"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "words"),
    [(403, "credits"), (500, "Internal"), (502, "Bad Gateway"), (503, "maintenance")],
)
async def test_fail_next_default_bodies_explain_the_status(
    server: FakeServer, session: aiohttp.ClientSession, status: int, words: str
) -> None:
    server.fail_next(2, status)

    replies = [await post(session, server) for _ in range(3)]

    assert [r.status for r in replies] == [status, status, 200]
    assert words in replies[0].json()["message"]
    assert replies[0].json()["statusCode"] == status


@pytest.mark.anyio
async def test_fail_next_sends_custom_bodies_and_headers(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    page = "<html><body>502 Bad Gateway</body></html>"
    server.fail_next(status=502, body=page, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    server.fail_next(status=500, body={"error": {"message": "boom"}}, headers={"X-Extra": "1"})
    server.fail_next(status=503, body=b"\x00", content_type="application/octet-stream")

    gateway, nested, raw = [await post(session, server) for _ in range(3)]

    assert gateway.body.decode() == page
    assert gateway.headers["Content-Type"].startswith("text/html")
    assert gateway.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert nested.json() == {"error": {"message": "boom"}}
    assert nested.headers["X-Extra"] == "1"
    assert (raw.status, raw.body) == (503, b"\x00")
    assert raw.headers["Content-Type"] == "application/octet-stream"


@pytest.mark.anyio
@pytest.mark.parametrize("reset", [False, True])
async def test_drop_next_closes_the_connection_without_a_response(
    server: FakeServer, session: aiohttp.ClientSession, reset: bool
) -> None:
    server.drop_next(reset=reset)

    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await post(session, server)
    assert (await post(session, server)).status == 200
    assert [(r.outcome, r.status) for r in server.requests] == [("dropped", None), ("ok", 200)]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", MALFORMED_KINDS)
async def test_malformed_next_sends_a_useless_200(
    server: FakeServer, session: aiohttp.ClientSession, kind: str
) -> None:
    server.malformed_next(kind=kind)

    reply = await post(session, server)

    assert reply.status == 200
    assert server.requests[-1].outcome == f"malformed:{kind}"
    if kind in ("not_json", "bad_json", "truncated", "html", "empty"):
        with pytest.raises(ValueError):
            reply.json()
    if kind in ("not_json", "html"):
        assert reply.headers["Content-Type"].startswith("text/html")
    if kind in ("bad_json", "truncated", "empty", "no_image", "null_data", "bad_base64"):
        assert reply.headers["Content-Type"] == "application/json"
    if kind == "truncated":
        assert reply.body.startswith(b'{"data":[{"url":null,"b64_json":"iVBOR')
    if kind == "no_image":
        assert reply.json()["data"] == []
    if kind == "null_data":
        assert reply.json() == {"data": None, "meta": None}
    if kind == "bad_base64":
        with pytest.raises(ValueError):
            base64.b64decode(reply.json()["data"][0]["b64_json"], validate=True)
    if kind == "html":
        assert reply.body.startswith(b"<!DOCTYPE html>")
    if kind == "empty":
        assert reply.body == b""
    assert (await post(session, server)).status == 200


@pytest.mark.anyio
async def test_hang_next_never_responds_and_does_not_delay_shutdown(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeServer() as server:
        server.hang_next(2)
        with pytest.raises(asyncio.TimeoutError):
            await post(session, server, timeout=0.2)
        assert server.requests[-1].outcome == "hung"
        # The second hang is still open when the server closes.
        pending = asyncio.ensure_future(post(session, server, timeout=5))
        while len(server.requests) < 2:
            await asyncio.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 0.5
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await pending
    assert [r.outcome for r in server.requests] == ["hung", "hung"]


@pytest.mark.anyio
async def test_latency_and_slow_next_delay_responses(session: aiohttp.ClientSession) -> None:
    async with FakeServer(latency=0.05) as server:
        server.slow_next(1, 0.2)
        started = time.monotonic()
        await post(session, server)
        slow = time.monotonic() - started
        started = time.monotonic()
        await post(session, server)
        normal = time.monotonic() - started

    assert slow >= 0.25
    assert 0.05 <= normal < slow


@pytest.mark.anyio
async def test_a_client_giving_up_during_latency_is_recorded_as_cancelled(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeServer(latency=2) as server:
        with pytest.raises(asyncio.TimeoutError):
            await post(session, server, timeout=0.1)
        for _ in range(100):
            if server.requests[-1].outcome != "pending":
                break
            await asyncio.sleep(0.01)
        assert server.requests[-1].outcome == "cancelled"


@pytest.mark.anyio
async def test_faults_are_consumed_in_order_by_generations_only(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    server.shape = "images_url"
    url = (await post(session, server)).json()["images"][0]["url"]
    server.fail_next(status=503)
    server.malformed_next(kind="empty")
    server.fail_downloads_next(1, 404)
    assert server.pending_faults == 2

    assert (await get(session, url)).status == 404
    assert (await get(session, url)).status == 200
    statuses = [(await post(session, server)).status for _ in range(3)]

    assert statuses == [503, 200, 200]
    assert [r.outcome for r in server.generation_requests] == [
        "ok",
        "fault:503",
        "malformed:empty",
        "ok",
    ]
    assert server.pending_faults == 0


@pytest.mark.anyio
async def test_reset_forgets_faults_and_recordings(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    server.fail_next(3)
    await post(session, server)
    server.reset()

    assert server.requests == []
    assert server.pending_faults == 0
    assert (await post(session, server)).status == 200


def test_switches_reject_nonsense() -> None:
    server = FakeServer()
    with pytest.raises(ValueError, match="shape"):
        server.shape = "xml"
    with pytest.raises(ValueError, match="kind"):
        server.malformed_next(kind="weird")
    with pytest.raises(ValueError, match="status"):
        server.fail_next(status=99)
    with pytest.raises(ValueError, match="n must be"):
        server.drop_next(-1)
    with pytest.raises(ValueError, match="latency"):
        server.latency = -1
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


# -- recording -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_requests_are_recorded_with_headers_body_and_connection(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    body = {"model": NANO, "prompt": "p", "num_images": 2}
    for _ in range(3):
        await post(session, server, body, headers=AUTH | {"X-Trace": "t"})

    records = server.generation_requests
    assert len(records) == 3
    first = records[0]
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.outcome, first.status) == ("POST", ENDPOINT, "ok", 200)
    assert first.json == body
    assert first.body_size == len(json.dumps(body))
    assert first.headers["authorization"] == "Bearer test-key"
    assert first.headers["x-trace"] == "t"
    assert records[0].received_at <= records[1].received_at <= records[2].received_at
    assert server.distinct_connections() == 1  # one kept-alive connection


@pytest.mark.anyio
async def test_distinct_connections_counts_new_connections(server: FakeServer) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:
        for _ in range(3):
            await post(fresh, server)

    assert server.distinct_connections() == 3


# -- blocking use --------------------------------------------------------------------


def _blocking_post(url: str, body: Any, key: str = "test-key") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url + ENDPOINT,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def _server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "nanobanana-fake-server"]


def test_with_runs_the_server_in_a_thread_for_blocking_code() -> None:
    with FakeServer(shape="output_choices") as server:
        assert len(_server_threads()) == 1
        status, body = _blocking_post(server.url, {"model": NANO, "prompt": "p"})
        assert status == 200
        assert png_size(base64.b64decode(body["output"]["choices"][0]["image_base64"])) == (64, 64)
        server.fail_next(status=500)
        assert _blocking_post(server.url, {"model": NANO, "prompt": "p"})[0] == 500
        assert _blocking_post(server.url, {"model": NANO, "prompt": "p"}, key="bad")[0] == 401
        url = server.url

    assert _server_threads() == []
    assert not server.running
    with pytest.raises(urllib.error.URLError):
        _blocking_post(url, {"model": NANO, "prompt": "p"})
    assert [r.outcome for r in server.requests] == ["ok", "fault:500", "401"]


def test_start_and_stop_are_explicit_and_idempotent() -> None:
    server = FakeServer()
    server.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
        assert server.url == f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
    server.stop()
    assert _server_threads() == []


def _hang_one_request(server: FakeServer) -> None:
    server.hang_next()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.2)
    try:
        connection.request("POST", ENDPOINT, body=b"{}", headers=AUTH)
        with pytest.raises(TimeoutError):
            connection.getresponse()
    finally:
        connection.close()


def test_a_thread_server_stops_with_a_request_hanging() -> None:
    with FakeServer() as server:
        _hang_one_request(server)
        started = time.monotonic()
    assert time.monotonic() - started < 0.5
    assert _server_threads() == []


def test_a_stopped_server_starts_again_on_a_new_loop() -> None:
    server = FakeServer()
    for _ in range(2):  # each start runs a new event loop in a new thread
        with server:
            _hang_one_request(server)
            assert _blocking_post(server.url, {"model": NANO, "prompt": "p"})[0] == 200
            started = time.monotonic()
        assert time.monotonic() - started < 0.5

    assert [r.outcome for r in server.requests] == ["hung", "ok", "hung", "ok"]


@pytest.mark.anyio
async def test_a_thread_server_works_beside_a_running_loop(session: aiohttp.ClientSession) -> None:
    with FakeServer() as server:
        assert (await post(session, server)).status == 200
    assert _server_threads() == []


def test_a_busy_port_fails_start_cleanly() -> None:
    with FakeServer() as first:
        taken = FakeServer(port=first.port)
        with pytest.raises(OSError):
            taken.start()
        assert not taken.running
    assert _server_threads() == []


@pytest.mark.anyio
async def test_aclose_stops_a_thread_server_and_stop_refuses_a_loop_server() -> None:
    threaded = FakeServer()
    threaded.start()
    await threaded.aclose()
    assert _server_threads() == []

    async with FakeServer() as server:
        with pytest.raises(RuntimeError, match="aclose"):
            server.stop()
        assert server.running
