"""The engine of one batch: workers that read an input, see it through, and hand it out.

Workers run in an anyio task group. Each takes a turn (:mod:`._turns`), reads an
input, turns it into a request, passes the gates of :mod:`._admission`, sends it
through the client's :class:`Sender` (in a cancel scope of its own), writes its
images (shielded from cancellation, so a file is complete or absent), records the
item in the ledger, and hands it out through :mod:`._delivery`; then gives the turn
back. An item waiting out a 429 once something other than the turns bounds the
sends (a learned rate, or 429s found not to be about the batch's load: see
:attr:`Throttle.waits_alone`) gives its turn back early, so that the requests in
flight stay near the throttle's limit instead of dropping by one for each waiting
item.

Two ways to end early:

* **stop** (a 401/403, out of credits, ``fail_fast``, an outage longer than
  ``max_outage`` (see :mod:`._outage`); or, as a *crash*, a failing
  progress callback or disk): no more inputs are read, the requests in flight are
  cancelled and reported as skipped ``"stopped"``, and every item read is still
  handed out; then the error is raised from the iteration.
* **close** (the consumer has gone): the whole task group is cancelled. Every item
  read still gets its manifest line.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterable, Iterable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

from .._converter import request_key
from .._errors import (
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    NanoBananaError,
    OutOfCreditsError,
    ValidationError,
)
from .._inputs import encode_images
from .._models import ImageRequest, ImageResult
from ._attempts import ItemAttempts
from ._delivery import Delivery
from ._items import BatchItem, BatchStatus, BatchSummary, SkipReason
from ._ledger import Ledger
from ._limits import BatchLimits, LocalLimits
from ._options import BatchInput, BatchOptions
from ._reader import InputReader
from ._sender import Sender
from ._turns import Turn, Turns

__all__ = ["Engine"]

# Errors after which every further request would fail the same way.
_FATAL = (AuthenticationError, OutOfCreditsError, ConfigurationError, ClientClosedError)


@attrs.define
class _Work:
    """One input being seen through, as far as it got."""

    index: int
    turn: Turn
    request: ImageRequest | None = None
    key: str | None = None
    model: str | None = None
    attempts: ItemAttempts | None = None

    def item(self, status: BatchStatus, **outcome: Any) -> BatchItem:
        sent = self.attempts
        return BatchItem(
            index=self.index,
            request=self.request,
            key=self.key,
            model=self.model,
            status=status,
            attempts=sent.count if sent is not None else 0,
            throttled=sent.throttled if sent is not None else 0,
            elapsed=sent.elapsed() if sent is not None else 0.0,
            **outcome,
        )

    def skipped(self, reason: SkipReason) -> BatchItem:
        return self.item("skipped", skip_reason=reason)

    def failed(self, error: NanoBananaError) -> BatchItem:
        return self.item("failed", error=error)


class Engine:
    """Runs one batch; :class:`AsyncBatch` is its consumer-facing side."""

    def __init__(
        self,
        sender: Sender,
        source: Iterable[BatchInput] | AsyncIterable[BatchInput],
        options: BatchOptions,
        limits: BatchLimits | None = None,
    ) -> None:
        self._sender = sender
        self._options = options
        self.reader = InputReader(source)
        self.ledger = Ledger()
        limits = limits if limits is not None else LocalLimits()
        self.throttle = limits.throttle(options, max_outage=sender.policy.max_outage)
        self._delivery: Delivery | None = None
        self._admission = limits.admission(options, self.ledger)
        self._scope: anyio.CancelScope | None = None  # cancelled if the consumer goes
        self._closed = False
        # What a stop cancels: the scopes of the requests (and reads) in flight.
        self._in_flight: set[anyio.CancelScope] = set()
        self._stopping = False
        self._stop_error: NanoBananaError | None = None  # raised once all is handed out
        self._crash: Exception | None = None  # the caller's error, raised as itself
        self._turns = Turns(options.concurrency, self.reader.total)
        self._group: TaskGroup | None = None

    def summary(self) -> BatchSummary:
        return self.ledger.summary(self.reader, self.throttle)

    def close(self) -> None:
        """The consumer has gone: cancel everything (call on the batch's loop)."""
        self._closed = True
        if self._scope is not None:
            self._scope.cancel()

    async def run(self, stream: MemoryObjectSendStream[BatchItem]) -> None:
        """Run the batch, handing items out through ``stream`` (closed at the end)."""
        self.ledger.started = time.monotonic()
        self._delivery = Delivery(stream, ordered=self._options.ordered)
        async with stream:
            try:
                with anyio.CancelScope() as self._scope:
                    if self._closed:  # closed before it started
                        self._scope.cancel()
                    if self._open_ledger():
                        await self._run_workers()
            finally:
                with anyio.CancelScope(shield=True):
                    await self.reader.aclose()
                try:
                    self.ledger.close()
                except OSError as exc:  # the manifest could not be closed
                    self._crash_with(exc)
        if self._closed:
            return  # the consumer has gone: nobody is there to raise to
        if self._crash is not None:
            raise self._crash
        if self._stop_error is not None:
            raise self._stop_error

    def _open_ledger(self) -> bool:
        """Prepare ``out_dir`` and its manifest; whether the batch may go on."""
        options = self._options
        try:
            done = self.ledger.open(
                options.out_dir,
                resume=options.resume,
                dry_run=options.dry_run,
                shard=options.shard,
                writer=options.writer,
            )
        except OSError as exc:  # out_dir cannot be made, or its manifest opened
            self._crash_with(exc)
            return False
        self._admission.remember_done(done)
        return True

    async def _run_workers(self) -> None:
        """Run the workers (no more than there are inputs) until all have ended."""
        count = self._options.concurrency
        if self.reader.total is not None:
            count = max(1, min(count, self.reader.total))
        try:
            async with anyio.create_task_group() as self._group:
                for _ in range(count):
                    self._start_worker()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:  # an unexpected error comes out as itself
                raise group.exceptions[0] from None
            raise

    # -- one worker -------------------------------------------------------------------

    def _start_worker(self) -> None:
        assert self._group is not None
        self._turns.workers += 1
        self._group.start_soon(self._worker, name="nanobanana-batch-worker")

    def _waiting(self, turn: Turn) -> None:
        """An item waits for a retry: its turn goes to a worker waiting for one, or to
        a new worker (within the bound) while inputs remain."""
        turn.give_back()
        if self._turns.room_for_a_worker() and not (self.reader.exhausted or self._stopping):
            self._start_worker()

    async def _worker(self) -> None:
        """Take a turn, read an input, see it through, hand it out; until the inputs or
        the batch end."""
        assert self._delivery is not None
        try:
            while not (self._stopping or self._delivery.consumer_gone):
                turn = await self._turns.take()
                try:
                    if self._stopping or self._delivery.consumer_gone:
                        return
                    if not await self._see_next(turn):
                        return
                finally:
                    turn.give_back()
        finally:
            self._turns.workers -= 1

    async def _see_next(self, turn: Turn) -> bool:
        """Read an input, see it through, hand it out; whether there was one."""
        entry = await self._read()
        if entry is None:
            return False
        work = _Work(index=entry[0], turn=turn)
        item: BatchItem | None = None
        try:
            item = await self._see_through(work, entry[1])
        finally:
            if item is None:  # cancelled: the consumer closed the batch
                self._record(work.skipped("stopped"))
        await self._finish(item)
        return True

    async def _read(self) -> tuple[int, Any] | None:
        if not self.reader.awaits:  # a plain iterable is read at once: nothing to cancel
            try:
                return await self.reader.next()
            except Exception as exc:  # the caller's iterable failed: raised as itself
                self._crash_with(exc)
                return None
        with anyio.CancelScope() as scope:
            self._in_flight.add(scope)
            try:
                return await self.reader.next()
            except Exception as exc:  # the caller's iterable failed: raised as itself
                self._crash_with(exc)
            finally:
                self._in_flight.discard(scope)
        return None  # a stop cancelled the read

    async def _see_through(self, work: _Work, raw: Any) -> BatchItem:
        try:
            # The key names the model the request goes to, so changing the client's
            # default model between runs does not pass old images off as done.
            request = work.request = (
                raw if isinstance(raw, ImageRequest) else ImageRequest(prompt=raw)
            )
            model = work.model = self._sender.resolve_model(request)
            key = work.key = request_key(request, model)
        except ValidationError as exc:
            shard = self._options.shard
            if shard is not None and not shard.takes_position(work.index):
                return work.skipped("other_shard")  # no key: reported by one shard only
            if self._options.fail_fast:
                self._stop(exc)
            return work.failed(exc)
        if self._options.shard is not None and not self._options.shard.takes(key):
            return work.skipped("other_shard")
        if self._admission.done_before(key):
            return work.skipped("done")
        if self._options.dry_run:
            return await self._dry_run(work, request)
        if self._options.ordered:
            assert self._delivery is not None
            await self._delivery.wait_for_window(work.index, self._options.window)
        reason = await self._admission.admit(request)
        if reason is not None:
            return work.skipped(reason)
        outcome: ImageResult | BatchItem | None = None
        try:
            outcome = await self._send(work, request, model)
        finally:
            self._admission.release(request, outcome if isinstance(outcome, ImageResult) else None)
        if isinstance(outcome, BatchItem):
            return outcome
        return await self._keep(work, request, outcome)

    async def _send(
        self, work: _Work, request: ImageRequest, model: str
    ) -> ImageResult | BatchItem:
        """The result of ``request``, or the item it ended as (failed, or stopped)."""
        turn = work.turn
        attempts = work.attempts = ItemAttempts(self.throttle, lambda: self._waiting(turn))
        with anyio.CancelScope() as scope:
            self._in_flight.add(scope)
            try:
                return await self._sender.send(request, model, attempts)
            except NanoBananaError as exc:
                if self.throttle.outage.expired:
                    # The API has been down past max_outage: stop, and leave this item
                    # (like those in flight) to a resume rather than fail it.
                    self._stop(exc)
                    return work.skipped("stopped")
                if isinstance(exc, _FATAL) or self._options.fail_fast:
                    # Stop the others: every request still going out would fail the
                    # same way. This item is handed out all the same.
                    self._stop(exc)
                return work.failed(exc)
            finally:
                self._in_flight.discard(scope)
        return work.skipped("stopped")  # a stop cancelled the request

    async def _keep(self, work: _Work, request: ImageRequest, result: ImageResult) -> BatchItem:
        """Write the images of a successful request (with ``out_dir``); its item."""
        paths: tuple[Path, ...] = ()
        folder = self.ledger.folder
        if folder is not None:
            try:
                with anyio.CancelScope(shield=True):  # a file is complete or absent
                    paths = await anyio.to_thread.run_sync(
                        folder.write, work.index, request.prompt, result
                    )
            except OSError as exc:  # a full disk fails every item after this one too
                self._crash_with(exc)
                return work.skipped("stopped")
        self.ledger.account(result, len(paths))
        return work.item(
            "ok",
            result=None if folder is not None else result,
            paths=paths,
            usage=result.usage,
            request_id=result.request_id,
        )

    async def _dry_run(self, work: _Work, request: ImageRequest) -> BatchItem:
        try:
            await encode_images(request.images)
        except ValidationError as exc:
            return work.failed(exc)
        self.ledger.plan(request.num_images or 1)
        return work.skipped("dry_run")

    async def _finish(self, item: BatchItem) -> None:
        """Record ``item``, report progress, and hand it out."""
        assert self._delivery is not None
        self._record(item)
        progress = self._options.progress
        if progress is not None and self._crash is None:
            try:
                outcome = progress(self.summary())
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                self._crash_with(exc)
        await self._delivery.deliver(item)

    def _record(self, item: BatchItem) -> None:
        try:
            self.ledger.record(item)
        except OSError as exc:  # the manifest could not be written
            self._crash_with(exc)

    # -- stopping ---------------------------------------------------------------------

    def _stop(self, error: NanoBananaError) -> None:
        """Stop on an error every further request would meet too."""
        if self._stop_error is None and self._crash is None:
            self._stop_error = error
            self.ledger.stop_reason = f"stopped by {type(error).__name__}: {error}"
        self._halt()

    def _crash_with(self, error: Exception) -> None:
        """Stop on an error of the caller's side (callback, disk), raised as itself."""
        if self._crash is None:
            self._crash = error
            self.ledger.stop_reason = f"stopped by {type(error).__name__}: {error}"
        self._halt()

    def _halt(self) -> None:
        self._stopping = True
        self.reader.stop()
        self._admission.stop()
        if self._delivery is not None:
            self._delivery.stop()
        for scope in self._in_flight:
            scope.cancel()
