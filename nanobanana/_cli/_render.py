"""What the CLI shows on stderr: progress, messages, the summary; and its JSON records.

Two reporters share one interface: :class:`Reporter` (a progress line every
two seconds, text tables) needs nothing but the standard library; the rich one
(:mod:`nanobanana._cli._rich`, a live bar and real tables) is used when stderr is a
terminal and the ``cli`` extra is installed. stdout is never written here, so
``--json`` output stays clean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import attrs

from nanobanana._batch_models import BatchItem, BatchSummary
from nanobanana._errors import APIStatusError, NanoBananaError, ResponseError

__all__ = [
    "PLAIN_INTERVAL",
    "Reporter",
    "describe_error",
    "error_record",
    "format_duration",
    "item_record",
    "make_reporter",
    "progress_text",
    "summary_record",
    "summary_rows",
    "usage_record",
]

#: Seconds between two plain progress lines.
PLAIN_INTERVAL = 2.0


def format_duration(seconds: float | None) -> str:
    """``0.8 s``, ``42 s``, ``3m05s``, ``2h07m``; ``?`` for unknown."""
    if seconds is None:
        return "?"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def progress_text(s: BatchSummary) -> str:
    """The counts of a running batch in one line."""
    total = "?" if s.total is None else str(s.total)
    text = f"{s.done}/{total} done: {s.ok} ok, {s.failed} failed"
    if s.skipped:
        text += f", {s.skipped} skipped"
    text += f", {s.in_flight} in flight, {s.rate:.1f}/s"
    if s.total is not None:
        text += f", ETA {format_duration(s.eta)}"
    return text


def _spent(s: BatchSummary) -> str | None:
    parts = []
    if s.credits_used is not None:
        parts.append(f"{s.credits_used:,.0f} credits")
    if s.usd_spent is not None:
        parts.append(f"${s.usd_spent:,.4f}")
    return ", ".join(parts) or None


def summary_rows(
    s: BatchSummary, *, invalid: int = 0, interrupted: bool = False
) -> list[tuple[str, str]]:
    """The end-of-batch table, as (label, value) rows."""
    items = f"{s.done}" if s.total is None else f"{s.done} of {s.total}"
    rows = [("Items", items), ("OK", str(s.ok)), ("Failed", str(s.failed))]
    if s.skipped:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(s.skipped_by_reason.items()))
        rows.append(("Skipped", f"{s.skipped} ({why})"))
    if invalid:
        rows.append(("Invalid lines", f"{invalid} (not sent; see above)"))
    if s.planned_requests:
        rows.append(("Would send", f"{s.planned_requests} requests, {s.planned_images} images"))
    images = f"{s.images}"
    if s.images_written:
        images += f" ({s.images_written} written)"
    rows.append(("Images", images))
    spent = _spent(s)
    if spent is not None:
        rows.append(("Spent", spent))
    requests = f"{s.requests_sent}"
    if s.throttled:
        requests += f" ({s.throttled} rate-limited, retried)"
    rows.append(("Requests sent", requests))
    rows.append(("Wall time", format_duration(s.elapsed)))
    if s.manifest is not None:
        rows.append(("Manifest", str(s.manifest)))
    if s.stop_reason:
        rows.append(("Stopped", s.stop_reason))
    if interrupted:
        rows.append(("Interrupted", "yes (Ctrl-C): in-flight requests cancelled"))
    return rows


# -- JSON records -----------------------------------------------------------------------


def usage_record(usage: Any) -> dict[str, float] | None:
    """A :class:`~nanobanana.Usage` as a dict of the figures the API reported."""
    if usage is None:
        return None
    return {k: v for k, v in attrs.asdict(usage).items() if v is not None}


def error_record(error: BaseException) -> dict[str, Any]:
    """``{"type", "message", "status", "request_id"}`` of an error."""
    record: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, APIStatusError):
        record["status"] = error.status
        record["message"] = error.message
        record["request_id"] = error.request_id
    elif isinstance(error, ResponseError):
        record["request_id"] = error.request_id
    return record


def item_record(item: BatchItem, line: int | None) -> dict[str, Any]:
    """One ``--json`` line for a batch item."""
    return {
        "type": "item",
        "index": item.index,
        "line": line,
        "status": item.status,
        "skip_reason": item.skip_reason,
        "prompt": item.request.prompt if item.request is not None else None,
        "key": item.key,
        "paths": [str(p) for p in item.paths],
        "request_id": item.request_id,
        "usage": usage_record(item.usage),
        "attempts": item.attempts,
        "elapsed": round(item.elapsed, 3),
        "error": error_record(item.error) if item.error is not None else None,
    }


def summary_record(s: BatchSummary, **extra: Any) -> dict[str, Any]:
    """The last ``--json`` line of a batch."""
    record: dict[str, Any] = {"type": "summary"}
    for field in attrs.fields(BatchSummary):
        value = getattr(s, field.name)
        record[field.name] = str(value) if field.name == "manifest" and value else value
    for name, digits in (("elapsed", 3), ("rate", 3), ("eta", 3), ("usd_spent", 6)):
        if record[name] is not None:
            record[name] = round(record[name], digits)
    record.update(extra)
    return record


# -- reporters ----------------------------------------------------------------------------


class Reporter:
    """Progress and messages on stderr. This base class shows plain text."""

    def __init__(
        self, *, progress: bool = True, summary: bool = True, stream: TextIO | None = None
    ) -> None:
        self.show_progress = progress
        self.show_summary = summary
        self.stream = stream if stream is not None else sys.stderr
        self._last = 0.0

    def log(self, message: str) -> None:
        """One message line, printed above the live bar if there is one."""
        print(message, file=self.stream, flush=True)

    def note(self, message: str) -> None:
        """An informational line, silenced by --quiet."""
        if self.show_summary:
            self.log(message)

    def start(self, title: str, total: int | None) -> None:
        """A batch begins."""
        self._title = title
        self._last = time.monotonic()
        if self.show_progress:
            count = "" if total is None else f" {total} requests;"
            self.log(f"{title}:{count} progress every {PLAIN_INTERVAL:g} s")

    def update(self, s: BatchSummary) -> None:
        """The batch's counts now; called a few times a second."""
        if not self.show_progress:
            return
        now = time.monotonic()
        if now - self._last >= PLAIN_INTERVAL:
            self._last = now
            self.log(f"{self._title}: {progress_text(s)}")

    def stop(self, s: BatchSummary | None = None) -> None:
        """The batch ended (or was interrupted)."""

    def table(self, title: str, rows: list[tuple[str, str]]) -> None:
        """A two-column summary table."""
        if not self.show_summary:
            return
        width = max(len(label) for label, _ in rows)
        lines = [title] + [f"  {label.ljust(width)}  {value}" for label, value in rows]
        self.log("\n".join(lines))

    @contextmanager
    def status(self, text: str) -> Iterator[None]:
        """A spinner while one request runs (plain: nothing)."""
        yield


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def make_reporter(mode: str, *, quiet: bool) -> Reporter:
    """The reporter for ``--progress MODE`` (auto, bar, plain, off) and ``--quiet``."""
    if quiet:
        return Reporter(progress=False, summary=False)
    if mode == "off":
        return Reporter(progress=False)
    if mode == "plain":
        return Reporter()
    wants_bar = mode == "bar" or (mode == "auto" and sys.stderr.isatty())
    if wants_bar and _rich_available():
        from ._rich import RichReporter

        return RichReporter(force_terminal=mode == "bar")
    return Reporter()


def describe_error(error: NanoBananaError) -> str:
    """One line for an error, without the traceback."""
    return f"{type(error).__name__}: {error}"
