"""The batch engine: lazy fan-out, shared throttling, spend cap, manifest and resume.

Memory is O(concurrency), not O(inputs): inputs are pulled one at a time only when a
worker slot is free, a worker keeps its slot until the consumer has taken its item
(an unbuffered channel, so a slow consumer slows the reading of inputs), and with
``out_dir`` each image is written (atomically) and its bytes dropped at once.

The engine runs in one task of its own, which is also the first worker; the other
workers are tasks it starts. :class:`AsyncBatch` is the iterator the caller sees.
Closing or dropping the iterator stops the workers, which cancels the requests in
flight (an image being written is finished first) and closes the manifest; the
client and its connection pool stay open.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeAlias

import anyio
import anyio.to_thread
import attrs

from ._batch_models import BatchItem, BatchSummary, SkipReason
from ._client import AsyncClient, _CallOptions
from ._converter import request_key
from ._errors import (
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    NanoBananaError,
    OutOfCreditsError,
    ValidationError,
)
from ._handoff import End, Handoff
from ._inputs import encode_images
from ._manifest import (
    MANIFEST_NAME,
    ManifestWriter,
    clean_partial_files,
    image_file_name,
    succeeded_keys,
)
from ._models import (
    ImageRequest,
    ImageResult,
    Usage,
    atomic_write,
    fast_builder,
    prompt_request,
)
from ._throttle import Signal, Throttle

__all__ = ["AsyncBatch", "BatchInput", "BatchOptions", "ProgressCallback"]

log = logging.getLogger("nanobanana")

#: One input of a batch: a prompt, or a full request.
BatchInput: TypeAlias = str | ImageRequest
#: Called with a :class:`BatchSummary` after every finished item; may be async.
ProgressCallback: TypeAlias = "Callable[[BatchSummary], Awaitable[None] | None]"

_new_item = fast_builder(BatchItem)  # one per finished request

# Errors after which every further request would fail the same way.
_FATAL = (AuthenticationError, OutOfCreditsError, ConfigurationError, ClientClosedError)


@attrs.define(kw_only=True)
class BatchOptions:
    """Everything a batch was asked to do (see :meth:`AsyncClient.batch`)."""

    concurrency: int = 16
    requests_per_minute: float | None = None
    adaptive: bool = True
    out_dir: Path | None = None
    ordered: bool = False
    reorder_window: int | None = None
    resume: bool = False
    fail_fast: bool = False
    max_spend_usd: float | None = None
    max_credits: float | None = None
    dry_run: bool = False
    progress: ProgressCallback | None = None

    def __attrs_post_init__(self) -> None:
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise ValidationError("concurrency", "must be an int >= 1")
        if self.concurrency < 1:
            raise ValidationError("concurrency", f"must be >= 1, got {self.concurrency}")
        if self.requests_per_minute is not None and not self.requests_per_minute > 0:
            raise ValidationError("requests_per_minute", "must be > 0")
        if self.reorder_window is not None and self.reorder_window < 1:
            raise ValidationError("reorder_window", "must be >= 1")
        if self.max_spend_usd is not None and not self.max_spend_usd >= 0:
            raise ValidationError("max_spend_usd", "must be >= 0")
        if self.max_credits is not None and not self.max_credits >= 0:
            raise ValidationError("max_credits", "must be >= 0")
        if self.resume and self.out_dir is None:
            raise ValidationError("resume", "needs out_dir (the manifest lives there)")


class _ItemHooks:
    """Connects one item's attempts to the batch-wide throttle."""

    __slots__ = ("_retry_cost", "_started", "attempts", "first_sent", "throttle")

    def __init__(self, throttle: Throttle) -> None:
        self.throttle = throttle
        self.attempts = 0
        self.first_sent: float | None = None
        self._started = 0.0
        self._retry_cost = 0

    def ready_for_attempt(self, attempt: int) -> bool:
        started = self.throttle.try_acquire()  # a free slot: no coroutine, no wait
        if started is None:
            return False
        self._sent(attempt, started)
        return True

    async def before_attempt(self, attempt: int) -> None:
        self._sent(attempt, await self.throttle.acquire())

    def _sent(self, attempt: int, started: float) -> None:
        self._started = started
        self.attempts = attempt
        if self.first_sent is None:
            self.first_sent = started

    def after_attempt(self, error: BaseException | None) -> None:
        self.throttle.release(self._started, error)
        if error is None:
            self.throttle.budget.on_success(self._retry_cost)

    def refuse_retry(self, error: Exception) -> str | None:
        if not self.throttle.allow_retry(error):
            return "retry budget exhausted: most recent requests are failing"
        self._retry_cost += self.throttle.budget.retry_cost
        return None


