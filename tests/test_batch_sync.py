"""``Client.batch``: the same batch from a plain ``for`` loop, and leaving that loop early."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import nanobanana as nb
from nanobanana.testing import FakeServer


def prompts(n: int) -> list[str]:
    return [f"prompt number {i}" for i in range(n)]


def test_a_for_loop_gets_the_same_items_as_async_for(sync_client: nb.Client) -> None:
    batch = sync_client.batch(prompts(8), concurrency=3, ordered=True)
    items = list(batch)

    assert [item.index for item in items] == list(range(8))
    assert all(item.ok and item.result is not None for item in items)
    assert batch.summary.ok == 8
    assert batch.summary.in_flight == 0


def test_run_drains_the_batch_and_returns_the_summary(
    sync_client: nb.Client, sync_server: FakeServer, tmp_path: Path
) -> None:
    sync_server.fail_next(1, 400)
    summary = sync_client.batch(prompts(5), out_dir=tmp_path, concurrency=1).run()

    assert (summary.ok, summary.failed) == (4, 1)
    assert summary.images_written == 4
    assert len((tmp_path / "manifest.jsonl").read_text().splitlines()) == 5


def test_a_401_is_raised_by_the_loop(sync_server: FakeServer) -> None:
    with nb.Client(api_key="wrong", base_url=sync_server.url) as client:
        with pytest.raises(nb.AuthenticationError):
            for _item in client.batch(prompts(20), concurrency=2):
                pass
        assert len(sync_server.generation_requests) <= 2


Wait = Callable[[], None]


def _leave_by_break(batch: nb.Batch, slow_ones_in_flight: Wait) -> list[nb.BatchItem]:
    seen: list[nb.BatchItem] = []
    for item in batch:
        seen.append(item)
        slow_ones_in_flight()
        break
    return seen


def _leave_by_error(batch: nb.Batch, slow_ones_in_flight: Wait) -> list[nb.BatchItem]:
    seen: list[nb.BatchItem] = []

    def loop() -> None:
        for item in batch:
            seen.append(item)
            slow_ones_in_flight()
            raise RuntimeError("the loop body failed")

    with pytest.raises(RuntimeError, match="the loop body failed"):
        loop()
    return seen


def _leave_by_ctrl_c_in_the_body(batch: nb.Batch, slow_ones_in_flight: Wait) -> list[nb.BatchItem]:
    seen: list[nb.BatchItem] = []

    def loop() -> None:
        for item in batch:
            seen.append(item)
            slow_ones_in_flight()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop()
    return seen


def _leave_by_ctrl_c_while_waiting(
    batch: nb.Batch, slow_ones_in_flight: Wait
) -> list[nb.BatchItem]:
    # A real SIGINT, delivered to the main thread while it waits for the next item.
    seen: list[nb.BatchItem] = []
    main = threading.main_thread().ident
    assert main is not None
    assert threading.get_ident() == main
    timer = threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT))

    def loop() -> None:
        try:
            for item in batch:
                seen.append(item)
                if len(seen) == 1:
                    slow_ones_in_flight()
                    timer.start()
        finally:
            timer.join()

    with pytest.raises(KeyboardInterrupt):
        loop()
    return seen


@pytest.mark.parametrize(
    "leave",
    [
        _leave_by_break,
        _leave_by_error,
        _leave_by_ctrl_c_in_the_body,
        _leave_by_ctrl_c_while_waiting,
    ],
    ids=["break", "exception", "ctrl-c-in-body", "ctrl-c-while-waiting"],
)
def test_leaving_the_loop_cancels_the_requests_in_flight(
    sync_client: nb.Client,
    sync_server: FakeServer,
    tmp_path: Path,
    leave: Callable[[nb.Batch, Wait], list[nb.BatchItem]],
) -> None:
    sync_server.slow_next(2, 0.0)  # two quick answers, then every request takes 5 s
    sync_server.slow_next(30, 5.0)
    started = time.monotonic()

    batch = sync_client.batch(prompts(30), concurrency=4, out_dir=tmp_path)

    def slow_ones_in_flight() -> None:
        deadline = time.monotonic() + 2.0
        while sum(r.outcome == "pending" for r in sync_server.generation_requests) < 2:
            assert time.monotonic() < deadline, "the slow requests never reached the server"
            time.sleep(0.005)

    seen = leave(batch, slow_ones_in_flight)  # the caller still holds the batch

    assert 1 <= len(seen) <= 2
    assert all(item.ok for item in seen)
    assert time.monotonic() - started < 3.0
    # The server's in-flight work ends soon (the client went away), long before 5 s...
    deadline = time.monotonic() + 2.0
    while any(r.outcome == "pending" for r in sync_server.generation_requests):
        assert time.monotonic() < deadline, "requests still in flight after the loop ended"
        time.sleep(0.01)
    records = sync_server.generation_requests
    assert "cancelled" in {r.outcome for r in records}
    # ...and no more requests arrive.
    time.sleep(0.3)
    assert len(sync_server.generation_requests) == len(records) <= 4 + 2

    # The manifest has one complete line per item read: "ok" for those that finished,
    # "stopped" for those cut short (a resume sends them again).
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert len({line["index"] for line in lines}) == len(lines) == batch.summary.read
    done = [line for line in lines if line["status"] == "ok"]
    assert 1 <= len(done) <= 2
    assert {item.index for item in seen} <= {line["index"] for line in done}
    for line in done:
        assert all((tmp_path / name).is_file() for name in line["paths"])
    for line in lines:
        assert line["status"] == "ok" or line["skip_reason"] == "stopped"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]

    assert batch.summary.in_flight == 0

    # The client is still usable.
    sync_server.reset()
    assert sync_client.generate("after the batch").image.mime_type == "image/png"


def test_a_batch_used_as_a_context_manager_is_closed_on_exit(
    sync_client: nb.Client, sync_server: FakeServer
) -> None:
    sync_server.latency = 0.2
    with sync_client.batch(prompts(20), concurrency=4) as batch:
        first = next(iter(batch))
    assert first.ok
    time.sleep(0.3)
    count = len(sync_server.generation_requests)
    time.sleep(0.3)
    assert len(sync_server.generation_requests) == count < 20


def test_iterating_a_batch_a_second_time_raises(
    sync_client: nb.Client, sync_server: FakeServer
) -> None:
    batch = sync_client.batch(prompts(3))
    assert len(list(batch)) == 3

    with pytest.raises(nb.BatchClosedError, match=r"client\.batch\(\)"):
        list(batch)
    with pytest.raises(RuntimeError):  # nb.BatchClosedError is a RuntimeError too
        batch.run()
    assert isinstance(nb.BatchClosedError("x"), nb.NanoBananaError)
    assert batch.summary.ok == 3  # the summary stays readable
    assert len(sync_server.generation_requests) == 3


def test_a_batch_left_early_cannot_be_iterated_again(sync_client: nb.Client) -> None:
    batch = sync_client.batch(prompts(5), concurrency=1)
    for _ in batch:
        break

    with pytest.raises(nb.BatchClosedError):
        next(iter(batch))


def test_a_closed_batch_cannot_be_iterated(sync_client: nb.Client) -> None:
    batch = sync_client.batch(prompts(2))
    batch.close()

    with pytest.raises(nb.BatchClosedError):
        list(batch)
