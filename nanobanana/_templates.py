"""Prompt templates: ``"a {animal} in {style} style"`` made into many requests.

A template is text with placeholders in braces. A placeholder's name is a Python
identifier (letters, digits and ``_``, not starting with a digit); ``{{`` and ``}}``
stand for a literal brace. Anything else in braces (``{}``, ``{a b}``, ``{x:>3}``), a
``{`` never closed or a ``}`` never opened is a :class:`ValidationError` naming the
position.

:func:`expand` fills a template from keyword values (their cross product) or from
rows (one request per row). Every request carries the values it was made from in
``vars``; neither ``vars`` nor the ``id`` and ``tag`` labels are sent to the API, nor
do they change the request's key.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from typing import Any, Final

import attrs

from ._errors import ValidationError
from ._models import ImageInput, ImageRequest

__all__ = ["LABEL_KEYS", "SETTING_KEYS", "Template", "Variations", "expand", "parse_template"]

#: Request settings :func:`expand` takes as keywords, and a row may set for itself.
SETTING_KEYS: Final = (
    "model",
    "num_images",
    "aspect_ratio",
    "resolution",
    "provider",
    "enable_web_search",
    "images",
    "extra_body",
)
#: Labels a row may carry: recorded in the manifest, never sent.
LABEL_KEYS: Final = ("id", "tag")


@attrs.frozen
class Placeholder:
    """A ``{name}`` of a template."""

    name: str


def parse_template(text: str) -> tuple[str | Placeholder, ...]:
    """The parts of a template: literal text and placeholders, in order.

    Adjacent literal text is one part; ``{{`` and ``}}`` become ``{`` and ``}``.

    Example:
        >>> parse_template("a {animal} in {{braces}}")
        ('a ', Placeholder(name='animal'), ' in {braces}')
        >>> parse_template("a {} cat")
        Traceback (most recent call last):
        ...
        nanobanana._errors.ValidationError: template: empty placeholder {} at position 2
    """
    if not isinstance(text, str):
        raise ValidationError("template", f"must be a string, got {type(text).__name__}")
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text[i + 1 : i + 2] == char:
            literal.append(char)
            i += 2
        elif char == "}":
            raise ValidationError(
                "template", f"single '}}' at position {i} (write }}}} for a brace)"
            )
        elif char == "{":
            end = text.find("}", i + 1)
            if end == -1:
                raise ValidationError(
                    "template", f"'{{' at position {i} is never closed (write {{{{ for a brace)"
                )
            parts.extend([*_flush(literal), Placeholder(_name(text[i + 1 : end], i))])
            i = end + 1
        else:
            literal.append(char)
            i += 1
    parts.extend(_flush(literal))
    return tuple(parts)


def _flush(literal: list[str]) -> list[str]:
    text = "".join(literal)
    literal.clear()
    return [text] if text else []


def _name(inside: str, position: int) -> str:
    if not inside:
        raise ValidationError("template", f"empty placeholder {{}} at position {position}")
    if not inside.isidentifier():
        raise ValidationError(
            "template",
            f"{{{inside}}} at position {position} is not a placeholder: a name is letters, "
            "digits and _ (write {{ and }} for literal braces)",
        )
    return inside


def _text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValidationError(name, f"a value must be a string or a number, got {type(value).__name__}")


@attrs.frozen
class Template:
    """A parsed template.

    Attributes:
        text: The template as written.
        names: Its placeholders, each once, in the order they first appear.

    Example:
        >>> t = Template("a {animal} in {style} style, {animal} again")
        >>> t.names
        ('animal', 'style')
        >>> t.render({"animal": "cat", "style": "pixel art"})
        'a cat in pixel art style, cat again'
    """

    text: str
    parts: tuple[str | Placeholder, ...] = attrs.field(init=False, repr=False, eq=False)
    names: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        parts = parse_template(self.text)
        names = dict.fromkeys(p.name for p in parts if isinstance(p, Placeholder))
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "names", tuple(names))

    def render(self, values: Mapping[str, str]) -> str:
        """The text with every placeholder replaced by its value (all must be given)."""
        return "".join(p if isinstance(p, str) else values[p.name] for p in self.parts)

    def check_names(self, given: Iterable[str], where: str, extra: Iterable[str] = ()) -> None:
        """Raise a :class:`ValidationError` at ``where`` naming the placeholders ``given``
        leaves out and the names it has that are neither placeholders nor ``extra``."""
        given = set(given)
        missing = [name for name in self.names if name not in given]
        unknown = sorted(given - set(self.names) - set(extra))
        problems = []
        if missing:
            problems.append("no value for placeholder(s) " + ", ".join(missing))
        if unknown:
            problems.append(
                f"unknown placeholder(s) {', '.join(unknown)} (the template has: "
                f"{', '.join(self.names) or 'none'})"
            )
        if problems:
            raise ValidationError(where, "; ".join(problems))

    def fill(self, row: Mapping[str, Any], where: str) -> tuple[str, dict[str, str]]:
        """The prompt made from a row's values of the placeholders, and those values."""
        values = {name: _text(f"{where}[{name!r}]", row[name]) for name in self.names}
        return self.render(values), values


