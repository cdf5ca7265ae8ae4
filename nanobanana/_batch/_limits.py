"""Where a batch's flow control and spend cap come from: its own, or shared.

A batch on its own makes a :class:`Throttle` and an :class:`Admission` of its own
(:class:`LocalLimits`). Batches that must keep to limits together (the actors of a
Ray Data stage, each running a batch of its own) are handed a :class:`BatchLimits`
whose throttle and admission consult a shared authority before each attempt and
each request: the engine does not know the difference.
"""

from __future__ import annotations

from typing import Protocol

from ._admission import Admission
from ._ledger import Ledger
from ._options import BatchOptions
from ._throttle import Throttle

__all__ = ["BatchLimits", "LocalLimits"]


class BatchLimits(Protocol):
    """Makes the throttle and the admission gates of one batch."""

    def throttle(self, options: BatchOptions, *, max_outage: float) -> Throttle:
        """The flow control every attempt of the batch goes through."""

    def admission(self, options: BatchOptions, ledger: Ledger) -> Admission:
        """The gates (resume, spend cap) every request of the batch passes."""


class LocalLimits:
    """The limits of a batch on its own: what its options ask for, and nothing shared."""

    def throttle(self, options: BatchOptions, *, max_outage: float) -> Throttle:
        return Throttle(
            options.concurrency,
            requests_per_minute=options.requests_per_minute,
            adaptive=options.adaptive,
            max_outage=max_outage,
        )

    def admission(self, options: BatchOptions, ledger: Ledger) -> Admission:
        return Admission(options, ledger)
