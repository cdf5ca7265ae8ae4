"""Turns: how many items the workers of a batch see through at once.

A batch has ``concurrency`` turns. A worker takes one to read an input and see it
through, and gives it back when it is done with the item, or early, when the item
starts waiting out a 429 that is not about the batch's load (it sends nothing
meanwhile). A turn given back early goes to a worker waiting for one or, when none
is, to a new worker, up to :data:`SPARE_WORKERS` times the concurrency in all. The
throttle bounds what is in flight; the turns bound what is read; the workers bound
what is held, so memory stays O(concurrency).
"""

from __future__ import annotations

import anyio

__all__ = ["SPARE_WORKERS", "Turn", "Turns"]

#: Workers at most, as a multiple of the concurrency: the items waiting for a retry
#: with their own, plus those with a turn.
SPARE_WORKERS = 4


class Turn:
    """One worker's turn, given back once: early, or when the worker is done."""

    def __init__(self, semaphore: anyio.Semaphore) -> None:
        self._semaphore = semaphore
        self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self._semaphore.release()


class Turns:
    """The turns of one batch, and how many workers share them.

    Example:
        >>> async def main() -> tuple[bool, bool]:
        ...     turns = Turns(concurrency=1, inputs=None)
        ...     turns.workers = 1
        ...     turn = await turns.take()
        ...     before = turns.room_for_a_worker()  # the only turn is taken
        ...     turn.give_back()  # early: its item waits out a 429
        ...     return before, turns.room_for_a_worker()
        >>> anyio.run(main)
        (False, True)
    """

    def __init__(self, concurrency: int, inputs: int | None) -> None:
        self._semaphore = anyio.Semaphore(concurrency)
        self.workers = 0
        most = SPARE_WORKERS * concurrency
        self.max_workers = most if inputs is None else max(1, min(most, inputs))

    async def take(self) -> Turn:
        """Wait for a free turn and take it."""
        await self._semaphore.acquire()
        return Turn(self._semaphore)

    def room_for_a_worker(self) -> bool:
        """Whether a turn is free that no worker is waiting for, and another worker
        may start to take it."""
        return self._semaphore.value > 0 and self.workers < self.max_workers
