"""The batch engine, as a user of ``AsyncClient.batch`` sees it: real HTTP to a FakeServer."""

from __future__ import annotations

import asyncio
import base64
import gc
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from _helpers import assert_complete_png, manifest

import nanobanana as nb
from nanobanana._models import atomic_write
from nanobanana.testing import FakeServer, make_png

# -- helpers ------------------------------------------------------------------------


def prompts(n: int, stem: str = "prompt") -> list[str]:
    return [f"{stem} number {i}" for i in range(n)]


async def collect(batch: nb.AsyncBatch) -> list[nb.BatchItem]:
    async with batch:
        return [item async for item in batch]


async def collect_into(items: list[nb.BatchItem], batch: nb.AsyncBatch) -> None:
    """Like ``collect``, keeping the items that came out before the batch raised."""
    async with batch:
        async for item in batch:
            items.append(item)


# -- what goes in -------------------------------------------------------------------


async def test_a_list_of_prompts_gives_one_item_per_prompt(client: nb.AsyncClient) -> None:
    items = await collect(client.batch(prompts(12), concurrency=4))

    assert sorted(item.index for item in items) == list(range(12))
    for item in items:
        assert item.ok
        assert item.status == "ok"
        assert item.error is None
        assert isinstance(item.request, nb.ImageRequest)
        assert item.request.prompt == f"prompt number {item.index}"
        assert item.result is not None
        assert item.result.image.mime_type == "image/png"
        assert item.attempts == 1
        assert item.elapsed > 0
        assert item.paths == ()
        assert item.usage is not None
        assert item.usage.credits_used == 81_900
        assert item.request_id == item.result.request_id is not None
        assert isinstance(item.key, str)
        assert len(item.key) == 32


