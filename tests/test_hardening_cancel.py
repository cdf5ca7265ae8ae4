"""Cancellation, Ctrl-C and closing leave nothing behind, and the client stays usable.

The server runs in a thread of its own (``sync_server``), so the event loop of an
async test holds the client's tasks only, and the server's records tell whether a
request is still open on the wire (``"pending"``) or ended (``"cancelled"``).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
from _raw_api import png

import nanobanana as nb
from nanobanana.testing import FakeServer

DELAYS = [0.0, 0.001, 0.005, 0.02, 0.05, 0.12]


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:["):
                count += 1
        except OSError:  # closed since the listing
            pass
    return count


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


async def await_until(condition: Callable[[], bool], what: str, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.005)


def no_request_pending(server: FakeServer) -> bool:
    return all(r.outcome != "pending" for r in server.requests)


async def quiet(server: FakeServer, period: float = 0.2) -> None:
    """Until the server has recorded no new request, and answered all, for ``period``."""
    seen = -1
    while len(server.requests) != seen or not no_request_pending(server):
        seen = len(server.requests)
        await asyncio.sleep(period)


Op = Callable[[nb.AsyncClient, Path], Awaitable[object]]


async def _generate(client: nb.AsyncClient, out: Path) -> object:
    return await client.generate("a red kite", num_images=2)


async def _edit(client: nb.AsyncClient, out: Path) -> object:
    source = out.parent / "source.png"
    if not source.exists():
        source.write_bytes(png())
    return await client.edit("make it night", images=[source, png()])


async def _batch_async_with(client: nb.AsyncClient, out: Path) -> object:
    prompts = [f"prompt {i}" for i in range(20)]
    async with client.batch(prompts, concurrency=4, out_dir=out) as batch:
        return [item async for item in batch]


async def _batch_run(client: nb.AsyncClient, out: Path) -> object:
    return await client.batch([f"prompt {i}" for i in range(20)], concurrency=4, out_dir=out).run()


async def _batch_iterated(client: nb.AsyncClient, out: Path) -> object:
    # No `async with`: the iteration itself is cancelled; aclose in a finally.
    batch = client.batch([f"prompt {i}" for i in range(20)], concurrency=4, out_dir=out)
    try:
        return [item async for item in batch]
    finally:
        with anyio.CancelScope(shield=True):
            await batch.aclose()


@pytest.mark.parametrize(
    "op",
    [_generate, _edit, _batch_async_with, _batch_run, _batch_iterated],
    ids=["generate", "edit", "batch-async-with", "batch-run", "batch-iterated"],
)
async def test_cancelling_at_any_point_leaves_nothing_behind(
    sync_server: FakeServer, tmp_path: Path, op: Op
) -> None:
    sync_server.shape = "images_url"  # downloads too: more await points to land in
    sync_server.latency = 0.03
    async with nb.AsyncClient(
        api_key=sync_server.api_key, base_url=sync_server.url, retry=nb.RetryPolicy.no_wait()
    ) as client:
        await client.generate("warm the pool")
        before = asyncio.all_tasks()
        for n, delay in enumerate(DELAYS):
            sync_server.reset()
            out = tmp_path / f"out{n}"
            with anyio.move_on_after(delay) as scope:
                await op(client, out)
            assert scope.cancelled_caught or delay >= 0.05, f"not cancelled at {delay}"
            await await_until(
                lambda: asyncio.all_tasks() <= before, f"a task outlived the cancel at {delay}"
            )
            await await_until(
                lambda: no_request_pending(sync_server), f"a request still open at {delay}"
            )
            if out.exists():
                assert [p.name for p in out.iterdir() if p.name.endswith(".part")] == []
        # Still usable, with nothing queued up behind the cancelled work. (A request
        # written just before the last cancel may still be on its way to the server's
        # thread: let those land before counting.)
        await quiet(sync_server)
        sync_server.reset()
        sync_server.latency = 0.0
        assert (await client.generate("after the cancels")).image.mime_type == "image/png"
        assert len(sync_server.generation_requests) == 1


async def test_a_cancelled_slow_request_ends_on_the_server_too(sync_server: FakeServer) -> None:
    async with nb.AsyncClient(api_key=sync_server.api_key, base_url=sync_server.url) as client:
        sync_server.slow_next(1, 5.0)
        with anyio.move_on_after(0.2):
            await client.generate("a slow one")
        await await_until(lambda: no_request_pending(sync_server), "the slow request is open")
        assert [r.outcome for r in sync_server.generation_requests] == ["cancelled"]
        assert (await client.generate("after")).image.mime_type == "image/png"


# -- Ctrl-C in a sync call -------------------------------------------------------------


def _ctrl_c_after(seconds: float) -> threading.Timer:
    main_id = threading.main_thread().ident
    assert main_id is not None
    assert threading.current_thread() is threading.main_thread()
    timer = threading.Timer(seconds, signal.pthread_kill, args=(main_id, signal.SIGINT))
    timer.start()
    return timer


@pytest.mark.parametrize("method", ["generate", "edit"])
def test_ctrl_c_in_a_sync_call_returns_at_once_and_the_client_stays_usable(
    sync_client: nb.Client, sync_server: FakeServer, method: str
) -> None:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    sync_client.generate("warm the pool")
    sync_server.reset()
    sync_server.slow_next(1, 5.0)
    started = time.monotonic()
    timer = _ctrl_c_after(0.2)
    try:
        call = (
            (lambda: sync_client.generate("a slow one"))
            if method == "generate"
            else (lambda: sync_client.edit("make it night", png()))
        )
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        timer.join()
    assert time.monotonic() - started < 1.0  # the server would answer after 5 s

    # The work on the portal's loop was cancelled: the request ended on the wire.
    wait_until(lambda: no_request_pending(sync_server), "the request is still open")
    assert [r.outcome for r in sync_server.generation_requests] == ["cancelled"]
    # The Client stays usable after Ctrl-C.
    assert sync_client.generate("after ctrl-c").image.mime_type == "image/png"
    assert len(sync_server.generation_requests) == 2


# -- close -----------------------------------------------------------------------------


def test_close_leaves_no_thread_no_socket_and_no_warning(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "in.png"
    path.write_bytes(png())
    threads, sockets = set(threading.enumerate()), open_sockets()  # the server's included
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = nb.Client(api_key=sync_server.api_key, base_url=sync_server.url)
        for i in range(4):
            client.generate(f"prompt {i}")
        client.edit("make it night", images=[path])
        assert list(client.batch(["a", "b", "c"], concurrency=3))
        assert open_sockets() > sockets  # pooled connections are open
        client.close()
        del client
        gc.collect()
        # The server closes its side once the client's side is gone.
        wait_until(lambda: open_sockets() <= sockets, "a socket is still open after close()")
        gc.collect()

    assert set(threading.enumerate()) - threads == set()
    assert open_sockets() == sockets
    assert [str(w.message) for w in caught] == []


def test_aclose_leaves_no_thread_no_socket_and_no_warning(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "in.png"
    path.write_bytes(png())
    threads, sockets = set(threading.enumerate()), open_sockets()

    async def main() -> int:
        client = nb.AsyncClient(api_key=sync_server.api_key, base_url=sync_server.url)
        await asyncio.gather(*(client.generate(f"prompt {i}") for i in range(4)))
        await client.edit("make it night", images=[path])
        opened = open_sockets()
        await client.aclose()
        await asyncio.sleep(0)
        return opened

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opened = asyncio.run(main())
        gc.collect()
        wait_until(lambda: open_sockets() <= sockets, "a socket is still open after aclose()")

    assert opened > sockets
    assert set(threading.enumerate()) - threads == set()
    assert open_sockets() == sockets
    assert [str(w.message) for w in caught] == []
