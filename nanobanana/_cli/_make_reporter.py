"""Which reporter a command gets, from ``--progress`` and ``--quiet``."""

from __future__ import annotations

import sys

from ._plain import PlainReporter
from ._reporter import Reporter
from ._rich import RichReporter

__all__ = ["make_reporter"]


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def make_reporter(mode: str, *, quiet: bool) -> Reporter:
    """The reporter for ``--progress MODE`` (auto, bar, plain, off) and ``--quiet``.

    The live bar needs rich (the ``cli`` extra) and, with ``auto``, a terminal on
    stderr; otherwise progress is plain text.
    """
    if quiet:
        return PlainReporter(progress=False, summary=False)
    if mode == "off":
        return PlainReporter(progress=False)
    if mode == "plain":
        return PlainReporter()
    wants_bar = mode == "bar" or (mode == "auto" and sys.stderr.isatty())
    if wants_bar and _rich_available():
        return RichReporter(force_terminal=mode == "bar")
    return PlainReporter()
