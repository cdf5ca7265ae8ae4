"""One item's attempts, connected to the batch-wide :class:`Throttle`.

An :class:`ItemAttempts` is the hook object the retry loop calls around each attempt
of one item's request: it waits for the throttle before sending, reports each
outcome back to it, and asks its retry budget before a retry.
"""

from __future__ import annotations

import time

from .._retry import AttemptHooks
from ._throttle import Throttle

__all__ = ["ItemAttempts", "SharedAttempts"]


class ItemAttempts:
    """The attempts of one batch item.

    Attributes:
        count: Attempts sent so far.
        first_sent: When the first attempt was sent (``time.monotonic()``), if any.
    """

    def __init__(self, throttle: Throttle) -> None:
        self._throttle = throttle
        self.count = 0
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
        if error is None:
            self._throttle.budget.on_success(self._retry_cost)

    def refuse_retry(self, error: Exception) -> str | None:
        if not self._throttle.allow_retry(error):
            return "retry budget exhausted: most recent requests are failing"
        self._retry_cost += self._throttle.budget.retry_cost
        return None


class SharedAttempts:
    """The hooks of one batch item, shared by the requests it fans out into.

    Attempts are numbered across those requests, so the item counts every one sent.
    """

    def __init__(self, hooks: AttemptHooks) -> None:
        self._hooks = hooks
        self._sent = 0

    async def before_attempt(self, attempt: int) -> None:
        self._sent += 1
        await self._hooks.before_attempt(self._sent)

    def after_attempt(self, error: BaseException | None) -> None:
        self._hooks.after_attempt(error)

    def refuse_retry(self, error: Exception) -> str | None:
        return self._hooks.refuse_retry(error)
