"""A batch pauses through an outage: it stops sending, probes, and resumes."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import pytest

import nanobanana as nb
from nanobanana._batch._outage import Outage
from nanobanana._batch._throttle import Throttle
from nanobanana.testing import FakeServer

DOWN = nb.ServerError("Service Unavailable", status=503)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def down_for_good(outage: Outage, clock: Clock) -> None:
    for _ in range(3):
        outage.on_outcome(clock.now, DOWN)


# -- the schedule, on a simulated clock ------------------------------------------------


def test_three_outage_failures_in_a_row_pause_and_any_other_answer_breaks_the_streak() -> None:
    clock = Clock()
    outage = Outage(max_outage=600, clock=clock)
    outage.on_outcome(0.0, DOWN)
    outage.on_outcome(0.0, nb.APIConnectionError("refused"))
    outage.on_outcome(0.0, nb.RateLimitError("slow down", status=429))  # the API answers
    outage.on_outcome(0.0, DOWN)
    outage.on_outcome(0.0, nb.APITimeoutError("slow"))  # no answer: no evidence either way
    outage.on_outcome(0.0, nb.ServerError("busy", status=503, retry_after=1))  # a rate limit
    assert not outage.paused
    outage.on_outcome(0.0, DOWN)
    outage.on_outcome(0.0, nb.APITimeoutError("slow"))
    assert not outage.paused

    outage.on_outcome(0.0, nb.ServerError("Bad Gateway", status=502))
    outage.on_outcome(0.0, nb.APIConnectionError("reset"))
    assert outage.paused
    assert outage.pauses == 1


def test_probes_go_one_at_a_time_at_doubling_intervals_up_to_the_cap() -> None:
    clock = Clock()
    outage = Outage(max_outage=10_000, first_probe=1.0, max_probe=8.0, clock=clock)
    down_for_good(outage, clock)

    probes: list[float] = []
    while clock.now < 60:
        if outage.claim_probe():
            probes.append(clock.now)
            assert not outage.claim_probe()  # one at a time
            clock.now += 0.1
            outage.on_outcome(probes[-1], DOWN)
        else:
            clock.now += outage.delay() or 0.1
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(probes)]
    assert probes[0] == 1.0
    assert gaps[:4] == [2.1, 4.1, 8.1, 8.1]
    assert len(probes) == 9


def test_a_probe_that_succeeds_resumes_and_the_pause_is_counted() -> None:
    clock = Clock()
    outage = Outage(max_outage=600, clock=clock)
    down_for_good(outage, clock)
    clock.now = 1.0
    assert outage.claim_probe()
    assert outage.next_probe_in() is None  # a probe is in flight
    clock.now = 1.5
    outage.on_outcome(1.0, None)

    assert not outage.paused
    assert outage.time_paused() == 1.5
    assert outage.delay() is None


def test_stragglers_sent_before_the_pause_are_not_taken_for_the_probe() -> None:
    clock = Clock()
    outage = Outage(max_outage=600, clock=clock)
    down_for_good(outage, clock)
    clock.now = 1.0
    assert outage.claim_probe()
    outage.on_outcome(0.0, DOWN)  # sent before the pause: the probe is still out
    assert outage.probing
    outage.on_outcome(1.0, asyncio.CancelledError())  # the probe was cancelled
    assert not outage.probing
    assert outage.claim_probe()  # another worker probes instead


def test_a_pause_past_max_outage_has_expired() -> None:
    clock = Clock()
    outage = Outage(max_outage=30, clock=clock)
    down_for_good(outage, clock)
    clock.now = 29.9
    assert not outage.expired
    clock.now = 30.0
    assert outage.expired
    assert outage.delay() == 0.0


def test_only_outage_failures_during_a_pause_are_excused_from_max_retries() -> None:
    throttle = Throttle(1, clock=Clock())  # pauses after 3 in a row
    assert not throttle.excuse(DOWN)
    for _ in range(3):
        throttle.in_flight += 1
        throttle.release(0.0, DOWN)
    assert throttle.excuse(DOWN)
    assert throttle.excuse(nb.APIConnectionError("refused"))
    assert not throttle.excuse(nb.ServerError("oops", status=500))


# -- batches on FakeServer ---------------------------------------------------------------


async def test_a_batch_waits_out_an_outage_and_loses_no_item(server: FakeServer) -> None:
    policy = nb.RetryPolicy.no_wait(max_retries=1)
    seen: list[nb.BatchSummary] = []
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, retry=policy) as client:
        server.outage(1.5, status=None)
        batch = client.batch([f"kite {i}" for i in range(24)], concurrency=8, progress=seen.append)
        items = [item async for item in batch]

    assert sorted(item.status for item in items) == ["ok"] * 24
    summary = batch.summary
    assert summary.time_paused > 0
    assert not summary.paused
    refused = [r for r in server.generation_requests if r.outcome == "outage:refused"]
    # A few failures reveal the outage, then one probe at a time: not 24 x 2 attempts.
    assert len(refused) <= 8 + 3


async def test_an_outage_past_max_outage_stops_the_batch_resumably(
    server: FakeServer, tmp_path: Path
) -> None:
    policy = nb.RetryPolicy.no_wait(max_retries=1)
    prompts = [f"kite {i}" for i in range(10)]
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, retry=policy) as client:
        server.outage(3600, status=503)
        batch = client.batch(
            prompts, concurrency=4, out_dir=tmp_path, retry=nb.RetryPolicy.for_batch(max_outage=0.3)
        )
        with pytest.raises(nb.ServerError, match=r"max_outage=0\.3 s"):
            async for _ in batch:
                pass
        summary = batch.summary
        assert summary.failed == 0
        assert summary.stop_reason is not None
        assert "unavailable" in summary.stop_reason

        server.outage(0)
        resumed = await client.batch(prompts, concurrency=4, out_dir=tmp_path, resume=True).run()

    assert resumed.ok + resumed.skipped_by_reason.get("done", 0) == 10
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert {line["status"] for line in lines} <= {"ok", "skipped"}


async def test_a_401_still_stops_the_batch_at_once(server: FakeServer) -> None:
    async with nb.AsyncClient(api_key="wrong", base_url=server.url) as client:
        batch = client.batch([f"kite {i}" for i in range(10)], concurrency=2)
        with pytest.raises(nb.AuthenticationError):
            async for _ in batch:
                pass
    assert batch.summary.time_paused == 0
    assert len(server.generation_requests) <= 2
