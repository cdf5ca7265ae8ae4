"""Provenance, as users meet it: generate or edit, save, and the file says what made it.
Opting out per client and per call writes the bytes exactly as the API sent them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import nanobanana as nb
from nanobanana.testing import FakeServer, make_png


async def test_a_generated_image_saves_with_its_whole_record(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    result = await client.generate(
        "a red kite", model=nb.Model.NANO_BANANA_PRO, aspect_ratio="16:9", resolution="2K"
    )
    path = result.image.save(tmp_path / "kite.png")

    record = nb.read_metadata(path)
    assert record is not None
    assert record.prompt == "a red kite"
    assert record.model == "google/nano-banana-pro"
    assert record.parameters == {"aspect_ratio": "16:9", "resolution": "2K"}
    assert record.request_id == result.request_id is not None
    assert record.usage == result.usage
    assert record.sdk_version == nb.__version__
    assert record.input_images == ()


async def test_the_api_key_is_never_written(client: nb.AsyncClient, tmp_path: Path) -> None:
    result = await client.generate("a red kite", extra_body={"seed": 7})
    path = result.image.save(tmp_path / "kite.png")

    assert b"test-key" not in path.read_bytes()
    assert nb.read_metadata(path).parameters == {"extra_body": {"seed": 7}}  # type: ignore[union-attr]


async def test_an_edit_records_the_digests_of_its_inputs(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    photo = make_png(16, 16, b"photo")
    on_disk = tmp_path / "sketch.png"
    on_disk.write_bytes(make_png(16, 16, b"sketch"))
    url = "https://example.com/cat.png"

    result = await client.edit("make it night", [photo, on_disk, url])
    record = nb.read_metadata(result.image.save(tmp_path / "night.png"))

    assert record is not None
    assert record.input_images == (
        "sha256:" + hashlib.sha256(photo).hexdigest(),
        "sha256:" + hashlib.sha256(on_disk.read_bytes()).hexdigest(),
        url,
    )
    assert str(tmp_path) not in repr(record)  # a local path says nothing of the image


async def test_a_fanned_out_call_records_the_call_as_made(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    result = await client.generate("a red kite", model=nb.Model.NANO_BANANA_2, num_images=2)

    records = [nb.read_metadata(path) for path in result.save(tmp_path)]
    assert [r.parameters for r in records if r is not None] == [{"num_images": 2}] * 2


async def test_metadata_false_on_the_client_writes_the_bytes_as_sent(
    server: FakeServer, tmp_path: Path
) -> None:
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, metadata=False
    ) as client:
        result = await client.generate("a red kite")
        path = result.image.save(tmp_path / "kite.png")
        again = await client.generate("a red kite", metadata=True)

    assert result.image.record is None
    assert path.read_bytes() == result.image.data
    assert nb.read_metadata(path) is None
    assert again.image.record is not None


async def test_metadata_false_on_one_call_writes_that_call_bare(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    bare = await client.generate("a red kite", metadata=False)
    edited = await client.edit("make it night", make_png(8, 8, b"x"), metadata=False)
    sent = await client.send(nb.ImageRequest(prompt="a red kite"), metadata=False)

    assert [r.image.record for r in (bare, edited, sent)] == [None, None, None]
    assert bare.image.save(tmp_path / "kite.png").read_bytes() == bare.image.data


def test_a_bad_metadata_setting_is_refused_by_name(sync_server: FakeServer) -> None:
    with pytest.raises(nb.ConfigurationError, match="metadata must be True or False"):
        nb.Client(api_key="k", metadata="no")  # type: ignore[arg-type]
    with (
        nb.Client(api_key=sync_server.api_key, base_url=sync_server.url) as client,
        pytest.raises(nb.ValidationError, match="metadata"),
    ):
        client.generate("a red kite", metadata="no")  # type: ignore[arg-type]
    assert sync_server.generation_requests == []


def test_the_sync_client_saves_records_and_opts_out(sync_client: nb.Client, tmp_path: Path) -> None:
    kept = sync_client.generate("a red kite").image.save(tmp_path / "kept.png")
    bare = sync_client.generate("a red kite", metadata=False).image

    assert nb.read_metadata(kept).prompt == "a red kite"  # type: ignore[union-attr]
    assert bare.save(tmp_path / "bare.png").read_bytes() == bare.data


async def test_a_batch_writes_each_image_with_its_record(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    prompts = ["a red kite", nb.ImageRequest(prompt="a blue boat", aspect_ratio="4:3")]
    items = [item async for item in client.batch(prompts, out_dir=tmp_path, ordered=True)]

    records = [nb.read_metadata(item.paths[0]) for item in items]
    assert [(r.prompt, r.parameters) for r in records if r is not None] == [
        ("a red kite", {}),
        ("a blue boat", {"aspect_ratio": "4:3"}),
    ]
    assert [r.request_id for r in records if r] == [item.request_id for item in items]


def test_a_batch_with_metadata_false_writes_bare_images(
    sync_client: nb.Client, tmp_path: Path
) -> None:
    items = list(sync_client.batch(["a red kite"], out_dir=tmp_path, metadata=False))

    assert nb.read_metadata(items[0].paths[0]) is None
