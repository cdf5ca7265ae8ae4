"""Handing finished items to the consumer, as they finish or in input order.

Items go through an anyio memory object stream with no buffer: a worker's ``send``
returns once the consumer has taken the item, so a slow consumer slows the reading
of inputs instead of piling up results. An ordered batch keeps finished items that
are not next yet; the worker whose item is next hands out every consecutive item
that is ready, while the others leave theirs and go on. So that a slow item holds
back a bounded number of finished ones, an item of an ordered batch is sent only
once it is within the reorder window of the next one to hand out.
"""

from __future__ import annotations

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from ._items import BatchItem
from ._throttle import Broadcast

__all__ = ["Delivery"]


class Delivery:
    """The consumer's end of the workers.

    Attributes:
        next_index: In an ordered batch, the index of the next item to hand out.
        consumer_gone: Whether the consumer closed its end.
    """

    def __init__(self, stream: MemoryObjectSendStream[BatchItem], *, ordered: bool) -> None:
        self._stream = stream
        self._ordered = ordered
        self._not_next_yet: dict[int, BatchItem] = {}
        self._handing_out = False
        self._advanced = Broadcast()
        self._stopped = False
        self.next_index = 0
        self.consumer_gone = False

    async def wait_for_window(self, index: int, window: int) -> None:
        """Wait until item ``index`` is within ``window`` of the next to hand out."""
        while not self._stopped and index >= self.next_index + window:
            await self._advanced.wait()

    def stop(self) -> None:
        """Let every item waiting for the window go (the batch is stopping)."""
        self._stopped = True
        self._advanced.notify()

    async def deliver(self, item: BatchItem) -> None:
        """Hand ``item`` out now, or (ordered) once every item before it is out."""
        if not self._ordered:
            await self._send(item)
            return
        self._not_next_yet[item.index] = item
        if self._handing_out:
            return  # the worker handing out will take it when its turn comes
        self._handing_out = True
        try:
            while self.next_index in self._not_next_yet:
                ready = self._not_next_yet.pop(self.next_index)
                self.next_index += 1
                self._advanced.notify()
                await self._send(ready)
        finally:
            self._handing_out = False

    async def _send(self, item: BatchItem) -> None:
        try:
            try:
                # Handed over at once when the consumer is already waiting, as the
                # consumer takes an item already offered (see AsyncBatch.__anext__).
                self._stream.send_nowait(item)
            except anyio.WouldBlock:
                await self._stream.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.consumer_gone = True  # the item is in the manifest already
