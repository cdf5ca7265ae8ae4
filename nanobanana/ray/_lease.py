"""An actor's side of the cluster's limits: permits and admissions, leased in batches.

One :class:`Lease` per actor runs on the actor's event loop. The batch's workers ask
it for a permit before each attempt and for an admission (with a spend cap) before
each request; it gathers what is asked, and the outcomes to report, and makes one
call to the books (:meth:`LimitsBook.exchange`) for all of them: one call serves
every request waiting then, not one call per request. While some wait, it asks
again as soon as the books say more may be had (every ``poll`` seconds at the most);
while none do, it reports outcomes as they come, and says it is alive every
``heartbeat`` seconds.

:class:`SharedLimits` hands the engine a :class:`LeasedThrottle` and a
:class:`ClusterAdmission`: the engine's own throttle and gates, which also take a
permit (or an admission) from the lease.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable

import anyio

from .._batch import Admission, BatchOptions, SkipReason, Throttle
from .._batch._ledger import Ledger
from .._models import ImageRequest, ImageResult
from ._book import Grant, Report, Settled, Verdict

__all__ = ["ClusterAdmission", "Lease", "LeasedThrottle", "SharedLimits"]

log = logging.getLogger("nanobanana")

Exchange = Callable[[Report], Awaitable[Grant]]


class _Waiter:
    """One attempt waiting for a permit."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.stamp: float | None = None
        self.gone = False


class _Ticket:
    """One request waiting at the spend cap."""

    def __init__(self, images: int) -> None:
        self.images = images
        self.event = anyio.Event()
        self.verdict: Verdict | None = None
        self.gone = False


class Lease:
    """Permits and admissions from the books, for one actor.

    Args:
        exchange: Makes one call to the books.
        holder: This actor's name (its writer's).
        poll: Most seconds between two calls while requests wait.
        heartbeat: Seconds between two calls while nothing happens.
    """

    def __init__(
        self, exchange: Exchange, holder: str, *, poll: float = 0.05, heartbeat: float = 5.0
    ) -> None:
        self._exchange = exchange
        self.holder = holder
        self.poll = poll
        self.heartbeat = heartbeat
        self._waiters: deque[_Waiter] = deque()
        self._tickets: deque[_Ticket] = deque()
        self._outcomes: list[tuple[float, BaseException | None]] = []
        self._unused: list[float] = []
        self._settled: list[Settled] = []
        self._wake = anyio.Event()
        self.last: Grant = Grant()
        self.calls = 0

    # -- what the batch's workers call ---------------------------------------------------

    async def permit(self) -> float:
        """Wait for a permit to send one attempt; its stamp (report it to :meth:`outcome`)."""
        waiter = _Waiter()
        self._waiters.append(waiter)
        self._wake.set()
        try:
            await waiter.event.wait()
        except BaseException:
            waiter.gone = True
            if waiter.stamp is not None:
                self.unused(waiter.stamp)
            raise
        assert waiter.stamp is not None
        return waiter.stamp

    def outcome(self, stamp: float, error: BaseException | None) -> None:
        """The attempt sent with permit ``stamp`` was answered (``error``: ``None`` if ok)."""
        self._outcomes.append((stamp, error))
        self._wake.set()

    def unused(self, stamp: float) -> None:
        """Give permit ``stamp`` back without using it."""
        self._unused.append(stamp)
        self._wake.set()

    def ask(self, images: int) -> _Ticket:
        """Queue a request for ``images`` images at the spend cap; its ticket."""
        ticket = _Ticket(images)
        self._tickets.append(ticket)
        self._wake.set()
        return ticket

    def settle(self, settled: Settled) -> None:
        """A request admitted at the spend cap has ended."""
        self._settled.append(settled)
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------

    def _waiting(self) -> bool:
        return any(not w.gone for w in self._waiters) or any(not t.gone for t in self._tickets)

    def _report(self) -> Report:
        self._waiters = deque(w for w in self._waiters if not w.gone)
        self._tickets = deque(t for t in self._tickets if not t.gone)
        report = Report(
            holder=self.holder,
            permits=len(self._waiters),
            outcomes=tuple(self._outcomes),
            unused=tuple(self._unused),
            reservations=tuple(t.images for t in self._tickets),
            settled=tuple(self._settled),
        )
        self._outcomes, self._unused, self._settled = [], [], []
        return report

    def _apply(self, grant: Grant) -> None:
        self.last = grant
        for stamp in grant.permits:
            waiter = self._waiters.popleft() if self._waiters else None
            if waiter is None or waiter.gone:
                self.unused(stamp)
                continue
            waiter.stamp = stamp
            waiter.event.set()
        asked = list(self._tickets)
        self._tickets = deque()
        for ticket, verdict in zip(asked, grant.verdicts, strict=False):
            if verdict == "wait":
                self._tickets.append(ticket)
                continue
            if ticket.gone:
                if verdict == "go":
                    self.settle(Settled(images=ticket.images))
                continue
            ticket.verdict = verdict
            ticket.event.set()
        self._tickets.extend(asked[len(grant.verdicts) :])

    async def run(self) -> None:
        """Exchange with the books until cancelled."""
        pause = 0.0
        while True:
            if pause > 0 or not (self._waiting() or self._outcomes or self._unused):
                with anyio.move_on_after(pause if pause > 0 else self.heartbeat):
                    await self._wake.wait()
            self._wake = anyio.Event()
            report = self._report()
            try:
                grant = await self._exchange(report)
            except Exception as exc:  # the books are restarting: tell them again soon
                log.warning("the cluster's limits did not answer (%s); asking again", exc)
                self._restore(report)
                pause = 1.0
                continue
            self.calls += 1
            self._apply(grant)
            pause = self._pause(grant) if self._waiting() else 0.0

    def _restore(self, report: Report) -> None:
        self._outcomes[:0] = report.outcomes
        self._unused[:0] = report.unused
        self._settled[:0] = report.settled

    def _pause(self, grant: Grant) -> float:
        """Seconds to wait before asking again for what still waits."""
        wait = grant.wait if grant.wait is not None and not math.isinf(grant.wait) else self.poll
        return min(max(wait, 0.005), self.poll)

    async def flush(self) -> None:
        """Report what is left (at the end of the actor's life)."""
        report = self._report()
        if report.outcomes or report.unused or report.settled:
            await self._exchange(report)


