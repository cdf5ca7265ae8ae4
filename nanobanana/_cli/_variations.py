"""``batch --template``, ``--var`` and ``--repeat``: many requests from one template,
and each request several times.

``--template`` with ``--var`` and no INPUT makes every combination of the values
(:func:`nanobanana.expand`); with a ``.csv`` or ``.jsonl`` INPUT, each line's columns
fill the template (the line's other columns are options and labels, as without a
template). ``--repeat N`` sends each request N times, as N items whose ``repeat`` is
0 to N-1: repeat 0 keeps the request's key, so a manifest made without ``--repeat``
still resumes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sized
from pathlib import Path
from typing import Any

import attrs

from nanobanana._errors import ValidationError
from nanobanana._models import ImageRequest
from nanobanana._templates import LABEL_KEYS, SETTING_KEYS, Template, Variations, expand

from ._exit import UsageError
from ._inputs import LineMap
from ._lines import Defaults

__all__ = ["check_variation_args", "parse_var", "repeated", "template_defaults", "variations"]

Source = Iterable[ImageRequest] | AsyncIterable[ImageRequest]


def check_variation_args(args: Any) -> None:
    """Refuse the combinations of INPUT, ``--template`` and ``--var`` that mean nothing."""
    if args.template is None:
        if args.var:
            raise UsageError("--var fills the placeholders of a --template: give one")
        if args.input is None:
            raise UsageError("give an INPUT file (or - for stdin), or a --template and --var")
        return
    if args.input is not None and args.var:
        raise UsageError("--var and an INPUT both fill the --template: give one of them")
    if args.input is not None and args.format == "txt":
        raise UsageError("a .txt input has no columns to fill --template: use .csv or .jsonl")


def parse_var(text: str) -> tuple[str, list[str]]:
    """``NAME=VALUES`` of ``--var``: values separated by commas, or ``@FILE`` (one value
    per line, blank lines skipped). Spaces around each value are removed.

    Example:
        >>> parse_var("animal=cat, dog")
        ('animal', ['cat', 'dog'])
    """
    name, equals, given = text.partition("=")
    name = name.strip()
    if not equals or not name:
        raise UsageError(f"--var {text!r}: write NAME=VALUE,VALUE or NAME=@FILE")
    if given.startswith("@"):
        path = Path(given[1:]).expanduser()
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise UsageError(f"--var {name}: cannot read {given[1:]}: {reason}") from None
    else:
        lines = given.split(",")
    values = [value.strip() for value in lines if value.strip()]
    if not values:
        raise UsageError(f"--var {name}: no values")
    return name, values


def template_defaults(args: Any, defaults: Defaults) -> Defaults:
    """``defaults`` with the ``--template`` that an INPUT's lines fill, if there is one."""
    if args.template is None or args.input is None:
        return defaults
    try:
        return attrs.evolve(defaults, template=Template(args.template))
    except ValidationError as exc:
        raise UsageError(f"--template: {str(exc).removeprefix('template: ')}") from None


def variations(args: Any, defaults: Defaults) -> Variations:
    """The requests of ``--template`` and its ``--var`` values, with the option flags."""
    values: dict[str, Any] = {}
    for text in args.var or ():
        name, given = parse_var(text)
        if name in (*SETTING_KEYS, *LABEL_KEYS, "rows"):
            raise UsageError(
                f"--var {name}: {name} names a request option; a placeholder of that name "
                "can be filled from a .csv or .jsonl INPUT only"
            )
        if name in values:
            raise UsageError(f"--var {name} is given twice: list all its values in one")
        values[name] = given
    try:
        return expand(args.template, **defaults.options(), **values)
    except ValidationError as exc:
        raise UsageError(f"--template: {str(exc).removeprefix('template: ')}") from None


def repeated(source: Source, lines: LineMap, times: int) -> tuple[Source, LineMap]:
    """``source`` with each request ``times`` times, and the line map of the copies."""
    if times == 1:
        return source, lines
    copies = LineMap()
    if isinstance(source, AsyncIterable):
        return _repeat_async(source, lines, copies, times), copies
    return _Repeated(source, lines, copies, times), copies


def _copies(
    request: ImageRequest, line: int | None, copies: LineMap, times: int
) -> Iterator[ImageRequest]:
    for number in range(times):
        copies.add(line)
        yield attrs.evolve(request, repeat=number)


class _Repeated:
    """A sized or plain iterable of requests, each ``times`` times."""

    def __init__(
        self, source: Iterable[ImageRequest], lines: LineMap, copies: LineMap, times: int
    ) -> None:
        self._source = source
        self._lines = lines
        self._copies = copies
        self._times = times

    def __len__(self) -> int:
        assert isinstance(self._source, Sized)  # a file, scanned, or a template's product
        return len(self._source) * self._times

    def __iter__(self) -> Iterator[ImageRequest]:
        for index, request in enumerate(self._source):
            line = self._lines.pop(index)
            yield from _copies(request, line, self._copies, self._times)


async def _repeat_async(
    source: AsyncIterable[ImageRequest], lines: LineMap, copies: LineMap, times: int
) -> AsyncIterator[ImageRequest]:
    index = 0
    async for request in source:
        for copy in _copies(request, lines.pop(index), copies, times):
            yield copy
        index += 1
