"""Nano Banana 2 takes no `num_images`: asking it for several sends that many requests."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from _helpers import against, cli
from _raw_api import png

import nanobanana as nb
from nanobanana.testing import FakeServer

NB2_FAMILY = [nb.Model.NANO_BANANA_2, nb.Model.NANO_BANANA_2_LITE]


@pytest.mark.parametrize("model", NB2_FAMILY)
async def test_three_images_from_nano_banana_2_come_back_as_one_result(
    client: nb.AsyncClient, server: FakeServer, model: str
) -> None:
    result = await client.generate("a red kite", model=model, num_images=3, aspect_ratio="16:9")

    sent = [r.json for r in server.generation_requests]
    assert len(sent) == 3
    assert all("num_images" not in body for body in sent)
    assert all(body["aspect_ratio"] == "16:9" for body in sent)
    assert len(result.images) == 3
    assert result.model == model
    assert result.request_id is not None


async def test_the_usage_of_the_requests_is_summed() -> None:
    async with (
        FakeServer(usd_per_image=0.25, credits_per_image=100) as server,
        nb.AsyncClient(api_key=server.api_key, base_url=server.url) as client,
    ):
        result = await client.generate("a red kite", model=nb.Model.NANO_BANANA_2, num_images=3)

    assert (result.usage.usd_spent, result.usage.credits_used) == (0.75, 300)


async def test_one_image_from_nano_banana_2_is_one_request_without_num_images(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    result = await client.generate("a red kite", model=nb.Model.NANO_BANANA_2, num_images=1)

    assert len(server.generation_requests) == 1
    assert "num_images" not in server.generation_requests[0].json
    assert len(result.images) == 1


async def test_the_requests_are_sent_at_once(client: nb.AsyncClient, server: FakeServer) -> None:
    server.hang_next(4)

    async with anyio.create_task_group() as group:
        group.start_soon(
            lambda: client.generate("a red kite", model=nb.Model.NANO_BANANA_2, num_images=4)
        )
        with anyio.fail_after(10):  # one at a time, the second would never come
            while len(server.generation_requests) < 4:
                await anyio.sleep(0.01)
        group.cancel_scope.cancel()

    assert len(server.generation_requests) == 4


async def test_an_edit_on_nano_banana_2_fans_out_with_its_images(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    result = await client.edit(
        "make it night", images=[png()], model=nb.Model.NANO_BANANA_2, num_images=2
    )

    assert [len(r.json["image_urls"]) for r in server.generation_requests] == [1, 1]
    assert len(result.images) == 2


async def test_if_one_request_fails_the_call_raises_after_every_request_ended(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.fail_next(1, status=400)

    with pytest.raises(nb.BadRequestError):
        await client.generate("a red kite", model=nb.Model.NANO_BANANA_2, num_images=3)

    outcomes = sorted(r.outcome for r in server.generation_requests)
    assert outcomes == ["fault:400", "ok", "ok"]


def test_the_sync_client_fans_out_too(sync_client: nb.Client, sync_server: FakeServer) -> None:
    result = sync_client.generate("a red kite", model=nb.Model.NANO_BANANA_2, num_images=2)

    assert len(result.images) == 2
    assert len(sync_server.generation_requests) == 2


# -- the batch counts it as one item ---------------------------------------------------------


async def test_a_batch_item_of_three_nano_banana_2_images_is_one_item(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    requests = [
        nb.ImageRequest(prompt="three kites", model=nb.Model.NANO_BANANA_2, num_images=3),
        "a blue boat",
    ]
    batch = client.batch(requests, out_dir=tmp_path, ordered=True)
    items = [item async for item in batch]

    assert [item.ok for item in items] == [True, True]
    assert [len(item.paths) for item in items] == [3, 1]
    assert all(path.is_file() for path in items[0].paths)
    assert items[0].attempts == 3
    summary = batch.summary
    assert (summary.ok, summary.images, summary.images_written) == (2, 4, 4)
    assert summary.requests_sent == 4
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert sorted(len(line["paths"]) for line in lines) == [1, 3]


async def test_a_dry_run_plans_three_requests_for_it(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    request = nb.ImageRequest(prompt="three kites", model=nb.Model.NANO_BANANA_2, num_images=3)
    batch = client.batch([request], dry_run=True)
    items = [item async for item in batch]

    assert [item.skip_reason for item in items] == ["dry_run"]
    assert batch.summary.planned_images == 3
    assert server.requests == []


# -- the command line ---------------------------------------------------------------------------


def test_generate_with_n_on_nano_banana_2_writes_every_image(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    run = cli(
        "generate",
        "a red kite",
        "-m",
        "google/nano-banana-2",
        "-n",
        "2",
        "-o",
        f"{tmp_path}/",
        *against(sync_server),
    )

    assert run.returncode == 0, run.stderr
    assert len(list(tmp_path.glob("*.png"))) == 2
    assert len(sync_server.generation_requests) == 2
