"""The channel between the batch workers and the consumer, on its own."""

from __future__ import annotations

import asyncio
import gc

import anyio
import pytest

from nanobanana._handoff import END, Handoff


async def test_a_put_returns_only_once_the_consumer_has_taken_the_item() -> None:
    channel: Handoff[str] = Handoff()
    put = asyncio.create_task(channel.put("a"))
    await asyncio.sleep(0)
    assert not put.done()

    assert channel.get_nowait() == "a"
    await put


async def test_a_waiting_consumer_gets_the_item_at_once() -> None:
    channel: Handoff[str] = Handoff()
    get = asyncio.create_task(channel.get())
    await asyncio.sleep(0)

    assert channel.put_nowait("a")
    assert await get == "a"
    assert not channel.put_nowait("b")  # nobody waits now


async def test_a_cancelled_put_takes_its_item_back() -> None:
    channel: Handoff[str] = Handoff()
    first = asyncio.create_task(channel.put("cancelled"))
    second = asyncio.create_task(channel.put("kept"))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first

    assert channel.get_nowait() == "kept"
    await second
    with pytest.raises(anyio.WouldBlock):
        channel.get_nowait()


async def test_closing_ends_the_stream_once_the_waiting_items_are_taken() -> None:
    channel: Handoff[str] = Handoff()
    put = asyncio.create_task(channel.put("last"))
    await asyncio.sleep(0)
    channel.close()

    assert await channel.get() == "last"
    await put
    with pytest.raises(anyio.EndOfStream):
        await channel.get()
    with pytest.raises(anyio.ClosedResourceError):
        channel.put_nowait("late")


async def test_closing_wakes_a_waiting_consumer_with_the_end_of_the_stream() -> None:
    channel: Handoff[str] = Handoff()
    get = asyncio.create_task(channel.get())
    await asyncio.sleep(0)
    channel.close()

    with pytest.raises(anyio.EndOfStream):
        await get


async def test_when_the_consumer_goes_every_put_fails_as_broken() -> None:
    channel: Handoff[str] = Handoff()
    waiting = asyncio.create_task(channel.put("a"))
    await asyncio.sleep(0)

    channel.abandon()

    with pytest.raises(anyio.BrokenResourceError):
        await waiting
    with pytest.raises(anyio.BrokenResourceError):
        channel.put_nowait("b")
    with pytest.raises(anyio.ClosedResourceError):
        channel.get_nowait()


async def test_abandoning_cancels_a_waiting_get() -> None:
    channel: Handoff[str] = Handoff()
    get = asyncio.create_task(channel.get())
    await asyncio.sleep(0)

    channel.abandon()

    with pytest.raises(asyncio.CancelledError):
        await get


async def test_receive_gives_the_end_as_a_value_without_a_cycle() -> None:
    channel: Handoff[int] = Handoff()

    async def close_soon() -> None:
        await asyncio.sleep(0)
        channel.close()

    task = asyncio.create_task(close_soon())
    gc.collect()
    gc.disable()
    try:
        assert await channel.receive() is END  # waited, then woken by close()
        assert await channel.receive() is END  # and at once afterwards
        with pytest.raises(anyio.EndOfStream):
            channel.get_nowait()
        await task
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        ours = [o for o in gc.garbage if isinstance(o, (Handoff, asyncio.Future))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert ours == []  # nothing of it was left for the garbage collector


async def test_an_item_given_to_a_consumer_cancelled_before_it_ran_is_not_lost() -> None:
    channel: Handoff[str] = Handoff()
    get = asyncio.create_task(channel.get())
    await asyncio.sleep(0)  # the consumer waits
    assert channel.put_nowait("the item")  # given to it; the worker moves on
    get.cancel()  # and the consumer is cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await get

    with anyio.fail_after(5):
        assert await channel.get() == "the item"  # the next get has it
    channel.close()
    with pytest.raises(anyio.EndOfStream):
        await channel.get()