class LeasedThrottle(Throttle):
    """The engine's throttle, which also waits for a permit from the cluster's books.

    The books do the adapting (the cluster's AIMD limit and learned rate), so this one
    is not adaptive; it keeps the actor's own ``Retry-After`` pauses, outage pauses and
    retry budget, and reports every answer to the books.
    """

    def __init__(self, lease: Lease, concurrency: int, *, max_outage: float) -> None:
        super().__init__(concurrency, adaptive=False, max_outage=max_outage)
        self._lease = lease
        self._stamps: dict[float, list[float]] = {}

    async def acquire(self) -> float:
        stamp = await self._lease.permit()
        try:
            started = await super().acquire()
        except BaseException:
            self._lease.unused(stamp)
            raise
        self._stamps.setdefault(started, []).append(stamp)
        return started

    def release(self, started: float, error: BaseException | None) -> None:
        super().release(started, error)
        stamps = self._stamps.get(started)
        if stamps:
            stamp = stamps.pop()
            if not stamps:
                del self._stamps[started]
            self._lease.outcome(stamp, error)


class ClusterAdmission(Admission):
    """The engine's gates, with the spend cap kept by the cluster's books."""

    def __init__(self, lease: Lease, options: BatchOptions, ledger: Ledger) -> None:
        super().__init__(options, ledger)
        self._lease = lease
        self._waiting: set[_Ticket] = set()

    def stop(self) -> None:
        super().stop()
        for ticket in self._waiting:
            ticket.event.set()

    async def admit(self, request: ImageRequest) -> SkipReason | None:
        if not self._options.capped:
            return await super().admit(request)
        if self._stopped:
            return "stopped"
        ticket = self._lease.ask(request.num_images or 1)
        self._waiting.add(ticket)
        try:
            await ticket.event.wait()
        finally:
            self._waiting.discard(ticket)
            if ticket.verdict is None:
                ticket.gone = True
        if ticket.verdict is None:
            return "stopped"
        if ticket.verdict == "budget":
            self._ledger.note_stop(
                "the cluster's spend cap was reached: no more requests started, as the "
                "next could take the spend past it"
            )
            return "budget"
        return None

    def release(self, request: ImageRequest, result: ImageResult | None) -> None:
        if not self._options.capped:
            super().release(request, result)
            return
        images = request.num_images or 1
        if result is None:
            self._lease.settle(Settled(images=images))
            return
        usage = result.usage
        made = max(len(result.images), 1)
        self._lease.settle(
            Settled(images=images, made=made, usd=usage.usd_spent, credits=usage.credits_used)
        )


class SharedLimits:
    """The limits of a batch that shares them with other actors through ``lease``."""

    def __init__(self, lease: Lease) -> None:
        self._lease = lease

    def throttle(self, options: BatchOptions, *, max_outage: float) -> Throttle:
        return LeasedThrottle(self._lease, options.concurrency, max_outage=max_outage)

    def admission(self, options: BatchOptions, ledger: Ledger) -> Admission:
        return ClusterAdmission(self._lease, options, ledger)
