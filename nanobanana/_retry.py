"""The retry policy: a frozen value and pure functions, no I/O and no sleeping.

The core asks two questions of it after each failed attempt: *may I retry?* and
*how long do I wait?* The answers depend only on the policy, the attempt number,
what the server said and a random number, so they are easy to test and to reason about.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import time
from collections.abc import Mapping

import attrs

__all__ = ["DEFAULT_RETRY_STATUSES", "RetryPolicy", "backoff_delay", "parse_retry_after"]

#: Statuses that are worth another try: timeouts, conflicts, rate limits and gateways.
DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({408, 409, 429, 500, 502, 503, 504})


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


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
    initial_delay: float = attrs.field(default=0.5, validator=_non_negative)
    max_delay: float = attrs.field(default=8.0, validator=_non_negative)
    max_total: float = attrs.field(default=120.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    retry_statuses: frozenset[int] = attrs.field(
        default=DEFAULT_RETRY_STATUSES, converter=frozenset
    )
    retry_connection_errors: bool = True

    @max_retries.validator
    def _check_max_retries(self, _: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {value!r}")

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
        """Whether an answer with ``status`` is worth another attempt.

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
