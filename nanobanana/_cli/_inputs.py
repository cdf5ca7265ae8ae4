"""Batch input: ``.txt``, ``.jsonl`` and ``.csv`` files and stdin, read lazily.

Every format comes down to ``(line, fields)`` pairs turned into
:class:`~nanobanana.ImageRequest` values, or into a :class:`BadLine` that says why
not. Nothing is held in memory beyond the line being read: a file is read twice
(a validating scan that counts its requests, then the run), stdin once, as it comes.

Index rule: the batch engine numbers the requests it is given, so a request's index
counts the good lines before it; bad lines take no index. :class:`LineMap` remembers
the source line of each index until the item comes out of the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, Any, Final

import attrs

from nanobanana._errors import ValidationError
from nanobanana._models import ImageRequest

from . import UsageError

__all__ = [
    "FORMATS",
    "OPTION_KEYS",
    "BadLine",
    "Defaults",
    "FileSource",
    "LineMap",
    "StdinSource",
    "build_request",
    "detect_format",
]

FORMATS: Final = ("txt", "jsonl", "csv")
#: Per-request options a line may set, besides ``prompt``.
OPTION_KEYS: Final = ("model", "num_images", "aspect_ratio", "resolution", "images", "extra_body")
#: Separates several images in one CSV cell.
IMAGE_SEPARATOR: Final = "|"
_KNOWN = ", ".join(("prompt", *OPTION_KEYS))


@attrs.frozen(kw_only=True)
class Defaults:
    """Options from the command line, applied to lines that do not set them."""

    model: str | None = None
    num_images: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None


@attrs.frozen
class BadLine:
    """An input line that could not be made into a request."""

    line: int
    message: str


class _LineError(Exception):
    """Why one line is bad (becomes a :class:`BadLine`)."""


OnBad = Callable[[BadLine], None]


class LineMap:
    """Source line of each batch index, kept only while the item is in the batch."""

    def __init__(self) -> None:
        self._next = 0
        self._lines: dict[int, int] = {}

    def add(self, line: int) -> int:
        """Record the line of the next index handed to the batch; return the index."""
        index = self._next
        self._lines[index] = line
        self._next += 1
        return index

    def pop(self, index: int) -> int | None:
        """The source line of ``index``, forgotten afterwards."""
        return self._lines.pop(index, None)


def detect_format(name: str, explicit: str | None) -> str:
    """The format of input ``name``: ``explicit``, else its suffix (``-``: ``"auto"``)."""
    if explicit is not None:
        return explicit
    if name == "-":
        return "auto"
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix in ("txt", "text", "prompts"):
        return "txt"
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix == "csv":
        return "csv"
    raise UsageError(
        f"cannot tell the format of {name!r}: name it .txt, .jsonl or .csv, or pass --format"
    )


# -- one line -------------------------------------------------------------------------


def _is_local_path(item: str) -> bool:
    return not item[:8].lower().startswith(("http://", "https://", "data:"))


def build_request(fields: dict[str, Any], defaults: Defaults) -> ImageRequest:
    """An :class:`ImageRequest` from one line's fields, or :class:`_LineError`."""
    unknown = sorted(set(fields) - {"prompt", *OPTION_KEYS})
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise _LineError(f"unknown option {names} (known: {_KNOWN})")
    if fields.get("prompt") is None:
        raise _LineError("no prompt")
    values = {k: fields[k] for k in OPTION_KEYS if fields.get(k) is not None}
    for key, value in attrs.asdict(defaults).items():
        if value is not None:
            values.setdefault(key, value)
    images = values.get("images")
    if isinstance(images, str):
        values["images"] = [images]
    try:
        request = ImageRequest(prompt=fields["prompt"], **values)
    except (ValidationError, TypeError, ValueError) as exc:
        raise _LineError(str(exc)) from None
    for i, item in enumerate(request.images):
        local = isinstance(item, str) and _is_local_path(item)
        if local and not Path(str(item)).expanduser().is_file():
            raise _LineError(f"images[{i}]: no such file: {item!r}")
    return request


def _txt_fields(text: str) -> dict[str, Any] | None:
    prompt = text.strip()
    if not prompt or prompt.startswith("#"):
        return None
    if prompt.startswith("\\#"):
        prompt = prompt[1:]
    return {"prompt": prompt}


