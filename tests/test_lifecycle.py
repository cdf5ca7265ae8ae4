"""The async client's life: a lazy session, event loops that come and go, closing."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings

import pytest

import nanobanana as nb
from nanobanana.testing import FakeServer


def test_constructing_a_client_outside_an_event_loop_opens_nothing() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = nb.AsyncClient(api_key="k")
        assert not client.is_closed
        del client
        gc.collect()

    assert [str(w.message) for w in caught] == []


def test_one_client_works_under_two_successive_asyncio_runs(sync_server: FakeServer) -> None:
    client = nb.AsyncClient(api_key=sync_server.api_key, base_url=sync_server.url)

    async def generate(prompt: str) -> nb.ImageResult:
        return await client.generate(prompt)

    first = asyncio.run(generate("first run"))
    second = asyncio.run(generate("second run"))
    gc.collect()  # an unclosed session of the first loop would warn here

    assert first.image.mime_type == second.image.mime_type == "image/png"
    assert [r.json["prompt"] for r in sync_server.generation_requests] == [
        "first run",
        "second run",
    ]

    asyncio.run(client.aclose())
    gc.collect()
    assert client.is_closed


def test_a_client_never_closed_leaves_no_unclosed_session(sync_server: FakeServer) -> None:
    async def main() -> None:
        client = nb.AsyncClient(api_key=sync_server.api_key, base_url=sync_server.url)
        await client.generate("a red kite")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()

    assert [str(w.message) for w in caught] == []


def test_a_client_busy_on_another_running_loop_is_refused(sync_server: FakeServer) -> None:
    client = nb.AsyncClient(api_key=sync_server.api_key, base_url=sync_server.url)
    started, release = threading.Event(), threading.Event()

    async def hold() -> None:
        await client.generate("first loop")
        started.set()
        await asyncio.to_thread(release.wait)
        await client.aclose()

    holder = threading.Thread(target=asyncio.run, args=(hold(),))
    holder.start()
    try:
        started.wait(5)
        with pytest.raises(RuntimeError, match="another running event loop"):
            asyncio.run(client.generate("second loop"))
    finally:
        release.set()
        holder.join()
    gc.collect()


async def test_async_with_after_close_raises(server: FakeServer) -> None:
    client = nb.AsyncClient(api_key=server.api_key, base_url=server.url)
    async with client:
        await client.generate("a red kite")

    assert client.is_closed
    with pytest.raises(nb.ClientClosedError):
        async with client:
            pass
    with pytest.raises(nb.ClientClosedError):
        await client.generate("a red kite")
    assert len(server.generation_requests) == 1


async def test_aclose_is_idempotent(server: FakeServer) -> None:
    client = nb.AsyncClient(api_key=server.api_key, base_url=server.url)
    await client.generate("a red kite")

    await client.aclose()
    await client.aclose()

    assert client.is_closed
    assert "closed=True" in repr(client)


async def test_closing_a_client_never_used_is_fine() -> None:
    client = nb.AsyncClient(api_key="k")

    await client.aclose()

    with pytest.raises(nb.ClientClosedError):
        await client.edit("make it night", images=["https://example.com/a.png"])


async def test_closed_client_is_a_runtime_error_too(server: FakeServer) -> None:
    client = nb.AsyncClient(api_key=server.api_key, base_url=server.url)
    await client.aclose()

    with pytest.raises(RuntimeError):
        await client.send(nb.ImageRequest(prompt="a red kite"))
