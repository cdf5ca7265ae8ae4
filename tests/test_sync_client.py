"""The blocking Client: same API, one portal, one pool, many threads, Jupyter-safe."""

from __future__ import annotations

import asyncio
import gc
import inspect
import subprocess
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _raw_api import png

import nanobanana as nb
from nanobanana.testing import FakeServer, make_png


def server_png(prompt: str, index: int = 0) -> bytes:
    return make_png(64, 64, f"{index}\x00{prompt}".encode())


@pytest.mark.parametrize(
    ("name", "returns"),
    [
        ("generate", nb.ImageResult),
        ("edit", nb.ImageResult),
        ("send", nb.ImageResult),
        ("resolve_model", str),
    ],
)
def test_sync_methods_have_the_async_signatures(name: str, returns: type) -> None:
    sync = inspect.signature(getattr(nb.Client, name), eval_str=True)
    async_ = inspect.signature(getattr(nb.AsyncClient, name), eval_str=True)

    assert sync == async_
    assert sync.return_annotation is returns


def test_sync_batch_takes_the_async_arguments() -> None:
    sync = inspect.signature(nb.Client.batch)
    async_ = inspect.signature(nb.AsyncClient.batch)

    assert list(sync.parameters.values()) == list(async_.parameters.values())


def test_sync_client_takes_the_async_client_arguments() -> None:
    assert inspect.signature(nb.Client) == inspect.signature(nb.AsyncClient)


def test_every_public_async_method_has_a_sync_twin() -> None:
    def public(cls: type) -> set[str]:
        return {n for n, v in vars(cls).items() if not n.startswith("_") and callable(v)}

    assert public(nb.AsyncClient) - {"aclose"} <= public(nb.Client)
    assert "close" in public(nb.Client)


def test_generate_blocks_and_returns_the_result(
    sync_client: nb.Client, sync_server: FakeServer, tmp_path: Path
) -> None:
    result = sync_client.generate("a lighthouse at dawn", aspect_ratio="16:9", num_images=2)

    assert isinstance(result, nb.ImageResult)
    assert len(result.images) == 2
    assert (result.image.width, result.image.height) == (84, 48)
    assert result.image.save(tmp_path).read_bytes().startswith(result.image.data[:33])
    assert sync_server.generation_requests[0].json["aspect_ratio"] == "16:9"


def test_edit_and_send_block_and_return_results(
    sync_client: nb.Client, sync_server: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "in.png"
    path.write_bytes(png())

    edited = sync_client.edit("make it night", images=[path])
    sent = sync_client.send(nb.ImageRequest(prompt="a red kite", aspect_ratio="4:3"))

    assert edited.model == "google/gemini-2.5-flash-image-edit"
    assert (sent.image.width, sent.image.height) == (74, 54)
    assert len(sync_server.generation_requests) == 2


def test_resolve_model_tells_which_model_a_request_goes_to(sync_client: nb.Client) -> None:
    edit = nb.ImageRequest(prompt="make it night", images=[png()])

    assert sync_client.resolve_model(edit) == "google/gemini-2.5-flash-image-edit"
    assert sync_client.resolve_model(nb.ImageRequest(prompt="x")) == nb.Model.NANO_BANANA


def test_errors_are_the_same_classes(sync_client: nb.Client, sync_server: FakeServer) -> None:
    sync_server.fail_next(status=403)

    with pytest.raises(nb.OutOfCreditsError):
        sync_client.generate("a red kite")
    with pytest.raises(nb.ValidationError):
        sync_client.generate("a red kite", num_images=9)


def test_a_hung_request_times_out(sync_client: nb.Client, sync_server: FakeServer) -> None:
    sync_server.hang_next()

    with pytest.raises(nb.APITimeoutError):
        sync_client.generate("a red kite", timeout=0.2, max_retries=0)


def test_ten_calls_share_one_connection(sync_client: nb.Client, sync_server: FakeServer) -> None:
    for i in range(10):
        sync_client.generate(f"kite {i}")

    assert len(sync_server.generation_requests) == 10
    assert sync_server.distinct_connections() == 1


def test_one_event_loop_thread_serves_all_calls(sync_server: FakeServer) -> None:
    before = set(threading.enumerate())
    # trust_env=False: aiohttp then reads no proxy or netrc settings in executor threads.
    with nb.Client(
        api_key=sync_server.api_key, base_url=sync_server.url, trust_env=False
    ) as client:
        client.generate("first")
        after_one = set(threading.enumerate()) - before
        for i in range(5):
            client.generate(f"kite {i}")
        after_six = set(threading.enumerate()) - before

    assert len(after_one) == 1  # the portal's loop runs in a thread of its own...
    assert after_six == after_one  # ...started once, not once per call


def test_threads_sharing_a_client_each_get_their_own_result(sync_server: FakeServer) -> None:
    sync_server.latency = 0.05  # so the calls overlap on the client's loop
    prompts = [f"thread {i}" for i in range(8)]
    start = threading.Barrier(8)
    before = set(threading.enumerate())
    client = nb.Client(api_key=sync_server.api_key, base_url=sync_server.url, trust_env=False)

    def call(prompt: str) -> nb.ImageResult:
        start.wait()  # all eight make the client's first call at once
        return client.generate(prompt)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, prompts))
    portal_threads = set(threading.enumerate()) - before
    client.close()

    assert [r.image.data for r in results] == [server_png(p) for p in prompts]
    assert sorted(r.json["prompt"] for r in sync_server.generation_requests) == sorted(prompts)
    assert len(portal_threads) == 1


