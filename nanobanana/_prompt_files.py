"""Files of prompts made into requests: the ``.txt``, ``.jsonl`` and ``.csv`` rules.

:func:`read_prompts` gives the requests of a file, as the command line's ``batch``
reads them. A line comes down to a dict of fields (``prompt`` plus any of
:data:`OPTION_KEYS` and the labels ``id`` and ``tag``), and the fields to an
:class:`~nanobanana.ImageRequest` (which also records the line), or to a
:class:`BadLine` that says why not. A problem with the file as a whole (a CSV header
without ``prompt``, an unterminated quote, text that is not UTF-8) raises
:class:`~nanobanana.ValidationError` naming the file and line.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Final

import attrs

from ._errors import ValidationError
from ._inputs import check_image
from ._models import ImageRequest
from ._templates import Template

__all__ = [
    "FORMATS",
    "IMAGE_SEPARATOR",
    "LABEL_KEYS",
    "MAX_CSV_CELL",
    "OPTION_KEYS",
    "BadLine",
    "Defaults",
    "LineError",
    "OnBad",
    "PromptFile",
    "build_request",
    "csv_entries",
    "format_of",
    "parse_text_line",
    "prompt_entries",
    "read_prompts",
]

#: The formats of a file of prompts.
FORMATS: Final = ("txt", "jsonl", "csv")
#: Per-request options a line may set, besides ``prompt``.
OPTION_KEYS: Final = ("model", "num_images", "aspect_ratio", "resolution", "images", "extra_body")
#: Labels a line may carry: recorded in a batch's manifest, never sent.
LABEL_KEYS: Final = ("id", "tag")
#: Separates several images in one CSV cell.
IMAGE_SEPARATOR: Final = "|"
#: The most characters one CSV cell may hold: a longer one is a quote left open.
MAX_CSV_CELL: Final = 100_000
_KNOWN = ", ".join(("prompt", *OPTION_KEYS, *LABEL_KEYS))
_SUFFIXES: Final = {
    "txt": "txt",
    "text": "txt",
    "prompts": "txt",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "csv": "csv",
}
#: Bad lines named in the error :func:`read_prompts` raises.
_MAX_NAMED = 5


@attrs.frozen(kw_only=True)
class Defaults:
    """Options for the lines that do not set them; with ``template``, the lines give
    no prompt but the values of its placeholders."""

    model: str | None = None
    num_images: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    template: Template | None = None

    def options(self) -> dict[str, Any]:
        """The request options set, by name."""
        names = ("model", "num_images", "aspect_ratio", "resolution")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


@attrs.frozen
class BadLine:
    """An input line that could not be made into a request."""

    line: int
    message: str


class LineError(Exception):
    """Why one line is bad (becomes a :class:`BadLine`)."""


#: Called with each bad line.
OnBad = Callable[[BadLine], None]


def format_of(name: str | os.PathLike[str]) -> str | None:
    """The format a file name tells by its suffix, or ``None``.

    Example:
        >>> format_of("prompts.TXT"), format_of("jobs.ndjson"), format_of("a.xlsx")
        ('txt', 'jsonl', None)
    """
    return _SUFFIXES.get(Path(name).suffix.lower().lstrip("."))


def build_request(
    fields: dict[str, Any], defaults: Defaults, line: int | None = None
) -> ImageRequest:
    """An :class:`ImageRequest` from the fields of line ``line``; :class:`LineError`
    says why not."""
    filled: dict[str, str] | None = None
    if defaults.template is not None:
        fields, filled = _filled(fields, defaults.template)
    unknown = sorted(set(fields) - {"prompt", *OPTION_KEYS, *LABEL_KEYS})
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise LineError(f"unknown option {names} (known: {_KNOWN})")
    if fields.get("prompt") is None:
        raise LineError("no prompt")
    values = {k: fields[k] for k in (*OPTION_KEYS, *LABEL_KEYS) if fields.get(k) is not None}
    for key, value in defaults.options().items():
        values.setdefault(key, value)
    images = values.get("images")
    if isinstance(images, str):
        values["images"] = [images]
    try:
        request = ImageRequest(prompt=fields["prompt"], line=line, vars=filled, **values)
    except (ValidationError, TypeError, ValueError) as exc:
        raise LineError(str(exc)) from None
    for i, item in enumerate(request.images):
        try:
            check_image(item, f"images[{i}]")
        except ValidationError as exc:
            raise LineError(str(exc)) from None
    return request


def _filled(fields: dict[str, Any], template: Template) -> tuple[dict[str, Any], dict[str, str]]:
    """A line's fields with the template filled from its placeholders' values (which
    make its ``prompt``), and those values."""
    if "prompt" in fields:
        raise LineError("gives a prompt: with a template, a line gives the placeholders' values")
    try:
        template.check_names(fields, "line", extra=(*OPTION_KEYS, *LABEL_KEYS))
        prompt, values = template.fill(fields, "line")
    except ValidationError as exc:
        raise LineError(str(exc).removeprefix("line: ")) from None
    rest = {key: value for key, value in fields.items() if key not in values}
    return {**rest, "prompt": prompt}, values


def _txt_fields(text: str) -> dict[str, Any] | None:
    prompt = text.strip()
    if not prompt or prompt.startswith("#"):
        return None
    if prompt.startswith("\\#"):
        prompt = prompt[1:]
    return {"prompt": prompt}


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words: ``null``, ``an array``, ``a string``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "a number"


def _jsonl_fields(text: str) -> dict[str, Any] | None:
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    try:
        doc = json.loads(stripped)
    except ValueError as exc:
        raise LineError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise LineError(f"expected a JSON object, got {_json_kind(doc)}")
    return doc


def parse_text_line(
    fmt: str, line: int, raw: bytes, defaults: Defaults
) -> ImageRequest | BadLine | None:
    """Line number ``line`` of a ``txt`` or ``jsonl`` input: a request, a bad line, or
    ``None`` for a blank or comment line.

    Example:
        >>> parse_text_line("txt", 1, b"a red kite\\n", Defaults()).prompt
        'a red kite'
        >>> parse_text_line("txt", 2, b"# a comment\\n", Defaults()) is None
        True
        >>> parse_text_line("jsonl", 3, b"null\\n", Defaults())
        BadLine(line=3, message='expected a JSON object, got null')
    """
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
        return build_request(fields, defaults, line)
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


def _csv_header(row: list[str], where: str, template: Template | None) -> list[str]:
    header = [cell.strip() for cell in row]
    header[0] = header[0].removeprefix("\ufeff")
    if len(set(header)) != len(header):
        raise ValidationError(where, "the CSV header names a column twice")
    if template is not None:  # the columns are the placeholders, and options
        template.check_names(header, where, extra=(*OPTION_KEYS, *LABEL_KEYS))
        return header
    if "prompt" not in header:
        columns = ", ".join(header)
        raise ValidationError(where, f"the CSV header has no 'prompt' column (columns: {columns})")
    unknown = [c for c in header if c not in ("prompt", *OPTION_KEYS, *LABEL_KEYS)]
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise ValidationError(where, f"unknown CSV column(s) {names} (known: {_KNOWN})")
    return header


def _csv_rows(fh: IO[str], display: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` of each CSV record, read strictly: a quote left open is an error
    at the line the record starts on, not a cell that swallows the rest of the file."""
    reader = csv.reader(fh, strict=True)
    previous = 0
    while True:
        # A record starts on the line after the previous one ended (quoted cells may span lines).
        line = previous + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "end of data" in str(exc) or "field limit" in str(exc):
                raise ValidationError(f"{display}:{line}", "unterminated quote") from None
            raise ValidationError(f"{display}:{line}", f"malformed CSV: {exc}") from None
        previous = reader.line_num
        if any(len(cell) > MAX_CSV_CELL for cell in row):
            raise ValidationError(
                f"{display}:{line}",
                f"unterminated quote (a cell runs past {MAX_CSV_CELL:,} characters,"
                f" to line {previous})",
            )
        yield line, row


