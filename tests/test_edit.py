"""edit(): input images as paths, bytes and URLs, and the edit model chosen."""

from __future__ import annotations

from pathlib import Path

import pytest
from _raw_api import b64, png

import nanobanana as nb
from nanobanana.testing import FakeServer

NANO_EDIT = "google/gemini-2.5-flash-image-edit"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(32)
GIF = b"GIF89a\x02\x00\x02\x00" + bytes(32)
PNG = png("input")


def sent_images(server: FakeServer) -> list[str]:
    urls: list[str] = server.generation_requests[-1].json["image_urls"]
    return urls


async def test_edit_sends_a_local_file_as_a_base64_data_url(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "racoon.png"
    path.write_bytes(PNG)

    result = await client.edit("make it night", images=[str(path)])

    assert sent_images(server) == [f"data:image/png;base64,{b64(PNG)}"]
    assert isinstance(result, nb.ImageResult)
    assert result.image.mime_type == "image/png"


async def test_edit_accepts_a_pathlike(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "racoon.png"
    path.write_bytes(PNG)

    await client.edit("make it night", images=[path])

    assert sent_images(server) == [f"data:image/png;base64,{b64(PNG)}"]


async def test_edit_accepts_a_single_image_without_a_list(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "racoon.png"
    path.write_bytes(PNG)

    await client.edit("make it night", images=path)

    assert sent_images(server) == [f"data:image/png;base64,{b64(PNG)}"]


async def test_edit_accepts_raw_bytes(client: nb.AsyncClient, server: FakeServer) -> None:
    await client.edit("make it night", images=[JPEG])

    assert sent_images(server) == [f"data:image/jpeg;base64,{b64(JPEG)}"]


async def test_edit_passes_http_urls_through(client: nb.AsyncClient, server: FakeServer) -> None:
    await client.edit(
        "make it night",
        images=["https://example.com/racoon.png?x=1", "http://example.com/b.jpg"],
    )

    assert sent_images(server) == ["https://example.com/racoon.png?x=1", "http://example.com/b.jpg"]


@pytest.mark.parametrize(
    ("data", "mime"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp"), (GIF, "image/gif")],
)
async def test_mime_type_of_a_local_file_is_sniffed_from_its_content(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path, data: bytes, mime: str
) -> None:
    path = tmp_path / "misnamed.jpg"  # the suffix lies for all but JPEG
    path.write_bytes(data)

    await client.edit("make it night", images=[path])

    assert sent_images(server) == [f"data:{mime};base64,{b64(data)}"]


async def test_edit_keeps_the_order_of_mixed_inputs(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "a.gif"
    path.write_bytes(GIF)

    await client.edit("combine them", images=[path, WEBP, "https://example.com/c.png"])

    assert sent_images(server) == [
        f"data:image/gif;base64,{b64(GIF)}",
        f"data:image/webp;base64,{b64(WEBP)}",
        "https://example.com/c.png",
    ]


async def test_edit_without_a_model_uses_the_edit_model_of_the_family(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    result = await client.edit("make it night", images=[PNG])

    assert server.generation_requests[0].json["model"] == NANO_EDIT
    assert result.model == NANO_EDIT


@pytest.mark.parametrize(
    ("client_model", "sent"),
    [
        (nb.Model.NANO_BANANA, "google/gemini-2.5-flash-image-edit"),
        (nb.Model.NANO_BANANA_PRO, "google/nano-banana-pro-edit"),
        (nb.Model.GEMINI_3_PRO_IMAGE_PREVIEW, "google/nano-banana-pro-edit"),
        (nb.Model.NANO_BANANA_2, "google/nano-banana-2"),
        (nb.Model.NANO_BANANA_2_LITE, "google/gemini-3-1-flash-lite-image"),
    ],
)
async def test_edit_switches_the_clients_model_to_its_edit_sibling(
    server: FakeServer, client_model: str, sent: str
) -> None:
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, model=client_model
    ) as client:
        await client.edit("make it night", images=[PNG])

    assert server.generation_requests[0].json["model"] == sent


async def test_edit_with_a_generate_model_named_in_the_call_uses_its_edit_sibling(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.edit(
        "make it night", images=[PNG], model=nb.Model.NANO_BANANA_PRO, resolution="4K"
    )

    assert server.generation_requests[0].json["model"] == "google/nano-banana-pro-edit"
    assert server.generation_requests[0].json["resolution"] == "4K"


async def test_edit_sends_its_other_arguments(client: nb.AsyncClient, server: FakeServer) -> None:
    result = await client.edit(
        "make it night",
        images=[PNG],
        num_images=2,
        aspect_ratio="4:3",
        extra_body={"seed": 3},
    )

    body = server.generation_requests[0].json
    assert (body["num_images"], body["aspect_ratio"], body["seed"]) == (2, "4:3", 3)
    assert len(result.images) == 2


async def test_edit_passes_an_image_data_url_through(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    data_url = f"data:image/png;base64,{b64(PNG)}"

    await client.edit("make it night", images=[data_url])

    assert sent_images(server) == [data_url]


async def test_edit_accepts_bytearray_and_memoryview(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.edit("make it night", images=[bytearray(PNG), memoryview(GIF)])

    assert sent_images(server) == [
        f"data:image/png;base64,{b64(PNG)}",
        f"data:image/gif;base64,{b64(GIF)}",
    ]


async def test_edit_expands_a_home_directory_path(
    client: nb.AsyncClient,
    server: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "racoon.png").write_bytes(PNG)

    await client.edit("make it night", images=["~/racoon.png"])

    assert sent_images(server) == [f"data:image/png;base64,{b64(PNG)}"]


@pytest.mark.parametrize("url", ["ftp://x/y.png", "file:///tmp/cat.png", "S3://bucket/cat.png"])
async def test_edit_with_a_url_of_another_scheme_names_the_scheme(
    client: nb.AsyncClient, server: FakeServer, url: str
) -> None:
    scheme = url.split(":", 1)[0]

    with pytest.raises(nb.ValidationError) as info:
        await client.edit("make it night", images=[png(), url])

    assert info.value.field == "images[1]"
    assert f"{scheme}:// URLs are not supported" in str(info.value)
    assert repr(url) in str(info.value)  # the URL as given, not read as a path
    assert "no such file" not in str(info.value)
    assert server.requests == []


async def test_edit_with_a_directory_says_it_is_a_directory(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    (tmp_path / "pics").mkdir()

    with pytest.raises(nb.ValidationError, match="is a directory") as info:
        await client.edit("make it night", images=[tmp_path / "pics"])

    assert info.value.field == "images[0]"
    assert server.requests == []
