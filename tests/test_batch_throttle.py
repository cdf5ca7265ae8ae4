"""Flow control of a batch: concurrency, rate, 429s, Retry-After, retry budget, chaos."""

from __future__ import annotations

import collections
import itertools
import json
import random
from pathlib import Path

import anyio
import pytest

import nanobanana as nb
from nanobanana.testing import MALFORMED_KINDS, FakeServer


def prompts(n: int, stem: str = "prompt") -> list[str]:
    return [f"{stem} number {i}" for i in range(n)]


async def drain(batch: nb.AsyncBatch) -> list[nb.BatchItem]:
    async with batch:
        return [item async for item in batch]


class Watch:
    """Samples, while a batch runs, the server's in-flight count and the batch summary."""

    def __init__(self, server: FakeServer, batch: nb.AsyncBatch) -> None:
        self.server = server
        self.batch = batch
        self.samples: list[tuple[float, int, nb.BatchSummary]] = []

    async def run(self) -> None:
        while True:
            records = self.server.generation_requests
            pending = sum(r.outcome == "pending" for r in records)
            self.samples.append((anyio.current_time(), pending, self.batch.summary))
            await anyio.sleep(0.003)

    async def drain(self) -> list[nb.BatchItem]:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.run)
            items = await drain(self.batch)
            tg.cancel_scope.cancel()
        return items

    @property
    def most_in_flight(self) -> int:
        return max(pending for _, pending, _ in self.samples)


def overlap(arrivals: list[float], hold: float) -> int:
    """Most requests the server held at once, each held ``hold`` s from its arrival."""
    return max(sum(start <= t < start + hold for start in arrivals) for t in arrivals)


def no_wait(max_retries: int) -> nb.RetryPolicy:
    return nb.RetryPolicy.no_wait(max_retries=max_retries)


# -- limits the user sets ---------------------------------------------------------------