def csv_entries(
    fh: IO[str], defaults: Defaults, display: str = "<csv>"
) -> Iterator[tuple[int, ImageRequest | BadLine]]:
    """``(line, request or bad line)`` for each record of a CSV input after its header.

    A file with no header has no requests. A header without a ``prompt`` column, or
    naming an unknown one, and a malformed file raise :class:`ValidationError`.
    """
    header: list[str] | None = None
    for line, row in _csv_rows(fh, display):
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = _csv_header(row, f"{display}:{line}", defaults.template)
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
            yield line, build_request(fields, defaults, line)
        except LineError as exc:
            yield line, BadLine(line, str(exc))


def prompt_entries(
    path: Path, fmt: str, defaults: Defaults, display: str
) -> Iterator[tuple[int, ImageRequest | BadLine]]:
    """``(line, request or bad line)`` for each line of the file that is neither blank
    nor a comment, read lazily. ``OSError`` if the file cannot be read;
    :class:`ValidationError` if it is malformed as a whole."""
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as fh:
            try:
                yield from csv_entries(fh, defaults, display)
            except UnicodeDecodeError:
                raise ValidationError(display, "not UTF-8 text") from None
        return
    with path.open("rb") as fh:
        for line, raw in enumerate(fh, 1):
            entry = parse_text_line(fmt, line, raw, defaults)
            if entry is not None:
                yield line, entry


