"""Responses written by an adversary: hostile names, URLs, sizes, types and bodies.

Each test runs the SDK over real HTTP against a small raw aiohttp app on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from _raw_api import ENDPOINT, b64, png, serve
from aiohttp import web

import nanobanana as nb
from nanobanana.testing import make_png

pytestmark = pytest.mark.anyio

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GIF = b"GIF89a" + (5).to_bytes(2, "little") + (3).to_bytes(2, "little") + bytes(20)


def app_with(generate: Handler, **routes: Handler) -> web.Application:
    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    for name, handler in routes.items():
        app.router.add_get(f"/{name}", handler)
    return app


def responding(doc: Any) -> Handler:
    async def generate(request: web.Request) -> web.Response:
        text = json.dumps(doc).replace("{origin}", str(request.url.origin()))
        return web.Response(body=text.encode(), content_type="application/json")

    return generate


def client(url: str, **kw: Any) -> nb.AsyncClient:
    kw.setdefault("max_retries", 0)
    return nb.AsyncClient(api_key="k", base_url=url, **kw)


async def measure(coro: Awaitable[Any]) -> tuple[BaseException | Any, int]:
    """Run ``coro``; return its result or exception, and the tracemalloc peak (bytes)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        try:
            outcome: Any = await coro
        except BaseException as exc:
            outcome = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return outcome, peak


# -- 4. hostile file names ---------------------------------------------------------------

HOSTILE_NAMES = ["../../x.png", "/etc/passwd", "a\x00b.png", "dir/evil.png", "..", "~/.bashrc"]
SDK_NAME = re.compile(r"^image-[0-9a-f]{16}\.png$")
BATCH_NAME = re.compile(r"^\d{6}-[a-z0-9-]+(-\d+)?\.png$")


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for entry in folder.iterdir():
        st = entry.lstat()
        out[entry.name] = (st.st_mtime_ns, st.st_size)
    return out


def hostile_app(shape: str) -> web.Application:
    async def generate(request: web.Request) -> web.Response:
        origin = request.url.origin()
        entries = [
            {
                "url": f"{origin}/img/{i}",
                "content_type": "image/png",
                "file_name": name,
                "file_size": 10,
                "width": 8,
                "height": 6,
            }
            for i, name in enumerate(HOSTILE_NAMES)
        ]
        doc = {"images": entries} if shape == "images_url" else {"data": entries}
        return web.json_response(doc)

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=png(request.match_info["i"]), content_type="image/png")

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    app.router.add_get("/img/{i}", image)
    return app


@pytest.mark.parametrize("shape", ["images_url", "data_url"])
async def test_hostile_file_names_never_choose_where_images_are_written(
    tmp_path: Path, shape: str
) -> None:
    work = tmp_path / "work"
    out_dir, save_dir = work / "out", work / "saved"
    save_dir.mkdir(parents=True)
    outside = snapshot(tmp_path.parent)
    etc_passwd = os.stat("/etc/passwd")

    async with serve(hostile_app(shape)) as url, client(url) as c:
        result = await c.generate("a kite")
        saved = [img.save(save_dir) for img in result.images]
        saved_again = result.save(save_dir)
        items = [item async for item in c.batch(["a kite", "a boat"], out_dir=out_dir)]

    assert len(result.images) == len(HOSTILE_NAMES)
    assert all(p.parent == save_dir for p in [*saved, *saved_again])
    assert all(SDK_NAME.match(p.name) for p in saved)
    assert {p.name for p in save_dir.iterdir()} == {p.name for p in saved}
    assert all(item.ok for item in items)
    written = [p for item in items for p in item.paths]
    assert len(written) == 2 * len(HOSTILE_NAMES)
    assert all(p.parent == out_dir and BATCH_NAME.match(p.name) for p in written)
    assert {p.name for p in out_dir.iterdir()} == {p.name for p in written} | {"manifest.jsonl"}
    # Nothing else appeared or changed: not beside tmp_path, not in the work folder.
    assert sorted(p.name for p in work.iterdir()) == ["out", "saved"]
    assert snapshot(tmp_path.parent) == outside
    after = os.stat("/etc/passwd")
    assert (after.st_mtime_ns, after.st_size) == (etc_passwd.st_mtime_ns, etc_passwd.st_size)
    assert not (tmp_path / "x.png").exists()
    assert not (work / "x.png").exists()


