"""Pausing a batch through an outage: stop sending, probe, resume.

When the API is down (connections refused or reset, 502/503/504 without
``Retry-After``), every request a batch sends fails, and sending more only burns
retries. So after ``threshold`` such failures in a row, with no other answer in
between (the batch's concurrency, between 3 and 8: with many requests in flight, a
few failures in a row can be chance), the batch **pauses**: no new request goes
out, except one *probe* at a time, the first after ``first_probe`` seconds and
then at doubling intervals up to ``max_probe``. Any answer that is not an outage
failure (a success, a 429, a 400) shows the API is back: the pause ends at once
and every worker sends again at full speed. Failures while paused are excused from
``max_retries``: the items wait. Timeouts are no evidence either way (the API may
be slow, not down): they neither count towards a pause nor end one.

If the pause outlasts ``max_outage`` seconds, :class:`Outage` says so
(:attr:`Outage.expired`) and the batch stops, its manifest ready for a resume.

The clock is injectable so the schedule is tested without sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from .._errors import APIConnectionError, APIStatusError, APITimeoutError
from .._retry import is_throttled

__all__ = ["OUTAGE_STATUSES", "Outage", "is_outage", "outage_threshold"]

#: The statuses of a gateway or service that is down.
OUTAGE_STATUSES = frozenset({502, 503, 504})


def outage_threshold(concurrency: int) -> int:
    """Outage failures in a row, with no other answer between them, that pause a batch.

    Example:
        >>> outage_threshold(1), outage_threshold(5), outage_threshold(64)
        (3, 5, 8)
    """
    return max(3, min(8, concurrency))


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` looks like the API being down (not a rate limit, not a timeout).

    Example:
        >>> from nanobanana import APIConnectionError, ServerError
        >>> is_outage(APIConnectionError("refused")), is_outage(ServerError("x", status=502))
        (True, True)
        >>> is_outage(ServerError("busy", status=503, retry_after=5))  # a rate limit
        False
    """
    if isinstance(error, APIStatusError):
        return error.status in OUTAGE_STATUSES and not is_throttled(error)
    return isinstance(error, APIConnectionError) and not isinstance(error, APITimeoutError)


class Outage:
    """The outage state of one batch: detection, probe schedule, limit.

    Attributes:
        paused_since: When the current pause began (``None``: not paused).
        next_probe: When the next probe may go, while paused.
        probing: Whether a probe is in flight.
        paused_total: Seconds paused in earlier (ended) pauses.
        pauses: Pauses so far.
        last_error: The latest outage failure.

    Example:
        >>> from nanobanana import ServerError
        >>> now = [0.0]
        >>> outage = Outage(max_outage=600, clock=lambda: now[0])
        >>> for _ in range(3):
        ...     outage.on_outcome(0.0, ServerError("down", status=503))
        >>> outage.paused, outage.delay()  # the first probe in one second
        (True, 1.0)
    """

    def __init__(
        self,
        *,
        max_outage: float,
        threshold: int = 3,
        first_probe: float = 1.0,
        max_probe: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_outage = max_outage
        self.threshold = threshold
        self.first_probe = first_probe
        self.max_probe = max_probe
        self._clock = clock
        self._streak = 0
        self._interval = first_probe
        self.paused_since: float | None = None
        self.next_probe = math.inf
        self.probing = False
        self.paused_total = 0.0
        self.pauses = 0
        self.last_error: BaseException | None = None

    @property
    def paused(self) -> bool:
        """Whether the batch is paused."""
        return self.paused_since is not None

    @property
    def expired(self) -> bool:
        """Whether the pause has outlasted ``max_outage``."""
        since = self.paused_since
        return since is not None and self._clock() - since >= self.max_outage

    def time_paused(self) -> float:
        """Seconds paused so far, the current pause included."""
        current = 0.0 if self.paused_since is None else self._clock() - self.paused_since
        return self.paused_total + max(0.0, current)

    def next_probe_in(self) -> float | None:
        """Seconds until the next probe, while paused and none is in flight."""
        if self.paused_since is None or self.probing:
            return None
        return max(0.0, self.next_probe - self._clock())

    def claim_probe(self) -> bool:
        """While paused: take the probe if it is due and none is in flight."""
        if self.probing or self._clock() < self.next_probe:
            return False
        self.probing = True
        return True

    def delay(self) -> float | None:
        """While paused, seconds until the schedule changes (the next probe is due, or
        the pause outlasts ``max_outage``); ``None`` when not paused."""
        since = self.paused_since
        if since is None:
            return None
        due = since + self.max_outage
        if not self.probing:
            due = min(due, self.next_probe)
        return max(0.0, due - self._clock())

    def on_outcome(self, started: float, error: BaseException | None) -> None:
        """Learn the outcome of an attempt sent at ``started`` (``None``: success)."""
        since = self.paused_since
        probe = since is not None and started > since  # only probes go out while paused
        if error is not None and not isinstance(error, Exception):  # cancelled
            if probe:
                self.probing = False
            return
        if isinstance(error, APITimeoutError):  # no answer either way: not evidence
            if probe:
                self._probe_failed()
            return
        if error is None or not is_outage(error):
            self._streak = 0
            if since is not None:
                self._resume()
            return
        self._streak += 1
        self.last_error = error
        now = self._clock()
        if since is None:
            if self._streak >= self.threshold:
                self.paused_since = now
                self.next_probe = now + self.first_probe
                self._interval = self.first_probe
                self.pauses += 1
        elif probe:
            self._probe_failed()

    def _probe_failed(self) -> None:
        self.probing = False
        self._interval = min(self.max_probe, self._interval * 2)
        self.next_probe = self._clock() + self._interval

    def _resume(self) -> None:
        assert self.paused_since is not None
        self.paused_total += max(0.0, self._clock() - self.paused_since)
        self.paused_since = None
        self.probing = False
        self.next_probe = math.inf
