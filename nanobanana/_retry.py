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
from typing import Protocol, TypeVar

import anyio
import attrs

from ._amend import amended
from ._config import check_bool, check_int, check_number
from ._errors import APIConnectionError, APIStatusError, ConfigurationError

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "AttemptHooks",
    "RetryPolicy",
    "backoff_delay",
    "parse_retry_after",
    "retry_wait",
    "send_with_retries",
]

log = logging.getLogger("nanobanana")

T = TypeVar("T")

#: Statuses that are worth another try: timeouts, conflicts, rate limits and gateways.
DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({408, 409, 429, 500, 502, 503, 504})


def _seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
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
    rather than a silent hang. Retries stop after ``max_retries`` retries or once
    ``max_total`` seconds have passed since the first attempt, whichever comes first.

    Attributes:
        max_retries: Retries after the first attempt (``0`` disables retrying).
        initial_delay: The backoff ceiling for the first retry, in seconds.
        max_delay: The largest ceiling any single backoff wait may reach.
        max_total: Seconds from the first attempt after which no retry starts.
        max_retry_after: The longest server-requested wait that is honoured.
        retry_statuses: HTTP statuses that are retried.
        retry_connection_errors: Whether connection errors and timeouts are retried.

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

    @max_retries.validator
    def _check_max_retries(self, attribute: attrs.Attribute[int], value: int) -> None:
        check_int(attribute.name, value, minimum=0)

    @retry_connection_errors.validator
    def _check_retry_connection_errors(self, attribute: attrs.Attribute[bool], value: bool) -> None:
        check_bool(attribute.name, value)

    @classmethod
    def no_wait(cls, max_retries: int = 3) -> RetryPolicy:
        """A policy that retries at once: for tests, where waiting only costs time.

        Server-requested waits are still honoured, up to ``max_retry_after`` (60 s);
        a longer one raises at once.

        Example:
            >>> import nanobanana as nb
            >>> policy = nb.RetryPolicy.no_wait(max_retries=5)
            >>> policy.max_retries, policy.initial_delay, policy.max_delay
            (5, 0.0, 0.0)
        """
        return cls(max_retries=max_retries, initial_delay=0.0, max_delay=0.0)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that never retries.

        Example:
            >>> import nanobanana as nb
            >>> nb.RetryPolicy.disabled().max_retries
            0
            >>> client = nb.Client(api_key="my-key", retry=nb.RetryPolicy.disabled())
        """
        return cls(max_retries=0)

    def should_retry_status(self, status: int) -> bool:
        """Whether a response with ``status`` is worth another attempt.

        Example:
            >>> from nanobanana import RetryPolicy
            >>> RetryPolicy().should_retry_status(429), RetryPolicy().should_retry_status(400)
            (True, False)
        """
        return status in self.retry_statuses


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


RetryableError = APIStatusError | APIConnectionError


def retry_wait(
    error: RetryableError, attempt: int, policy: RetryPolicy, *, elapsed: float, rand: float
) -> float | str:
    """How long to wait before retrying ``error``, or why it is not retried.

    Args:
        error: What attempt ``attempt`` (1 for the first) raised.
        attempt: The attempt that failed.
        policy: The policy in force.
        elapsed: Seconds since the first attempt started.
        rand: A number in ``[0, 1)`` for the jitter.

    Returns:
        The wait in seconds, or a reason (``""`` when the policy does not retry this
        error at all, so there is nothing to say).

    Example:
        >>> from nanobanana import RetryPolicy, ServerError
        >>> error = ServerError("busy", status=503)
        >>> retry_wait(error, 1, RetryPolicy(initial_delay=1.0), elapsed=0.0, rand=0.5)
        0.5
        >>> retry_wait(error, 1, RetryPolicy(max_total=0.2), elapsed=0.0, rand=0.5)
        'retries stopped: max_total=0.2 s reached'
    """
    if isinstance(error, APIStatusError):
        retryable = policy.should_retry_status(error.status)
    else:
        retryable = policy.retry_connection_errors
    if not retryable or attempt > policy.max_retries:
        return ""
    asked = error.retry_after if isinstance(error, APIStatusError) else None
    if asked is not None and asked > policy.max_retry_after:
        return (
            f"the server asked to wait {asked:g} s, more than "
            f"max_retry_after={policy.max_retry_after:g} s; not retried"
        )
    wait = asked if asked is not None else backoff_delay(policy, attempt, rand)
    if elapsed + wait > policy.max_total:
        return f"retries stopped: max_total={policy.max_total:g} s reached"
    return wait


async def send_with_retries(
    send: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    hooks: AttemptHooks | None = None,
    *,
    rand: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Await ``send()`` until it succeeds or ``policy`` says to stop retrying.

    Status and connection errors are retried as :func:`retry_wait` decides; the
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
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        if hooks is not None:
            await hooks.before_attempt(attempt)
        try:
            result = await send()
        except (APIStatusError, APIConnectionError) as exc:
            if hooks is not None:
                hooks.after_attempt(exc)
            wait = retry_wait(exc, attempt, policy, elapsed=clock() - started, rand=rand())
            if isinstance(wait, float) and hooks is not None:
                refusal = hooks.refuse_retry(exc)
                wait = wait if refusal is None else f"not retried: {refusal}"
            if isinstance(wait, str):
                if not wait:
                    raise
                raise amended(exc, message=f"{exc.message} ({wait})") from exc
            _log_retry(exc, attempt, policy, wait)
            await anyio.sleep(wait)
            continue
        except BaseException as exc:
            if hooks is not None:
                hooks.after_attempt(exc)
            raise
        if hooks is not None:
            hooks.after_attempt(None)
        return result


def _log_retry(error: RetryableError, attempt: int, policy: RetryPolicy, wait: float) -> None:
    reason = f"HTTP {error.status}" if isinstance(error, APIStatusError) else type(error).__name__
    log.info(
        "retrying after %s (attempt %d of %d), waiting %.3f s",
        reason,
        attempt,
        policy.max_retries + 1,
        wait,
        extra={"attempt": attempt, "reason": reason, "wait": wait},
    )
