"""One line of batch input made into a request: the ``.txt``, ``.jsonl`` and ``.csv`` rules.

A line comes down to a dict of fields (``prompt`` plus any of :data:`OPTION_KEYS`),
and the fields to an :class:`~nanobanana.ImageRequest`, or to a :class:`BadLine` that
says why not. Reading files and streams is :mod:`nanobanana._cli._inputs`' part.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Final

import attrs

from nanobanana._errors import ValidationError
from nanobanana._models import ImageRequest
from nanobanana._urls import is_url

from ._exit import UsageError

__all__ = [
    "IMAGE_SEPARATOR",
    "OPTION_KEYS",
    "BadLine",
    "Defaults",
    "LineError",
    "OnBad",
    "build_request",
    "csv_entries",
    "parse_text_line",
]

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


class LineError(Exception):
    """Why one line is bad (becomes a :class:`BadLine`)."""


#: Called with each bad line.
OnBad = Callable[[BadLine], None]


def build_request(fields: dict[str, Any], defaults: Defaults) -> ImageRequest:
    """An :class:`ImageRequest` from one line's fields; :class:`LineError` says why not."""
    unknown = sorted(set(fields) - {"prompt", *OPTION_KEYS})
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise LineError(f"unknown option {names} (known: {_KNOWN})")
    if fields.get("prompt") is None:
        raise LineError("no prompt")
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
        raise LineError(str(exc)) from None
    for i, item in enumerate(request.images):
        local = isinstance(item, str) and not is_url(item)
        if local and not Path(str(item)).expanduser().is_file():
            raise LineError(f"images[{i}]: no such file: {item!r}")
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
        raise LineError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise LineError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def parse_text_line(
    fmt: str, line: int, raw: bytes, defaults: Defaults
) -> ImageRequest | BadLine | None:
    """Line number ``line`` of a ``txt`` or ``jsonl`` input: a request, a bad line, or
    ``None`` for a blank or comment line."""
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
    except LineError as exc:
        return BadLine(line, str(exc))


def _csv_cell(column: str, cell: str) -> Any:
    if column == "num_images":
        try:
            return int(cell)
        except ValueError:
            raise LineError(f"num_images: not an integer: {cell!r}") from None
    if column == "images":
        return [part.strip() for part in cell.split(IMAGE_SEPARATOR) if part.strip()]
    if column == "extra_body":
        try:
            value = json.loads(cell)
        except ValueError as exc:
            raise LineError(f"extra_body: invalid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise LineError("extra_body: must be a JSON object")
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


def csv_entries(fh: IO[str], defaults: Defaults) -> Iterator[tuple[int, ImageRequest | BadLine]]:
    """``(line, request or bad line)`` for each record of a CSV input after its header.

    A header without a ``prompt`` column, or naming an unknown one, is a usage error.
    """
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
        except LineError as exc:
            yield line, BadLine(line, str(exc))
    if header is None:
        raise UsageError("the CSV file is empty: it needs a header row with a 'prompt' column")
