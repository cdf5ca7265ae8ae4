"""One batch as the CLI runs it: items streamed to ``--json`` and stderr, progress
ticks, Ctrl-C (and SIGTERM), the summary and the exit code. Shared by ``batch`` and
``demo``.

With ``--json`` every item the summary counts gets exactly one record. Items the
batch recorded in its manifest but did not hand out (those in flight, or finished and
waiting for their turn, when Ctrl-C closed the batch) get theirs from the manifest
lines this run wrote, after the batch has closed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sized
from pathlib import Path
from typing import Any

import anyio
import attrs

from nanobanana._batch import (
    AsyncBatch,
    BatchItem,
    BatchSummary,
    SkipReason,
    manifest_paths,
    read_manifest,
)
from nanobanana._client import AsyncClient
from nanobanana._converter import request_key
from nanobanana._errors import NanoBananaError, ValidationError
from nanobanana._models import ImageRequest
from nanobanana._shard import manifest_name

from ._common import Interrupt, print_json
from ._exit import EXIT_FAILED, EXIT_OK, UsageError
from ._inputs import LineMap
from ._lines import BadLine
from ._records import item_record, manifest_item_record, summary_record
from ._reporter import Reporter
from ._text import describe_error, summary_rows

__all__ = ["BatchRun"]

#: Failed items reported one by one on stderr; the rest are in the manifest.
_MAX_FAILURE_LINES = 20
#: Seconds between two progress updates handed to the reporter.
_TICK = 0.2


@attrs.define
class BatchRun:
    """One batch as the CLI runs it: the source, its line map and what to show."""

    source: Iterable[ImageRequest] | AsyncIterable[ImageRequest]
    lines: LineMap
    reporter: Reporter
    display: str
    json: bool = False
    #: Ctrl-C and SIGTERM: install it around the event loop (``with run.interrupt:``).
    interrupt: Interrupt = attrs.Factory(Interrupt)
    invalid: int = 0
    failures_shown: int = 0
    summary: BatchSummary | None = None
    #: With ``--json``: the requests read whose record is not printed yet, by index.
    unprinted: dict[int, ImageRequest] = attrs.Factory(dict)

    def bad_line(self, bad: BadLine) -> None:
        """Report an input line that was not sent (stderr, and --json)."""
        self.invalid += 1
        self.reporter.log(f"{self.display}:{bad.line}: {bad.message}")
        if self.json:
            error = {"type": "InputError", "message": bad.message}
            print_json({"type": "invalid", "line": bad.line, "error": error})

    async def run(self, client: AsyncClient, title: str, **options: Any) -> int:
        """Run the batch to its end (or Ctrl-C); show the summary; return the exit code."""
        out_dir: Path | None = options.get("out_dir")
        shard = options.get("shard")
        manifest = out_dir / manifest_name(shard) if out_dir is not None else None
        if manifest is not None and not options.get("resume") and not options.get("dry_run"):
            self._warn_existing(manifest)
        offset = _size(manifest)
        source = _tracked(self.source, self.unprinted) if self.json else self.source
        try:
            batch = client.batch(source, **options)
        except ValidationError as exc:
            raise UsageError(str(exc)) from None
        fatal: Exception | None = None
        interrupt = self.interrupt
        self.reporter.start(title, batch.summary.total)
        try:
            with interrupt.cancelling():
                fatal = await self._drain(batch)
        finally:
            self.reporter.stop(batch.summary)
        if self.json:
            self._print_unprinted(client, manifest, offset, options)
        self.summary = summary = batch.summary
        self._show_summary(title, summary, interrupt)
        if fatal is not None:
            self.reporter.log(f"the batch stopped: {_describe(fatal)}")
        code = interrupt.exit_code if interrupt.hit else self._exit_code(summary, fatal)
        if self.json:
            print_json(
                summary_record(
                    summary, invalid_lines=self.invalid, interrupted=interrupt.hit, exit_code=code
                )
            )
        return code

    def _warn_existing(self, manifest: Path) -> None:
        if manifest.is_file():
            self.reporter.log(
                f"warning: {manifest} exists: every request is sent again and added to it "
                "(--resume would skip what is done)"
            )

    def _show_summary(self, title: str, summary: BatchSummary, interrupt: Interrupt) -> None:
        rows = summary_rows(summary, invalid=self.invalid, interrupted=interrupt.hit)
        if interrupt.signal_name != "SIGINT":
            why = f"yes ({interrupt.signal_name}): in-flight requests cancelled"
            rows = [(label, why if label == "Interrupted" else v) for label, v in rows]
        self.reporter.table(f"nanobanana {title}", rows)

    async def _drain(self, batch: AsyncBatch) -> Exception | None:
        """Show every item handed out; the error that stopped the batch, if one did."""
        async with batch, anyio.create_task_group() as tg:
            tg.start_soon(self._tick, batch)
            try:
                while True:
                    try:
                        item = await anext(batch)
                    except StopAsyncIteration:
                        return None
                    # A 401, 403 or --fail-fast (the SDK's errors), or a full or
                    # unwritable disk: the batch stopped, its manifest is closed.
                    except (NanoBananaError, OSError) as exc:
                        return exc
                    self._show(item)
            finally:
                tg.cancel_scope.cancel()
        return None  # cancelled (Ctrl-C)

    def _show(self, item: BatchItem) -> None:
        line = self.lines.pop(item.index)
        if self.json:
            self.unprinted.pop(item.index, None)
            print_json(item_record(item, line))
        if item.error is not None:
            self._failure(item.index, line, item.error)

    def _print_unprinted(
        self, client: AsyncClient, manifest: Path | None, offset: int, options: dict[str, Any]
    ) -> None:
        """A record for each item the batch counted but did not hand out, in input order."""
        if not self.unprinted:
            return
        written = _manifest_since(manifest, offset)
        for index in sorted(self.unprinted):
            request = self.unprinted.pop(index)
            line = self.lines.pop(index)
            doc = written.get(index)
            if doc is not None and manifest is not None:
                print_json(manifest_item_record(doc, line, manifest.parent))
            else:  # no line of this run: skipped as done (or a dry run's)
                item = _unwritten_item(client, index, request, manifest, options)
                print_json(item_record(item, line))

    async def _tick(self, batch: AsyncBatch) -> None:
        while True:
            self.reporter.update(batch.summary)
            await anyio.sleep(_TICK)

    def _failure(self, index: int, line: int | None, error: NanoBananaError) -> None:
        self.failures_shown += 1
        if self.failures_shown > _MAX_FAILURE_LINES:
            return
        where = f"{self.display}:{line}: " if line is not None else ""
        self.reporter.log(f"{where}item {index} failed: {describe_error(error)}")
        if self.failures_shown == _MAX_FAILURE_LINES:
            self.reporter.log("(further failures are not shown; the manifest has them all)")

    def _exit_code(self, s: BatchSummary, fatal: Exception | None) -> int:
        unfinished = sum(
            n
            for why, n in s.skipped_by_reason.items()
            if why not in ("done", "dry_run", "other_shard")
        )
        if fatal is not None or s.failed or self.invalid or unfinished:
            return EXIT_FAILED
        return EXIT_OK


def _describe(error: Exception) -> str:
    if isinstance(error, NanoBananaError):
        return describe_error(error)
    # A full or unwritable disk: what was finished is in the manifest.
    return f"{type(error).__name__}: {error} (the manifest is closed: --resume goes on from here)"


def _unwritten_item(
    client: AsyncClient,
    index: int,
    request: ImageRequest,
    manifest: Path | None,
    options: dict[str, Any],
) -> BatchItem:
    """The item the batch recorded without a manifest line: done before, or a dry run's."""
    try:
        model = client.resolve_model(request)
        key = request_key(request, model)
    except ValidationError as exc:
        return BatchItem(index=index, request=request, key=None, status="failed", error=exc)
    shard = options.get("shard")
    if shard is not None and not shard.takes(key):
        return BatchItem(
            index=index, request=request, key=key, status="skipped", skip_reason="other_shard"
        )
    done = not options.get("dry_run")
    if not done and options.get("resume") and manifest is not None:
        docs = (d for path in manifest_paths(manifest.parent) for d in read_manifest(path))
        done = any(d["key"] == key and d.get("status") == "ok" for d in docs)
    reason: SkipReason = "done" if done else "dry_run"
    return BatchItem(
        index=index, request=request, key=key, model=model, status="skipped", skip_reason=reason
    )


