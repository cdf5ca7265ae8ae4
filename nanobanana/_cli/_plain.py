"""The plain reporter: lines of text on stderr, the standard library only."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from nanobanana._batch import BatchSummary

from ._reporter import Reporter
from ._text import count, progress_text

__all__ = ["PLAIN_INTERVAL", "PlainReporter"]

#: Seconds between two plain progress lines.
PLAIN_INTERVAL = 2.0


class PlainReporter(Reporter):
    """A progress line every :data:`PLAIN_INTERVAL` seconds; tables as aligned text."""

    def __init__(
        self, *, progress: bool = True, summary: bool = True, stream: TextIO | None = None
    ) -> None:
        super().__init__(progress=progress, summary=summary)
        self.stream = stream if stream is not None else sys.stderr
        self._title = ""
        self._last = 0.0

    def log(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def start(self, title: str, total: int | None) -> None:
        self._title = title
        self._last = time.monotonic()
        if self.show_progress:
            requests = "" if total is None else f" {count(total, 'request')};"
            self.log(f"{title}:{requests} progress every {PLAIN_INTERVAL:g} s")

    def update(self, s: BatchSummary) -> None:
        if not self.show_progress:
            return
        now = time.monotonic()
        if now - self._last >= PLAIN_INTERVAL:
            self._last = now
            self.log(f"{self._title}: {progress_text(s)}")

    def stop(self, s: BatchSummary | None = None) -> None:
        pass  # every line is already out

    def table(self, title: str, rows: list[tuple[str, str]]) -> None:
        if not self.show_summary:
            return
        width = max(len(label) for label, _ in rows)
        lines = [title] + [f"  {label.ljust(width)}  {value}" for label, value in rows]
        self.log("\n".join(lines))

    @contextmanager
    def status(self, text: str) -> Iterator[None]:
        yield  # no spinner in plain text