class Variations(Iterable[ImageRequest]):
    """The requests :func:`expand` makes, made one at a time as they are iterated.

    Iterating again starts again (rows given as an iterator are read once).
    ``len()`` works when the count is known: for keyword values always, for rows when
    they are a list or tuple.
    """

    def __init__(
        self,
        template: Template,
        columns: Sequence[tuple[str, tuple[str, ...]]] | None,
        rows: Iterable[Mapping[str, Any]] | None,
        settings: Mapping[str, Any],
    ) -> None:
        self.template = template
        self._columns = columns
        self._rows = rows
        self._settings = settings

    def __repr__(self) -> str:
        return f"<Variations of {self.template.text!r}>"

    def __iter__(self) -> Iterator[ImageRequest]:
        if self._columns is not None:
            names = [name for name, _ in self._columns]
            for combination in itertools.product(*(values for _, values in self._columns)):
                values = dict(zip(names, combination, strict=True))
                yield self._request(self.template.render(values), values, {})
            return
        assert self._rows is not None
        for number, row in enumerate(self._rows):
            yield self._row_request(row, f"rows[{number}]")

    def _row_request(self, row: Mapping[str, Any], where: str) -> ImageRequest:
        if not isinstance(row, Mapping):
            raise ValidationError(where, f"must be a mapping, got {type(row).__name__}")
        self.template.check_names(row, where, extra=(*LABEL_KEYS, *SETTING_KEYS))
        prompt, values = self.template.fill(row, where)
        # An empty cell of a CSV row (None or "") leaves its setting or label unset.
        own = {k: v for k, v in row.items() if k not in values and v is not None and v != ""}
        try:
            return self._request(prompt, values, own)
        except ValidationError as exc:
            raise ValidationError(f"{where}[{exc.field!r}]", str(exc).partition(": ")[2]) from None

    def _request(self, prompt: str, values: dict[str, str], own: dict[str, Any]) -> ImageRequest:
        return ImageRequest(prompt=prompt, vars=values, **{**self._settings, **own})


class _SizedVariations(Variations, Sized):
    def __init__(self, count: int, *args: Any) -> None:
        super().__init__(*args)
        self._count = count

    def __len__(self) -> int:
        return self._count


def _values(name: str, given: Any) -> tuple[str, ...]:
    if isinstance(given, (str, int, float)) and not isinstance(given, bool):
        return (_text(name, given),)
    try:
        values = tuple(_text(name, value) for value in given)
    except TypeError:
        raise ValidationError(
            name, f"must be a value or a list of values, got {type(given).__name__}"
        ) from None
    if not values:
        raise ValidationError(name, "has no values")
    return values