# -- 5. image URLs that are not http(s) ------------------------------------------------------


@pytest.mark.parametrize(
    "bad_url",
    ["file:///etc/passwd", "ftp://x/y.png", "x/y.png", "//", "gopher://127.0.0.1:1/x"],
)
async def test_image_urls_that_are_not_http_are_refused(bad_url: str) -> None:
    app = app_with(responding({"data": [{"url": bad_url}]}))
    async with serve(app) as url, client(url) as c:
        with pytest.raises(nb.ImageDownloadError, match="only http and https"):
            await c.generate("a kite")


async def test_a_data_url_that_is_not_an_image_is_a_typed_error() -> None:
    app = app_with(responding({"data": [{"url": "data:text/plain;base64,aGk="}]}))
    async with serve(app) as url, client(url) as c:
        with pytest.raises(nb.ResponseError, match="not a PNG"):
            await c.generate("a kite")


async def test_a_png_data_url_in_the_url_field_is_inline_data() -> None:
    picture = png("inline")
    app = app_with(responding({"images": [{"url": f"data:image/png;base64,{b64(picture)}"}]}))
    async with serve(app) as url, client(url) as c:
        result = await c.generate("a kite")
    assert result.image.data == picture
    assert result.image.url is None


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://x/y.png", "data:,hi"])
async def test_a_redirect_off_http_is_refused(status: int, target: str) -> None:
    fetched: list[str] = []

    async def moved(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.Response(status=status, headers={"Location": target})

    app = app_with(responding({"data": [{"url": "{origin}/img"}]}), img=moved)
    async with serve(app) as url, client(url) as c:
        with pytest.raises(nb.ImageDownloadError, match="after a redirect"):
            await c.generate("a kite")
    assert fetched == ["/img"]


# -- 6. downloads too large, and without end ---------------------------------------------------

CAP = 2 * 1024 * 1024
MiB = 1024 * 1024


async def _endless(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "image/png"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    chunk = b"\x89PNG\r\n\x1a\n" + bytes(65_528)
    while True:  # ends when the client hangs up
        await resp.write(chunk)


# Bodies the raw app serves are built before the measurement: it runs in this process.
BODIES: dict[str, bytes] = {}


def body_of(name: str) -> bytes:
    if name not in BODIES:
        if name == "big":
            BODIES[name] = b"\x89PNG\r\n\x1a\n" + bytes(8 * CAP)
        elif name == "png-bomb":
            BODIES[name] = gzip.compress(b"\x89PNG\r\n\x1a\n" + bytes(32 * CAP), 9)
        elif name == "json-bomb":
            BODIES[name] = gzip.compress(b'{"data":["' + b"A" * (64 * MiB) + b'"]}', 9)
    return BODIES[name]


async def write_slowly(
    request: web.Request, body: bytes, headers: dict[str, str]
) -> web.StreamResponse:
    # In chunks, with Content-Length: a one-piece write would buffer it all in the
    # server's transport, and the server runs in this (measured) process.
    resp = web.StreamResponse(headers={**headers, "Content-Length": str(len(body))})
    await resp.prepare(request)
    for i in range(0, len(body), 65_536):
        await resp.write(body[i : i + 65_536])
    await resp.write_eof()
    return resp


async def _big_with_length(request: web.Request) -> web.StreamResponse:
    return await write_slowly(request, body_of("big"), {"Content-Type": "image/png"})


async def _big_without_length(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "image/png"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for _ in range(8 * CAP // 65_536):
        await resp.write(bytes(65_536))
    await resp.write_eof()
    return resp


async def _gzip_bomb(request: web.Request) -> web.Response:
    # 64 MiB of zeros in ~64 KiB: a small Content-Length under the cap, a huge body.
    return web.Response(
        body=body_of("png-bomb"),
        headers={"Content-Type": "image/png", "Content-Encoding": "gzip"},
    )


@pytest.mark.parametrize(
    "handler",
    [_big_with_length, _big_without_length, _endless, _gzip_bomb],
    ids=["content-length", "chunked", "endless", "gzip-bomb"],
)
async def test_a_download_past_the_cap_is_stopped_with_bounded_memory(handler: Handler) -> None:
    for name in ("big", "png-bomb"):
        body_of(name)
    app = app_with(responding({"data": [{"url": "{origin}/img"}]}), img=handler)
    async with serve(app) as url, client(url, max_download_bytes=CAP, timeout=20) as c:
        outcome, peak = await measure(asyncio.wait_for(c.generate("a kite"), 15))

    assert isinstance(outcome, nb.ImageDownloadError), outcome
    assert str(CAP) in str(outcome)
    assert peak < 3 * CAP, f"peak {peak / CAP:.1f}x the cap"


# -- 7. content types that lie ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claimed", "data", "sniffed"),
    [
        ("image/jpeg", make_png(4, 3, b"liar"), "image/png"),
        ("image/png", GIF, "image/gif"),
        ("text/html", make_png(4, 3, b"html?"), "image/png"),
    ],
)
@pytest.mark.parametrize("where", ["url", "b64"])
async def test_the_mime_type_is_sniffed_not_taken_from_content_type(
    claimed: str, data: bytes, sniffed: str, where: str
) -> None:
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=data, headers={"Content-Type": claimed})

    entry: dict[str, Any] = {"content_type": claimed, "mime_type": claimed}
    if where == "url":
        entry["url"] = "{origin}/img"
    else:
        entry["b64_json"] = b64(data)
    app = app_with(responding({"data": [entry]}), img=image)
    async with serve(app) as url, client(url) as c:
        result = await c.generate("a kite")
    assert result.image.mime_type == sniffed
    assert result.image.data == data


@pytest.mark.parametrize(
    "data", [b"<html>not an image</html>", b"%PDF-1.7\n", b"\x00" * 64, b"BM" + bytes(60)]
)
@pytest.mark.parametrize("where", ["url", "b64"])
async def test_bytes_that_are_no_known_image_are_a_response_error(data: bytes, where: str) -> None:
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=data, content_type="image/png")

    entry = {"url": "{origin}/img"} if where == "url" else {"b64_json": b64(data)}
    app = app_with(responding({"data": [{**entry, "content_type": "image/png"}]}), img=image)
    async with serve(app) as url, client(url) as c:
        with pytest.raises(nb.ResponseError, match="not a PNG, JPEG, WEBP or GIF"):
            await c.generate("a kite")


# -- 8. invalid, enormous and ill-typed bodies ---------------------------------------------------


def raw_body(body: bytes, *, chunked: bool = False) -> Handler:
    async def generate(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return await write_slowly(request, body, {"Content-Type": "application/json"})
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(body), 65_536):
            await resp.write(body[i : i + 65_536])
        await resp.write_eof()
        return resp

    return generate


async def test_30_mb_of_base64_with_a_bad_last_char_is_a_response_error() -> None:
    payload = b'{"data":[{"b64_json":"' + b"A" * (30 * MiB) + b'!"}]}'
    async with serve(app_with(raw_body(payload))) as url, client(url, timeout=30) as c:
        outcome, peak = await measure(c.generate("a kite"))
    assert isinstance(outcome, nb.ResponseError), outcome
    assert "base64" in str(outcome)
    assert len(outcome.body or b"") <= 65_536  # the error does not keep the whole response
    assert peak < 6 * len(payload), f"peak {peak / len(payload):.1f}x the body"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_json_response_above_max_response_bytes_is_stopped(chunked: bool) -> None:
    payload = json.dumps({"data": [{"b64_json": b64(png("big")) + "A" * (8 * MiB)}]}).encode()
    app = app_with(raw_body(payload, chunked=chunked))
    async with serve(app) as url, client(url, max_response_bytes=MiB) as c:
        outcome, peak = await measure(c.generate("a kite"))
    assert isinstance(outcome, nb.ResponseError), outcome
    assert str(MiB) in str(outcome)
    assert peak < 3 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_an_endless_json_response_is_stopped_at_max_response_bytes() -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(b'{"data":[{"b64_json":"')
        while True:
            await resp.write(b"A" * 65_536)

    async with serve(app_with(endless)) as url, client(url, max_response_bytes=MiB) as c:
        outcome, peak = await measure(asyncio.wait_for(c.generate("a kite"), 15))
    assert isinstance(outcome, nb.ResponseError), outcome
    assert peak < 3 * MiB


async def test_a_gzip_bombed_json_response_is_stopped_at_max_response_bytes() -> None:
    async def bomb(request: web.Request) -> web.Response:
        return web.Response(
            body=body_of("json-bomb"),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    body_of("json-bomb")
    async with serve(app_with(bomb)) as url, client(url, max_response_bytes=MiB) as c:
        outcome, peak = await measure(c.generate("a kite"))
    assert isinstance(outcome, nb.ResponseError), outcome
    assert peak < 3 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_json_nested_100000_levels_deep_is_a_response_error() -> None:
    payload = b"[" * 100_000 + b"]" * 100_000
    async with serve(app_with(raw_body(payload))) as url, client(url) as c:
        with pytest.raises(nb.ResponseError):
            await c.generate("a kite")
    nested_in_field = b'{"data":[{"b64_json":' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    async with serve(app_with(raw_body(nested_in_field))) as url, client(url) as c:
        with pytest.raises(nb.ResponseError):
            await c.generate("a kite")


GOOD = b64(png("typed", 8, 6))


@pytest.mark.parametrize(
    "doc",
    [
        {"data": GOOD},
        {"data": 42},
        {"data": True},
        {"images": {"url": "http://x/y.png"}},
        {"images": {"0": {"b64_json": GOOD}}},
        {"data": [{"b64_json": 12345}]},
        {"data": [{"b64_json": ["A", "B"]}]},
        {"data": [{"b64_json": {"data": GOOD}}]},
        {"data": [{"url": 7}]},
        {"data": [{"url": ["http://x"]}]},
        {"data": [[GOOD]]},
        {"data": [1.5]},
        {"output": "choices"},
        {"output": {"choices": "x"}},
        {"output": {"choices": {"image_base64": GOOD}}},
    ],
)
async def test_wrong_types_where_images_belong_are_response_errors(doc: Any) -> None:
    async with serve(app_with(responding(doc))) as url, client(url) as c:
        with pytest.raises(nb.ResponseError):
            await c.generate("a kite")


@pytest.mark.parametrize(
    ("extra", "entry"),
    [
        ({"description": {"text": "x"}}, {}),
        ({"description": ["x"]}, {}),
        ({"description": 3}, {}),
        ({"meta": {"usage": [1, 2]}}, {}),
        ({"meta": {"usage": "lots"}}, {}),
        ({"meta": []}, {}),
        ({"meta": {"usage": {"credits_used": "NaN", "usd_spent": [1]}}}, {}),
        ({"usage": {"credits_used": {"x": 1}, "usd_spent": True}}, {}),
        ({}, {"width": "8", "height": "6"}),
        ({}, {"width": -8, "height": 1e400}),
        ({}, {"width": True, "height": None}),
        ({}, {"mime_type": 5, "content_type": ["image/png"]}),
        ({}, {"url": None, "file_name": {"a": 1}, "file_size": "big"}),
    ],
)
async def test_wrong_types_in_other_fields_are_read_leniently(
    extra: dict[str, Any], entry: dict[str, Any]
) -> None:
    doc = {"data": [{"b64_json": GOOD, **entry}], **extra}
    text = json.dumps(doc).replace("1e+400", "1e400").replace("Infinity", "1e400")
    async with serve(app_with(raw_body(text.encode()))) as url, client(url) as c:
        result = await c.generate("a kite")
    assert result.image.data == png("typed", 8, 6)
    assert result.image.mime_type == "image/png"
    assert (result.image.width, result.image.height) == (8, 6)
    assert result.description is None
    usage = result.usage
    for value in (usage.credits_used, usage.usd_spent, usage.tokens_used):
        assert value is None or isinstance(value, float)
