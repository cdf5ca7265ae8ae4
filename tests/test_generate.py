"""generate(): what the user sends, and the result they get back."""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from _raw_api import ENDPOINT, b64, png, serve
from aiohttp import web

import nanobanana as nb
from nanobanana.testing import RESPONSE_SHAPES, FakeServer, make_png

NANO = "google/gemini-2.5-flash-image"
URL_SHAPES = {"images_url", "data_url", "nb2"}


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes(9)
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + bytes(3)
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def webp(chunk: bytes, payload: bytes) -> bytes:
    body = b"WEBP" + chunk + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + bytes(16)


RETURNED_IMAGES = [
    (jpeg(640, 480), "image/jpeg", (640, 480), ".jpg"),
    (webp(b"VP8X", bytes(4) + (299).to_bytes(3, "little") + (199).to_bytes(3, "little")),
     "image/webp", (300, 200), ".webp"),
    (webp(b"VP8 ", bytes(3) + b"\x9d\x01\x2a" + struct.pack("<HH", 320, 240)),
     "image/webp", (320, 240), ".webp"),
    (webp(b"VP8L", b"\x2f" + struct.pack("<I", (99) | (49 << 14))), "image/webp", (100, 50),
     ".webp"),
    (gif(33, 17), "image/gif", (33, 17), ".gif"),
]  # fmt: skip


def server_png(prompt: str, index: int = 0, size: tuple[int, int] = (64, 64)) -> bytes:
    """The PNG FakeServer draws for ``prompt`` (its pictures are seeded by index and prompt)."""
    return make_png(size[0], size[1], f"{index}\x00{prompt}".encode())