@attrs.frozen
class PromptFile:
    """The requests of a file of prompts: iterable (again and again, each time reading
    the file lazily), with a ``len()``. Made by :func:`read_prompts`."""

    path: Path
    format: str
    defaults: Defaults = attrs.field(repr=False)
    count: int = attrs.field(repr=False)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[ImageRequest]:
        for _, entry in prompt_entries(self.path, self.format, self.defaults, str(self.path)):
            if isinstance(entry, ImageRequest):
                yield entry


def read_prompts(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    model: str | None = None,
    num_images: int | None = None,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
) -> PromptFile:
    """The requests of a ``.txt``, ``.jsonl`` or ``.csv`` file, as ``nanobanana batch``
    reads them: blank lines and ``#`` comment lines skipped, options per line.

    The whole file is checked at once, before anything is sent; the requests are then
    read lazily (memory does not grow with the file), as often as they are iterated.

    Args:
        path: The file. Its suffix tells the format (``.txt``, ``.text``,
            ``.prompts``, ``.jsonl``, ``.ndjson``, ``.csv``) unless ``format`` does.
        format: ``"txt"``, ``"jsonl"`` or ``"csv"``.
        model: The model of the lines that name none.
        num_images: The ``num_images`` of the lines that set none.
        aspect_ratio: The ``aspect_ratio`` of the lines that set none.
        resolution: The ``resolution`` of the lines that set none.

    Returns:
        An iterable of :class:`~nanobanana.ImageRequest` with a ``len()``, to pass to
        ``client.batch()``.

    Raises:
        ValidationError: The format is unknown, a line cannot be made into a request
            (the first few are named, as ``FILE:LINE: reason``), or the file is
            malformed (``FILE:LINE: unterminated quote``).
        OSError: The file cannot be read.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder, "prompts.txt")
        ...     _ = path.write_text("# spring\\na red kite\\n\\na blue boat\\n")
        ...     for request in read_prompts(path, aspect_ratio="16:9"):
        ...         print(request.prompt, request.aspect_ratio)
        a red kite 16:9
        a blue boat 16:9
    """
    path = Path(path)
    fmt = format if format is not None else format_of(path)
    if fmt not in FORMATS:
        told = "format" if format is not None else "path"
        raise ValidationError(
            told, f"cannot tell the format of {str(path)!r}: name it .txt, .jsonl or .csv"
        )
    defaults = Defaults(
        model=model, num_images=num_images, aspect_ratio=aspect_ratio, resolution=resolution
    )
    # A bad default raises here, once, rather than making every line bad.
    ImageRequest(prompt="check", **defaults.options())
    good, bad = 0, []
    for line, entry in prompt_entries(path, fmt, defaults, str(path)):
        if isinstance(entry, BadLine):
            bad.append(f"{path}:{line}: {entry.message}")
        else:
            good += 1
    if bad:
        more = f"; and {len(bad) - _MAX_NAMED} more" if len(bad) > _MAX_NAMED else ""
        named = "; ".join(bad[:_MAX_NAMED])
        raise ValidationError(str(path), f"{len(bad)} bad line(s): {named}{more}")
    return PromptFile(path, fmt, defaults, good)
