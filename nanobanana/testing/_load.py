"""Load switches of the fake server: a rate limit, a share of 429s, an outage.

Unlike the queued faults of ``_switches.py`` these are standing rules, judged anew for
every generation request when it arrives: an outage window refuses everything, a
token bucket answers 429 to requests beyond its rate, and a load-independent share of
requests is answered 429 whatever the load. Their answers come at once, without the
server's ``latency``: a limiter answers before any work is done.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable

from ._faults import Drop, Fail, retry_after_value

__all__ = ["LoadRules", "LoadSwitches"]

Verdict = tuple[Fail | Drop, str]


class LoadRules:
    """The standing rules, shared by the test's thread and the server's thread.

    Args:
        clock: The clock the rules read (``time.monotonic``).
        rand: The random source of the load-independent share.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, rand: random.Random | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._rand = rand if rand is not None else random.Random()
        self._rate = 0.0  # tokens a second; 0: no rate limit
        self._burst = 1.0
        self._tokens = 0.0
        self._stamp = 0.0
        self._share = 0.0
        self._share_headers: tuple[tuple[str, str], ...] = ()
        self._outage_until = -math.inf
        self._outage_status: int | None = 503

    def rate_limit(self, per_second: float | None, burst: float | None) -> None:
        with self._lock:
            if per_second is None:
                self._rate = 0.0
                return
            self._rate = float(per_second)
            self._burst = max(1.0, float(burst if burst is not None else per_second))
            self._tokens = self._burst
            self._stamp = self._clock()

    def throttle_share(self, share: float, retry_after: float | None) -> None:
        with self._lock:
            self._share = float(share)
            self._share_headers = (
                () if retry_after is None else (("Retry-After", retry_after_value(retry_after)),)
            )

    def outage(self, seconds: float, status: int | None) -> None:
        with self._lock:
            self._outage_until = self._clock() + seconds
            self._outage_status = status

    def verdict(self) -> Verdict | None:
        """What to answer a request arriving now instead of serving it, if anything."""
        with self._lock:
            now = self._clock()
            if now < self._outage_until:
                if self._outage_status is None:
                    return Drop(reset=True), "outage:refused"
                return Fail(self._outage_status), f"outage:{self._outage_status}"
            if self._share > 0 and self._rand.random() < self._share:
                return Fail(429, self._share_headers), "throttle_share:429"
            if self._rate > 0:
                self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
                if self._tokens < 1.0:
                    wait = (1.0 - self._tokens) / self._rate
                    return Fail(429, (("Retry-After", f"{wait:.3f}"),)), "rate_limit:429"
                self._tokens -= 1.0
            return None


class LoadSwitches:
    """The standing load rules of a :class:`FakeServer`, as public switches.

    Args:
        rules: The rules the request handlers consult.
    """

    def __init__(self, rules: LoadRules) -> None:
        self._load_rules = rules

    def rate_limit(self, per_second: float | None, burst: float | None = None) -> None:
        """Answer 429 to generation requests beyond a token bucket's rate.

        The bucket holds ``burst`` tokens (default: one second's worth) and refills at
        ``per_second``; a request that finds it empty is answered 429 at once, with a
        ``Retry-After`` (in seconds, fractional) saying when the next token comes, and
        takes no token. ``None`` switches the limit off. The record's outcome is
        ``"rate_limit:429"``.

        Args:
            per_second: The sustained rate allowed, or ``None``.
            burst: The bucket's size, at least 1.

        Raises:
            ValueError: ``per_second`` or ``burst`` is not positive.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url, max_retries=0
            ... ) as client:
            ...     server.rate_limit(per_second=0.001, burst=1)
            ...     _ = client.generate("a red kite")  # takes the only token
            ...     try:
            ...         client.generate("a blue boat", retry=nb.RetryPolicy.disabled())
            ...     except nb.RateLimitError as exc:
            ...         print(exc.status, server.generation_requests[-1].outcome)
            429 rate_limit:429
        """
        if per_second is not None and not per_second > 0:
            raise ValueError(f"per_second must be > 0, got {per_second}")
        if burst is not None and not burst >= 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self._load_rules.rate_limit(per_second, burst)

    def throttle_share(self, p: float, retry_after: float | None = None) -> None:
        """Answer 429 to a random share ``p`` of generation requests, whatever the load.

        This is a rate limit that is not about the client (another tenant's load, a
        busy region): sending less does not make it rarer. ``0`` switches it off. The
        record's outcome is ``"throttle_share:429"``.

        Args:
            p: The share of requests answered 429, from 0 to 1.
            retry_after: A ``Retry-After`` (seconds) to send with those answers.

        Raises:
            ValueError: ``p`` is outside ``[0, 1]``.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     server.throttle_share(1.0, retry_after=0)
            ...     try:
            ...         client.generate("a red kite", retry=nb.RetryPolicy.disabled())
            ...     except nb.RateLimitError as exc:
            ...         print(exc.retry_after, server.generation_requests[-1].outcome)
            0.0 throttle_share:429
        """
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be between 0 and 1, got {p}")
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {retry_after}")
        self._load_rules.throttle_share(p, retry_after)

    def outage(self, seconds: float, status: int | None = 503) -> None:
        """Refuse every generation request for the next ``seconds``, starting now.

        Each is answered ``status`` at once (the vendor's error body, no
        ``Retry-After``), or with ``status=None`` its connection is reset, as a client
        sees an API that is down. The record's outcome is ``"outage:<status>"`` or
        ``"outage:refused"``. ``outage(0)`` ends an outage early.

        Args:
            seconds: How long the outage lasts.
            status: The status to answer (e.g. 502, 503, 504), or ``None``.

        Raises:
            ValueError: ``seconds`` is negative or ``status`` is not 200..599.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url, max_retries=0
            ... ) as client:
            ...     server.outage(60, status=502)
            ...     try:
            ...         client.generate("a red kite")
            ...     except nb.ServerError as exc:
            ...         print(exc.status, server.generation_requests[-1].outcome)
            ...     server.outage(0)  # over
            ...     print(client.generate("a red kite").image.mime_type)
            502 outage:502
            image/png
        """
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        if status is not None and not 200 <= status <= 599:
            raise ValueError(f"status must be 200..599, got {status}")
        self._load_rules.outage(seconds, status)
