"""The rich reporter: a live progress bar and tables on stderr (the ``cli`` extra).

Used only when stderr is a terminal (or ``--progress bar``) and rich is installed.
rich itself is imported when a reporter is made, so that this module imports (for
doctest collection, say) where rich is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from nanobanana._batch import BatchSummary

from ._reporter import Reporter
from ._text import format_duration, held_back

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["RichReporter"]


def _stats(s: BatchSummary) -> str:
    parts = [f"[green]{s.ok} ok[/]"]
    if s.failed:
        parts.append(f"[red]{s.failed} failed[/]")
    if s.skipped:
        parts.append(f"[yellow]{s.skipped} skipped[/]")
    parts.append(f"{s.in_flight} in flight")
    parts.append(f"{s.rate:.1f}/s")
    if s.total is not None:
        parts.append(f"ETA {format_duration(s.eta)}")
    held = held_back(s)
    if held is not None:
        parts.append(f"[yellow]{held}[/]")
    return " · ".join(parts)


class RichReporter(Reporter):
    """Progress as a live bar; messages printed above it; the summary as a table."""

    def __init__(self, *, force_terminal: bool = False) -> None:
        from rich.console import Console

        super().__init__()
        self.console = Console(stderr=True, force_terminal=force_terminal or None)
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def log(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def start(self, title: str, total: int | None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=self.console,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._progress.add_task(title, total=total, stats="starting")
        self._progress.start()

    def update(self, s: BatchSummary) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=s.done, total=s.total, stats=_stats(s))

    def stop(self, s: BatchSummary | None = None) -> None:
        if self._progress is None:
            return
        if s is not None:
            self.update(s)
        self._progress.stop()
        self._progress = None

    def table(self, title: str, rows: list[tuple[str, str]]) -> None:
        from rich.table import Table

        table = Table(title=title, show_header=False, title_justify="left", min_width=40)
        table.add_column(style="bold")
        table.add_column()
        for label, value in rows:
            table.add_row(label, value)
        self.console.print(table)

    @contextmanager
    def status(self, text: str) -> Iterator[None]:
        with self.console.status(text):
            yield
