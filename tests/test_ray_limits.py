"""The cluster's books and an actor's lease, without Ray: one throttle, one budget, shared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import nanobanana as nb
from nanobanana._batch import BatchOptions
from nanobanana.ray._book import Grant, LimitsBook, Report, Settled, SpendBook
from nanobanana.ray._lease import Lease, SharedLimits
from nanobanana.ray._rows import DoneLines
from nanobanana.testing import FakeServer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def throttled() -> nb.RateLimitError:
    return nb.RateLimitError("slow down", status=429)


# -- the books -------------------------------------------------------------------------


def test_permits_go_out_up_to_the_clusters_concurrency_and_come_back() -> None:
    book = LimitsBook(concurrency=4, clock=Clock())
    first = book.exchange(Report("ray-0a", permits=3))
    second = book.exchange(Report("ray-0b", permits=3))

    assert (len(first.permits), len(second.permits)) == (3, 1)
    back = book.exchange(Report("ray-0a", permits=2, outcomes=((first.permits[0], None),)))
    assert len(back.permits) == 1
    given_back = book.exchange(Report("ray-0b", permits=1, unused=second.permits))
    assert len(given_back.permits) == 1


def test_429s_met_by_one_actor_slow_down_every_actor() -> None:
    clock = Clock()
    book = LimitsBook(concurrency=64, clock=clock)
    sent = book.exchange(Report("ray-0a", permits=30)).permits  # one actor sends 30...
    clock.now = 1.0
    refused = tuple((stamp, throttled()) for stamp in sent)  # ...and all are refused
    book.exchange(Report("ray-0a", outcomes=refused))

    grant = book.exchange(Report("ray-0b", permits=64))  # another asks for many
    assert grant.send_rate == 15.0  # half the rate the first was sending at
    assert grant.concurrency == 32
    assert len(grant.permits) <= 2  # and the second is held to it
    assert grant.throttled == 30


def test_what_a_silent_actor_held_is_taken_back() -> None:
    clock = Clock()
    book = LimitsBook(concurrency=2, silent_after=30.0, clock=clock)
    assert len(book.exchange(Report("ray-dead", permits=2)).permits) == 2
    assert book.exchange(Report("ray-0a", permits=1)).permits == ()

    clock.now = 31.0  # the first has not been heard from since
    assert len(book.exchange(Report("ray-0a", permits=1)).permits) == 1


def test_the_spend_cap_admits_one_request_until_the_price_is_known() -> None:
    book = LimitsBook(max_spend_usd=0.1, clock=Clock())
    grant = book.exchange(Report("ray-0a", reservations=(1, 1)))
    assert grant.verdicts == ("go", "wait")
    grant = book.exchange(
        Report("ray-0b", reservations=(1, 1, 1), settled=(Settled(1, made=1, usd=0.04),))
    )
    assert grant.verdicts == ("go", "budget", "budget")  # 0.04 spent + 0.04 in flight
    assert grant.usd == 0.04


def test_a_price_the_api_does_not_report_stops_a_capped_stage() -> None:
    book = SpendBook(max_spend_usd=1.0)
    assert book.decide(1) == "go"
    book.settle(Settled(1, made=1, usd=None))
    assert book.decide(1) == "budget"


# -- leases: two batches in one process sharing one book ------------------------------


async def test_two_batches_on_one_book_keep_to_one_concurrency_together(
    server: FakeServer, tmp_path: Path
) -> None:
    server.latency = 0.05
    book = LimitsBook(concurrency=3)
    most = 0

    async def exchange(report: Report) -> Grant:
        return book.exchange(report)

    async def watch() -> None:
        nonlocal most
        while True:
            pending = sum(r.outcome == "pending" for r in server.generation_requests)
            most = max(most, pending)
            await anyio.sleep(0.002)

    async def run(writer: str, texts: list[str]) -> nb.BatchSummary:
        lease = Lease(exchange, writer)
        options = BatchOptions(concurrency=8, out_dir=tmp_path, writer=writer)
        async with (
            nb.AsyncClient(api_key=server.api_key, base_url=server.url) as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(lease.run)
            summary = await client._batch_of(texts, options, SharedLimits(lease)).run()
            tg.cancel_scope.cancel()
        return summary

    summaries: list[nb.BatchSummary] = []

    async def collect(writer: str, stem: str) -> None:
        summaries.append(await run(writer, [f"a {stem} number {i}" for i in range(15)]))

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        async with anyio.create_task_group() as batches:
            batches.start_soon(collect, "ray-0a0a", "kite")
            batches.start_soon(collect, "ray-0b0b", "boat")
        tg.cancel_scope.cancel()

    assert [s.ok for s in summaries] == [15, 15]
    assert 1 <= most <= 3
    assert book.throttle.in_flight == 0  # every permit came back
    images = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(images) == 30
    assert all(name.startswith(("ray-0a0a-0000", "ray-0b0b-0000")) for name in images)
    assert sorted(p.name for p in tmp_path.glob("manifest*")) == [
        "manifest-ray-0a0a.jsonl",
        "manifest-ray-0b0b.jsonl",
    ]


def test_a_writer_is_a_name_fit_for_a_file(tmp_path: Path) -> None:
    with pytest.raises(nb.ValidationError, match="writer: must be a word, a dash and hex"):
        BatchOptions(out_dir=tmp_path, writer="../x")
    with pytest.raises(nb.ValidationError, match="either a shard or a writer"):
        BatchOptions(out_dir=tmp_path, writer="ray-0a0a", shard=nb.Shard(0, 2))


# -- the extra ---------------------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_importing_nanobanana_does_not_import_ray() -> None:
    result = run_python("import sys, nanobanana; print('ray' in sys.modules)")
    assert result.stdout.strip() == "False", result.stderr


def test_without_ray_the_module_says_which_extra_to_install() -> None:
    result = run_python("import sys; sys.modules['ray'] = None; import nanobanana.ray")
    assert result.returncode == 1
    assert "pip install 'nanobanana[ray]'" in result.stderr


def test_the_lines_done_are_read_once_each_as_the_manifests_grow(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    manifest = tmp_path / "manifest-ray-0a0a.jsonl"
    line = '{"key": "k1", "status": "ok", "paths": ["a.png"]}\n'
    manifest.write_text(line + '{"key": "k2", "status": "ok", "paths": ["gone.png"]}\n{"key"')
    lines = DoneLines(str(tmp_path))

    assert {key: len(docs) for key, docs in lines.refresh().items()} == {"k1": 1}
    with manifest.open("a") as fh:  # the torn line is finished, another line comes
        fh.write(': "k3", "status": "failed", "paths": []}\n' + line)
    assert {key: len(docs) for key, docs in lines.refresh().items()} == {"k1": 2}
