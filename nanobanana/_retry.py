"""Retries: the policy (a frozen value), the pure backoff arithmetic, and the loop.

After each failed attempt the loop asks two questions: *may I retry?* and *how long
do I wait?* The answers depend only on the policy, the attempt number, what the
server said, the time spent so far and a random number (:func:`retry_wait`), so
they are easy to test and to reason about. :func:`send_with_retries` is the loop
itself: it takes the attempt to make as a callable, so it is tested without HTTP.
"""

from __future__ import annotations

import datetime
import email.utils
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

import anyio
import attrs

from ._amend import amended
from ._config import check_bool, check_int, check_number
from ._errors import APIConnectionError, APIStatusError, ConfigurationError

__all__ = [
    "BATCH_THROTTLED_WAIT",
    "DEFAULT_RETRY_STATUSES",
    "SINGLE_CALL_THROTTLED_WAIT",
    "AttemptHooks",
    "RetryPolicy",
    "SharedAttempts",
    "backoff_delay",
    "batch_policy",
    "is_throttled",
    "parse_retry_after",
    "retry_wait",
    "send_with_retries",
]

log = logging.getLogger("nanobanana")

T = TypeVar("T")

#: Statuses that are worth another try: timeouts, conflicts, rate limits and gateways.
DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({408, 409, 429, 500, 502, 503, 504})
#: Seconds a single call waits out rate limits in total when ``max_throttled_wait`` is unset.
SINGLE_CALL_THROTTLED_WAIT = 120.0
#: Seconds a batch item waits out rate limits in total when ``max_throttled_wait`` is unset.
BATCH_THROTTLED_WAIT = 900.0


def _seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    check_number(attribute.name, value)