class _Engine:
    # Set per batch as it runs; the class holds the starting values, so that making a
    # batch (often of a few requests) does not spend its time assigning them.
    _read_lock: anyio.Lock | None = None
    _exhausted = False
    read = 0
    images = 0
    images_written = 0
    credits: float | None = None
    usd: float | None = None
    planned_requests = 0
    planned_images = 0
    stop_reason: str | None = None
    ended: float | None = None
    stop_error: NanoBananaError | None = None
    crash: Exception | None = None
    throttle: Throttle | None = None
    manifest: ManifestWriter | None = None
    next_emit = 0
    _emitting = False
    usd_per_image: float | None = None
    credits_per_image: float | None = None
    spend_unknown = False
    _channel: Handoff[BatchItem] | None = None
    _changed: Signal | None = None
    _workers_cancelled = False
    _running = False
    _closing = False  # the consumer has gone
    _others_running = 0  # workers in tasks of their own, not ended yet
    _others_ended: asyncio.Future[None] | None = None  # set when the last one ends

    def __init__(
        self,
        client: AsyncClient,
        source: Iterable[BatchInput] | AsyncIterable[BatchInput],
        options: BatchOptions,
        call: _CallOptions,
    ) -> None:
        self.client = client
        self._sync_source: Iterator[BatchInput] | None = None
        self._async_source: AsyncIterator[BatchInput] | None = None
        if hasattr(source, "__aiter__"):
            self._async_source = aiter(source)  # type: ignore[arg-type]
        else:
            try:
                self._sync_source = iter(source)
            except TypeError:
                kind = type(source).__name__
                raise ValidationError("requests", f"must be iterable, got {kind}") from None
        self.opts = options
        self.call = call
        self.started = time.monotonic()
        self.total = len(source) if hasattr(source, "__len__") else None  # type: ignore[arg-type]
        self.counts: dict[str, int] = {"ok": 0, "failed": 0, "skipped": 0}
        self.skips: dict[str, int] = {}
        self.resume_counts: dict[str, int] = {}
        self.active: dict[int, tuple[ImageRequest, str]] = {}
        self.hooks: dict[int, _ItemHooks] = {}
        # Inputs read and waiting for the reorder window or the spend check (reported
        # "stopped" if the batch stops).
        self.waiting: dict[int, tuple[ImageRequest, str]] = {}
        self.pending: dict[int, BatchItem] = {}
        # Items being handed to the consumer. A stop cancels the workers; the items
        # still here were never taken, and are handed out again before the batch ends.
        self.handing: dict[int, BatchItem] = {}
        self._capped = options.max_spend_usd is not None or options.max_credits is not None
        # The workers running, each with the number of stop cancellations sent to it,
        # and those writing images (not to be cancelled then).
        self._workers: dict[asyncio.Task[Any], int] = {}
        self._writing: set[asyncio.Task[Any]] = set()
        self._worker_errors: list[Exception] = []

    # -- snapshot -------------------------------------------------------------------

    def summary(self) -> BatchSummary:
        elapsed = (self.ended or time.monotonic()) - self.started
        finished = sum(self.counts.values())
        rate = finished / elapsed if elapsed > 0 else 0.0
        eta = None
        if self.total is not None and rate > 0 and self.ended is None:
            eta = max(self.total - finished, 0) / rate
        throttle = self.throttle
        return BatchSummary(
            read=self.read,
            total=self.total,
            ok=self.counts["ok"],
            failed=self.counts["failed"],
            skipped=self.counts["skipped"],
            skipped_by_reason=dict(self.skips),
            in_flight=throttle.in_flight if throttle else 0,
            images=self.images,
            images_written=self.images_written,
            credits_used=self.credits,
            usd_spent=self.usd,
            requests_sent=throttle.sent if throttle else 0,
            throttled=throttle.throttled if throttle else 0,
            concurrency=throttle.limit.allowed if throttle else self.opts.concurrency,
            elapsed=elapsed,
            rate=rate,
            eta=eta,
            planned_requests=self.planned_requests,
            planned_images=self.planned_images,
            stop_reason=self.stop_reason,
            manifest=self.manifest.path if self.manifest else None,
        )

    # -- the run --------------------------------------------------------------------

    async def run(self, channel: Handoff[BatchItem]) -> None:
        self._running = True
        self._channel = channel
        self._changed = Signal()
        if self._async_source is not None:
            self._read_lock = anyio.Lock()
        self.throttle = Throttle(
            self.opts.concurrency,
            requests_per_minute=self.opts.requests_per_minute,
            adaptive=self.opts.adaptive,
        )
        try:
            await self._open_out_dir()
            await self._run_workers()
            if not self._closing and (self.handing or self.pending or self.active or self.waiting):
                # Stopped (a 401, fail_fast, a crash): what finished is still handed out,
                # and what did not is reported. Nothing is left after a complete run.
                for item in sorted(self.handing.values(), key=lambda i: i.index):
                    await self._hand_out(item)
                await self._emit_ready()
                # Items that were in flight, or waiting for a slot, when it stopped.
                for item in self._take_unfinished():
                    await self._finish(item)
        finally:
            # Cancelled (closed, Ctrl-C): what was read but not finished is still
            # recorded, so the manifest has one final line for every item read.
            if self.active or self.waiting:
                for item in self._take_unfinished():
                    self._record(item)
            self.ended = time.monotonic()
            closer = getattr(self._async_source, "aclose", None)
            if closer is not None:
                with anyio.CancelScope(shield=True):
                    await closer()
            if self.manifest is not None:
                self.manifest.close()
            channel.close()
        if self.crash is not None:
            raise self.crash
        if self.stop_error is not None:
            raise self.stop_error

    async def _run_workers(self) -> None:
        """Run the workers until every one has ended.

        The engine's own task is the first worker, and the others are plain asyncio
        tasks: a batch of one request needs no second task, and an anyio task group (or
        a cancel scope per worker) costs several times as much per worker, which shows
        when each worker serves a few requests (a batch at concurrency 1,000). The last
        worker to end wakes the engine (no ``asyncio.wait``, whose callbacks cost as
        much again per worker). Stopping cancels the workers (see
        :meth:`_cancel_workers`). An error of a worker stops the others and is raised
        as itself (as a group if several failed at once).
        """
        count = self.opts.concurrency
        if self.total is not None:  # no more workers than inputs
            count = max(1, min(count, self.total))
        loop = asyncio.get_running_loop()
        self._others_running = count - 1
        others = [
            loop.create_task(self._other_worker(), name="nanobanana-batch-worker")
            for _ in range(count - 1)
        ]
        try:
            await self._run_worker()
        except asyncio.CancelledError:
            await self._abort_workers(others)
            raise
        except Exception as exc:
            self._worker_failed(exc)
        except BaseException:  # KeyboardInterrupt, SystemExit: stop the others, go on
            self._cancel_workers()
            raise
        if self._others_running:
            ended = self._others_ended = loop.create_future()
            try:
                await ended
            except asyncio.CancelledError:
                await self._abort_workers(others)
                raise
        errors = self._worker_errors
        if len(errors) == 1:
            # A failing progress callback or disk write is the caller's error.
            raise errors[0]
        if errors:
            raise BaseExceptionGroup("batch workers failed", errors)

    async def _other_worker(self) -> None:
        """A worker in a task of its own: its error is kept for the engine to raise."""
        try:
            await self._run_worker()
        except Exception as exc:
            self._worker_failed(exc)
        finally:
            self._others_running -= 1
            ended = self._others_ended
            if not self._others_running and ended is not None and not ended.done():
                ended.set_result(None)

    def _worker_failed(self, error: Exception) -> None:
        self._worker_errors.append(error)
        self._cancel_workers()

    async def _abort_workers(self, tasks: list[asyncio.Task[None]]) -> None:
        """The batch itself was cancelled (asyncio.run ending, say): stop the workers,
        and let them end before the cancellation goes on."""
        self._cancel_workers()
        pending = {task for task in tasks if not task.done()}
        while pending:
            with contextlib.suppress(asyncio.CancelledError):
                _, pending = await asyncio.wait(pending)
        for task in tasks:  # an error that ended one (KeyboardInterrupt) is moot now
            if not task.cancelled():
                task.exception()

    async def _run_worker(self) -> None:
        """One worker; ended quietly by a cancellation of :meth:`_cancel_workers`."""
        if self._workers_cancelled:
            return  # stopped before this worker ran: it reads no input
        task = asyncio.current_task()
        assert task is not None
        self._workers[task] = 0
        error: Exception | None = None
        try:
            try:
                await self._worker()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # raised below, once the task is no longer a worker
                error = exc
            if self._workers[task]:
                # Stopped while running: the cancellation waits for its next await,
                # which is here: it must not reach the engine's own awaits.
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            # Ours, unless the task was also cancelled from outside (asyncio.run ending).
            if self._absorb_stop(task) > 0:
                raise
        else:
            if self._workers.pop(task):  # the stop found nothing to cancel: forget it
                task.uncancel()
        if error is not None:
            raise error

    def _absorb_stop(self, task: asyncio.Task[Any]) -> int:
        """Forget the cancellation :meth:`_cancel_workers` sent ``task``, if any; return
        how many other cancellations it has pending."""
        if self._workers.pop(task, 0):  # one at most (see _cancel_workers)
            task.uncancel()
        return task.cancelling()

    def _cancel_workers(self) -> None:
        """Stop every worker: none reads another input, and each is cancelled at its
        next await (a request, a free slot, the consumer), as by a cancel scope.

        A worker writing an item's images is cancelled once the write has ended (its
        files are complete or absent, and recorded so), as in a shielded scope.
        """
        self._workers_cancelled = True
        for task, sent in self._workers.items():
            if not sent and task not in self._writing:
                self._workers[task] = 1
                task.cancel()

    def _end_write(self, task: asyncio.Task[Any]) -> None:
        self._writing.discard(task)
        if self._workers_cancelled and not self._workers.get(task, 1):
            self._workers[task] = 1
            task.cancel()  # the stop that waited for the write

    def close(self, task: asyncio.Task[None]) -> None:
        """The consumer has gone: stop the workers (``task`` runs the engine).

        Once the engine runs, it is stopped through :meth:`_cancel_workers`, not by
        cancelling its task: its first worker may be writing an item's images, and a
        plain cancellation would not wait for the thread doing it.
        """
        self._closing = True
        if self._running:
            self._cancel_workers()
            self._notify()
        elif not task.done():
            task.cancel()  # not started: it never runs

    def _take_unfinished(self) -> list[BatchItem]:
        """Items read but not finished, as "stopped" items, in input order."""
        unfinished = {**self.active, **self.waiting}
        self.active.clear()
        self.waiting.clear()
        return [self._skip(i, *unfinished[i], "stopped") for i in sorted(unfinished)]

    async def _open_out_dir(self) -> None:
        out = self.opts.out_dir
        if out is None:
            return
        path = out / MANIFEST_NAME
        if self.opts.resume:
            self.resume_counts = dict(succeeded_keys(path))
        if self.opts.dry_run:
            return  # a dry run reads the manifest, to count what a resume would send
        out.mkdir(parents=True, exist_ok=True)
        removed = clean_partial_files(out)
        if removed:
            log.info("removed %d partial file(s) left in %s by an interrupted run", removed, out)
        self.manifest = ManifestWriter(path)
        self.manifest.open()

    async def _worker(self) -> None:
        """One of ``concurrency`` workers: read an input, see it through, repeat.

        A worker reads its next input only once the consumer has taken its last item,
        so however slow the consumer, no more than ``concurrency`` inputs are held.
        """
        while not self._workers_cancelled:  # stopped, or closed by the consumer
            got = await self._next_input()
            if got is None:
                return
            await self._admit(*got)

    async def _next_input(self) -> tuple[int, Any] | None:
        if self._exhausted:
            return None
        if self._sync_source is not None:
            try:
                raw = next(self._sync_source)  # no await: no other worker can interleave
            except StopIteration:
                self._exhausted = True
                return None
        else:
            assert self._async_source is not None
            assert self._read_lock is not None
            async with self._read_lock:  # an async iterator is not re-entrant
                if self._exhausted or self._stopped_hard():
                    return None
                try:
                    raw = await anext(self._async_source)
                except StopAsyncIteration:
                    self._exhausted = True
                    return None
        index = self.read
        self.read += 1
        return index, raw

    def _stopped_hard(self) -> bool:
        return self.stop_error is not None or self.crash is not None

    def _crash(self, error: Exception) -> None:
        """Stop everything on an error of the caller's side (callback, disk): it is
        raised from the iteration, as itself, once the workers have stopped."""
        if self.crash is None:
            self.crash = error
            self.stop_reason = f"stopped by {type(error).__name__}: {error}"
        self._cancel_workers()
        self._notify()

    async def _admit(self, index: int, raw: Any) -> None:
        request: ImageRequest | None = None
        try:
            # The key names the model the request goes to, so changing the client's
            # default model between runs does not pass old images off as done.
            if isinstance(raw, ImageRequest):
                request = raw
                model = self.client.resolve_model(request)
            else:
                request = prompt_request(raw)
                model = self.client._model_for_prompt(request)
            key = request_key(request, model)
        except ValidationError as exc:
            if self.opts.fail_fast:
                self._stop(exc)
            await self._finish(
                BatchItem(index=index, request=request, key=None, status="failed", error=exc)
            )
            return
        if self.resume_counts.get(key, 0) > 0:
            self.resume_counts[key] -= 1
            await self._finish(self._skip(index, request, key, "done"))
            return
        if self.opts.dry_run:
            await self._dry_run(index, request, key)
            return
        if self.opts.ordered or self._capped:
            self.waiting[index] = (request, key)
            if self.opts.ordered:
                await self._wait_for_window(index)
            if self._stopped_hard():
                del self.waiting[index]
                await self._finish(self._skip(index, request, key, "stopped"))
                return
            if self._capped and not await self._budget_allows(request):
                del self.waiting[index]
                await self._finish(self._skip(index, request, key, "budget"))
                return
            del self.waiting[index]
        elif self._stopped_hard():
            await self._finish(self._skip(index, request, key, "stopped"))
            return
        self.active[index] = (request, key)
        await self._work(index, request, key, model)

    async def _wait_for_window(self, index: int) -> None:
        """Wait until ``index`` is within the reorder window (of an ordered batch)."""
        window = self.opts.reorder_window or 4 * self.opts.concurrency
        assert self._changed is not None
        while not self._stopped_hard() and index >= self.next_emit + window:
            await self._changed.wait()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.notify()

    async def _budget_allows(self, request: ImageRequest) -> bool:
        usd_cap, credit_cap = self.opts.max_spend_usd, self.opts.max_credits
        images = request.num_images or 1
        # Until one answer has told what an image costs, only one request may be in
        # flight: the cap must hold even if the first answers are expensive.
        while self.active and (
            (usd_cap is not None and self.usd_per_image is None)
            or (credit_cap is not None and self.credits_per_image is None)
        ):
            assert self._changed is not None
            await self._changed.wait()
        if self.spend_unknown:
            return False
        in_flight = sum((r.num_images or 1) for r, _ in self.active.values()) + images
        checks = (
            (usd_cap, self.usd, self.usd_per_image, "max_spend_usd"),
            (credit_cap, self.credits, self.credits_per_image, "max_credits"),
        )
        for cap, spent, per_image, name in checks:
            if cap is None:
                continue
            # A cap of 0 allows nothing, not even the request that would tell the price.
            more = in_flight * per_image if per_image is not None else 0.0
            if cap <= 0 or (spent or 0.0) + more > cap:
                self.stop_reason = self.stop_reason or (
                    f"{name}={cap:g} reached: {spent or 0.0:g} spent, "
                    f"{more:g} more in flight or next"
                )
                return False
        return True

    async def _dry_run(self, index: int, request: ImageRequest, key: str) -> None:
        try:
            await encode_images(request.images)  # the model was resolved on reading
        except ValidationError as exc:
            await self._finish(
                BatchItem(index=index, request=request, key=key, status="failed", error=exc)
            )
            return
        self.planned_requests += 1
        self.planned_images += request.num_images or 1
        await self._finish(self._skip(index, request, key, "dry_run"))

    def _skip(self, index: int, request: ImageRequest, key: str, why: SkipReason) -> BatchItem:
        # An item stopped in flight keeps the count of the requests it did send.
        hooks = self.hooks.pop(index, None)
        attempts, elapsed = 0, 0.0
        if hooks is not None and hooks.first_sent is not None:
            attempts, elapsed = hooks.attempts, time.monotonic() - hooks.first_sent
        return BatchItem(
            index=index,
            request=request,
            key=key,
            status="skipped",
            skip_reason=why,
            attempts=attempts,
            elapsed=elapsed,
        )

    async def _work(self, index: int, request: ImageRequest, key: str, model: str) -> None:
        assert self.throttle is not None
        hooks = self.hooks[index] = _ItemHooks(self.throttle)
        try:
            result = await self.client._execute(request, self.call, hooks, model)
        except NanoBananaError as exc:
            elapsed = time.monotonic() - (hooks.first_sent or time.monotonic())
            item = BatchItem(
                index=index,
                request=request,
                key=key,
                status="failed",
                error=exc,
                attempts=hooks.attempts,
                elapsed=elapsed,
            )
            self.active.pop(index, None)
            self.hooks.pop(index, None)
            if isinstance(exc, _FATAL) or self.opts.fail_fast:
                # Stop the others first: every request still going out would fail the
                # same way. This item is handed out all the same, after the stop.
                self._stop(exc)
            await self._finish(item)
            return
        paths: tuple[Path, ...] = ()
        if self.opts.out_dir is not None:
            task = asyncio.current_task()
            assert task is not None
            self._writing.add(task)  # a stop waits for the write (see _cancel_workers)
            try:
                paths = await anyio.to_thread.run_sync(
                    _write_images, self.opts.out_dir, index, request.prompt, result
                )
            except OSError as exc:  # a full disk fails every item after this one too
                self._crash(exc)
                return
            finally:
                self._end_write(task)
            self.images_written += len(paths)
        self._account(result, request)
        item = _new_item(
            index=index,
            request=request,
            key=key,
            status="ok",
            result=None if self.opts.out_dir is not None else result,
            attempts=hooks.attempts,
            elapsed=time.monotonic() - (hooks.first_sent or time.monotonic()),
            paths=paths,
            usage=result.usage,
            request_id=result.request_id,
        )
        self.active.pop(index, None)
        self.hooks.pop(index, None)
        await self._finish(item)

    def _account(self, result: ImageResult, request: ImageRequest) -> None:
        images = len(result.images)
        self.images += images
        usage = result.usage
        if usage.usd_spent is not None:
            self.usd = (self.usd or 0.0) + usage.usd_spent
        if usage.credits_used is not None:
            self.credits = (self.credits or 0.0) + usage.credits_used
        if self._capped:
            self._learn_prices(usage, max(images, request.num_images or 1))

    def _learn_prices(self, usage: Usage, images: int) -> None:
        """Keep the dearest price of an image seen so far, for the spend check."""
        if usage.usd_spent is not None:
            self.usd_per_image = max(self.usd_per_image or 0.0, usage.usd_spent / images)
        elif self.opts.max_spend_usd is not None:
            self._spend_not_reported("USD", "max_spend_usd")
        if usage.credits_used is not None:
            per = usage.credits_used / images
            self.credits_per_image = max(self.credits_per_image or 0.0, per)
        elif self.opts.max_credits is not None:
            self._spend_not_reported("credits", "max_credits")

    def _spend_not_reported(self, what: str, option: str) -> None:
        self.spend_unknown = True
        self.stop_reason = self.stop_reason or (
            f"the API did not report the {what} spent, so {option} cannot be enforced"
        )

    def _stop(self, error: NanoBananaError) -> None:
        if self.stop_error is None:
            self.stop_error = error
            self.stop_reason = f"stopped by {type(error).__name__}: {error}"
            self._cancel_workers()
        self._notify()

    def _record(self, item: BatchItem) -> None:
        """Count one finished item and write its manifest line."""
        self.counts[item.status] += 1
        if item.skip_reason is not None:
            self.skips[item.skip_reason] = self.skips.get(item.skip_reason, 0) + 1
        if self.manifest is not None and item.skip_reason != "done":
            self.manifest.write(_manifest_record(item))

    async def _finish(self, item: BatchItem) -> None:
        """Count, record and hand out one finished item."""
        self._record(item)
        self._notify()
        # Queued before the progress hook runs, so that a stop cannot lose the item.
        if self.opts.ordered:
            self.pending[item.index] = item
        elif self.opts.progress is None:
            await self._hand_out(item)
            return
        else:
            self.handing[item.index] = item
        if self.opts.progress is not None and self.crash is None:
            try:
                outcome = self.opts.progress(self.summary())
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                self._crash(exc)
        if not self.opts.ordered:
            await self._hand_out(item)
            return
        await self._emit_ready()

    async def _emit_ready(self) -> None:
        """Hand out, in input order, the items that are next and finished.

        One worker at a time does this: two handing out at once could overtake each
        other. The others leave their items in ``pending`` for it.
        """
        if self._emitting:
            return
        self._emitting = True
        try:
            while self.next_emit in self.pending:
                ready = self.pending.pop(self.next_emit)
                self.next_emit += 1
                self._notify()
                await self._hand_out(ready)
        finally:
            self._emitting = False

    async def _hand_out(self, item: BatchItem) -> None:
        channel = self._channel
        assert channel is not None
        try:
            if not channel.put_nowait(item):  # taken at once if the consumer is waiting
                # Kept here until taken: if the batch stops meanwhile, it is handed out
                # again before the batch ends.
                self.handing[item.index] = item
                await channel.put(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # The consumer closed the batch (the item is in the manifest already): read
            # no further input while the cancellation that follows is on its way.
            self._exhausted = True
        self.handing.pop(item.index, None)


def _write_images(out_dir: Path, index: int, prompt: str, result: ImageResult) -> tuple[Path, ...]:
    paths = []
    count = len(result.images)
    for position, image in enumerate(result.images):
        target = out_dir / image_file_name(index, prompt, image.suffix, position, count)
        atomic_write(target, image.data)
        paths.append(target)
    return tuple(paths)


def _manifest_record(item: BatchItem) -> dict[str, Any]:
    record: dict[str, Any] = {
        "index": item.index,
        "key": item.key,
        "status": item.status,
        "prompt": item.request.prompt if item.request is not None else None,
    }
    if item.skip_reason is not None:
        record["skip_reason"] = item.skip_reason
    if item.paths:
        record["paths"] = [p.name for p in item.paths]
    if item.error is not None:
        record["error_type"] = type(item.error).__name__
        record["error"] = str(item.error)
    record["attempts"] = item.attempts
    record["elapsed"] = round(item.elapsed, 3)
    if item.usage is not None:
        record["usage"] = _usage_record(item.usage)
    if item.request_id is not None:
        record["request_id"] = item.request_id
    return record


def _usage_record(usage: Usage) -> dict[str, float]:
    return {k: v for k, v in attrs.asdict(usage).items() if v is not None}


class AsyncBatch:
    """A running batch: iterate it for :class:`BatchItem` values as they finish.

    Returned by :meth:`AsyncClient.batch`; nothing starts until the first item is
    asked for. Leaving an ``async with`` block, calling :meth:`aclose`, or dropping
    the iterator (``break`` in ``async for``) cancels the requests in flight; the
    manifest keeps one complete line per finished item. When the batch stops on a
    401 or 403 (or on a failure with ``fail_fast=True``), the iteration raises that
    error after handing out the items that finished.

    Example:
        >>> import anyio, nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> inputs = ["a red kite", nb.ImageRequest(prompt="a blue boat", aspect_ratio="16:9")]
        >>> async def main() -> list[int]:
        ...     async with FakeServer() as server, nb.AsyncClient(
        ...         api_key=server.api_key, base_url=server.url
        ...     ) as client, client.batch(inputs) as batch:
        ...         return sorted([item.index async for item in batch])
        >>> anyio.run(main)
        [0, 1]
    """

    _task: asyncio.Task[None] | None = None  # runs the engine, once started
    _channel: Handoff[BatchItem] | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _done = False

    def __init__(
        self,
        client: AsyncClient,
        source: Iterable[BatchInput] | AsyncIterable[BatchInput],
        options: BatchOptions,
        call: _CallOptions,
    ) -> None:
        if isinstance(source, (str, bytes)):
            raise ValidationError("requests", "pass an iterable of prompts, not a single string")
        self._engine = _Engine(client, source, options, call)  # checks it is iterable

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"AsyncBatch(ok={s.ok}, failed={s.failed}, skipped={s.skipped}, "
            f"in_flight={s.in_flight}, concurrency={s.concurrency})"
        )

    @property
    def summary(self) -> BatchSummary:
        """Counts so far (final once the iteration has ended).

        Example:
            >>> import anyio, nanobanana as nb
            >>> async def main() -> tuple[int, int]:
            ...     async with nb.AsyncClient(api_key="my-key") as client:
            ...         batch = client.batch(["a red kite", "a blue boat"], dry_run=True)
            ...         return batch.summary.done, (await batch.run()).done
            >>> anyio.run(main)
            (0, 2)
        """
        return self._engine.summary()

    def _start(self) -> None:
        # No buffer: a worker keeps its slot until the consumer has taken its item, so
        # a slow consumer slows the reading of inputs instead of piling up results.
        channel: Handoff[BatchItem] = Handoff()
        self._channel = channel
        loop = self._loop = asyncio.get_running_loop()
        self._engine.started = time.monotonic()
        self._task = loop.create_task(self._engine.run(channel), name="nanobanana-batch")

    def __del__(self) -> None:
        # Dropped without being closed (``break`` out of ``async for``): cancel the
        # work all the same, on the loop that runs it (this may run in another thread).
        task = self._task
        if task is None or task.done():
            return
        loop, channel = self._loop, self._channel
        assert loop is not None
        assert channel is not None
        if loop.is_closed():
            channel.abandon()  # nothing can be waiting on it any more
        else:
            loop.call_soon_threadsafe(_cancel, self._engine, task, channel)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> BatchItem:
        if self._done:
            raise StopAsyncIteration
        if self._task is None:
            self._start()
        channel = self._channel
        assert channel is not None
        assert self._task is not None
        item = await channel.receive()  # at once if a worker is waiting with one
        if isinstance(item, End):
            self._done = True
            channel.abandon()
            await self._task  # re-raises the error that stopped the batch, if any
            raise StopAsyncIteration
        # Taken: not to be handed out again if the batch stops (no await since receive).
        self._engine.handing.pop(item.index, None)
        return item

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel what is in flight and wait until the manifest is closed. Idempotent.

        Example:
            >>> import anyio, nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> async def main() -> bool:
            ...     async with FakeServer() as server, nb.AsyncClient(
            ...         api_key=server.api_key, base_url=server.url
            ...     ) as client:
            ...         batch = client.batch(["a red kite", "a blue boat", "a green hill"])
            ...         first = await anext(batch)
            ...         await batch.aclose()  # the rest is cancelled
            ...         return first.ok
            >>> anyio.run(main)
            True
        """
        self._done = True
        task = self._task
        if self._channel is not None:
            self._channel.abandon()
        if task is not None and not task.done():
            self._engine.close(task)
            with anyio.CancelScope(shield=True):
                await asyncio.wait([task])
        if task is not None and not task.cancelled():
            task.exception()  # mark it retrieved; it was raised or is moot now
        if self._channel is not None:
            self._channel.close()  # the engine closes it, unless cancelled before it ran

    async def run(self) -> BatchSummary:
        """Drain the batch without looking at items; return the final summary.

        Example:
            >>> import anyio, nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> async def main() -> tuple[int, int]:
            ...     async with FakeServer() as server, nb.AsyncClient(
            ...         api_key=server.api_key, base_url=server.url
            ...     ) as client:
            ...         summary = await client.batch(["a red kite", "a blue boat"]).run()
            ...         return summary.ok, summary.images
            >>> anyio.run(main)
            (2, 2)
        """
        async with self:
            async for _ in self:
                pass
        return self.summary


def _cancel(engine: _Engine, task: asyncio.Task[None], channel: Handoff[BatchItem]) -> None:
    channel.abandon()
    if not task.done():
        engine.close(task)
