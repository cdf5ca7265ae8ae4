"""Reading a batch's inputs: any iterable or async iterable, lazily, one at a time.

Workers take the next input only when they are free, so no more inputs are held
than there are workers. An async iterator is not safe to enter twice at once, so
its reads are serialised by a lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sized
from typing import Any

import anyio

from .._errors import ValidationError

__all__ = ["InputReader"]


class InputReader:
    """Numbers the inputs as they are read.

    Attributes:
        read: How many inputs were read so far.
        total: How many there are, when the input has a ``len()``.
        awaits: Whether reading may wait (an async iterable).
    """

    def __init__(self, source: Iterable[Any] | AsyncIterable[Any]) -> None:
        if isinstance(source, (str, bytes)):
            raise ValidationError("requests", "pass an iterable of prompts, not a single string")
        self._sync: Iterator[Any] | None = None
        self._async: AsyncIterator[Any] | None = None
        if isinstance(source, AsyncIterable):
            self._async = aiter(source)
        else:
            try:
                self._sync = iter(source)
            except TypeError:
                kind = type(source).__name__
                raise ValidationError("requests", f"must be iterable, got {kind}") from None
        self.awaits = self._async is not None
        self.total: int | None = len(source) if isinstance(source, Sized) else None
        self.read = 0
        self._exhausted = False
        self._lock: anyio.Lock | None = None  # made on the first read, in its loop

    async def next(self) -> tuple[int, Any] | None:
        """The next input with its index, or ``None`` when there are no more."""
        if self._async is None:
            return self._take(self._next_sync)
        # An async iterator may not be entered again while a read is under way; a
        # plain iterator is read without awaiting, so it needs no lock (a lock hands
        # itself to one waiter per turn of the event loop, which would cap the batch).
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._exhausted:
                return None
            try:
                raw = await anext(self._async)
            except StopAsyncIteration:
                self._exhausted = True
                return None
            return self._number(raw)

    def _next_sync(self) -> Any:
        assert self._sync is not None
        return next(self._sync)

    def _take(self, read: Callable[[], Any]) -> tuple[int, Any] | None:
        if self._exhausted:
            return None
        try:
            raw = read()
        except StopIteration:
            self._exhausted = True
            return None
        return self._number(raw)

    def _number(self, raw: Any) -> tuple[int, Any]:
        index = self.read
        self.read += 1
        return index, raw

    @property
    def exhausted(self) -> bool:
        """Whether every input has been read (or reading stopped)."""
        return self._exhausted

    def stop(self) -> None:
        """Read nothing more."""
        self._exhausted = True

    async def aclose(self) -> None:
        """Close an async generator given as the input, so its ``finally`` runs now."""
        closer = getattr(self._async, "aclose", None)
        if closer is not None:
            await closer()
