"""An unbuffered channel from the batch workers to the one consumer.

``put`` returns once the consumer has taken the item: a worker keeps its slot (and
reads no further input) while its item waits, so a slow consumer slows the reading
of inputs instead of piling up results. When the consumer is already waiting, the
item is handed over without a trip through the event loop; when a worker is already
waiting, ``get`` takes its item the same way.

It plays the part of an anyio memory stream with no buffer, for the one thing the
engine needs, at a fraction of the cost per item (no checkpoint before each send and
receive, no event object per wait): the engine runs on asyncio, as aiohttp does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Generic, TypeVar

import anyio

__all__ = ["END", "End", "Handoff"]

T = TypeVar("T")

_NOTHING = object()  # no worker is waiting with an item


class End:
    """The type of :data:`END`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


#: What :meth:`Handoff.receive` gives once the channel is closed and empty.
END = End()


class Handoff(Generic[T]):
    """Workers ``put``, one consumer ``get``s; either side may close.

    Example:
        >>> import asyncio
        >>> async def main() -> list[int]:
        ...     channel: Handoff[int] = Handoff()
        ...     async def produce() -> None:
        ...         for i in range(3):
        ...             await channel.put(i)  # returns once the item is taken
        ...         channel.close()
        ...     task = asyncio.create_task(produce())
        ...     got = []
        ...     while True:
        ...         try:
        ...             got.append(await channel.get())
        ...         except anyio.EndOfStream:
        ...             await task
        ...             return got
        >>> asyncio.run(main())
        [0, 1, 2]
    """

    def __init__(self) -> None:
        self._senders: deque[tuple[T, asyncio.Future[None]]] = deque()
        self._receiver: asyncio.Future[T | End] | None = None
        self._closed = False  # no more items will come
        self._kept: T | End | object = _NOTHING  # taken by a consumer cancelled at once
        self._abandoned = False  # the consumer has gone: puts raise BrokenResourceError

    # -- the workers' side -----------------------------------------------------------

    def put_nowait(self, item: T) -> bool:
        """Give ``item`` to a waiting consumer; ``False`` (nothing done) if none waits.

        Raises:
            anyio.BrokenResourceError: the consumer has closed its side.
            anyio.ClosedResourceError: this side was closed.
        """
        if self._abandoned:
            raise anyio.BrokenResourceError
        if self._closed:
            raise anyio.ClosedResourceError
        receiver = self._receiver
        if receiver is not None and not receiver.done():
            self._receiver = None
            receiver.set_result(item)
            return True
        return False

    async def put(self, item: T) -> None:
        """Hand ``item`` over, waiting until the consumer has taken it."""
        if self.put_nowait(item):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (item, waiter)
        self._senders.append(entry)
        try:
            await waiter
        except BaseException:
            if not waiter.done() or waiter.cancelled():
                # Cancelled while waiting: the item was not taken, and will not be.
                with contextlib.suppress(ValueError):
                    self._senders.remove(entry)
            raise

    def close(self) -> None:
        """No more items: the consumer's next ``get`` raises ``anyio.EndOfStream``."""
        self._closed = True
        receiver, self._receiver = self._receiver, None
        if receiver is not None and not receiver.done():
            receiver.set_result(END)

    # -- the consumer's side ---------------------------------------------------------

    def get_nowait(self) -> T:
        """The item of a waiting worker.

        Raises:
            anyio.WouldBlock: no worker is waiting.
            anyio.EndOfStream: the workers' side is closed and no item is left.
            anyio.ClosedResourceError: the consumer closed its side.
        """
        item = self._take()
        if item is _NOTHING:
            raise anyio.WouldBlock
        if isinstance(item, End):
            raise anyio.EndOfStream
        return item  # type: ignore[return-value]

    async def get(self) -> T:
        """The next item, waiting for one if need be (no loop pass when one is ready).

        Raises:
            anyio.EndOfStream: the workers' side is closed and no item is left.
            anyio.ClosedResourceError: the consumer closed its side.
        """
        item = await self.receive()
        if isinstance(item, End):
            raise anyio.EndOfStream
        return item

    async def receive(self) -> T | End:
        """As :meth:`get`, with :data:`END` returned, not raised, at the end."""
        item = self._take()
        if item is not _NOTHING:
            return item  # type: ignore[return-value]
        receiver: asyncio.Future[T | End] = asyncio.get_running_loop().create_future()
        self._receiver = receiver
        try:
            # The end comes as a value: an exception kept by the future would hold this
            # frame, and the frame the future, a cycle for the garbage collector.
            return await receiver
        except asyncio.CancelledError:
            if receiver.done() and not receiver.cancelled():
                # Given an item, then cancelled before running: keep it for the next
                # get, as the worker that gave it has moved on.
                self._kept = receiver.result()
            raise
        finally:
            if self._receiver is receiver:
                self._receiver = None

    def _take(self) -> T | End | object:
        """A waiting worker's item, :data:`END`, or ``_NOTHING``."""
        if self._abandoned:
            raise anyio.ClosedResourceError
        if self._kept is not _NOTHING:
            item, self._kept = self._kept, _NOTHING
            return item
        while self._senders:
            item, waiter = self._senders.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return item
        if self._closed:
            return END
        return _NOTHING

    def abandon(self) -> None:
        """The consumer has gone: every waiting and later ``put`` raises
        ``anyio.BrokenResourceError``. Idempotent."""
        self._abandoned = True
        self._kept = _NOTHING
        receiver, self._receiver = self._receiver, None
        if receiver is not None and not receiver.done():
            receiver.cancel()
        senders, self._senders = self._senders, deque()
        for _, waiter in senders:
            if not waiter.done():
                waiter.set_exception(anyio.BrokenResourceError())
