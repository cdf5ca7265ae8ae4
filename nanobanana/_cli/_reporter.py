"""What a command tells the person at the terminal, on stderr: the :class:`Reporter`
interface.

Two kinds implement it: :class:`~nanobanana._cli._plain.PlainReporter` (a progress
line every two seconds, text tables; the standard library only) and
:class:`~nanobanana._cli._rich.RichReporter` (a live bar and real tables, with the
``cli`` extra). stdout is never written by a reporter, so ``--json`` output stays clean.
"""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager

from nanobanana._batch import BatchSummary

__all__ = ["Reporter"]


class Reporter(abc.ABC):
    """Progress and messages on stderr.

    Args:
        progress: Show a batch's progress (``--progress off`` and ``--quiet``: no).
        summary: Show informational lines and the summary table (``--quiet``: no).
    """

    def __init__(self, *, progress: bool = True, summary: bool = True) -> None:
        self.show_progress = progress
        self.show_summary = summary

    @abc.abstractmethod
    def log(self, message: str) -> None:
        """One message line, printed above the live bar if there is one."""

    def note(self, message: str) -> None:
        """An informational line, silenced by --quiet."""
        if self.show_summary:
            self.log(message)

    @abc.abstractmethod
    def start(self, title: str, total: int | None) -> None:
        """A batch begins."""

    @abc.abstractmethod
    def update(self, s: BatchSummary) -> None:
        """The batch's counts now; called a few times a second."""

    @abc.abstractmethod
    def stop(self, s: BatchSummary | None = None) -> None:
        """The batch ended (or was interrupted)."""

    @abc.abstractmethod
    def table(self, title: str, rows: list[tuple[str, str]]) -> None:
        """A two-column summary table."""

    @abc.abstractmethod
    def status(self, text: str) -> AbstractContextManager[None]:
        """Something to show while one request runs (a spinner, or nothing)."""