def _jsonl_fields(text: str) -> dict[str, Any] | None:
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    try:
        doc = json.loads(stripped)
    except ValueError as exc:
        raise _LineError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _LineError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def _parse_text_line(
    fmt: str, line: int, raw: bytes, defaults: Defaults
) -> ImageRequest | BadLine | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadLine(line, "not valid UTF-8 text")
    if line == 1:
        text = text.removeprefix("\ufeff")
    try:
        fields = _txt_fields(text) if fmt == "txt" else _jsonl_fields(text)
        if fields is None:
            return None
        return build_request(fields, defaults)
    except _LineError as exc:
        return BadLine(line, str(exc))


def _csv_cell(column: str, cell: str) -> Any:
    if column == "num_images":
        try:
            return int(cell)
        except ValueError:
            raise _LineError(f"num_images: not an integer: {cell!r}") from None
    if column == "images":
        return [part.strip() for part in cell.split(IMAGE_SEPARATOR) if part.strip()]
    if column == "extra_body":
        try:
            value = json.loads(cell)
        except ValueError as exc:
            raise _LineError(f"extra_body: invalid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise _LineError("extra_body: must be a JSON object")
        return value
    return cell


def _csv_header(row: list[str]) -> list[str]:
    header = [cell.strip() for cell in row]
    header[0] = header[0].removeprefix("\ufeff")
    if "prompt" not in header:
        raise UsageError(f"the CSV header has no 'prompt' column (columns: {', '.join(header)})")
    unknown = [c for c in header if c not in ("prompt", *OPTION_KEYS)]
    if unknown:
        raise UsageError(f"unknown CSV column(s) {', '.join(map(repr, unknown))} (known: {_KNOWN})")
    if len(set(header)) != len(header):
        raise UsageError("the CSV header names a column twice")
    return header


def _csv_entries(fh: IO[str], defaults: Defaults) -> Iterator[tuple[int, ImageRequest | BadLine]]:
    reader = csv.reader(fh)
    header: list[str] | None = None
    previous = 0
    for row in reader:
        # A record starts on the line after the previous one ended (quoted cells may span lines).
        line, previous = previous + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = _csv_header(row)
            continue
        if len(row) > len(header):
            yield line, BadLine(line, f"{len(row)} cells, but the header has {len(header)}")
            continue
        try:
            fields = {
                col: _csv_cell(col, cell.strip())
                for col, cell in zip(header, row, strict=False)
                if cell.strip()
            }
            yield line, build_request(fields, defaults)
        except _LineError as exc:
            yield line, BadLine(line, str(exc))
    if header is None:
        raise UsageError("the CSV file is empty: it needs a header row with a 'prompt' column")


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
        self._count: int | None = None

    def _entries(self) -> Iterator[tuple[int, ImageRequest | BadLine]]:
        try:
            if self.fmt == "csv":
                with self.path.open(encoding="utf-8", newline="") as fh:
                    try:
                        yield from _csv_entries(fh, self.defaults)
                    except UnicodeDecodeError:
                        raise UsageError(f"{self.display}: not UTF-8 text") from None
                    except csv.Error as exc:
                        raise UsageError(f"{self.display}: malformed CSV: {exc}") from None
                return
            with self.path.open("rb") as fh:
                for line, raw in enumerate(fh, 1):
                    entry = _parse_text_line(self.fmt, line, raw, self.defaults)
                    if entry is not None:
                        yield line, entry
        except OSError as exc:
            raise UsageError(f"cannot read {self.display}: {exc.strerror or exc}") from None

    def scan(self, on_bad: OnBad) -> int:
        """Read the whole file once, validating; report bad lines; return how many."""
        good = bad = 0
        for _, entry in self._entries():
            if isinstance(entry, BadLine):
                bad += 1
                on_bad(entry)
            else:
                good += 1
        self._count = good
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
        self.lines = LineMap()

    async def __aiter__(self) -> AsyncIterator[ImageRequest]:
        fmt = self.fmt
        line = 0
        async for raw in _read_lines(self.stream):
            line += 1
            if fmt == "auto":
                text = raw.strip().removeprefix(b"\xef\xbb\xbf")
                if not text or text.startswith(b"#"):
                    continue
                fmt = "jsonl" if text.startswith(b"{") else "txt"
            entry = _parse_text_line(fmt, line, raw, self.defaults)
            if isinstance(entry, BadLine):
                self.on_bad(entry)
            elif entry is not None:
                self.lines.add(line)
                yield entry


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
    import shutil
    import tempfile

    fd, name = tempfile.mkstemp(prefix="nanobanana-stdin-")
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(stream, out)
    return Path(name)