def expand(
    template: str,
    /,
    *,
    rows: Iterable[Mapping[str, Any]] | None = None,
    model: str | None = None,
    num_images: int | None = None,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
    provider: str | None = None,
    enable_web_search: bool | None = None,
    images: Iterable[ImageInput] | ImageInput | None = None,
    extra_body: Mapping[str, Any] | None = None,
    tag: str | None = None,
    **values: Any,
) -> Variations:
    """The requests a prompt template stands for: every combination of ``values``, or
    one per row of ``rows``.

    With keyword values, the requests are the cross product, in a stable order: as
    nested loops over the placeholders in the order they first appear in the
    template, the first one outermost; each placeholder's values in the order given.
    A single string is one value. With ``rows``, each row (a mapping) gives the values
    of every placeholder, and may carry an ``id`` and a ``tag`` and set any of the
    settings below for itself (``None`` or ``""`` leaves one unset, as an empty cell
    of a CSV file read with ``csv.DictReader``).

    Every request records the values it was filled with in ``vars``. The settings
    (``model`` to ``extra_body``, and ``tag``) apply to every request. A placeholder
    with the name of a setting (``{model}``) can be filled from rows only.

    Args:
        template: Text with ``{placeholders}``; ``{{`` and ``}}`` are literal braces.
        rows: Mappings of placeholder values, read lazily; instead of ``values``.
        model: The model of every request (``None``: the client's).
        num_images: Images per request.
        aspect_ratio: The aspect ratio of every request.
        resolution: The resolution of every request.
        provider: The provider of every request.
        enable_web_search: Whether every request may search the web.
        images: Input images of every request (an edit).
        extra_body: Extra JSON fields of every request.
        tag: A label of every request, recorded in a batch's manifest, never sent.
        **values: Each placeholder's values: a list (or any iterable), or one value.

    Returns:
        An iterable of :class:`~nanobanana.ImageRequest`, made lazily as it is
        iterated, with a ``len()`` when the count is known.

    Raises:
        ValidationError: The template is malformed; a placeholder has no values or
            a value is given for a name the template does not have (naming them);
            a setting is invalid. A bad row raises when it is reached, naming it
            (``rows[3]``).

    Example:
        >>> import nanobanana as nb
        >>> requests = nb.expand(
        ...     "a {animal} in {style} style",
        ...     animal=["cat", "dog"], style=["pixel art", "watercolor"], aspect_ratio="1:1",
        ... )
        >>> len(requests)
        4
        >>> for request in requests:
        ...     print(request.prompt, request.vars)
        a cat in pixel art style {'animal': 'cat', 'style': 'pixel art'}
        a cat in watercolor style {'animal': 'cat', 'style': 'watercolor'}
        a dog in pixel art style {'animal': 'dog', 'style': 'pixel art'}
        a dog in watercolor style {'animal': 'dog', 'style': 'watercolor'}
        >>> rows = [{"animal": "fox", "id": "f1"}, {"animal": "owl", "id": "o1"}]
        >>> for request in nb.expand("a {animal} at night", rows=rows):
        ...     print(request.id, request.prompt)
        f1 a fox at night
        o1 a owl at night
    """
    parsed = Template(template)
    settings: dict[str, Any] = {
        key: value
        for key, value in (
            ("model", model),
            ("num_images", num_images),
            ("aspect_ratio", aspect_ratio),
            ("resolution", resolution),
            ("provider", provider),
            ("enable_web_search", enable_web_search),
            ("images", images),
            ("extra_body", extra_body),
            ("tag", tag),
        )
        if value is not None
    }
    ImageRequest(prompt="check", **settings)  # a bad setting raises now, once
    if rows is not None:
        if values:
            raise ValidationError("rows", "pass rows or keyword values, not both")
        if isinstance(rows, (str, bytes, Mapping)):
            raise ValidationError("rows", "must be an iterable of mappings (one per request)")
        if isinstance(rows, Sized) and not isinstance(rows, Iterator):
            return _SizedVariations(len(rows), parsed, None, rows, settings)
        return Variations(parsed, None, rows, settings)
    parsed.check_names(values, "template")
    columns = [(name, _values(name, values[name])) for name in parsed.names]
    count = math.prod(len(v) for _, v in columns)
    return _SizedVariations(count, parsed, columns, None, settings)
