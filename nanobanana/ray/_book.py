"""The cluster's books: one throttle and one spend cap for every actor of a stage.

:class:`LimitsBook` is what the named ``ClusterLimits`` actor holds. It is plain
Python (no Ray in it), so its arithmetic is tested on its own, with a simulated clock:

* **The throttle** is the batch engine's own :class:`~nanobanana._batch.Throttle`
  (AIMD concurrency, the learned send rate and the judge of 429s, ``Retry-After``
  pauses, ``requests_per_minute``), fed by every actor: a permit it hands out is an
  attempt in flight, an outcome reported back is that attempt's answer. So a 429
  met by any actor slows them all, as it slows every worker of one batch.
* **The spend cap** (:class:`SpendBook`) admits a request only if what was spent,
  plus the images in flight and its own at the dearest price seen, stays within the
  cap, and lets one request at a time go until an answer has told the price: the
  rule of one batch, over the whole dataset.

Actors talk to it through :meth:`LimitsBook.exchange`, one call carrying all they have
to report and all they want, so a call serves many requests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

import attrs

from .._batch import Throttle

__all__ = ["Grant", "LimitsBook", "Report", "Settled", "SpendBook", "Verdict"]

#: What a request waiting at the spend cap is told: go, skip it (``"budget"``), or wait
#: (the price is not known yet and a request is in flight).
Verdict = Literal["go", "budget", "wait"]


@attrs.frozen
class Settled:
    """A request admitted at the spend cap has ended.

    Attributes:
        images: The images it was admitted for.
        made: The images it made (0: it failed, or was never sent).
        usd: The USD the API reported for it, if any.
        credits: The credits the API reported for it, if any.
    """

    images: int
    made: int = 0
    usd: float | None = None
    credits: float | None = None


@attrs.frozen
class Report:
    """What one actor tells the books, and asks of them, in one call.

    Attributes:
        holder: The actor (its writer name), so that what a dead one held can be
            taken back.
        permits: How many attempts are waiting for a permit.
        outcomes: ``(permit, error)`` for each attempt answered since the last report:
            the permit's stamp and the error (``None`` for a success).
        unused: Stamps of permits given back without being used.
        reservations: The images of each request waiting at the spend cap.
        settled: The requests admitted at the spend cap that have ended.
    """

    holder: str
    permits: int = 0
    outcomes: tuple[tuple[float, BaseException | None], ...] = ()
    unused: tuple[float, ...] = ()
    reservations: tuple[int, ...] = ()
    settled: tuple[Settled, ...] = ()


@attrs.frozen
class Grant:
    """What the books answer a :class:`Report`.

    Attributes:
        permits: A stamp for each permit granted (at most as many as asked).
        verdicts: One verdict for each reservation, in order.
        wait: Seconds until more permits may be had, when known (``None``: when an
            attempt in flight anywhere ends).
        concurrency: Attempts allowed in flight across the cluster now.
        send_rate: The send rate learned from 429s (requests a second), if any.
        throttled: Rate-limit answers reported so far, by every actor.
        usd: USD spent across the cluster, as reported.
        credits: Credits spent across the cluster, as reported.
    """

    permits: tuple[float, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    wait: float | None = None
    concurrency: int = 0
    send_rate: float | None = None
    throttled: int = 0
    usd: float | None = None
    credits: float | None = None


class SpendBook:
    """The spend cap of a whole dataset (``max_spend_usd``, ``max_credits``).

    Example:
        >>> book = SpendBook(max_spend_usd=0.10)
        >>> book.decide(1), book.decide(1)  # the price is not known: one at a time
        ('go', 'wait')
        >>> book.settle(Settled(images=1, made=1, usd=0.04))
        >>> book.decide(1), book.decide(1), book.decide(1)  # 0.04 + 2 x 0.04 > 0.10
        ('go', 'budget', 'budget')
    """

    def __init__(self, max_spend_usd: float | None = None, max_credits: float | None = None):
        self.max_spend_usd = max_spend_usd
        self.max_credits = max_credits
        self.usd: float | None = None
        self.credits: float | None = None
        self.in_flight_requests = 0
        self.in_flight_images = 0
        self.usd_per_image: float | None = None
        self.credits_per_image: float | None = None
        self.spend_unknown = False
        self.stop_reason: str | None = None

    @property
    def capped(self) -> bool:
        """Whether a cap is set."""
        return self.max_spend_usd is not None or self.max_credits is not None

    def decide(self, images: int) -> Verdict:
        """Whether a request for ``images`` images may go now (``"go"`` admits it)."""
        if self.in_flight_requests and self._price_unknown():
            return "wait"
        if not self._within_cap(images):
            return "budget"
        self.in_flight_requests += 1
        self.in_flight_images += images
        return "go"

    def settle(self, settled: Settled) -> None:
        """A request admitted before has ended: learn its price, count its spend."""
        self.in_flight_requests -= 1
        self.in_flight_images -= settled.images
        if settled.usd is not None:
            self.usd = (self.usd or 0.0) + settled.usd
        if settled.credits is not None:
            self.credits = (self.credits or 0.0) + settled.credits
        if settled.made:
            self._learn(settled, max(settled.made, settled.images))

    def forget(self, requests: int, images: int) -> None:
        """Take back what a dead actor held (its requests never settle)."""
        self.in_flight_requests -= requests
        self.in_flight_images -= images

    def _price_unknown(self) -> bool:
        return (self.max_spend_usd is not None and self.usd_per_image is None) or (
            self.max_credits is not None and self.credits_per_image is None
        )

    def _within_cap(self, images: int) -> bool:
        if self.spend_unknown:
            return False
        in_flight = self.in_flight_images + images
        checks = (
            (self.max_spend_usd, self.usd, self.usd_per_image, "max_spend_usd"),
            (self.max_credits, self.credits, self.credits_per_image, "max_credits"),
        )
        for cap, spent, per_image, name in checks:
            if cap is None:
                continue
            more = in_flight * per_image if per_image is not None else 0.0
            if cap <= 0 or (spent or 0.0) + more > cap:
                self.stop_reason = self.stop_reason or f"{name}={cap:g} reached"
                return False
        return True

    def _learn(self, settled: Settled, images: int) -> None:
        """Keep the dearest price of an image seen so far."""
        if settled.usd is not None:
            self.usd_per_image = max(self.usd_per_image or 0.0, settled.usd / images)
        elif self.max_spend_usd is not None:
            self.spend_unknown = True
        if settled.credits is not None:
            self.credits_per_image = max(self.credits_per_image or 0.0, settled.credits / images)
        elif self.max_credits is not None:
            self.spend_unknown = True


@attrs.define
class _Holding:
    """What one actor holds: permits and admitted requests, and when it was last heard."""

    seen: float
    permits: int = 0
    requests: int = 0
    images: int = 0


class LimitsBook:
    """The throttle and the spend cap shared by every actor of a stage.

    Args:
        concurrency: Most attempts in flight across the cluster (the AIMD ceiling).
        requests_per_minute: An optional hard ceiling on the cluster's send rate.
        adaptive: Slow down on 429s (AIMD, the learned send rate) as a batch does.
        max_spend_usd: The dataset's cap in USD.
        max_credits: The dataset's cap in credits.
        silent_after: Seconds without a report after which an actor is taken for dead
            and what it held (permits, admitted requests) is taken back.
        clock: The clock (``time.monotonic``).

    Example:
        >>> book = LimitsBook(concurrency=2, clock=lambda: 0.0)
        >>> grant = book.exchange(Report("ray-0a0a", permits=3))
        >>> len(grant.permits), grant.concurrency  # two may be in flight
        (2, 2)
        >>> stamp = grant.permits[0]
        >>> len(book.exchange(Report("ray-0a0a", permits=1, outcomes=((stamp, None),))).permits)
        1
    """

    def __init__(
        self,
        *,
        concurrency: int = 256,
        requests_per_minute: float | None = None,
        adaptive: bool = True,
        max_spend_usd: float | None = None,
        max_credits: float | None = None,
        silent_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.throttle = Throttle(
            concurrency, requests_per_minute=requests_per_minute, adaptive=adaptive, clock=clock
        )
        self.spend = SpendBook(max_spend_usd, max_credits)
        self.silent_after = silent_after
        self._holders: dict[str, _Holding] = {}
        self.exchanges = 0

    def exchange(self, report: Report) -> Grant:
        """Take in what ``report`` tells; hand out what it asks for, as far as the
        limits let."""
        self.exchanges += 1
        holding = self._holders.setdefault(report.holder, _Holding(seen=self._clock()))
        holding.seen = self._clock()
        self._take_in(report, holding)
        self._forget_the_silent()
        permits = self._permits(report.permits, holding)
        verdicts = tuple(self._admit(images, holding) for images in report.reservations)
        return self._grant(permits, verdicts)

    def _take_in(self, report: Report, holding: _Holding) -> None:
        throttle = self.throttle
        for stamp, error in report.outcomes:
            holding.permits -= 1
            throttle.release(stamp, error)
        for _ in report.unused:
            holding.permits -= 1
            throttle.in_flight -= 1  # given back unused: no answer to learn from
        for settled in report.settled:
            holding.requests -= 1
            holding.images -= settled.images
            self.spend.settle(settled)

    def _permits(self, wanted: int, holding: _Holding) -> tuple[float, ...]:
        stamps: list[float] = []
        while len(stamps) < wanted:
            stamp = self.throttle._try_acquire()  # the throttle's own step, not waiting
            if stamp is None:
                break
            stamps.append(stamp)
        holding.permits += len(stamps)
        return tuple(stamps)

    def _admit(self, images: int, holding: _Holding) -> Verdict:
        if not self.spend.capped:
            return "go"
        verdict = self.spend.decide(images)
        if verdict == "go":
            holding.requests += 1
            holding.images += images
        return verdict

    def _grant(self, permits: tuple[float, ...], verdicts: tuple[Verdict, ...]) -> Grant:
        throttle = self.throttle
        wait = throttle._wait_time()
        return Grant(
            permits=permits,
            verdicts=verdicts,
            wait=None if wait is None or math.isinf(wait) else wait,
            concurrency=throttle.limit.allowed,
            send_rate=throttle.send_rate.rate,
            throttled=throttle.throttled,
            usd=self.spend.usd,
            credits=self.spend.credits,
        )

    def _forget_the_silent(self) -> None:
        """Take back what actors not heard from for ``silent_after`` seconds held."""
        now = self._clock()
        for holder, holding in list(self._holders.items()):
            if now - holding.seen > self.silent_after:
                self.throttle.in_flight -= holding.permits
                self.spend.forget(holding.requests, holding.images)
                del self._holders[holder]

    def stats(self) -> dict[str, float | int | None]:
        """The cluster's counts: calls, attempts sent, in flight, throttled, spend."""
        throttle = self.throttle
        return {
            "exchanges": self.exchanges,
            "sent": throttle.sent,
            "in_flight": throttle.in_flight,
            "throttled": throttle.throttled,
            "concurrency": throttle.limit.allowed,
            "send_rate": throttle.send_rate.rate,
            "usd": self.spend.usd,
            "credits": self.spend.credits,
            "holders": len(self._holders),
        }