def _optional_seconds(
    _: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None:
        check_number(attribute.name, value)


def _statuses(value: Iterable[int]) -> frozenset[int]:
    try:
        statuses = frozenset(value)
    except TypeError:
        raise ConfigurationError(
            f"retry_statuses must be a collection of HTTP statuses, got {value!r}"
        ) from None
    for status in statuses:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ConfigurationError(f"retry_statuses holds {status!r}, not an HTTP status")
    return statuses


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried.

    The wait before retry ``n`` (counting from 1) is *full jitter* exponential backoff::

        wait = random.uniform(0, min(max_delay, initial_delay * 2 ** (n - 1)))

    unless the server sent ``Retry-After`` (seconds or an HTTP date) or
    ``retry-after-ms``: then that wait is used as it is, provided it is at most
    ``max_retry_after``; a server asking for longer gets its error raised at once
    rather than a silent hang.

    A rate limit (a 429, or a 503 that carries ``Retry-After``) says "later", not
    "never", and costs nothing: it is retried until the request has waited
    ``max_throttled_wait`` seconds in total for rate limits, however many answers
    that takes, and it spends neither ``max_retries`` nor a batch's retry budget
    (``n`` above counts rate-limit answers for these waits). Its ``Retry-After`` is
    honoured however long, ``max_retry_after`` aside, as long as it fits in what is
    left of ``max_throttled_wait``; one that does not fit raises at once. Every other retried
    failure (5xx, timeouts, resets) may cost money or show something broken: those
    stop after ``max_retries`` retries or once ``max_total`` seconds (not counting
    time spent waiting out rate limits) have passed since the first attempt.

    Attributes:
        max_retries: Retries after failures other than rate limits (``0`` retries
            only rate limits; :meth:`disabled` retries nothing).
        initial_delay: The backoff ceiling for the first retry, in seconds.
        max_delay: The largest ceiling any single backoff wait may reach.
        max_total: Seconds from the first attempt after which no retry starts.
        max_retry_after: The longest server-requested wait that is honoured after
            a failure other than a rate limit (a rate limit's wait is bounded by
            ``max_throttled_wait`` instead).
        retry_statuses: HTTP statuses that are retried.
        retry_connection_errors: Whether connection errors and timeouts are retried.
        max_throttled_wait: Seconds a request may wait out rate limits in total;
            ``None`` (the default) means 120 s for a single call and 900 s (15
            minutes) for each item of a batch.
        max_outage: In a batch, the longest the API may be unavailable (every
            request refused or answered 502/503/504) while the batch pauses and
            probes it; past it the batch stops, resumable.

    Example:
        >>> from nanobanana import RetryPolicy
        >>> RetryPolicy(max_retries=5).max_retries
        5
        >>> RetryPolicy.no_wait().initial_delay
        0.0
    """

    max_retries: int = attrs.field(default=3)
    initial_delay: float = attrs.field(default=0.5, validator=_seconds)
    max_delay: float = attrs.field(default=8.0, validator=_seconds)
    max_total: float = attrs.field(default=120.0, validator=_seconds)
    max_retry_after: float = attrs.field(default=60.0, validator=_seconds)
    retry_statuses: frozenset[int] = attrs.field(
        default=DEFAULT_RETRY_STATUSES, converter=_statuses
    )
    retry_connection_errors: bool = attrs.field(default=True)
    max_throttled_wait: float | None = attrs.field(default=None, validator=_optional_seconds)
    max_outage: float = attrs.field(default=600.0, validator=_seconds)

    @max_retries.validator
    def _check_max_retries(self, attribute: attrs.Attribute[int], value: int) -> None:
        check_int(attribute.name, value, minimum=0)

    @retry_connection_errors.validator
    def _check_retry_connection_errors(self, attribute: attrs.Attribute[bool], value: bool) -> None:
        check_bool(attribute.name, value)

    @classmethod
    def no_wait(cls, max_retries: int = 3) -> RetryPolicy:
        """A policy that retries at once: for tests, where waiting only costs time.

        Server-requested waits are still honoured: up to ``max_retry_after`` (60 s)
        after a server error, within ``max_throttled_wait`` after a rate limit; a
        longer one raises at once.

        Example:
            >>> import nanobanana as nb
            >>> policy = nb.RetryPolicy.no_wait(max_retries=5)
            >>> policy.max_retries, policy.initial_delay, policy.max_delay
            (5, 0.0, 0.0)
        """
        return cls(max_retries=max_retries, initial_delay=0.0, max_delay=0.0)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that never retries, not even a rate limit.

        Example:
            >>> import nanobanana as nb
            >>> nb.RetryPolicy.disabled().max_retries, nb.RetryPolicy.disabled().max_throttled_wait
            (0, 0.0)
            >>> client = nb.Client(api_key="my-key", retry=nb.RetryPolicy.disabled())
        """
        return cls(max_retries=0, max_throttled_wait=0.0)

    @classmethod
    def for_batch(cls, **changes: Any) -> RetryPolicy:
        """The policy a batch uses by default, with ``changes``: 15 minutes of patience
        for rate limits (``max_throttled_wait=900``), the usual retries otherwise.

        Example:
            >>> import nanobanana as nb
            >>> nb.RetryPolicy.for_batch().max_throttled_wait
            900.0
            >>> nb.RetryPolicy.for_batch(max_outage=60).max_outage
            60
        """
        return cls(**{"max_throttled_wait": BATCH_THROTTLED_WAIT, **changes})

    @property
    def throttled_wait_limit(self) -> float:
        """``max_throttled_wait``, or the single-call default (120 s) when unset.

        Example:
            >>> from nanobanana import RetryPolicy
            >>> RetryPolicy().throttled_wait_limit, RetryPolicy.for_batch().throttled_wait_limit
            (120.0, 900.0)
        """
        if self.max_throttled_wait is None:
            return SINGLE_CALL_THROTTLED_WAIT
        return self.max_throttled_wait

    def should_retry_status(self, status: int) -> bool:
        """Whether a response with ``status`` is worth another attempt.

        Example:
            >>> from nanobanana import RetryPolicy
            >>> RetryPolicy().should_retry_status(429), RetryPolicy().should_retry_status(400)
            (True, False)
        """
        return status in self.retry_statuses


def batch_policy(policy: RetryPolicy) -> RetryPolicy:
    """``policy`` as a batch applies it: an unset ``max_throttled_wait`` becomes 15 minutes."""
    if policy.max_throttled_wait is not None:
        return policy
    return attrs.evolve(policy, max_throttled_wait=BATCH_THROTTLED_WAIT)


def is_throttled(error: BaseException) -> bool:
    """Whether ``error`` is a rate limit: a 429, or a 503 that says when to come back.

    Example:
        >>> from nanobanana import RateLimitError, ServerError
        >>> is_throttled(RateLimitError("slow down", status=429))
        True
        >>> is_throttled(ServerError("down", status=503)), is_throttled(
        ...     ServerError("busy", status=503, retry_after=5)
        ... )
        (False, True)
    """
    if not isinstance(error, APIStatusError):
        return False
    return error.status == 429 or (error.status == 503 and error.retry_after is not None)


def backoff_delay(policy: RetryPolicy, retry: int, rand: float) -> float:
    """The full-jitter wait before retry number ``retry`` (1 for the first retry).

    Args:
        policy: The policy in force.
        retry: 1 for the first retry, 2 for the second, ...
        rand: A number in ``[0, 1)``, usually ``random.random()``.

    Returns:
        A wait in ``[0, min(policy.max_delay, policy.initial_delay * 2 ** (retry - 1))]``.
    """
    exponent = min(max(retry - 1, 0), 62)  # 2**62 already dwarfs any sane max_delay
    ceiling = min(policy.max_delay, policy.initial_delay * (2.0**exponent))
    return max(0.0, min(rand, 1.0)) * ceiling


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Read the wait a server asked for, in seconds, or ``None`` if it asked for none.

    ``retry-after-ms`` (milliseconds) wins over ``Retry-After``, which may be a number of
    seconds or an HTTP date. Negative waits and dates in the past count as zero;
    anything unparseable is ignored.

    Args:
        headers: Response headers; lookup is case-insensitive for any mapping whose
            keys are lower-case or that folds case itself.
        now: The current Unix time (for HTTP dates); defaults to ``time.time()``.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        ms = _parse_number(raw_ms)
        if ms is not None:
            return max(ms / 1000.0, 0.0)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _parse_number(raw)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT by definition ("-0000" parses naive)
        when = when.replace(tzinfo=datetime.UTC)
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def _parse_number(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# -- the loop ------------------------------------------------------------------------


class AttemptHooks(Protocol):
    """What a caller (the batch engine) learns of, and decides in, each attempt."""

    async def before_attempt(self, attempt: int) -> None:
        """Wait until attempt ``attempt`` (1 for the first) may be sent."""

    def after_attempt(self, error: BaseException | None) -> None:
        """The outcome of the attempt (``None``: success), even when it was cancelled."""

    def refuse_retry(self, error: Exception) -> str | None:
        """A reason not to retry ``error`` although the policy allows it, or ``None``."""

    def waiting(self, error: Exception, seconds: float) -> None:
        """After ``error``, the next attempt waits ``seconds`` first (a backoff, or a
        ``Retry-After``)."""

    def excuse(self, error: Exception) -> bool:
        """Whether ``error`` is excused from ``max_retries``: the caller is waiting out
        an outage (its :meth:`before_attempt` holds the retry until the API is back)."""

    def independent_429s(self) -> bool:
        """Whether the caller has found its 429s not to be about its load: each one is
        then a fresh draw, and its backoff does not grow with the 429s met before."""


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

    def waiting(self, error: Exception, seconds: float) -> None:
        self._hooks.waiting(error, seconds)

    def excuse(self, error: Exception) -> bool:
        return self._hooks.excuse(error)

    def independent_429s(self) -> bool:
        return self._hooks.independent_429s()


RetryableError = APIStatusError | APIConnectionError


def _retryable(error: RetryableError, policy: RetryPolicy) -> bool:
    if isinstance(error, APIStatusError):
        return policy.should_retry_status(error.status)
    return policy.retry_connection_errors


def retry_wait(
    error: RetryableError,
    attempt: int,
    policy: RetryPolicy,
    *,
    elapsed: float,
    rand: float,
    throttled_wait: float = 0.0,
) -> float | str:
    """How long to wait before retrying ``error``, or why it is not retried.

    Args:
        error: What the attempt raised.
        attempt: For a rate limit (:func:`is_throttled`), the how-manieth rate-limit
            answer this is; for any other error, the how-manieth other failure (1 for
            the first), which ``max_retries`` bounds.
        policy: The policy in force.
        elapsed: Seconds since the first attempt started, not counting time spent
            waiting out rate limits (``max_total`` bounds it).
        rand: A number in ``[0, 1)`` for the jitter.
        throttled_wait: Seconds already spent waiting out rate limits
            (``max_throttled_wait`` bounds it).

    Returns:
        The wait in seconds, or a reason (``""`` when the policy does not retry this
        error at all, so there is nothing to say).

    Example:
        >>> from nanobanana import RateLimitError, RetryPolicy, ServerError
        >>> error = ServerError("busy", status=503)
        >>> retry_wait(error, 1, RetryPolicy(initial_delay=1.0), elapsed=0.0, rand=0.5)
        0.5
        >>> retry_wait(error, 1, RetryPolicy(max_total=0.2), elapsed=0.0, rand=0.5)
        'retries stopped: max_total=0.2 s reached'
        >>> limited = RateLimitError("slow down", status=429, retry_after=2)
        >>> retry_wait(limited, 50, RetryPolicy(), elapsed=0.0, rand=0.5, throttled_wait=60)
        2.0
        >>> retry_wait(limited, 51, RetryPolicy(), elapsed=0.0, rand=0.5, throttled_wait=119)
        'rate limited for 119 s, the most max_throttled_wait=120 s allows'
    """
    throttled = is_throttled(error)
    if not _retryable(error, policy) or (not throttled and attempt > policy.max_retries):
        return ""
    asked = error.retry_after if isinstance(error, APIStatusError) else None
    if throttled:
        return _throttled_wait(policy, asked, attempt, rand, throttled_wait)
    if asked is not None and asked > policy.max_retry_after:
        return (
            f"the server asked to wait {asked:g} s, more than "
            f"max_retry_after={policy.max_retry_after:g} s; not retried"
        )
    wait = float(asked) if asked is not None else backoff_delay(policy, attempt, rand)
    if elapsed + wait > policy.max_total:
        return f"retries stopped: max_total={policy.max_total:g} s reached"
    return wait


def _throttled_wait(
    policy: RetryPolicy, asked: float | None, attempt: int, rand: float, waited: float
) -> float | str:
    """The wait before retrying a rate limit: what the server asked for (however long,
    ``max_retry_after`` aside) or the backoff, if it fits in what is left of
    ``max_throttled_wait``; else why not."""
    limit = policy.throttled_wait_limit
    wait = float(asked) if asked is not None else backoff_delay(policy, attempt, rand)
    if limit > 0 and waited + wait <= limit:
        return wait
    if asked is not None and asked > policy.max_retry_after:
        left = max(0.0, limit - waited)
        of = f"the {left:.0f} s left of " if waited > 0 else ""
        return (
            f"the server asked to wait {asked:g} s, more than {of}"
            f"max_throttled_wait={limit:g} s allows; not retried"
        )
    return f"rate limited for {waited:.0f} s, the most max_throttled_wait={limit:g} s allows"


@attrs.define
class _Tally:
    """What one request's retries have used up so far."""

    started: float
    failures: int = 0  # failed attempts other than rate limits (max_retries bounds them)
    throttled: int = 0  # rate-limit answers
    throttled_wait: float = 0.0  # seconds spent waiting out rate limits
    excused_wait: float = 0.0  # seconds spent waiting out an outage
    waiting_since: float | None = None  # when the current patient wait began
    waiting_throttled: bool = False

    def next_wait(
        self,
        error: RetryableError,
        policy: RetryPolicy,
        hooks: AttemptHooks | None,
        now: float,
        rand: float,
    ) -> float | str:
        """The wait before the next attempt, or why there is none; counts ``error``."""
        if is_throttled(error):
            self.throttled += 1
            self._patient(now, throttled=True)
            fresh = hooks is not None and hooks.independent_429s()
            return retry_wait(
                error,
                1 if fresh else self.throttled,
                policy,
                elapsed=0.0,
                rand=rand,
                throttled_wait=self.throttled_wait,
            )
        if hooks is not None and _retryable(error, policy) and hooks.excuse(error):
            self._patient(now, throttled=False)
            return 0.0  # the caller holds the retry until the outage ends
        self.failures += 1
        elapsed = now - self.started - self.throttled_wait - self.excused_wait
        wait = retry_wait(error, self.failures, policy, elapsed=elapsed, rand=rand)
        if isinstance(wait, float) and hooks is not None:
            refusal = hooks.refuse_retry(error)
            return wait if refusal is None else f"not retried: {refusal}"
        return wait

    def _patient(self, now: float, *, throttled: bool) -> None:
        self.waiting_since = now
        self.waiting_throttled = throttled

    def sent(self, now: float) -> None:
        """An attempt is going out: a patient wait, if any, has ended."""
        if self.waiting_since is None:
            return
        waited = max(0.0, now - self.waiting_since)
        if self.waiting_throttled:
            self.throttled_wait += waited
        else:
            self.excused_wait += waited
        self.waiting_since = None


async def send_with_retries(
    send: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    hooks: AttemptHooks | None = None,
    *,
    rand: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Await ``send()`` until it succeeds or ``policy`` says to stop retrying.

    Status and connection errors are retried as :func:`retry_wait` decides (rate
    limits against the time waited, other failures against ``max_retries``); the
    error that ends the retries is raised with the reason in its message (a new
    exception of the same class, from the one caught). Any other exception is
    raised as it is. Each retry is logged at INFO with ``attempt``, ``reason`` and
    ``wait`` in the record's extra fields.

    Example:
        >>> import anyio
        >>> from nanobanana import RetryPolicy, ServerError
        >>> outcomes = [ServerError("busy", status=503), "done"]
        >>> async def send() -> str:
        ...     outcome = outcomes.pop(0)
        ...     if isinstance(outcome, Exception):
        ...         raise outcome
        ...     return outcome
        >>> anyio.run(send_with_retries, send, RetryPolicy.no_wait())
        'done'
    """
    tally = _Tally(clock())
    attempt = 0
    while True:
        attempt += 1
        if hooks is not None:
            await hooks.before_attempt(attempt)
        tally.sent(clock())
        try:
            result = await send()
        except (APIStatusError, APIConnectionError) as exc:
            if hooks is not None:
                hooks.after_attempt(exc)
            wait = tally.next_wait(exc, policy, hooks, clock(), rand())
            if isinstance(wait, str):
                if not wait:
                    raise
                raise amended(exc, message=f"{exc.message} ({wait})") from exc
            _log_retry(exc, attempt, policy, wait, tally)
            if hooks is not None:
                hooks.waiting(exc, wait)
            await anyio.sleep(wait)
            continue
        except BaseException as exc:
            if hooks is not None:
                hooks.after_attempt(exc)
            raise
        if hooks is not None:
            hooks.after_attempt(None)
        return result


def _log_retry(
    error: RetryableError, attempt: int, policy: RetryPolicy, wait: float, tally: _Tally
) -> None:
    reason = f"HTTP {error.status}" if isinstance(error, APIStatusError) else type(error).__name__
    if tally.waiting_since is None or not tally.waiting_throttled:
        detail = f"attempt {tally.failures} of {policy.max_retries + 1}"
        if tally.waiting_since is not None:
            detail = "the API is unavailable; waiting for it"
    else:
        detail = (
            f"rate limited, {tally.throttled_wait:.0f} s of "
            f"{policy.throttled_wait_limit:g} s waited"
        )
    log.info(
        "retrying after %s (%s), waiting %.3f s",
        reason,
        detail,
        wait,
        extra={"attempt": attempt, "reason": reason, "wait": wait},
    )