async def test_generate_returns_the_images_the_server_drew(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    result = await client.generate("a lighthouse at dawn", num_images=2)

    assert isinstance(result, nb.ImageResult)
    assert [img.data for img in result.images] == [
        server_png("a lighthouse at dawn", 0),
        server_png("a lighthouse at dawn", 1),
    ]
    assert result.image is result.images[0]
    assert all(img.mime_type == "image/png" for img in result.images)
    assert result.model == NANO


async def test_generate_sends_only_the_arguments_given(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.generate("a lighthouse at dawn")

    assert server.generation_requests[0].json == {"model": NANO, "prompt": "a lighthouse at dawn"}


async def test_generate_sends_every_documented_argument(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    result = await client.generate(
        "a lighthouse at dawn",
        model=nb.Model.NANO_BANANA_PRO,
        num_images=3,
        aspect_ratio="16:9",
        resolution="2K",
    )

    assert server.generation_requests[0].json == {
        "model": "google/nano-banana-pro",
        "prompt": "a lighthouse at dawn",
        "num_images": 3,
        "aspect_ratio": "16:9",
        "resolution": "2K",
    }
    assert len(result.images) == 3
    assert (result.image.width, result.image.height) == (168, 96)  # 16:9, doubled for 2K


async def test_extra_body_passes_parameters_the_sdk_does_not_know(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.generate(
        "a lighthouse", extra_body={"provider": "fal", "seed": 7, "future": {"a": [1]}}
    )

    body = server.generation_requests[0].json
    assert body["provider"] == "fal"
    assert body["seed"] == 7
    assert body["future"] == {"a": [1]}


async def test_width_and_height_are_read_from_the_image(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    result = await client.generate("tall", aspect_ratio="9:16")

    assert (result.image.width, result.image.height) == (48, 84)


@pytest.mark.parametrize("shape", RESPONSE_SHAPES)
async def test_every_response_shape_gives_the_same_result(
    client: nb.AsyncClient, server: FakeServer, shape: str
) -> None:
    server.shape = shape

    result = await client.generate("a red kite", num_images=2)

    assert type(result) is nb.ImageResult
    assert all(type(img) is nb.GeneratedImage for img in result.images)
    assert [img.data for img in result.images] == [
        server_png("a red kite", 0),
        server_png("a red kite", 1),
    ]
    assert [(img.width, img.height) for img in result.images] == [(64, 64), (64, 64)]
    assert all(img.mime_type == "image/png" for img in result.images)
    if shape in URL_SHAPES:
        assert all(img.url and img.url.startswith(server.url + "/files/") for img in result.images)
    else:
        assert all(img.url is None for img in result.images)
    assert type(result.usage) is nb.Usage


async def test_url_images_are_fetched_at_once_over_the_pooled_connection(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.shape = "images_url"

    result = await client.generate("a red kite")

    assert result.image.data == server_png("a red kite")
    assert result.image.url is not None
    posted, fetched = server.requests
    assert (posted.method, fetched.method) == ("POST", "GET")
    assert result.image.url.endswith(fetched.path)
    assert server.distinct_connections() == 1


async def test_url_image_larger_than_max_download_bytes_is_refused(server: FakeServer) -> None:
    server.shape = "images_url"
    server.image_bytes = 200_000
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, max_download_bytes=100_000
    ) as client:
        with pytest.raises(nb.ImageDownloadError, match="100000"):
            await client.generate("a huge kite")


async def test_streamed_url_image_past_the_cap_is_cut_off() -> None:
    sent: list[int] = []

    async def generate(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"url": f"{request.url.origin()}/big"}]})

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()  # no Content-Length: the cap must count bytes
        await resp.prepare(request)
        for _ in range(64):
            await resp.write(b"\x89PNG\r\n\x1a\n" + bytes(16_376))
            sent.append(16_384)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    app.router.add_get("/big", big)
    async with (
        serve(app) as url,
        nb.AsyncClient(api_key="k", base_url=url, max_download_bytes=50_000) as client,
    ):
        with pytest.raises(nb.ImageDownloadError, match="50000"):
            await client.generate("a huge kite")


async def test_url_image_redirect_is_followed_over_http() -> None:
    image = png("kite")

    async def generate(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"url": f"{request.url.origin()}/a?sig=1"}]})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/b")

    async def final(request: web.Request) -> web.Response:
        return web.Response(body=image, content_type="image/png")

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    app.router.add_get("/a", moved)
    app.router.add_get("/b", final)
    async with serve(app) as url, nb.AsyncClient(api_key="k", base_url=url) as client:
        result = await client.generate("a kite")

    assert result.image.data == image
    assert result.image.url == f"{url}/a?sig=1"


async def test_url_image_redirected_to_a_file_url_is_refused() -> None:
    async def generate(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"url": f"{request.url.origin()}/img"}]})

    async def to_file(request: web.Request) -> web.Response:
        raise web.HTTPFound("file:///etc/passwd")

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    app.router.add_get("/img", to_file)
    async with serve(app) as url, nb.AsyncClient(api_key="k", base_url=url) as client:
        with pytest.raises(nb.ImageDownloadError, match="'file'"):
            await client.generate("a kite")


async def _hang(request: web.Request) -> web.Response:
    await asyncio.sleep(30)
    raise AssertionError("unreachable")


async def _loop(request: web.Request) -> web.Response:
    raise web.HTTPFound("/img")


async def _no_location(request: web.Request) -> web.Response:
    return web.Response(status=302)


async def _drop(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (_loop, "more than 5 redirects"),
        (_no_location, "without a Location"),
        (_hang, "did not finish within"),
        (_drop, "image download failed"),
    ],
)
async def test_a_download_that_goes_wrong_is_an_image_download_error(
    handler: Any, message: str
) -> None:
    async def generate(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"url": f"{request.url.origin()}/img?token=s3cr3t"}]})

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    app.router.add_get("/img", handler)
    async with serve(app) as url, nb.AsyncClient(api_key="k", base_url=url, timeout=0.3) as c:
        with pytest.raises(nb.ImageDownloadError, match=message) as info:
            await c.generate("a kite")

    assert info.value.url == f"{url}/img"  # the query string may be a signature


