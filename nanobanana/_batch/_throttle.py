"""Batch-wide flow control: AIMD limits on concurrency and rate, pauses, a retry budget.

Every worker of a batch shares one :class:`Throttle`, and a request goes out only
when every limit below lets it: whichever binds decides. When the API answers 429
the whole batch slows down, not just the request that got it:

* **AIMD on the send rate** (:mod:`._adapt`). When answers come fast, fewer requests
  in flight do not mean fewer a second, so the throttle also learns a sustainable
  rate: a 429 sets it to 95 % of the recent goodput (or cuts it by 30 %), each
  success raises it by 0.04 a second. A 429 halves the concurrency only while no
  rate has been learned: after that, the rate does the slowing, and once it has
  settled the concurrency is raised to what that rate keeps in flight.
* **Not about us.** If slowing down did not lower the share of 429s (a share of
  5 % or more) the way a rate limit would, they are load-independent: the limits go
  back to where they were, stop being lowered, ``Retry-After`` stops pausing
  everyone, and retries (which 429s do not spend) absorb the 429s. Once a rate is
  learned, or the 429s are found not to be about the load, an item waiting out a
  429 gives its worker's turn to another item (:attr:`Throttle.waits_alone`). See
  :class:`._adapt.LoadJudge`.
* **AIMD on concurrency.** A 429 halves the number of requests allowed in flight
  (multiplicative decrease, at most once per round trip, so a burst of 429s from
  one cohort counts once); each success adds ``1 / limit`` (about one more slot per
  round trip: additive increase) up to the configured ``concurrency``. AIMD rather
  than CUBIC: image requests take seconds, so a batch sees a few round trips a
  minute, and CUBIC's faster probing of large windows buys nothing at that pace,
  while AIMD's behaviour is easy to predict and to test.
* **Retry-After pauses everyone.** A server-requested wait stops *new* sends from
  every worker until it has passed. Once a rate is learned (the 429 that makes the
  batch learn one included), a 429's holds back its own item only: the learned rate
  does the slowing, and a large share of 429s each pausing everyone would keep the
  batch paused (with ``adaptive=False``, every 429's pauses everyone). Before that,
  a 429 to a request sent after everyone waited one out slows the batch down at
  once, without waiting for more answers: waiting alone did not help.
* **Requests per minute.** An optional token bucket, refilled continuously: a hard
  ceiling, whatever is learned.
* **Outages** (:mod:`._outage`). When the API is down the batch pauses and probes.
* **Retry budget** (botocore's retry quota). Retries spend tokens (5, or 10 after a
  timeout) and successes earn one back; when most recent requests fail the budget
  runs dry and items fail fast instead of hammering the API.

The clock is injectable so the arithmetic is tested without sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import anyio

from .._amend import amended
from .._errors import APIConnectionError, APIStatusError, APITimeoutError, NanoBananaError
from .._retry import is_throttled
from ._adapt import LoadJudge, SendRate
from ._outage import Outage, is_outage, outage_threshold

__all__ = ["AIMDLimit", "Broadcast", "RetryBudget", "Throttle", "TokenBucket"]

Clock = Callable[[], float]


def smoothed(average: float | None, sample: float) -> float:
    """An exponentially weighted moving average: ``sample`` weighs a tenth.

    Example:
        >>> smoothed(None, 2.0), smoothed(1.0, 2.0)
        (2.0, 1.1)
    """
    return sample if average is None else 0.9 * average + 0.1 * sample


class AIMDLimit:
    """The number of requests allowed in flight, adapted to 429 answers.

    Example:
        >>> limit = AIMDLimit(maximum=16, clock=lambda: 0.0)
        >>> limit.on_throttled(started=0.0)
        >>> limit.allowed
        8
    """

    def __init__(
        self, maximum: int, *, minimum: int = 1, factor: float = 0.5, clock: Clock = time.monotonic
    ) -> None:
        if maximum < 1:
            raise ValueError("maximum must be at least 1")
        self.maximum = maximum
        self.minimum = max(1, min(minimum, maximum))
        self.factor = factor
        self.limit = float(maximum)
        self._clock = clock
        self._last_decrease = -math.inf
        self.decreases = 0

    @property
    def allowed(self) -> int:
        """Whole requests allowed in flight now."""
        return max(self.minimum, int(self.limit))

    def on_success(self) -> None:
        """Additive increase: about one more slot per ``limit`` successes."""
        if self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / max(self.limit, 1.0))

    def at_least(self, needed: float) -> None:
        """Raise the limit to ``needed`` (up to the maximum), if it is lower."""
        self.limit = max(self.limit, min(float(self.maximum), needed))

    def on_throttled(self, started: float) -> None:
        """Multiplicative decrease, once per cohort.

        Args:
            started: When the throttled request was sent. A request sent before the
                last decrease (or in the same clock tick: coarse clocks tie) belongs to
                a cohort already accounted for.
        """
        if started <= self._last_decrease:
            return
        self.limit = max(float(self.minimum), self.limit * self.factor)
        self._last_decrease = self._clock()
        self.decreases += 1

    def __repr__(self) -> str:
        return f"AIMDLimit(allowed={self.allowed}, limit={self.limit:.2f}, max={self.maximum})"


class TokenBucket:
    """At most ``per_minute`` acquisitions a minute, with a burst of up to ``burst``.

    Example:
        >>> now = [0.0]
        >>> bucket = TokenBucket(60, burst=1, clock=lambda: now[0])
        >>> bucket.delay()  # a full bucket: go now
        0.0
        >>> bucket.take()
        >>> bucket.delay()  # 60 a minute: the next token in one second
        1.0
    """

    def __init__(self, per_minute: float, *, burst: float = 1.0, clock: Clock = time.monotonic):
        if not per_minute > 0:
            raise ValueError("requests_per_minute must be > 0")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self._clock = clock
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def delay(self) -> float:
        """Seconds until one token is available (0 when one is)."""
        self._refill()
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        """Spend one token (the count may go below zero; later delays account for it)."""
        self._refill()
        self.tokens -= 1.0


class RetryBudget:
    """botocore's retry quota: retries cost tokens, successes earn them back.

    Example:
        >>> budget = RetryBudget(capacity=10, retry_cost=5)
        >>> budget.try_spend(timeout=False), budget.try_spend(timeout=False)
        (True, True)
        >>> budget.try_spend(timeout=False)
        False
    """

    def __init__(
        self,
        capacity: int = 500,
        *,
        retry_cost: int = 5,
        timeout_cost: int = 10,
        success_refund: int = 1,
    ) -> None:
        self.capacity = capacity
        self.tokens = capacity
        self.retry_cost = retry_cost
        self.timeout_cost = timeout_cost
        self.success_refund = success_refund

    def try_spend(self, *, timeout: bool) -> bool:
        """Take the cost of one retry; ``False`` (nothing taken) when too few are left."""
        cost = self.timeout_cost if timeout else self.retry_cost
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def on_success(self, retried_cost: int = 0) -> None:
        """Refund after a success: the retries it cost, or one token for a clean success."""
        self.tokens = min(self.capacity, self.tokens + (retried_cost or self.success_refund))


class Broadcast:
    """Wakes every task waiting for "something changed" (made inside a running loop).

    Example:
        >>> import anyio
        >>> async def main() -> str:
        ...     changed = Broadcast()
        ...     async with anyio.create_task_group() as tg:
        ...         tg.start_soon(changed.wait)
        ...         await anyio.sleep(0)
        ...         changed.notify()  # wakes the waiting task
        ...     return "woken"
        >>> anyio.run(main)
        'woken'
    """

    def __init__(self) -> None:
        self._event: anyio.Event | None = None  # made by the first waiter, in its loop

    async def wait(self, timeout: float | None = None) -> None:
        """Until the next :meth:`notify` (or ``timeout`` seconds, when given)."""
        if self._event is None:
            self._event = anyio.Event()
        event = self._event
        with anyio.move_on_after(timeout):
            await event.wait()

    def notify(self) -> None:
        """Wake every task waiting now."""
        if self._event is not None:
            self._event.set()
            self._event = None


class Throttle:
    """The flow control every worker of one batch goes through before each attempt.

    Attributes:
        in_flight: Attempts sent and not answered yet.
        sent: Attempts sent so far.
        throttled: Rate-limit answers so far (429, or 503 with ``Retry-After``).
        paused_until: The clock time before which nothing is sent (``Retry-After``).
    """

    def __init__(
        self,
        concurrency: int,
        *,
        requests_per_minute: float | None = None,
        adaptive: bool = True,
        retry_budget: RetryBudget | None = None,
        max_outage: float = 600.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._clock = clock
        self.outage = Outage(
            max_outage=max_outage, threshold=outage_threshold(concurrency), clock=clock
        )
        self.in_flight = 0
        self.sent = 0
        self.throttled = 0
        self.paused_until = -math.inf
        self._first_pause_end: float | None = None  # of the first Retry-After everyone waited
        self.limit = AIMDLimit(concurrency, clock=clock)
        self.send_rate = SendRate(clock=clock)
        self.judge = LoadJudge(clock=clock)
        self.round_trip: float | None = None  # seconds a success takes, smoothed
        self.refusal_trip: float | None = None  # seconds a 429 takes, smoothed
        self._saved: tuple[float, float | None] = (self.limit.limit, None)
        self._last_decrease = -math.inf
        self.adaptive = adaptive
        self.bucket = TokenBucket(requests_per_minute, clock=clock) if requests_per_minute else None
        self.budget = retry_budget if retry_budget is not None else RetryBudget()
        self._changed = Broadcast()

    def __repr__(self) -> str:
        return (
            f"Throttle(in_flight={self.in_flight}, allowed={self.limit.allowed}, "
            f"paused_for={max(0.0, self.paused_until - self._clock()):.2f}s, "
            f"budget={self.budget.tokens})"
        )

    def _try_acquire(self) -> float | None:
        """Take a slot if one is free now (no pause, a rate token; while the API is
        down, the probe): the send time, or ``None`` when one has to wait."""
        now = self._clock()
        if (
            self.paused_until > now
            or (self.bucket is not None and self.bucket.delay() > 0)
            or self.send_rate.delay() > 0
        ):
            return None
        if self.outage.paused:
            if not self.outage.claim_probe():  # a probe goes whatever is in flight
                return None
        elif self.in_flight >= self.limit.allowed:
            return None
        if self.bucket is not None:
            self.bucket.take()
        self.send_rate.take()
        self.judge.on_send()
        self.in_flight += 1
        self.sent += 1
        return now

    def _wait_time(self) -> float | None:
        """Seconds until a blocked :meth:`acquire` should look again (``None``: at the
        next release)."""
        now = self._clock()
        waits = [self.paused_until - now, self.outage.delay() or 0.0, self.send_rate.delay()]
        if self.bucket is not None:
            waits.append(self.bucket.delay())
        waits = [wait for wait in waits if wait > 0]
        return min(waits) if waits else None

    async def acquire(self) -> float:
        """Wait for a slot, for any pause to end and for a rate token; return the send time.

        Raises the last outage failure, saying so, once the API has been unavailable
        for longer than ``max_outage``.
        """
        while True:
            if self.outage.expired:
                raise self._outage_error()
            started = self._try_acquire()
            if started is not None:
                return started
            await self._changed.wait(self._wait_time())

    def _outage_error(self) -> Exception:
        error = self.outage.last_error
        message = (
            f"the API has been unavailable for {self.outage.max_outage:g} s "
            f"(max_outage={self.outage.max_outage:g} s): the batch stopped; resume it later"
        )
        if isinstance(error, NanoBananaError):
            return amended(error, message=f"{error.message} ({message})")
        return APIConnectionError(message)  # pragma: no cover - outages come from the API

    def release(self, started: float, error: BaseException | None) -> None:
        """Report the end of an attempt sent at ``started``; ``None`` means success."""
        self.in_flight -= 1
        self.outage.on_outcome(started, error)
        if error is None:
            self.judge.on_answer(started=started, throttled=False)
            if self.adaptive:
                self._on_success(started)
        elif isinstance(error, APIStatusError):
            self.judge.on_answer(started=started, throttled=error.status == 429)
            if is_throttled(error):
                self.throttled += 1
            if error.status == 429 and self.adaptive:
                self.send_rate.on_answer(ok=False, started=started)
                self._on_429(started)
            asked = error.retry_after
            if asked is not None and asked > 0 and self._pauses_everyone(error.status):
                self.paused_until = max(self.paused_until, self._clock() + asked)
                if self._first_pause_end is None:
                    self._first_pause_end = self.paused_until
        self._changed.notify()

    def _pauses_everyone(self, status: int) -> bool:
        """Whether a ``Retry-After`` in an answer with ``status`` pauses every worker,
        not just its own item. A 429's does until the batch has learned a send rate
        (nothing else slows it down yet), and always when it does not adapt; after
        that, the learned rate does the slowing, and a large share of 429s each
        pausing everyone would keep the batch paused nearly all the time. Other
        answers' do, unless the 429s were found not to be about the batch's load."""
        if not self.adaptive:
            return True
        if self.judge.independent:
            return False
        return status != 429 or self.send_rate.rate is None

    def _on_success(self, started: float) -> None:
        """Grow the limits. Once a rate is learned and has settled (5 s without a
        decrease), the concurrency need not bind below what that rate keeps in
        flight (Little's law: rate x round trip, plus 20 %): the rate does the
        slowing, and one more slot a round trip is slow to give back when answers
        take seconds."""
        now = self._clock()
        self.round_trip = smoothed(self.round_trip, now - started)
        self.limit.on_success()
        self.send_rate.on_answer(ok=True, started=started)
        rate = self.send_rate.rate
        if rate is not None and now - self._last_decrease > 5.0:
            self.limit.at_least(1.2 * rate * self.round_trip)

    def _settled_before(self, now: float) -> float | None:
        """Requests sent before this time have all been answered, as far as the
        count of 429s goes: when 429s come back sooner than images, the answers to
        requests sent since are mostly 429s (the successes are still on their way),
        so they do not tell the share yet. ``None``: all answers tell."""
        if self.round_trip is None or self.refusal_trip is None:
            return None
        lag = self.round_trip - self.refusal_trip
        return now - 1.5 * lag if lag > 0 else None

    def _on_429(self, started: float) -> None:
        """Slow down, or put the limits back, as the judge of the 429s says."""
        now = self._clock()
        self.refusal_trip = smoothed(self.refusal_trip, now - started)
        # Before the first decision, a 429 to a request sent after everyone waited out
        # a Retry-After says waiting alone does not help: a limit is biting.
        waited_until = self._first_pause_end
        waited = self.judge.decreases == 0 and waited_until is not None and started >= waited_until
        verdict = self.judge.verdict(
            started=started,
            evidence=1 if waited else 20,
            settled_before=self._settled_before(now),
            refusal_trip=self.refusal_trip,
        )
        if verdict == "decrease":
            if now - self._last_decrease > 10.0:  # the levels before this run of decreases
                self._saved = (self.limit.limit, self.send_rate.rate)
            self._last_decrease = now
            if self.send_rate.rate is None:  # once a rate is learned, it does the slowing
                self.limit.on_throttled(started)
            self.send_rate.decrease(
                clearly=self.judge.unclear,
                let_through=self.judge.let_through,
                refusal_trip=self.refusal_trip,
            )
        elif verdict == "restore":
            limit, rate = self._saved
            self.limit.limit = max(self.limit.limit, limit)
            current = self.send_rate.rate
            self.send_rate.set_rate(None if rate is None or current is None else max(rate, current))

    @property
    def waits_alone(self) -> bool:
        """Whether an item waiting out a 429 leaves its worker's turn to another item:
        once something other than the turns bounds what the batch sends, a learned
        send rate or the finding that the 429s are not about the batch's load (more
        requests do not bring more of them). Before that, a waiting item keeps its
        turn, so that a rate limit is not met with more requests."""
        return self.judge.independent or (self.adaptive and self.send_rate.rate is not None)

    def excuse(self, error: Exception) -> bool:
        """Whether ``error`` is excused from ``max_retries``: an outage failure while
        the batch is paused, waiting for the API to come back."""
        return self.outage.paused and is_outage(error)

    def allow_retry(self, error: Exception) -> bool:
        """Spend from the retry budget; ``False`` when the budget is exhausted."""
        return self.budget.try_spend(timeout=isinstance(error, APITimeoutError))
