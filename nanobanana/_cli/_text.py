"""The CLI's words for what happened: durations, progress lines, the summary table's rows
and one-line errors. Plain strings; the reporters decide where they go.
"""

from __future__ import annotations

import re

from nanobanana._batch import BatchSummary
from nanobanana._errors import NanoBananaError

__all__ = [
    "count",
    "describe_error",
    "format_duration",
    "held_back",
    "progress_text",
    "summary_rows",
]

#: The batch's reason for stopping at a spend cap: the cap's name and value come first.
_CAP_REACHED = re.compile(r"(?P<cap>(?:max_spend_usd|max_credits)=\S+) reached\b")


def count(n: int, noun: str) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1.

    Example:
        >>> count(1, "request"), count(0, "request"), count(2, "image")
        ('1 request', '0 requests', '2 images')
    """
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def format_duration(seconds: float | None) -> str:
    """``0.8 s``, ``42 s``, ``3m05s``, ``2h07m``; ``?`` for unknown.

    Example:
        >>> format_duration(0.84), format_duration(185), format_duration(7620)
        ('0.8 s', '3m05s', '2h07m')
    """
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
    """The counts of a running batch in one line, and what holds it back.

    Example:
        >>> from nanobanana import BatchSummary
        >>> progress_text(BatchSummary(total=9, ok=3, rate=1.5, send_rate=2.04, eta=4))
        '3/9 done: 3 ok, 0 failed, 0 in flight, 1.5/s, ETA 4.0 s; rate limited: 2.0/s'
        >>> progress_text(BatchSummary(ok=3, paused=True, next_probe=7.6))
        '3/? done: 3 ok, 0 failed, 0 in flight, 0.0/s; paused: API unavailable, next probe in 8 s'
    """
    total = "?" if s.total is None else str(s.total)
    text = f"{s.done}/{total} done: {s.ok} ok, {s.failed} failed"
    if s.skipped:
        text += f", {s.skipped} skipped"
    text += f", {s.in_flight} in flight, {s.rate:.1f}/s"
    if s.total is not None:
        text += f", ETA {format_duration(s.eta)}"
    held = held_back(s)
    return text if held is None else f"{text}; {held}"


def held_back(s: BatchSummary) -> str | None:
    """What holds a running batch back, if anything: an outage, or a learned rate.

    Example:
        >>> from nanobanana import BatchSummary
        >>> held_back(BatchSummary(paused=True)), held_back(BatchSummary())
        ('paused: API unavailable, probing', None)
    """
    if s.paused:
        if s.next_probe is None:
            return "paused: API unavailable, probing"
        return f"paused: API unavailable, next probe in {s.next_probe:.0f} s"
    if s.send_rate is not None:
        return f"rate limited: {s.send_rate:.1f}/s"
    return None


def _spent(s: BatchSummary) -> str | None:
    parts = []
    if s.credits_used is not None:
        parts.append(f"{s.credits_used:,.0f} credits")
    if s.usd_spent is not None:
        parts.append(f"${s.usd_spent:,.4f}")
    return ", ".join(parts) or None


def _stopped(s: BatchSummary, reason: str) -> str:
    """The ``Stopped`` row. At a spend cap it names the cap and the spend of the whole
    batch, as the ``Spent`` row does (the batch's own reason gives the spend at the
    moment it stopped starting requests, before those in flight came back)."""
    cap = _CAP_REACHED.match(reason)
    if cap is None:
        return reason
    spent = _spent(s) or "nothing"
    return f"{cap['cap']} reached: {spent} spent; no request was started that could pass it"


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
        planned = f"{count(s.planned_requests, 'request')}, {count(s.planned_images, 'image')}"
        rows.append(("Would send", planned))
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
    if s.time_paused > 0:
        rows.append(("Paused", f"{format_duration(s.time_paused)} (API unavailable)"))
    rows.append(("Wall time", format_duration(s.elapsed)))
    if s.manifest is not None:
        rows.append(("Manifest", str(s.manifest)))
    if s.stop_reason:
        rows.append(("Stopped", _stopped(s, s.stop_reason)))
    if interrupted:
        rows.append(("Interrupted", "yes (Ctrl-C): in-flight requests cancelled"))
    return rows


def describe_error(error: NanoBananaError) -> str:
    """One line for an error, without the traceback."""
    return f"{type(error).__name__}: {error}"