async def test_failed_image_download_is_an_image_download_error(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.shape = "nb2"
    server.fail_downloads_next(status=404)

    with pytest.raises(nb.ImageDownloadError) as info:
        await client.generate("a kite")

    assert info.value.status == 404
    assert isinstance(info.value, nb.ResponseError)


async def test_failed_download_among_several_images_is_an_image_download_error(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.shape = "images_url"
    server.fail_downloads_next(status=500)

    with pytest.raises(nb.ImageDownloadError) as info:  # not an ExceptionGroup
        await client.generate("a kite", num_images=3)

    assert info.value.status == 500


async def test_several_url_images_are_fetched_in_order(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.shape = "nb2"

    result = await client.generate("a kite", num_images=4)

    assert [img.data for img in result.images] == [server_png("a kite", i) for i in range(4)]


async def test_description_is_the_text_the_model_wrote(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.shape = "output_choices"
    described = await client.generate("a red kite")
    server.shape = "data_b64"
    plain = await client.generate("a red kite")

    assert described.description == "Here is your image: a red kite"
    assert plain.description is None


async def test_usage_comes_from_the_body(client: nb.AsyncClient, server: FakeServer) -> None:
    server.shape = "data_url"  # tokens in the body, credits and USD only in headers

    result = await client.generate("a red kite", num_images=2)

    assert result.usage == nb.Usage(credits_used=163_800, usd_spent=0.078, tokens_used=2580)


async def test_usage_comes_from_the_headers_when_the_body_has_none(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.shape = "images_url"
    server.credits_per_image = 12
    server.usd_per_image = 0.25

    result = await client.generate("a red kite", num_images=2)

    assert result.usage == nb.Usage(credits_used=24, usd_spent=0.5)


async def test_usage_in_the_body_wins_and_headers_fill_the_gaps() -> None:
    async def generate(request: web.Request) -> web.Response:
        body = {"data": [{"b64_json": b64(png())}], "meta": {"usage": {"credits_used": 5}}}
        headers = {"x-aimlapi-credits-used": "999", "x-aimlapi-usd-spent": "0.125"}
        return web.json_response(body, headers=headers)

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    async with serve(app) as url, nb.AsyncClient(api_key="k", base_url=url) as client:
        result = await client.generate("a kite")

    assert result.usage == nb.Usage(credits_used=5, usd_spent=0.125)


async def test_usage_only_in_the_body_is_kept() -> None:
    async def generate(request: web.Request) -> web.Response:
        usage = {"credits_used": 3, "usd_spent": 0.01}
        return web.json_response({"data": [{"b64_json": b64(png())}], "meta": {"usage": usage}})

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    async with serve(app) as url, nb.AsyncClient(api_key="k", base_url=url) as client:
        result = await client.generate("a kite")

    assert result.usage == nb.Usage(credits_used=3, usd_spent=0.01)


async def test_request_id_is_the_x_inference_id_header() -> None:
    async def generate(request: web.Request) -> web.Response:
        return web.json_response(
            {"data": [{"b64_json": b64(png())}]}, headers={"x-inference-id": "inf-0451"}
        )

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    async with serve(app) as url, nb.AsyncClient(api_key="k", base_url=url) as client:
        result = await client.generate("a kite")

    assert result.request_id == "inf-0451"


async def test_save_to_a_file_path_writes_the_bytes(client: nb.AsyncClient, tmp_path: Path) -> None:
    result = await client.generate("a red kite", metadata=False)

    path = result.image.save(tmp_path / "kite.png")

    assert path == tmp_path / "kite.png"
    assert path.read_bytes() == result.image.data
    assert os.listdir(tmp_path) == ["kite.png"]  # no temporary file left behind


async def test_save_replaces_the_file_atomically(client: nb.AsyncClient, tmp_path: Path) -> None:
    result = await client.generate("a red kite", metadata=False)
    target = tmp_path / "kite.png"
    target.write_bytes(b"old picture")
    reader_view = tmp_path / "still-open.png"
    os.link(target, reader_view)  # like a reader holding the old file open

    result.image.save(target)

    # A rename swaps the directory entry; writing in place would change both names.
    assert target.read_bytes() == result.image.data
    assert reader_view.read_bytes() == b"old picture"
    assert sorted(os.listdir(tmp_path)) == ["kite.png", "still-open.png"]


async def test_save_to_a_directory_names_the_file_from_its_type(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    result = await client.generate("a red kite", num_images=2, metadata=False)

    into_dir = result.image.save(tmp_path)
    into_new_dir = result.image.save(f"{tmp_path}/new/")
    all_paths = result.save(tmp_path / "all")

    assert into_dir.parent == tmp_path
    assert into_dir.suffix == ".png"
    assert into_dir.read_bytes() == result.image.data
    assert into_new_dir.parent == tmp_path / "new"
    assert into_new_dir.suffix == ".png"
    assert [p.read_bytes() for p in all_paths] == [img.data for img in result.images]
    assert len(set(all_paths)) == 2


@pytest.mark.parametrize(("data", "mime", "size", "suffix"), RETURNED_IMAGES)
async def test_images_of_every_kind_are_typed_and_sized_from_their_bytes(
    tmp_path: Path, data: bytes, mime: str, size: tuple[int, int], suffix: str
) -> None:
    async def generate(request: web.Request) -> web.Response:
        # The server's content_type is wrong on purpose: the bytes tell the truth.
        return web.json_response({"data": [{"b64_json": b64(data), "mime_type": "image/png"}]})

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    async with serve(app) as url, nb.AsyncClient(api_key="k", base_url=url) as client:
        result = await client.generate("a kite")

    assert result.image.data == data
    assert result.image.mime_type == mime
    assert (result.image.width, result.image.height) == size
    assert result.image.save(tmp_path).suffix == suffix


async def test_an_image_given_as_a_data_url_in_the_url_field_is_decoded(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    picture = png("inline")
    server.fail_next(
        status=200, body={"images": [{"url": f"data:image/png;base64,{b64(picture)}"}]}
    )

    result = await client.generate("a kite")

    assert result.image.data == picture
    assert result.image.url is None
    assert [r.method for r in server.requests] == ["POST"]


async def test_sizes_the_api_states_are_kept(client: nb.AsyncClient, server: FakeServer) -> None:
    body = {"data": [{"b64_json": b64(png()), "width": 1024, "height": 768}]}
    server.fail_next(status=200, body=body)

    result = await client.generate("a kite")

    assert (result.image.width, result.image.height) == (1024, 768)


async def test_streamed_answer_without_content_length_is_read_whole() -> None:
    image = png("streamed", 40, 30)

    async def generate(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        text = f'{{"data": [{{"b64_json": "{b64(image)}"}}]}}'.encode()
        for i in range(0, len(text), 7):
            await resp.write(text[i : i + 7])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    async with serve(app) as url, nb.AsyncClient(api_key="k", base_url=url) as client:
        result = await client.generate("a kite")

    assert result.image.data == image
    assert (result.image.width, result.image.height) == (40, 30)


async def test_a_failed_save_leaves_the_old_file_and_no_debris(
    client: nb.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await client.generate("a red kite")
    target = tmp_path / "kite.png"
    target.write_bytes(b"old picture")

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        result.image.save(target)

    assert target.read_bytes() == b"old picture"
    assert os.listdir(tmp_path) == ["kite.png"]


@pytest.mark.parametrize(
    ("mime", "suffix"),
    [("image/jpeg", ".jpg"), ("image/webp", ".webp"), ("image/gif", ".gif")],
)
def test_save_to_a_directory_uses_the_suffix_of_the_mime_type(
    tmp_path: Path, mime: str, suffix: str
) -> None:
    image = nb.GeneratedImage(data=b"some image bytes", mime_type=mime)

    path = image.save(tmp_path)

    assert path.suffix == suffix
    assert path.read_bytes() == b"some image bytes"
