"""One item's attempts, connected to the batch-wide :class:`Throttle`.

An :class:`ItemAttempts` is the hook object the retry loop calls around each attempt
of one item's request: it waits for the throttle before sending, reports each
outcome back to it, asks its retry budget before a retry, and tells the engine when
the item starts waiting out a rate limit (so that its worker's turn goes to another
item: a waiting item sends nothing, and only the throttle bounds what is in flight).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .._retry import is_throttled
from ._throttle import Throttle

__all__ = ["ItemAttempts"]


class ItemAttempts:
    """The attempts of one batch item.

    Attributes:
        count: Attempts sent so far.
        throttled: Attempts answered with a rate limit so far.
        first_sent: When the first attempt was sent (``time.monotonic()``), if any.
    """

    def __init__(self, throttle: Throttle, on_wait: Callable[[], None]) -> None:
        self._throttle = throttle
        self._on_wait = on_wait
        self.count = 0
        self.throttled = 0
        self.first_sent: float | None = None
        self._sent_at = 0.0
        self._retry_cost = 0

    def elapsed(self) -> float:
        """Seconds since the first attempt was sent (0 before it)."""
        return 0.0 if self.first_sent is None else time.monotonic() - self.first_sent

    async def before_attempt(self, attempt: int) -> None:
        self._sent_at = await self._throttle.acquire()
        self.count = attempt
        if self.first_sent is None:
            self.first_sent = self._sent_at

    def after_attempt(self, error: BaseException | None) -> None:
        self._throttle.release(self._sent_at, error)
        if error is not None and is_throttled(error):
            self.throttled += 1
        if error is None:
            self._throttle.budget.on_success(self._retry_cost)

    def refuse_retry(self, error: Exception) -> str | None:
        if not self._throttle.allow_retry(error):
            return "retry budget exhausted: most recent requests are failing"
        self._retry_cost += self._throttle.budget.retry_cost
        return None

    def waiting(self, error: Exception, seconds: float) -> None:
        # Only a rate limit's wait frees the turn: sending more through an outage or
        # a failing API would only fail more.
        if is_throttled(error) and self._throttle.waits_alone:
            self._on_wait()

    def excuse(self, error: Exception) -> bool:
        return self._throttle.excuse(error)

    def independent_429s(self) -> bool:
        return self._throttle.judge.independent
