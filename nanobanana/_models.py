"""The SDK's values: requests and timeouts here; results, images and usage in ``_results``.

Requests are strict: a bad argument raises :class:`ValidationError` when the request
is built, before any I/O; a bad :class:`Timeout` is a :class:`ConfigurationError`.
Results (:class:`ImageResult`, :class:`GeneratedImage`, :class:`Usage`, importable from
here too) are built from whatever shape the API responded with; the converter holds
every rule of that reading.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias, TypeVar

import attrs

from ._catalog import ASPECT_RATIOS, PROVIDERS, RESOLUTIONS, model_info, option_problem
from ._config import check_number
from ._errors import ValidationError
from ._files import atomic_write
from ._results import GeneratedImage, ImageResult, Usage

__all__ = [
    "GeneratedImage",
    "ImageInput",
    "ImageRequest",
    "ImageResult",
    "Timeout",
    "Usage",
    "atomic_write",
    "check_model_params",
    "merge_results",
]

_T = TypeVar("_T")
#: An input image for an edit: a local path, raw bytes, or an ``http(s)``/``data:`` URL.
ImageInput: TypeAlias = str | os.PathLike[str] | bytes

_RESERVED_KEYS = frozenset({"model", "prompt", "num_images", "aspect_ratio", "resolution"})


#: Fields that are arguments of their own and may also come in ``extra_body``.
_OWN_OR_EXTRA = ("provider", "enable_web_search")


class JsonObject(Mapping[str, Any]):
    """A read-only JSON object: the ``extra_body`` of a request.

    It reads like a ``dict``, pickles and copies, and cannot be changed in place.

    Example:
        >>> import copy, pickle
        >>> body = JsonObject({"seed": 7, "tags": ["a", "b"]})
        >>> body["seed"], body == {"seed": 7, "tags": ["a", "b"]}
        (7, True)
        >>> pickle.loads(pickle.dumps(body)) == copy.deepcopy(body) == body
        True
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    # Each method hands the work to the dict: Mapping's own versions of `get`, `in`
    # and `==` go through __getitem__ and a KeyError for every key that is absent.
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JsonObject):
            return self._data == other._data
        return self._data == other if isinstance(other, Mapping) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like dict

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[type[JsonObject], tuple[dict[str, Any]]]:
        return (JsonObject, (self._data,))


