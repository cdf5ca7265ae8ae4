"""Batch input: ``.txt``, ``.jsonl`` and ``.csv`` files and stdin, read lazily.

Every format comes down to ``(line, fields)`` pairs turned into
:class:`~nanobanana.ImageRequest` values, or into a :class:`BadLine` that says why
not (the rules of one line are in :mod:`nanobanana._cli._lines`). Nothing is held in
memory beyond the line being read: a file is read twice (a validating scan that counts
its requests, then the run), stdin once, as it comes.

An input without a single prompt (an empty file or stream, only blank or comment
lines, a CSV header alone) is not an error: it makes an empty batch, and the command
says so in a warning on stderr.

Index rule: the batch engine numbers the requests it is given, so a request's index
counts the good lines before it; bad lines take no index. :class:`LineMap` remembers
the source line of each index until the item comes out of the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO

from nanobanana._errors import ValidationError
from nanobanana._models import ImageRequest
from nanobanana._prompt_files import FORMATS, format_of, prompt_entries

from ._exit import UsageError
from ._lines import BadLine, Defaults, OnBad, parse_text_line

__all__ = [
    "FORMATS",
    "FileSource",
    "LineMap",
    "StdinSource",
    "detect_format",
    "line_format",
    "sniff_format",
    "spool_stdin",
    "warn_empty",
]


def warn_empty(display: str) -> None:
    """Say on stderr that input ``display`` holds no prompt (shown even with ``-q``)."""
    print(f"warning: {display} has no prompts: nothing to do", file=sys.stderr, flush=True)


class LineMap:
    """Source line of each batch index, kept only while the item is in the batch."""

    def __init__(self) -> None:
        self._next = 0
        self._lines: dict[int, int] = {}

    def add(self, line: int | None) -> int:
        """Record the line of the next index handed to the batch; return the index."""
        index = self._next
        if line is not None:
            self._lines[index] = line
        self._next += 1
        return index

    def pop(self, index: int) -> int | None:
        """The source line of ``index``, forgotten afterwards."""
        return self._lines.pop(index, None)


# -- which format --------------------------------------------------------------------


def detect_format(name: str, explicit: str | None) -> str:
    """The format of input ``name``: ``explicit``, else its suffix (``-``: ``"auto"``)."""
    if explicit is not None:
        return explicit
    if name == "-":
        return "auto"
    fmt = format_of(name)
    if fmt is not None:
        return fmt
    raise UsageError(
        f"cannot tell the format of {name!r}: name it .txt, .jsonl or .csv, or pass --format"
    )


def line_format(raw: bytes) -> str | None:
    """The format a text input's first meaningful line shows: ``"jsonl"`` when it
    starts with ``{``, else ``"txt"``; ``None`` for a blank or comment line.

    Example:
        >>> line_format(b'{"prompt": "a kite"}\\n'), line_format(b"a kite\\n"), line_format(b"# x")
        ('jsonl', 'txt', None)
    """
    text = raw.strip().removeprefix(b"\xef\xbb\xbf")
    if not text or text.startswith(b"#"):
        return None
    return "jsonl" if text.startswith(b"{") else "txt"


def sniff_format(path: Path) -> str:
    """The format of a text file without a telling name (stdin, spooled): by
    :func:`line_format` of its first meaningful line; ``"txt"`` if it has none."""
    with path.open("rb") as fh:
        for raw in fh:
            fmt = line_format(raw)
            if fmt is not None:
                return fmt
    return "txt"


# -- sources ----------------------------------------------------------------------------


class FileSource:
    """The requests of an input file, read lazily; ``len()`` is known after :meth:`scan`.

    Iterating yields the good requests in file order, records each one's line in
    ``lines`` and calls ``on_bad`` for each bad line.
    """

    def __init__(self, path: Path, fmt: str, defaults: Defaults, display: str) -> None:
        self.path = path
        self.fmt = fmt
        self.defaults = defaults
        self.display = display
        self.lines = LineMap()
        self.on_bad: OnBad = lambda bad: None
        self.on_empty: Callable[[str], None] = warn_empty
        self._count: int | None = None

    def _entries(self) -> Iterator[tuple[int, ImageRequest | BadLine]]:
        try:
            yield from prompt_entries(self.path, self.fmt, self.defaults, self.display)
        except ValidationError as exc:  # the file as a whole: a bad CSV header or quote
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"cannot read {self.display}: {exc.strerror or exc}") from None

    def scan(self, on_bad: OnBad) -> int:
        """Read the whole file once, validating; report bad lines; return how many.

        A file with no prompt and no bad line is reported to :attr:`on_empty`.
        """
        good = bad = 0
        for _, entry in self._entries():
            if isinstance(entry, BadLine):
                bad += 1
                on_bad(entry)
            else:
                good += 1
        self._count = good
        if good == bad == 0:
            self.on_empty(self.display)
        return bad

    def __len__(self) -> int:
        if self._count is None:
            raise TypeError("the size of the input is known only after scan()")
        return self._count

    def __iter__(self) -> Iterator[ImageRequest]:
        for line, entry in self._entries():
            if isinstance(entry, BadLine):
                self.on_bad(entry)
            else:
                self.lines.add(line)
                yield entry


class StdinSource:
    """Requests from a stream (stdin) as it is written: an async iterable.

    Lines are read by a daemon thread, so a slow producer never blocks the event
    loop and Ctrl-C never waits for it. The format is ``txt`` or ``jsonl``; with
    ``"auto"``, jsonl when the first line that is neither blank nor a comment
    starts with ``{``.
    """

    def __init__(self, stream: IO[bytes], fmt: str, defaults: Defaults, on_bad: OnBad) -> None:
        self.stream = stream
        self.fmt = fmt
        self.defaults = defaults
        self.on_bad = on_bad
        self.on_empty: Callable[[str], None] = warn_empty
        self.lines = LineMap()

    async def __aiter__(self) -> AsyncIterator[ImageRequest]:
        fmt = self.fmt
        line = entries = 0
        async for raw in _read_lines(self.stream):
            line += 1
            if fmt == "auto":
                found = line_format(raw)
                if found is None:
                    continue  # blank or a comment: the format is not known yet
                fmt = found
            entry = parse_text_line(fmt, line, raw, self.defaults)
            if entry is not None:
                entries += 1
            if isinstance(entry, BadLine):
                self.on_bad(entry)
            elif entry is not None:
                self.lines.add(line)
                yield entry
        if entries == 0:
            self.on_empty("<stdin>")


async def _read_lines(stream: IO[bytes], window: int = 256) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
    room = threading.Semaphore(window)  # at most `window` lines read ahead

    def put(item: bytes | BaseException | None) -> None:
        # RuntimeError: the loop is closed, nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:
        try:
            for raw in stream:
                room.acquire()
                put(raw)
        except (OSError, ValueError) as exc:
            put(exc)
        put(None)

    threading.Thread(target=pump, name="nanobanana-stdin", daemon=True).start()
    while True:
        item = await queue.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise UsageError(f"cannot read stdin: {item}")
        room.release()
        yield item


def spool_stdin(stream: IO[bytes]) -> Path:
    """Copy ``stream`` into a temporary file (for --strict or CSV); the caller removes it."""
    fd, name = tempfile.mkstemp(prefix="nanobanana-stdin-")
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(stream, out)
    return Path(name)
