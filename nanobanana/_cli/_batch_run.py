"""One batch as the CLI runs it: items streamed to ``--json`` and stderr, progress
ticks, Ctrl-C, the summary and the exit code. Shared by ``batch`` and ``demo``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

import anyio
import attrs

from nanobanana._batch import AsyncBatch, BatchSummary
from nanobanana._client import AsyncClient
from nanobanana._errors import NanoBananaError, ValidationError
from nanobanana._models import ImageRequest

from ._common import Interrupt, print_json
from ._exit import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from ._inputs import LineMap
from ._lines import BadLine
from ._records import item_record, summary_record
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
    invalid: int = 0
    failures_shown: int = 0
    summary: BatchSummary | None = None

    def bad_line(self, bad: BadLine) -> None:
        """Report an input line that was not sent (stderr, and --json)."""
        self.invalid += 1
        self.reporter.log(f"{self.display}:{bad.line}: {bad.message}")
        if self.json:
            error = {"type": "InputError", "message": bad.message}
            print_json({"type": "invalid", "line": bad.line, "error": error})

    async def run(self, client: AsyncClient, title: str, **options: Any) -> int:
        """Run the batch to its end (or Ctrl-C); show the summary; return the exit code."""
        try:
            batch = client.batch(self.source, **options)
        except ValidationError as exc:
            raise UsageError(str(exc)) from None
        fatal: NanoBananaError | None = None
        with Interrupt() as interrupt:
            self.reporter.start(title, batch.summary.total)
            try:
                with interrupt.scope:
                    fatal = await self._drain(batch)
            finally:
                self.reporter.stop(batch.summary)
        self.summary = summary = batch.summary
        rows = summary_rows(summary, invalid=self.invalid, interrupted=interrupt.hit)
        self.reporter.table(f"nanobanana {title}", rows)
        if fatal is not None:
            self.reporter.log(f"the batch stopped: {describe_error(fatal)}")
        code = self._exit_code(summary, fatal, interrupt.hit)
        if self.json:
            print_json(
                summary_record(
                    summary, invalid_lines=self.invalid, interrupted=interrupt.hit, exit_code=code
                )
            )
        return code

    async def _drain(self, batch: AsyncBatch) -> NanoBananaError | None:
        async with batch, anyio.create_task_group() as tg:
            tg.start_soon(self._tick, batch)
            try:
                async for item in batch:
                    line = self.lines.pop(item.index)
                    if self.json:
                        print_json(item_record(item, line))
                    if item.error is not None:
                        self._failure(item.index, line, item.error)
            except NanoBananaError as exc:  # 401, 403, --fail-fast: the batch stopped
                return exc
            finally:
                tg.cancel_scope.cancel()
        return None

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

    def _exit_code(self, s: BatchSummary, fatal: NanoBananaError | None, interrupted: bool) -> int:
        if interrupted:
            return EXIT_INTERRUPTED
        unfinished = sum(
            n for why, n in s.skipped_by_reason.items() if why not in ("done", "dry_run")
        )
        if fatal is not None or s.failed or self.invalid or unfinished:
            return EXIT_FAILED
        return EXIT_OK