def _json_copy(value: Any, path: str) -> Any:
    """A copy of ``value`` made of JSON values only; else a ValidationError at ``path``."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(path, f"is not JSON: {value!r} is not a finite number")
        return value
    if isinstance(value, (list, tuple)):
        return [_json_copy(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(path, f"is not JSON: its keys must be strings, got {key!r}")
            out[key] = _json_copy(item, f"{path}[{key!r}]")
        return out
    raise ValidationError(path, f"is not JSON: got a {type(value).__name__}")


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValidationError("extra_body", f"must be a mapping, got {type(value).__name__}")
    try:
        return JsonObject(_json_copy(value, "extra_body"))
    except RecursionError:
        raise ValidationError("extra_body", "is not JSON: nested too deeply") from None


def _image_tuple(value: Any) -> tuple[ImageInput, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes, bytearray, memoryview, os.PathLike)):
        value = [value]
    try:
        items = tuple(value)
    except TypeError:
        raise ValidationError(
            "images", f"must be a list of paths, bytes or URLs, got {type(value).__name__}"
        ) from None
    out: list[ImageInput] = []
    for i, item in enumerate(items):
        if isinstance(item, (bytearray, memoryview)):
            item = bytes(item)
        if not isinstance(item, (str, bytes, os.PathLike)):
            raise ValidationError(
                f"images[{i}]",
                f"must be a path, bytes or an http(s) URL, got {type(item).__name__}",
            )
        if isinstance(item, (str, bytes)) and not item:
            raise ValidationError(f"images[{i}]", "is empty")
        out.append(item)
    return tuple(out)


def _label_id(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValidationError("id", f"must be a string or an int, got {type(value).__name__}")


def _vars(value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError("vars", f"must be a mapping, got {type(value).__name__}")
    return JsonObject(_json_copy(value, "vars"))


def _model_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("model", f"must be a non-empty model id string, got {value!r}")
    return str(value).strip()  # a Model member becomes its plain id


@attrs.frozen(kw_only=True)
class ImageRequest:
    """One generation or edit, validated when built.

    Attributes:
        prompt: What to draw or how to change the input images.
        model: A model id or :class:`Model` member; ``None`` lets the client choose.
        num_images: 1 to 4 images (``None``: the API's default, one).
        aspect_ratio: One of ``21:9 1:1 4:3 3:2 2:3 5:4 4:5 3:4 16:9 9:16`` (the Nano
            Banana 2 family takes ``1:1 9:16 16:9 3:4 4:3``).
        resolution: ``1K``, ``2K`` or ``4K``, for models that take it.
        provider: ``google``, ``fal`` or ``auto`` (the API's default: Google, then
            a fal.ai mirror), on every model but the Nano Banana 2 family.
        enable_web_search: Let the model search the web (Nano Banana 2 family only).
        images: Input images for an edit: paths, bytes, or ``http(s)`` URLs.
        extra_body: Extra JSON fields sent as they are, for parameters the SDK does not
            know yet. They cannot replace the fields above (``provider`` and
            ``enable_web_search`` may come here instead of their arguments). Anything
            that is not JSON is refused, naming where it is.
        id: A label of yours (a string, or an int made a string), never sent: a
            batch's manifest records it.
        tag: A label of yours, never sent, recorded like ``id``.
        vars: The template values the prompt was made from (see
            :func:`~nanobanana.expand`), never sent, recorded like ``id``.
        line: The line of the input file the request was read from, never sent.
        repeat: Which copy of a request sent several times this is, from 0. Not
            sent; a repeat above 0 changes the request's key, so that each copy is
            resumed as its own item (repeat 0 leaves the key as it was).

    ``id``, ``tag``, ``vars`` and ``line`` are labels: they do not enter the request's
    key (adding a tag to an input does not send it again on resume), nor is ``vars``
    or ``line`` compared by ``==``.

    Example:
        >>> from nanobanana import ImageRequest
        >>> ImageRequest(prompt="a lighthouse at dawn", aspect_ratio="16:9").aspect_ratio
        '16:9'
    """

    prompt: str = attrs.field()
    model: str | None = attrs.field(default=None, converter=_model_id)
    num_images: int | None = attrs.field(default=None)
    aspect_ratio: str | None = attrs.field(default=None)
    resolution: str | None = attrs.field(default=None)
    provider: str | None = attrs.field(default=None)
    enable_web_search: bool | None = attrs.field(default=None)
    images: tuple[ImageInput, ...] = attrs.field(default=(), converter=_image_tuple)
    extra_body: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_frozen_mapping, eq=False, repr=lambda m: repr(dict(m))
    )
    id: str | None = attrs.field(default=None, converter=_label_id)
    tag: str | None = attrs.field(default=None)
    vars: Mapping[str, Any] | None = attrs.field(default=None, converter=_vars, eq=False)
    line: int | None = attrs.field(default=None, eq=False)
    repeat: int = attrs.field(default=0)

    @prompt.validator
    def _check_prompt(self, _: object, value: Any) -> None:
        if not isinstance(value, str):
            raise ValidationError("prompt", f"must be a string, got {type(value).__name__}")
        if not value.strip():
            raise ValidationError("prompt", "must not be blank")

    @tag.validator
    def _check_tag(self, _: object, value: Any) -> None:
        if value is not None and not isinstance(value, str):
            raise ValidationError("tag", f"must be a string, got {type(value).__name__}")

    @line.validator
    def _check_line(self, _: object, value: Any) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValidationError("line", f"must be an int, got {value!r}")

    @repeat.validator
    def _check_repeat(self, _: object, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError("repeat", f"must be an int >= 0, got {value!r}")

    @num_images.validator
    def _check_num_images(self, _: object, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
            raise ValidationError("num_images", f"must be an int from 1 to 4, got {value!r}")

    @aspect_ratio.validator
    def _check_aspect_ratio(self, _: object, value: Any) -> None:
        if value is not None and value not in ASPECT_RATIOS:
            raise ValidationError(
                "aspect_ratio", f"must be one of {', '.join(ASPECT_RATIOS)}; got {value!r}"
            )

    @resolution.validator
    def _check_resolution(self, _: object, value: Any) -> None:
        if value is not None and value not in RESOLUTIONS:
            raise ValidationError(
                "resolution", f"must be one of {', '.join(RESOLUTIONS)}; got {value!r}"
            )

    @provider.validator
    def _check_provider(self, _: object, value: Any) -> None:
        _check_provider(value, "provider")

    @enable_web_search.validator
    def _check_web_search(self, _: object, value: Any) -> None:
        _check_web_search(value, "enable_web_search")

    def __attrs_post_init__(self) -> None:
        if self.extra_body:
            self._check_extra_body()
        if self.model is not None:
            check_model_params(self, self.model)

    def _check_extra_body(self) -> None:
        clash = set(_RESERVED_KEYS.intersection(self.extra_body))
        clash.update(
            k for k in _OWN_OR_EXTRA if k in self.extra_body and getattr(self, k) is not None
        )
        if clash:
            raise ValidationError(
                "extra_body",
                f"cannot set {', '.join(sorted(clash))}: use the argument of that name",
            )
        _check_provider(self.extra_body.get("provider"), "extra_body['provider']")
        _check_web_search(
            self.extra_body.get("enable_web_search"), "extra_body['enable_web_search']"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, with local paths as strings and bytes as their SHA-256.

        Fields left unset (``None``, no images, no extra body) are left out, and so
        are the labels (``id``, ``tag``, ``vars``, ``line``), but for ``repeat`` above
        0. Used for stable request keys; it is not the wire body.

        Example:
            >>> from nanobanana import ImageRequest
            >>> ImageRequest(prompt="a red kite", num_images=2).to_dict()
            {'prompt': 'a red kite', 'num_images': 2}
            >>> edit = ImageRequest(prompt="make it night", images=["kite.png", b"GIF89a"])
            >>> kite, gif = edit.to_dict()["images"]
            >>> kite, gif[:15]
            ('kite.png', 'sha256:610f5ae4')
        """
        return attrs.asdict(self, recurse=False, filter=_is_given, value_serializer=_json_ready)


def _check_provider(value: Any, field: str) -> None:
    if value is not None and value not in PROVIDERS:
        raise ValidationError(field, f"must be one of {', '.join(PROVIDERS)}; got {value!r}")


def _check_web_search(value: Any, field: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise ValidationError(field, f"must be True or False, got {value!r}")


#: Fields that label a request for its owner: never sent, never in its key.
_LABELS = frozenset({"id", "tag", "vars", "line"})


def _is_given(attribute: attrs.Attribute[Any], value: Any) -> bool:
    if attribute.name in _LABELS:
        return False
    if attribute.name == "repeat":
        return bool(value)  # repeat 0 leaves the key of a request as it always was
    # None, no images and an empty extra body all mean "not given".
    return value is not None and value != () and value != {}


def _json_ready(_: object, attribute: attrs.Attribute[Any], value: Any) -> Any:
    if attribute.name == "images":
        return [_image_text(item) for item in value]
    if attribute.name == "extra_body":
        return dict(value)
    return value


def _image_text(item: ImageInput) -> str:
    """An input image as text: bytes as ``sha256:`` and their digest, a path or URL as is."""
    if isinstance(item, bytes):
        return "sha256:" + hashlib.sha256(item).hexdigest()
    return str(os.fspath(item))


def check_model_params(request: ImageRequest, model: str) -> None:
    """Check the parameters ``model`` documents; an unknown model passes unchecked.

    A model that takes no ``num_images`` (the Nano Banana 2 family) still accepts it:
    the client sends that many requests of one image each.
    """
    info = model_info(model)
    if info is None:
        return
    if not info.provider and _own_or_extra(request, "provider") is not None:
        raise ValidationError("provider", f"{info.id} does not take provider")
    if not info.web_search and _own_or_extra(request, "enable_web_search") is not None:
        raise ValidationError("enable_web_search", f"{info.id} does not take enable_web_search")
    for name in info.options:
        if name in request.extra_body:
            problem = option_problem(name, request.extra_body[name])
            if problem is not None:
                raise ValidationError(f"extra_body['{name}']", f"{problem} ({info.id})")
    if request.aspect_ratio is not None and request.aspect_ratio not in info.aspect_ratios:
        raise ValidationError(
            "aspect_ratio",
            f"{info.id} takes one of {', '.join(info.aspect_ratios)}; got {request.aspect_ratio!r}",
        )
    if request.resolution is not None and not info.resolutions:
        raise ValidationError("resolution", f"{info.id} does not take resolution")
    if info.max_input_images is not None and len(request.images) > info.max_input_images:
        raise ValidationError(
            "images",
            f"{info.id} takes at most {info.max_input_images} input images, "
            f"got {len(request.images)}",
        )


def _own_or_extra(request: ImageRequest, name: str) -> Any:
    """The value of ``name``: its argument, else the same key of ``extra_body``."""
    own = getattr(request, name)
    return own if own is not None else request.extra_body.get(name)


def _sum(figures: list[float | None]) -> float | None:
    known = [figure for figure in figures if figure is not None]
    return sum(known) if known else None


def merge_results(results: list[ImageResult]) -> ImageResult:
    """Several results of one model as one: images in order, usage summed.

    The description and request id are the first result's.

    Example:
        >>> import nanobanana as nb
        >>> img = nb.GeneratedImage(data=b"\\x89PNG\\r\\n\\x1a\\n", mime_type="image/png")
        >>> one = nb.ImageResult(images=(img,), model="m", usage=nb.Usage(usd_spent=0.5))
        >>> both = merge_results([one, one])
        >>> len(both.images), both.usage
        (2, Usage(credits_used=None, usd_spent=1.0, tokens_used=None))
    """
    first = results[0]
    usages = [result.usage for result in results]
    return ImageResult(
        images=tuple(image for result in results for image in result.images),
        model=first.model,
        description=first.description,
        usage=Usage(
            credits_used=_sum([u.credits_used for u in usages]),
            usd_spent=_sum([u.usd_spent for u in usages]),
            tokens_used=_sum([u.tokens_used for u in usages]),
        ),
        request_id=first.request_id,
    )


def _total_seconds(value: Any) -> float | None:
    return check_number("total", value, positive=True, allow_none=True)


def _connect_seconds(value: Any) -> float | None:
    return check_number("connect", value, positive=True, allow_none=True)


@attrs.frozen
class Timeout:
    """Time limits of one request, in seconds (``None``: no limit).

    Attributes:
        total: The whole request, from sending to the last byte of the response. The
            default, 5 minutes, leaves room for 4K renders of the Pro model.
        connect: Opening a TCP (and TLS) connection to the API. Waiting for a free
            connection in the pool counts against ``total`` only.

    Raises:
        ConfigurationError: a limit that is not a number > 0 or ``None``, naming it.

    Example:
        >>> from nanobanana import Timeout
        >>> Timeout(total=60)
        Timeout(total=60.0, connect=10.0)
        >>> Timeout(total=60, connect=0)
        Traceback (most recent call last):
        ...
        nanobanana._errors.ConfigurationError: connect must be a number > 0 or None, got 0
    """

    total: float | None = attrs.field(default=300.0, converter=_total_seconds)
    connect: float | None = attrs.field(default=10.0, kw_only=True, converter=_connect_seconds)
