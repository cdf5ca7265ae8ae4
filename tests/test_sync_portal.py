"""The sync Client's loop thread: closing it under other threads' feet, and at exit."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable

import pytest

import nanobanana as nb
from nanobanana.testing import FakeServer


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def a_request_is_pending(server: FakeServer) -> bool:
    return any(r.outcome == "pending" for r in server.generation_requests)


def generate_slowly(client: nb.Client) -> object:
    return client.generate("a slow one")


def batch_slowly(client: nb.Client) -> object:
    return list(client.batch([f"slow {i}" for i in range(6)], concurrency=2))


@pytest.mark.parametrize("work", [generate_slowly, batch_slowly], ids=["generate", "batch"])
def test_closing_the_client_ends_a_call_another_thread_is_waiting_on(
    sync_server: FakeServer, work: Callable[[nb.Client], object]
) -> None:
    client = nb.Client(api_key=sync_server.api_key, base_url=sync_server.url, trust_env=False)
    client.generate("warm the pool")
    sync_server.reset()
    sync_server.slow_next(10, 5.0)
    raised: list[BaseException] = []

    def call() -> None:
        try:
            work(client)
        except BaseException as exc:
            raised.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: a_request_is_pending(sync_server), "the slow request never arrived")
    started = time.monotonic()
    client.close()
    caller.join(5)

    assert not caller.is_alive()
    assert time.monotonic() - started < 1.0  # the server would answer after 5 s
    assert [type(exc) for exc in raised] == [nb.ClientClosedError]
    assert str(raised[0]) == "the client was closed during the call"
    wait_until(lambda: not a_request_is_pending(sync_server), "a request is still open")


def test_threads_racing_a_close_get_results_or_client_closed_error(
    sync_server: FakeServer,
) -> None:
    sync_server.latency = 0.01
    client = nb.Client(api_key=sync_server.api_key, base_url=sync_server.url, trust_env=False)
    threads_before = set(threading.enumerate())
    results: list[nb.ImageResult] = []
    raised: list[BaseException] = []

    def keep_generating(n: int) -> None:
        try:
            while True:
                results.append(client.generate(f"thread {n}"))
        except BaseException as exc:
            raised.append(exc)

    callers = [threading.Thread(target=keep_generating, args=(n,)) for n in range(6)]
    for caller in callers:
        caller.start()
    wait_until(lambda: len(results) >= 12, "the calls did not get going")
    client.close()
    for caller in callers:
        caller.join(5)

    assert not any(caller.is_alive() for caller in callers)
    assert len(raised) == 6
    assert all(isinstance(exc, nb.ClientClosedError) for exc in raised)
    assert all(r.image.mime_type == "image/png" for r in results)
    assert set(threading.enumerate()) - threads_before == set()


def test_a_closed_client_is_not_kept_alive(sync_server: FakeServer) -> None:
    client = nb.Client(api_key=sync_server.api_key, base_url=sync_server.url)
    client.generate("a red kite")
    client.close()
    ref = weakref.ref(client)

    del client
    gc.collect()

    assert ref() is None


SCRIPT_WITH_WORKER_THREADS = """
import gc, pathlib, tempfile
import nanobanana as nb
from nanobanana.testing import FakeServer, make_png
server = FakeServer()
server.start()
url = server.url.replace("127.0.0.1", "localhost")  # a host name: resolved in a thread
photo = pathlib.Path(tempfile.mkdtemp()) / "photo.png"
photo.write_bytes(make_png(8, 8, b"a photo"))
client = nb.Client(api_key=server.api_key, base_url=url)
print(client.edit("make it night", images=[photo]).image.mime_type)  # read in a thread
print(nb.Client(api_key=server.api_key, base_url=url).generate("a kite").image.mime_type)
gc.collect()  # the second client is held by nobody now
server.stop()
# no close(): the interpreter must still exit, and quietly
"""


def test_clients_never_closed_after_using_threads_still_exit_quietly() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT_WITH_WORKER_THREADS],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["image/png", "image/png"]
    assert result.stderr == ""