async def test_the_server_never_sees_more_than_concurrency_requests(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.latency = 0.05
    watch = Watch(server, client.batch(prompts(15), concurrency=3))
    items = await watch.drain()

    assert all(item.ok for item in items)
    assert 2 <= watch.most_in_flight <= 3
    assert all(summary.in_flight <= 3 for _, _, summary in watch.samples)


async def test_requests_per_minute_spaces_the_requests(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    items = await drain(client.batch(prompts(6), concurrency=6, requests_per_minute=600))

    assert all(item.ok for item in items)
    times = sorted(r.received_at for r in server.generation_requests)
    # 600 a minute is 10 a second: six requests span at least five tenths of a second.
    assert times[-1] - times[0] >= 0.45
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.07


# -- adapting to the server ---------------------------------------------------------------


async def test_a_rate_limit_is_learned_and_kept_to(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.latency = 0.02  # fast answers: 16 in flight could send 800 a second
    server.rate_limit(per_second=40, burst=4)
    batch = client.batch(prompts(160), concurrency=16, retry=no_wait(1))
    watch = Watch(server, batch)
    items = await watch.drain()

    assert all(item.ok for item in items)
    summary = batch.summary
    assert summary.send_rate is not None
    assert 20 <= summary.send_rate <= 60
    # Once learned (it takes a second or so), the rate is kept: few 429s after that.
    records = server.generation_requests
    late = [r for r in records if r.received_at > records[0].received_at + 1.5]
    assert sum(r.status == 429 for r in late) <= 0.15 * len(late)
    # The rate was what was too high: the concurrency grew back.
    assert summary.concurrency >= 8


async def test_429s_that_slowing_down_does_not_lessen_put_the_concurrency_back(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.latency = 0.05
    server.throttle_share(0.5)  # half the requests refused, however few are sent
    batch = client.batch(prompts(200), concurrency=16, retry=no_wait(1))
    watch = Watch(server, batch)
    items = await watch.drain()

    assert all(item.ok for item in items)
    allowed = [summary.concurrency for _, _, summary in watch.samples]
    assert min(allowed) < 16  # it did try slowing down
    assert batch.summary.concurrency >= 12  # and put the concurrency back
    # That the rate is put back too is a property on a simulated clock (on a real
    # one it depends on how the late answers fall): see test_adapt_props.py.
    assert batch.summary.throttled > 100


async def test_an_item_waiting_out_a_429_that_is_not_about_the_load_frees_its_worker(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.latency = 0.01
    server.fail_next(2, 429, retry_after=1)  # the first two requests: "in a second"
    texts = prompts(6)
    batch = client.batch(texts, concurrency=2)
    # As once the batch has found its 429s to be background noise, not its load:
    batch._engine.throttle.judge.independent = True

    items = await drain(batch)

    assert all(item.ok for item in items)
    sent = [r.json["prompt"] for r in server.generation_requests if r.json]
    assert sent[:2] == texts[:2]  # refused, each to wait a second
    # While they waited, their workers took the next inputs, within the concurrency.
    assert sorted(sent[2:6]) == texts[2:6]
    assert sorted(sent[6:]) == texts[:2]
    assert batch.summary.throttled == 2


async def test_without_adaptive_the_concurrency_stays_put(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.fail_next(20, 429)
    batch = client.batch(prompts(10), concurrency=8, adaptive=False, retry=no_wait(10))
    await drain(batch)

    assert batch.summary.concurrency == 8
    assert batch.summary.throttled == 20


@pytest.mark.parametrize("header", [{"retry_after": 0.5}, {"retry_after_ms": 500}])
async def test_a_retry_after_pauses_every_worker(
    client: nb.AsyncClient, server: FakeServer, header: dict[str, float]
) -> None:
    server.latency = 0.02
    server.fail_next(1, 429, **header)  # type: ignore[arg-type]
    items = await drain(client.batch(prompts(24), concurrency=4))

    assert all(item.ok for item in items)
    records = server.generation_requests
    [paused_by] = [r.received_at for r in records if r.outcome == "fault:429"]
    in_pause = [
        r.received_at - paused_by
        for r in records
        if paused_by + 0.1 < r.received_at < paused_by + 0.45
    ]
    assert in_pause == []  # the answer came at +0.02 s; nobody sent until +0.52 s
    assert any(r.received_at >= paused_by + 0.5 for r in records)


async def test_the_retry_budget_stops_retries_when_most_requests_fail(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.fail_next(10_000, 500)
    items = await drain(client.batch(prompts(40), concurrency=8, retry=no_wait(10)))

    assert len(items) == 40
    assert all(isinstance(item.error, nb.ServerError) for item in items)
    sent = len(server.generation_requests)
    assert sent < 40 * (10 + 1) / 2
    fast = [item for item in items if "retry budget" in str(item.error)]
    assert len(fast) >= 20
    assert all(item.attempts < 11 for item in fast)


# -- chaos ----------------------------------------------------------------------------------


async def test_chaos_every_item_ends_ok_or_typed_and_retries_stay_bounded(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    rng = random.Random(20240611)
    max_retries = 3
    kinds = collections.Counter[str]()
    for _ in range(450):
        roll = rng.random()
        if roll < 0.55:
            server.slow_next(1, 0.0)  # a normal answer
            kinds["ok"] += 1
        elif roll < 0.65:
            server.fail_next(1, 429)
            kinds["429"] += 1
        elif roll < 0.70:
            server.fail_next(1, 429, retry_after=rng.choice([0, 0.01, 0.02]))
            kinds["429 retry-after"] += 1
        elif roll < 0.72:
            server.fail_next(1, 429, retry_after_ms=rng.choice([5, 15]))
            kinds["429 retry-after-ms"] += 1
        elif roll < 0.80:
            server.fail_next(1, 500)
            kinds["500"] += 1
        elif roll < 0.86:
            server.fail_next(1, 503)
            kinds["503"] += 1
        elif roll < 0.93:
            server.drop_next(1, reset=rng.random() < 0.5)
            kinds["drop"] += 1
        else:
            server.malformed_next(1, kind=rng.choice(MALFORMED_KINDS))
            kinds["malformed"] += 1

    batch = client.batch(
        prompts(300, "chaos"), concurrency=16, out_dir=tmp_path, retry=no_wait(max_retries)
    )
    items = await drain(batch)

    assert sorted(item.index for item in items) == list(range(300))
    for item in items:
        if item.ok:
            assert item.paths
            assert all(p.exists() for p in item.paths)
        else:
            assert item.status == "failed"
            assert isinstance(item.error, nb.NanoBananaError)
            assert not isinstance(item.error, nb.ValidationError)
            assert not isinstance(item.error, nb.RateLimitError)  # 429s cost patience only
        # Rate-limit answers spend no retries: the other attempts stay bounded.
        assert 1 <= item.attempts - item.throttled <= max_retries + 1
    assert batch.summary.ok > 200

    records = server.generation_requests
    assert len({r.json["prompt"] for r in records}) == 300
    per_prompt = collections.Counter(r.json["prompt"] for r in records if r.status != 429)
    assert max(per_prompt.values()) <= max_retries + 1

    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert sorted(line["index"] for line in lines) == list(range(300))
    by_index = {item.index: item for item in items}
    for line in lines:
        assert line["status"] == by_index[line["index"]].status