async def test_each_image_request_keeps_its_own_parameters(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(make_png(8, 8, b"photo"))
    requests: list[str | nb.ImageRequest] = [
        "a plain prompt",
        nb.ImageRequest(prompt="a wide one", aspect_ratio="16:9", num_images=2),
        nb.ImageRequest(prompt="a sharp one", model=nb.Model.NANO_BANANA_PRO, resolution="2K"),
        nb.ImageRequest(prompt="make it night", images=[photo]),
        nb.ImageRequest(prompt="with a seed", extra_body={"seed": 7}),
    ]

    items = {item.index: item for item in await collect(client.batch(requests, ordered=True))}

    assert all(item.ok for item in items.values())
    sent = {r.json["prompt"]: r.json for r in server.generation_requests}
    assert sent["a plain prompt"]["model"] == nb.Model.NANO_BANANA
    assert sent["a wide one"]["aspect_ratio"] == "16:9"
    assert sent["a wide one"]["num_images"] == 2
    wide = items[1].result
    assert wide is not None
    assert len(wide.images) == 2
    assert wide.image.width == 84  # 16:9 at the fake
    assert sent["a sharp one"]["model"] == nb.Model.NANO_BANANA_PRO
    assert sent["a sharp one"]["resolution"] == "2K"
    assert sent["make it night"]["model"] == nb.Model.NANO_BANANA_EDIT
    assert sent["make it night"]["image_urls"][0].startswith("data:image/png;base64,")
    assert sent["with a seed"]["seed"] == 7
    assert items[3].request == requests[3]


async def test_an_async_iterable_of_prompts_works_too(client: nb.AsyncClient) -> None:
    async def source() -> AsyncIterator[str | nb.ImageRequest]:
        for i in range(5):
            await anyio.sleep(0)
            yield f"async prompt {i}" if i % 2 else nb.ImageRequest(prompt=f"request {i}")

    items = await collect(client.batch(source(), ordered=True))

    assert [item.index for item in items] == [0, 1, 2, 3, 4]
    assert all(item.ok for item in items)


async def test_an_old_style_sequence_of_prompts_works_too(client: nb.AsyncClient) -> None:
    class Prompts:  # iterable through __getitem__ alone, as iter() allows
        def __getitem__(self, i: int) -> str:
            if i >= 3:
                raise IndexError(i)
            return f"prompt number {i}"

    items = await collect(client.batch(Prompts(), concurrency=2))  # type: ignore[arg-type]
    assert sorted(item.request.prompt for item in items if item.request) == prompts(3)


async def test_a_million_prompts_are_read_only_as_far_as_the_batch_gets(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    pulled = 0

    def million() -> Iterator[str]:
        nonlocal pulled
        for i in range(1_000_000):
            pulled += 1
            yield f"prompt {i}"

    seen = 0
    async for _item in client.batch(million(), concurrency=4):
        seen += 1
        if seen == 10:
            break

    assert pulled <= 10 + 4 + 2
    # Leaving the loop closed the batch: nothing more is read, nor sent once the
    # requests that were on their way have arrived.
    await anyio.sleep(0.05)
    sent = len(server.generation_requests)
    await anyio.sleep(0.2)
    assert pulled <= 10 + 4 + 2
    assert len(server.generation_requests) == sent <= pulled


async def test_a_slow_consumer_holds_back_the_reading_of_inputs(client: nb.AsyncClient) -> None:
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        while True:
            pulled += 1
            yield f"prompt {pulled}"

    batch = client.batch(endless(), concurrency=4)
    async with batch:
        seen = 0
        async for _item in batch:
            seen += 1
            await anyio.sleep(0.03)  # the caller does something slow with each item
            if seen == 10:
                break
        # The batch is still open (the caller holds it), yet it does not run ahead.
        await anyio.sleep(0.2)
        assert pulled <= 10 + 4 + 2
    await anyio.sleep(0.1)
    assert pulled <= 10 + 4 + 2


async def test_closing_a_batch_stops_reading_an_async_source(client: nb.AsyncClient) -> None:
    pulled = 0
    closed = anyio.Event()

    async def endless() -> AsyncIterator[str]:
        nonlocal pulled
        try:
            while True:
                pulled += 1
                yield f"prompt {pulled}"
        finally:
            closed.set()

    batch = client.batch(endless(), concurrency=3)
    async for _item in batch:
        break
    await batch.aclose()

    assert closed.is_set()
    assert pulled <= 1 + 3 + 2


# -- what comes out, and when -------------------------------------------------------


def slow_first(server: FakeServer, count: int, seconds: float) -> Any:
    """An async source whose first prompt is the one the server answers slowly."""
    server.slow_next(1, seconds)

    async def source() -> AsyncIterator[str]:
        yield "the slow one"
        while not server.generation_requests:  # it reached the server first
            await anyio.sleep(0.005)
        for i in range(count - 1):
            yield f"quick one {i}"

    return source()


async def test_items_come_out_as_they_complete(client: nb.AsyncClient, server: FakeServer) -> None:
    items = await collect(client.batch(slow_first(server, 6, 0.5), concurrency=6))

    order = [item.index for item in items]
    assert order[0] != 0
    assert order[-1] == 0
    assert sorted(order) == list(range(6))


async def test_ordered_gives_input_order(client: nb.AsyncClient, server: FakeServer) -> None:
    items = await collect(client.batch(slow_first(server, 6, 0.3), concurrency=6, ordered=True))

    assert [item.index for item in items] == list(range(6))


async def test_a_stuck_item_holds_back_at_most_the_reorder_window(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    batch = client.batch(slow_first(server, 40, 1.0), concurrency=4, ordered=True, reorder_window=5)
    order: list[int] = []

    async def consume() -> None:
        async with batch:
            order.extend([item.index async for item in batch])

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await anyio.sleep(0.5)
        started_while_stuck = len(server.generation_requests)
        assert order == []  # nothing can come out before the stuck item

    assert 4 <= started_while_stuck <= 5 + 1
    assert order == list(range(40))


# -- failures ---------------------------------------------------------------------------


async def test_failed_items_do_not_stop_the_batch(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.fail_next(2, 400)
    items = await collect(client.batch(prompts(10), concurrency=1))

    failed = [item for item in items if not item.ok]
    assert len(items) == 10
    assert [item.index for item in failed] == [0, 1]
    for item in failed:
        assert item.status == "failed"
        assert item.result is None
        assert isinstance(item.error, nb.BadRequestError)
        assert item.error.status == 400
        assert item.attempts == 1


async def test_a_retried_item_counts_its_attempts(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.fail_next(2, 503)
    items = await collect(client.batch(["one prompt"]))

    assert items[0].ok
    assert items[0].attempts == 3


async def test_fail_fast_stops_at_the_first_failure_and_raises_it(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.fail_next(1, 400)
    server.slow_next(30, 5.0)
    items: list[nb.BatchItem] = []
    started = time.monotonic()

    batch = client.batch(prompts(30), concurrency=4, fail_fast=True)
    with pytest.raises(nb.BadRequestError):
        await collect_into(items, batch)

    assert time.monotonic() - started < 3.0  # the slow ones were not waited for
    assert [item.status for item in items].count("failed") == 1
    stopped = [item for item in items if item.status == "skipped"]
    assert stopped
    assert all(item.skip_reason == "stopped" for item in stopped)
    assert len(server.generation_requests) <= 4 + 1
    assert batch.summary.stop_reason is not None
    assert "BadRequestError" in batch.summary.stop_reason


@pytest.mark.parametrize(
    ("status", "error"), [(401, nb.AuthenticationError), (403, nb.OutOfCreditsError)]
)
async def test_a_401_or_403_stops_the_batch_at_once(
    client: nb.AsyncClient, server: FakeServer, status: int, error: type[Exception]
) -> None:
    server.fail_next(1, status)
    server.slow_next(30, 5.0)
    items: list[nb.BatchItem] = []
    started = time.monotonic()

    batch = client.batch(prompts(30), concurrency=4)
    with pytest.raises(error):
        await collect_into(items, batch)

    assert time.monotonic() - started < 3.0
    failed = [item for item in items if item.status == "failed"]
    assert len(failed) == 1
    assert isinstance(failed[0].error, error)
    skipped = [item for item in items if item.status == "skipped"]
    assert skipped
    assert {item.skip_reason for item in skipped} == {"stopped"}
    # Every input that was read is accounted for; nothing more was read or sent.
    summary = batch.summary
    assert summary.read == len(items) == summary.done
    assert sorted(item.index for item in items) == list(range(len(items)))
    assert len(server.generation_requests) <= 4 + 1


@pytest.mark.parametrize("ordered", [False, True], ids=["unordered", "ordered"])
async def test_a_stop_still_hands_out_every_item_that_finished(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path, ordered: bool
) -> None:
    server.slow_next(5, 0.0)
    server.fail_next(1, 403)  # the sixth request, while the caller is busy with items
    server.slow_next(20, 0.0)
    items: list[nb.BatchItem] = []

    async def slow_caller(batch: nb.AsyncBatch) -> None:
        async with batch:
            async for item in batch:
                items.append(item)
                await anyio.sleep(0.05)

    batch = client.batch(prompts(20), concurrency=5, out_dir=tmp_path, ordered=ordered)
    with pytest.raises(nb.OutOfCreditsError):
        await slow_caller(batch)

    summary = batch.summary
    assert len(items) == summary.done == summary.read
    assert len(items) == len(manifest(tmp_path))
    assert [type(item.error) for item in items if item.error] == [nb.OutOfCreditsError]
    if ordered:
        assert [item.index for item in items] == list(range(len(items)))


async def test_a_wrong_key_stops_the_batch_with_an_authentication_error(
    server: FakeServer,
) -> None:
    async with nb.AsyncClient(api_key="not-the-key", base_url=server.url) as client:
        with pytest.raises(nb.AuthenticationError):
            async for _item in client.batch(prompts(50), concurrency=4):
                pass

        assert len(server.generation_requests) <= 4
        assert all(r.outcome == "401" for r in server.generation_requests)


async def test_every_failure_is_a_typed_error(client: nb.AsyncClient, server: FakeServer) -> None:
    server.fail_next(1, 400)
    server.malformed_next(1, kind="no_image")
    server.fail_next(1, 404)
    items = await collect(client.batch(prompts(4), concurrency=1, max_retries=0))

    errors = [type(item.error) for item in sorted(items, key=lambda i: i.index)]
    assert errors == [nb.BadRequestError, nb.ResponseError, nb.NotFoundError, type(None)]


# -- counts and progress ------------------------------------------------------------------


async def test_summary_at_the_end(client: nb.AsyncClient, server: FakeServer) -> None:
    server.fail_next(1, 400)
    batch = client.batch(
        [*prompts(5), nb.ImageRequest(prompt="two at once", num_images=2)], concurrency=1
    )
    await collect(batch)
    summary = batch.summary

    assert (summary.ok, summary.failed, summary.skipped) == (5, 1, 0)
    assert summary.done == summary.total == summary.read == 6
    assert summary.images == 6
    assert summary.credits_used == pytest.approx(6 * 81_900)
    assert summary.usd_spent == pytest.approx(6 * 0.039)
    assert summary.requests_sent == 6
    assert summary.in_flight == 0
    assert summary.elapsed > 0
    assert summary.rate == pytest.approx(6 / summary.elapsed, rel=0.5)
    assert summary.eta is None  # nothing left to wait for
    assert summary.stop_reason is None


async def test_summary_while_running(client: nb.AsyncClient, server: FakeServer) -> None:
    server.latency = 0.05
    batch = client.batch(prompts(12), concurrency=4)
    snapshots: list[nb.BatchSummary] = []

    async def watch() -> None:
        while True:
            snapshots.append(batch.summary)
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        await collect(batch)
        tg.cancel_scope.cancel()

    running = [s for s in snapshots if 0 < s.done < 12]
    assert running, "no snapshot while the batch ran"
    assert any(s.in_flight > 0 for s in running)
    assert all(s.total == 12 and s.in_flight <= 4 for s in running)
    assert all(s.rate > 0 and s.eta is not None and s.eta > 0 for s in running)
    assert [s.done for s in snapshots] == sorted(s.done for s in snapshots)


async def test_a_progress_hook_sees_running_counts(client: nb.AsyncClient) -> None:
    seen: list[nb.BatchSummary] = []
    await collect(client.batch(prompts(8), concurrency=3, progress=seen.append))

    assert [s.done for s in seen] == list(range(1, 9))
    assert all(0 <= s.in_flight <= 3 for s in seen)
    assert all(s.rate > 0 and s.eta is not None for s in seen)
    assert seen[-1].ok == 8
    assert seen[-1].eta == 0


async def test_an_async_progress_hook_is_awaited(client: nb.AsyncClient) -> None:
    seen: list[int] = []

    async def hook(summary: nb.BatchSummary) -> None:
        await anyio.sleep(0.001)
        seen.append(summary.done)

    await collect(client.batch(prompts(5), progress=hook))

    assert seen == [1, 2, 3, 4, 5]


# -- spend caps -----------------------------------------------------------------------------


async def test_max_spend_usd_stops_starting_requests(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    batch = client.batch(prompts(20), concurrency=4, max_spend_usd=0.2)  # 0.039 an image
    items = await collect(batch)
    summary = batch.summary

    assert summary.usd_spent is not None
    assert summary.usd_spent <= 0.2
    assert summary.ok == 5  # 5 * 0.039 = 0.195; a sixth would pass the cap
    assert len(server.generation_requests) == 5
    skipped = [item for item in items if item.status == "skipped"]
    assert len(skipped) == 15
    assert {item.skip_reason for item in skipped} == {"budget"}
    assert summary.skipped_by_reason == {"budget": 15}
    assert summary.stop_reason is not None
    assert "max_spend_usd" in summary.stop_reason


async def test_max_credits_counts_every_image_of_a_request(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    requests = [nb.ImageRequest(prompt=p, num_images=2) for p in prompts(6)]
    batch = client.batch(requests, concurrency=3, max_credits=400_000)  # 163,800 a request
    await collect(batch)
    summary = batch.summary

    assert summary.credits_used is not None
    assert summary.credits_used <= 400_000
    assert summary.ok == 2
    assert summary.images == 4
    assert summary.skipped_by_reason == {"budget": 4}
    assert len(server.generation_requests) == 2
    assert summary.stop_reason is not None
    assert "max_credits" in summary.stop_reason


async def test_a_cap_for_one_image_pays_for_one_image(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    batch = client.batch(prompts(5), concurrency=5, max_spend_usd=0.05)
    await collect(batch)

    assert batch.summary.ok == 1
    assert batch.summary.usd_spent == pytest.approx(0.039)
    assert len(server.generation_requests) == 1


@pytest.mark.parametrize("cap", [{"max_spend_usd": 0}, {"max_credits": 0}])
async def test_a_zero_cap_sends_nothing(
    client: nb.AsyncClient, server: FakeServer, cap: dict[str, float]
) -> None:
    batch = client.batch(prompts(3), **cap)  # type: ignore[arg-type]
    items = await collect(batch)

    assert server.generation_requests == []
    assert [item.skip_reason for item in items] == ["budget"] * 3
    assert batch.summary.stop_reason is not None


# -- dry run --------------------------------------------------------------------------------


async def test_dry_run_validates_everything_and_sends_nothing(
    server: FakeServer, tmp_path: Path
) -> None:
    requests: list[str | nb.ImageRequest] = [
        "a fine prompt",
        "   ",
        nb.ImageRequest(prompt="too wide for this model", aspect_ratio="21:9"),
        nb.ImageRequest(prompt="edit a missing file", images=[tmp_path / "missing.png"]),
        nb.ImageRequest(prompt="three of them", model=nb.Model.NANO_BANANA, num_images=3),
    ]
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, model=nb.Model.NANO_BANANA_2
    ) as client:
        batch = client.batch(requests, dry_run=True, out_dir=tmp_path / "out")
        items = {item.index: item for item in await collect(batch)}

    assert server.requests == []
    assert not (tmp_path / "out").exists()
    summary = batch.summary
    assert summary.planned_requests == 2
    assert summary.planned_images == 4
    assert items[0].status == "skipped"
    assert items[0].skip_reason == "dry_run"
    assert items[4].skip_reason == "dry_run"
    invalid = {i: item.error for i, item in items.items() if item.status == "failed"}
    assert sorted(invalid) == [1, 2, 3]
    assert all(isinstance(error, nb.ValidationError) for error in invalid.values())
    assert "prompt" in str(invalid[1])
    assert "aspect_ratio" in str(invalid[2])
    assert "missing.png" in str(invalid[3])


# -- out_dir and the manifest -----------------------------------------------------------------


async def test_out_dir_gets_one_file_per_image_and_a_manifest_line_per_item(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    server.fail_next(1, 400)
    requests: list[str | nb.ImageRequest] = [
        "will fail",
        "A lighthouse at dawn!",
        nb.ImageRequest(prompt="Two ../../cats", num_images=2),
    ]
    batch = client.batch(requests, out_dir=tmp_path, concurrency=1)
    items = {item.index: item for item in await collect(batch)}

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "000001-a-lighthouse-at-dawn.png",
        "000002-two-cats-1.png",
        "000002-two-cats-2.png",
        "manifest.jsonl",
    ]
    for path in tmp_path.glob("*.png"):
        assert_complete_png(path)
    assert items[1].paths == (tmp_path / "000001-a-lighthouse-at-dawn.png",)
    assert all(item.result is None for item in items.values())  # bytes released
    assert batch.summary.images_written == 3
    assert batch.summary.manifest == tmp_path / "manifest.jsonl"

    lines = {line["index"]: line for line in manifest(tmp_path)}
    assert sorted(lines) == [0, 1, 2]
    assert lines[0]["status"] == "failed"
    assert lines[0]["error_type"] == "BadRequestError"
    assert "Body validation error" in lines[0]["error"]
    assert lines[0]["key"] == items[0].key
    ok = lines[2]
    assert ok["status"] == "ok"
    assert ok["key"] == items[2].key
    assert ok["paths"] == ["000002-two-cats-1.png", "000002-two-cats-2.png"]
    assert ok["attempts"] == 1
    assert ok["usage"] == {"credits_used": 2 * 81_900, "usd_spent": pytest.approx(0.078)}
    assert ok["request_id"] == items[2].request_id
    assert ok["prompt"] == "Two ../../cats"


async def test_the_file_suffix_follows_what_the_image_really_is(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + bytes(20)
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20)
    for data in (gif, jpeg):  # 200 answers carrying other image types
        encoded = base64.b64encode(data).decode()
        server.fail_next(1, 200, body={"data": [{"b64_json": encoded}]})
    await collect(client.batch(["a gif", "a jpeg", "a png"], out_dir=tmp_path, concurrency=1))

    assert sorted(p.name for p in tmp_path.glob("0*")) == [
        "000000-a-gif.gif",
        "000001-a-jpeg.jpg",
        "000002-a-png.png",
    ]
    assert (tmp_path / "000000-a-gif.gif").read_bytes() == gif


async def test_no_partial_files_are_left_behind(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    (tmp_path / ".000003-left-over.png.abc.part").write_bytes(b"\x89PNG half")
    await collect(client.batch(prompts(10), out_dir=tmp_path, concurrency=4))

    names = [p.name for p in tmp_path.iterdir()]
    assert not [n for n in names if n.endswith(".part") or n.startswith(".")]
    assert len(names) == 11


async def test_the_manifest_key_follows_the_request_not_its_position(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    requests: list[str | nb.ImageRequest] = [
        *prompts(4),
        nb.ImageRequest(prompt="wide", aspect_ratio="16:9"),
    ]
    await collect(client.batch(requests, out_dir=tmp_path / "a"))
    await collect(client.batch(list(reversed(requests)), out_dir=tmp_path / "b"))

    def keys(folder: Path) -> dict[str, str]:
        return {line["prompt"]: line["key"] for line in manifest(folder)}

    assert keys(tmp_path / "a") == keys(tmp_path / "b")
    assert len(set(keys(tmp_path / "a").values())) == 5
    other = nb.ImageRequest(prompt="wide", aspect_ratio="4:3")
    [item] = await collect(client.batch([other], dry_run=True))
    assert item.key != keys(tmp_path / "a")["wide"]


# -- arguments ------------------------------------------------------------------------------


def test_bad_arguments_are_refused_before_anything_runs(tmp_path: Path) -> None:
    client = nb.AsyncClient(api_key="k", base_url="http://127.0.0.1:9")
    with pytest.raises(nb.ValidationError, match="concurrency"):
        client.batch(["x"], concurrency=0)
    with pytest.raises(nb.ValidationError, match="requests"):
        client.batch("a single prompt")
    with pytest.raises(nb.ValidationError, match="must be iterable, got int"):
        client.batch(42)  # type: ignore[arg-type]
    with pytest.raises(nb.ValidationError, match="resume"):
        client.batch(["x"], resume=True)
    with pytest.raises(nb.ValidationError, match="max_spend_usd"):
        client.batch(["x"], max_spend_usd=-1)


# -- errors the caller makes, and closing early ---------------------------------------


async def test_an_error_in_the_progress_callback_comes_out_as_itself(
    client: nb.AsyncClient,
) -> None:
    def progress(summary: nb.BatchSummary) -> None:
        raise LookupError("my progress bar broke")

    with pytest.raises(LookupError, match="my progress bar broke"):
        await collect(client.batch(prompts(3), progress=progress))


@pytest.mark.parametrize(("concurrency", "where"), [(1, 2), (3, 0), (3, 2)])
async def test_an_unexpected_error_stops_the_batch_and_comes_out_as_itself(
    client: nb.AsyncClient, concurrency: int, where: int
) -> None:
    def inputs() -> Iterator[str]:
        for i, prompt in enumerate(["a", "b", "c", "d", "e"]):
            if i == where:
                raise LookupError("my input file broke")
            yield prompt

    items: list[nb.BatchItem] = []
    with anyio.fail_after(10), pytest.raises(LookupError, match="my input file broke"):
        await collect_into(items, client.batch(inputs(), concurrency=concurrency))
    assert sorted(item.index for item in items) == list(range(where))
    assert all(item.ok or item.skip_reason == "stopped" for item in items)
    # The client is still usable.
    assert (await client.generate("after the error")).image.mime_type == "image/png"


async def test_fail_fast_stops_on_an_input_that_is_invalid_when_read(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    items: list[nb.BatchItem] = []
    with pytest.raises(nb.ValidationError, match="prompt"):
        await collect_into(items, client.batch(["  ", *prompts(20)], fail_fast=True))
    assert items[0].index == 0
    assert not items[0].ok
    assert len(server.generation_requests) == 0


async def test_closing_a_batch_early_records_what_was_in_flight_as_stopped(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    server.slow_next(2, 0.0)
    server.slow_next(20, 5.0)
    batch = client.batch(prompts(20), concurrency=4, out_dir=tmp_path)
    async with batch:
        first = await batch.__anext__()
        while sum(r.outcome == "pending" for r in server.generation_requests) < 3:
            await anyio.sleep(0.01)
    lines = manifest(tmp_path)
    assert first.ok
    assert len({line["index"] for line in lines}) == len(lines) == batch.summary.read
    assert {line["status"] for line in lines} == {"ok", "skipped"}
    assert {line.get("skip_reason") for line in lines if line["status"] == "skipped"} == {"stopped"}
    # The ones cut short in flight say that their request was sent.
    assert sum(line["attempts"] == 1 for line in lines if line["status"] == "skipped") >= 3


async def test_closing_a_batch_waits_for_an_image_being_written(
    client: nb.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writing, written = threading.Event(), threading.Event()
    real_write = atomic_write

    def slow_write(target: Path, data: bytes, tag: str = "") -> None:
        writing.set()
        time.sleep(0.3)
        real_write(target, data, tag)
        written.set()

    monkeypatch.setattr("nanobanana._results.atomic_write", slow_write)
    batch = client.batch(prompts(1), out_dir=tmp_path)

    async def consume() -> None:
        async for _ in batch:
            pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        while not writing.is_set():
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()  # the caller gives up while the image is being written
    await batch.aclose()

    assert written.is_set()  # aclose returned after the write, not in the middle of it
    [line] = manifest(tmp_path)
    assert line["status"] == "ok"
    assert_complete_png(tmp_path / line["paths"][0])
    assert not list(tmp_path.glob(".*.part"))


async def test_a_short_batch_starts_no_more_workers_than_it_has_inputs(
    client: nb.AsyncClient,
) -> None:
    loop = asyncio.get_running_loop()
    created: list[asyncio.Task[Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop)
        created.append(task)
        return task

    loop.set_task_factory(factory)  # type: ignore[arg-type]
    try:
        summary = await client.batch(prompts(3), concurrency=100).run()
    finally:
        loop.set_task_factory(None)
    assert summary.ok == 3
    ours = [t.get_name() for t in created if t.get_name().startswith("nanobanana-batch")]
    # The batch's own task, and one worker per input.
    assert sorted(ours) == ["nanobanana-batch"] + ["nanobanana-batch-worker"] * 3


async def test_a_finished_batch_leaves_no_reference_cycles(client: nb.AsyncClient) -> None:
    # Cycles are freed only by the garbage collector, whose passes cost CPU time in
    # proportion to everything alive: a batch at concurrency 1,000 would feel it.
    await client.batch([]).run()  # the first batch imports what it needs
    gc.collect()
    gc.disable()
    try:
        await client.batch([]).run()
        await client.batch(prompts(3), concurrency=2).run()
        async for _ in client.batch(prompts(2)):
            break
        await anyio.sleep(0.05)  # the dropped batch above is cancelled on the loop
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.startswith("nanobanana")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert ours == []


async def test_the_summary_stops_its_clock_when_the_batch_ends(client: nb.AsyncClient) -> None:
    batch = client.batch(prompts(3))
    summary = await batch.run()
    await anyio.sleep(0.05)
    assert batch.summary.elapsed == summary.elapsed
    assert summary.eta is None


async def test_a_full_disk_stops_the_batch_with_the_disk_error(
    client: nb.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(target: Path, data: bytes, tag: str = "") -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("nanobanana._results.atomic_write", no_space)
    with pytest.raises(OSError, match="No space left"):
        await collect(client.batch(prompts(10), out_dir=tmp_path, concurrency=2))
    lines = manifest(tmp_path)
    assert lines
    assert all(line["status"] == "skipped" for line in lines)


async def test_prompts_in_any_script_give_files_named_after_them(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    inputs = ["東京の夜景", "Кот в сапогах", "قطة على السطح", "!!!"]

    items = await collect(client.batch(inputs, out_dir=tmp_path, ordered=True))

    assert [path.name for item in items for path in item.paths] == [
        "000000-東京の夜景.png",
        "000001-кот-в-сапогах.png",
        "000002-قطة-على-السطح.png",
        "000003-image.png",
    ]
    for item in items:
        assert_complete_png(item.paths[0])


async def test_a_summary_shows_money_rounded_and_keeps_the_exact_sum(
    client: nb.AsyncClient,
) -> None:
    summary = await client.batch(prompts(10), concurrency=1).run()  # $0.039 an image

    assert summary.usd_spent == pytest.approx(0.39)
    assert "usd_spent=0.39," in repr(summary)
    assert "0.3899999" not in repr(summary)