def test_callable_from_a_thread_whose_event_loop_is_running(
    sync_client: nb.Client, sync_server: FakeServer
) -> None:
    async def notebook_cell() -> nb.ImageResult:
        return sync_client.generate("from a notebook")

    with pytest.warns(nb.BlockingCallWarning):
        result = asyncio.run(notebook_cell())

    assert result.image.data == server_png("from a notebook")


def test_inside_async_def_the_sync_client_warns_once_pointing_to_async_client(
    sync_client: nb.Client,
) -> None:
    async def handler() -> None:
        sync_client.generate("a red kite")  # blocks the loop: the warning's line
        sync_client.generate("a blue boat")
        for _ in sync_client.batch(["a green hill"]):
            pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(handler())

    ours = [w for w in caught if issubclass(w.category, nb.BlockingCallWarning)]
    assert len(ours) == 1  # once per client
    assert issubclass(ours[0].category, RuntimeWarning)
    assert "AsyncClient" in str(ours[0].message)
    assert ours[0].filename == __file__  # it points at the user's call


def test_a_user_can_silence_the_warning_by_its_category(sync_client: nb.Client) -> None:
    async def handler() -> nb.ImageResult:
        return sync_client.generate("a red kite")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nb.BlockingCallWarning)
        assert asyncio.run(handler()).image.mime_type == "image/png"


def test_no_warning_outside_a_running_loop(sync_client: nb.Client) -> None:
    # The suite turns warnings into errors: a warning here would fail the test.
    sync_client.generate("a red kite")
    with ThreadPoolExecutor(2) as pool:
        assert len(list(pool.map(sync_client.generate, ["a", "b"]))) == 2


def test_close_is_idempotent_and_later_calls_raise(sync_server: FakeServer) -> None:
    client = nb.Client(api_key=sync_server.api_key, base_url=sync_server.url)
    client.generate("a red kite")

    client.close()
    client.close()

    assert client.is_closed
    assert client.async_client.is_closed
    with pytest.raises(nb.ClientClosedError):
        client.generate("a red kite")
    with pytest.raises(nb.ClientClosedError), client:
        pass
    assert len(sync_server.generation_requests) == 1


def test_closing_an_unused_client_is_fine() -> None:
    client = nb.Client(api_key="k")
    client.close()

    with pytest.raises(nb.ClientClosedError):
        client.generate("a red kite")


def test_close_leaves_no_thread_and_no_warning(sync_server: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "in.png"
    path.write_bytes(png())
    before = set(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nb.Client(api_key=sync_server.api_key, base_url=sync_server.url) as client:
            client.generate("a red kite")
            client.edit("make it night", images=[path])  # file reading uses a worker thread
        del client
        gc.collect()

    assert set(threading.enumerate()) - before == set()
    assert [str(w.message) for w in caught] == []


def test_repr_shows_settings_not_the_key() -> None:
    client = nb.Client(api_key="sk-visible?", base_url="http://h:1")

    assert repr(client).startswith("Client(base_url='http://h:1'")
    assert "sk-visible?" not in repr(client)
    assert client.async_client.base_url == "http://h:1"
    client.close()


SCRIPT_WITHOUT_CLOSE = """
import logging, sys
import nanobanana as nb
from nanobanana.testing import FakeServer
server = FakeServer()
server.start()
server.fail_next(status=503)  # one retry, which must not print anything
client = nb.Client(api_key=server.api_key, base_url=server.url,
                   retry=nb.RetryPolicy.no_wait())
print(client.generate("a red kite").image.mime_type)
server.stop()
# no client.close(): the interpreter must still exit, and quietly
"""


def test_a_script_that_never_closes_its_client_still_exits_quietly() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT_WITHOUT_CLOSE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "image/png"
    assert result.stderr == ""  # no retry line from logging's last resort, no warning
