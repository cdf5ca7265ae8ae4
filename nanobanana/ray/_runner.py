"""The side of an actor that lives on its event loop: the client, the lease, the batch.

One batch of the SDK's engine runs for the actor's lifetime, fed through a stream with
the requests of every block the actor is given (several at once, when Ray Data calls
it from several threads); each item it hands out is routed back to the block waiting
for it, by its index in the stream.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._batch import BatchItem, BatchOptions
from .._client import AsyncClient
from .._converter import request_key
from .._errors import NanoBananaError
from .._models import ImageRequest
from ._book import Grant, Report
from ._lease import Lease, SharedLimits
from ._rows import Done, DoneLines, failed_row, item_row, line_row, make_request

__all__ = ["Runner"]


class _Slot:
    """Where one request's item arrives."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.item: BatchItem | None = None


class Runner:
    """The actor's side that lives on its event loop: client, lease and batch."""

    def __init__(
        self,
        limits: Any,
        client: dict[str, Any],
        per_request: dict[str, Any],
        options: BatchOptions,
    ) -> None:
        assert options.writer is not None
        assert options.out_dir is not None
        self._limits = limits  # the handle of the limits actor, or None
        self._writer = options.writer
        self._out_dir = str(options.out_dir)
        self._done = DoneLines(self._out_dir)
        self._reading: anyio.Lock | None = None  # made on the loop
        self._client_kwargs = client
        self._per_request = per_request
        self._options = options
        self._send: MemoryObjectSendStream[ImageRequest] | None = None
        self._slots: dict[int, _Slot] = {}
        self._next = 0
        self._error: BaseException | None = None
        self.client: AsyncClient | None = None
        self.lease: Lease | None = None

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        send, receive = anyio.create_memory_object_stream[ImageRequest](math.inf)
        self._reading = anyio.Lock()
        self._send = send
        async with AsyncClient(**self._client_kwargs) as client:
            self.client = client
            limits = None
            if self._limits is not None:
                self.lease = Lease(self._exchange, self._writer)
                limits = SharedLimits(self.lease)
            batch = client._batch_of(_inputs(receive), self._options, limits, **self._per_request)
            async with anyio.create_task_group() as tg:
                if self.lease is not None:
                    tg.start_soon(self.lease.run)
                task_status.started()
                await self._hand_out(batch)
                if self.lease is not None:
                    with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                        await self.lease.flush()
                tg.cancel_scope.cancel()

    async def _exchange(self, report: Report) -> Grant:
        grant: Grant = await self._limits.exchange.remote(report)
        return grant

    async def _hand_out(self, batch: Any) -> None:
        try:
            async with batch:
                async for item in batch:
                    slot = self._slots.pop(item.index)
                    slot.item = item
                    slot.event.set()
        except Exception as exc:  # the batch stopped (a 401, say): every block fails
            self._error = exc
        finally:
            for slot in self._slots.values():
                slot.event.set()

    async def finish(self) -> None:
        """No more blocks: let the batch end."""
        if self._send is not None:
            await self._send.aclose()

    async def run_block(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The outcome row of each of ``rows``."""
        assert self._reading is not None
        async with self._reading:  # blocks may come from several threads at once
            done = await anyio.to_thread.run_sync(self._done.refresh)
            outcomes: list[dict[str, Any] | _Slot] = [self._start(row, done) for row in rows]
        for outcome in outcomes:
            if isinstance(outcome, _Slot):
                await outcome.event.wait()
        return [self._row(outcome) for outcome in outcomes]

    def _start(self, row: dict[str, Any], done: Done) -> dict[str, Any] | _Slot:
        """Send ``row``'s request into the batch (its slot), or its outcome at once."""
        assert self._send is not None
        assert self.client is not None
        try:
            request = make_request(row)
            key = request_key(request, self.client.resolve_model(request))
        except NanoBananaError as exc:
            return failed_row(exc)
        if done.get(key):
            return line_row(self._out_dir, done[key].popleft())
        if self._error is not None:
            raise self._error
        slot = self._slots[self._next] = _Slot()
        self._next += 1
        self._send.send_nowait(request)
        return slot

    def _row(self, outcome: dict[str, Any] | _Slot) -> dict[str, Any]:
        if isinstance(outcome, dict):
            return outcome
        if outcome.item is None:
            assert self._error is not None
            raise self._error
        return item_row(self._out_dir, outcome.item)


async def _inputs(receive: MemoryObjectReceiveStream[ImageRequest]) -> AsyncIterator[ImageRequest]:
    async with receive:
        async for request in receive:
            yield request