# -- remembering the requests read, and reading back what the manifest got -------------


class _SizedTracked:
    """A sized input, remembering each request read in ``unprinted``."""

    def __init__(self, source: Iterable[ImageRequest], unprinted: dict[int, ImageRequest]) -> None:
        self._source = source
        self._unprinted = unprinted

    def __len__(self) -> int:
        assert isinstance(self._source, Sized)
        return len(self._source)

    def __iter__(self) -> Iterator[ImageRequest]:
        return _tracked_sync(self._source, self._unprinted)


def _tracked_sync(
    source: Iterable[ImageRequest], unprinted: dict[int, ImageRequest]
) -> Iterator[ImageRequest]:
    for index, request in enumerate(source):
        unprinted[index] = request  # the batch numbers its inputs in the order read
        yield request


async def _tracked_async(
    source: AsyncIterable[ImageRequest], unprinted: dict[int, ImageRequest]
) -> AsyncIterator[ImageRequest]:
    requests = aiter(source)
    index = 0
    try:
        async for request in requests:
            unprinted[index] = request
            index += 1
            yield request
    finally:
        closer = getattr(requests, "aclose", None)
        if closer is not None:
            await closer()


def _tracked(
    source: Iterable[ImageRequest] | AsyncIterable[ImageRequest],
    unprinted: dict[int, ImageRequest],
) -> Iterable[ImageRequest] | AsyncIterable[ImageRequest]:
    if isinstance(source, AsyncIterable):
        return _tracked_async(source, unprinted)
    if isinstance(source, Sized):
        return _SizedTracked(source, unprinted)
    return _tracked_sync(source, unprinted)


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def _manifest_since(path: Path | None, offset: int) -> dict[int, dict[str, Any]]:
    """The complete lines written to the manifest after ``offset``, by item index."""
    if path is None:
        return {}
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return {}
    docs: dict[int, dict[str, Any]] = {}
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            continue  # cut short
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("index"), int):
            docs[doc["index"]] = doc
    return docs
