"""The one cattrs converter: every wire name, response shape and hook lives here.

Strict about what is sent, lenient about what is read. ``converter.structure(doc,
WireResponse)`` reads each response shape the API has used (``_shapes`` lists them)
into the same wire classes, so nothing above this module knows there was more than
one. Unknown keys are ignored; a text, number or size of the wrong type reads as
``None``. What cannot be read (no image list, an image entry that is neither an object
nor a string) is a :class:`ResponseError` naming the place, such as ``$.data[0]``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import cattrs
from cattrs.cols import list_structure_factory
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception

from ._errors import BODY_EXCERPT_BYTES, ResponseError
from ._models import ImageRequest
from ._results import Usage
from ._shapes import (
    ChoicesBody,
    DataBody,
    ImagesBody,
    Meta,
    OutputDataBody,
    ResponseBody,
)
from ._urls import is_data_url, is_http_url
from ._wire import ManifestRecord, WireImage, WireRequest, WireResponse, WireUsage

__all__ = [
    "ManifestRecord",
    "WireImage",
    "WireRequest",
    "WireResponse",
    "WireUsage",
    "converter",
    "manifest_line",
    "parse_body",
    "request_body",
    "request_key",
    "sent_parameters",
    "usage_from_headers",
    "usage_record",
]

converter = make_converter()


class UnreadableError(ValueError):
    """A part of a response that cannot be read; its message says what was found."""


def _json_type(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, Mapping) else type(value).__name__


# -- lenient values: the wrong type reads as None ------------------------------------


def _text(value: Any, _: object = None) -> str | None:
    """A non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def _number(value: Any, _: object = None) -> float | None:
    """A finite number, from a JSON number or a numeric string, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _pixels(value: Any, _: object = None) -> int | None:
    """A whole number of pixels above 0 (``768.0`` too), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not value.is_integer():  # NaN and infinities too
        return None
    return int(value) if value > 0 else None


# Responses are read leniently: an optional text or number of the wrong type is unknown.
converter.register_structure_hook(str | None, _text)
converter.register_structure_hook(float | None, _number)


# -- one image entry -------------------------------------------------------------------


def _first_text(entry: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        found = _text(entry.get(key))
        if found is not None:
            return found
    return None


def _image_fields(entry: Any) -> dict[str, Any]:
    """An image entry under :class:`WireImage`'s field names.

    A bare string is a URL or base64. An object names its data ``b64_json``,
    ``image_base64`` or ``b64``, and its type ``mime_type`` or ``content_type``: the
    first that holds a non-empty string wins. A ``data:`` URL in ``url`` (fal.ai's
    sync mode) is the image itself, not a link to fetch.
    """
    if isinstance(entry, str):
        return {"url": entry} if is_http_url(entry) else {"b64": entry}
    if not isinstance(entry, Mapping):
        raise UnreadableError(f"expected an image object or string, found {_json_type(entry)}")
    fields = dict(entry)
    fields["b64"] = _first_text(entry, "b64_json", "image_base64", "b64")
    fields["mime_type"] = _first_text(entry, "mime_type", "content_type")
    url = _text(entry.get("url"))
    if url is not None and is_data_url(url):
        fields["url"], fields["b64"] = None, fields["b64"] or url
    return fields


_image_from_fields = make_dict_structure_fn(
    WireImage, converter, width=override(struct_hook=_pixels), height=override(struct_hook=_pixels)
)


def _structure_image(entry: Any, cls: type[WireImage]) -> WireImage:
    image: WireImage = _image_from_fields(_image_fields(entry), cls)
    return image


converter.register_structure_hook(WireImage, _structure_image)

_images_in_order = list_structure_factory(list[WireImage], converter)


def _structure_image_list(value: Any, cls: Any) -> list[WireImage]:
    if not isinstance(value, list):
        raise UnreadableError(f"expected an array of images, found {_json_type(value)}")
    if not value:
        raise UnreadableError("the image list is empty")
    images: list[WireImage] = _images_in_order(value, cls)
    return images


converter.register_structure_hook_func(lambda cls: cls == list[WireImage], _structure_image_list)


def _object_or_empty(cls: type[Any]) -> Callable[[Any, type[Any]], Any]:
    """The hook of ``cls`` read from an object; anything else reads as ``cls()``."""
    from_fields = make_dict_structure_fn(cls, converter)

    def structure(value: Any, _: type[Any]) -> Any:
        return from_fields(value, cls) if isinstance(value, Mapping) else cls()

    return structure


# A usage or a meta that is not an object tells nothing: every figure is unknown.
converter.register_structure_hook_factory(lambda cls: cls in (WireUsage, Meta), _object_or_empty)


# -- the shapes --------------------------------------------------------------------------


def _shape_of(doc: Any) -> type[ResponseBody]:
    """The shape of a response, told by the first key that holds something."""
    if not isinstance(doc, Mapping):
        raise UnreadableError(f"expected a JSON object, found {_json_type(doc)}")
    if doc.get("data") is not None:
        return DataBody
    if doc.get("images") is not None:
        return ImagesBody
    output = doc.get("output")
    if isinstance(output, Mapping) and output.get("choices") is not None:
        return ChoicesBody
    if isinstance(output, Mapping) and output.get("data") is not None:
        return OutputDataBody
    raise UnreadableError("found no image list ('data', 'images' or 'output')")


def _structure_response(doc: Any, _: type) -> WireResponse:
    body: ResponseBody = converter.structure(doc, _shape_of(doc))
    return WireResponse(
        images=tuple(body.image_list()),
        description=body.description,
        usage=body.reported_usage(),
    )


converter.register_structure_hook(WireResponse, _structure_response)


def _describe(exc: BaseException, cls: type | None) -> str:
    return str(exc) if isinstance(exc, UnreadableError) else format_exception(exc, cls)


def _problems(exc: BaseException) -> str:
    """What could not be read and where, as ``"... @ $.data[0]"``, the first three."""
    found = cattrs.transform_error(exc, format_exception=_describe)
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    return "; ".join(found[:3]) + more


def parse_body(body: bytes, *, request_id: str | None = None) -> WireResponse:
    """Read a success body into a :class:`WireResponse`, or raise :class:`ResponseError`.

    No other exception escapes: not JSON, truncated JSON, nesting deep enough to hit
    the recursion limit, and any shape without images all become ``ResponseError``,
    carrying the first :data:`BODY_EXCERPT_BYTES` of the body.

    Example:
        >>> parse_body(b'{"data": [{"b64_json": "aGk="}]}').images
        (WireImage(url=None, b64='aGk=', mime_type=None, width=None, height=None),)
        >>> try:
        ...     parse_body(b'{"data": [{"b64_json": "aGk="}, 42]}')
        ... except ResponseError as exc:
        ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
        the response could not be read:
        expected an image object or string, found a number @ $.data[1]
    """
    excerpt = body[:BODY_EXCERPT_BYTES]
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        kind = "empty" if not body.strip() else "not valid JSON"
        raise ResponseError(
            f"the response is {kind} ({type(exc).__name__})", request_id=request_id, body=excerpt
        ) from None
    try:
        wire: WireResponse = converter.structure(doc, WireResponse)
    except (cattrs.BaseValidationError, ValueError, TypeError, RecursionError) as exc:
        raise ResponseError(
            f"the response could not be read: {_problems(exc)}", request_id=request_id, body=excerpt
        ) from None
    return wire


def usage_from_headers(headers: Mapping[str, str]) -> WireUsage:
    """Usage from the ``x-aimlapi-credits-used`` and ``x-aimlapi-usd-spent`` headers.

    Example:
        >>> usage_from_headers({"x-aimlapi-usd-spent": "0.039"})
        WireUsage(credits_used=None, usd_spent=0.039, tokens_used=None)
    """
    return WireUsage(
        credits_used=_number(headers.get("x-aimlapi-credits-used")),
        usd_spent=_number(headers.get("x-aimlapi-usd-spent")),
    )


# -- what is sent, and the key of a request ---------------------------------------------

converter.register_unstructure_hook(
    WireRequest, make_dict_unstructure_fn(WireRequest, converter, _cattrs_omit_if_default=True)
)
converter.register_unstructure_hook(ImageRequest, ImageRequest.to_dict)


def request_body(request: ImageRequest, model: str, image_urls: list[str] | None) -> dict[str, Any]:
    """The JSON body sent for ``request``: only what was set, then ``extra_body``.

    Example:
        >>> from nanobanana import ImageRequest
        >>> request_body(ImageRequest(prompt="a red kite", aspect_ratio="16:9"), "google/x", None)
        {'model': 'google/x', 'prompt': 'a red kite', 'aspect_ratio': '16:9'}
    """
    wire = WireRequest(
        model=model,
        prompt=request.prompt,
        num_images=request.num_images,
        aspect_ratio=request.aspect_ratio,
        resolution=request.resolution,
        provider=request.provider,
        enable_web_search=request.enable_web_search,
        image_urls=image_urls or None,
    )
    body: dict[str, Any] = converter.unstructure(wire)
    body.update(request.extra_body)
    return body


def sent_parameters(request: ImageRequest) -> dict[str, Any]:
    """The parameters of ``request`` that are sent besides the model, prompt and images:
    those set, then ``extra_body``. A manifest records them.

    Example:
        >>> from nanobanana import ImageRequest
        >>> sent_parameters(ImageRequest(prompt="a red kite", resolution="2K", tag="kites"))
        {'resolution': '2K'}
    """
    body = request_body(request, "", None)
    del body["model"], body["prompt"]
    return body


def request_key(request: ImageRequest, model: str | None = None) -> str:
    """A stable key of ``request``: the SHA-256 of its canonical JSON, shortened.

    Two requests with the same content get the same key whatever their position in
    an input file, so a manifest still matches after the input is reordered.
    ``model``, when given, stands in for the request's own (the model it is sent to).
    The canonical JSON is :meth:`ImageRequest.to_dict` with sorted keys, no spaces and
    no ASCII escapes; a lone surrogate in a prompt is encoded as it is.

    Example:
        >>> from nanobanana import ImageRequest
        >>> request_key(ImageRequest(prompt="a red kite"), "google/x")
        'ea60da7d9fbafe533172e2ef84e1be75'
    """
    doc: dict[str, Any] = converter.unstructure(request)
    if model is not None:
        doc["model"] = model
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# -- the batch's manifest ------------------------------------------------------------------

converter.register_unstructure_hook(
    Usage, make_dict_unstructure_fn(Usage, converter, _cattrs_omit_if_default=True)
)
_record_fields = make_dict_unstructure_fn(
    ManifestRecord, converter, elapsed=override(unstruct_hook=lambda seconds: round(seconds, 3))
)
_ALWAYS_WRITTEN = frozenset({"index", "key", "status", "prompt", "attempts", "elapsed"})


def _unstructure_record(record: ManifestRecord) -> dict[str, Any]:
    # Fields in the order they are declared; the optional ones only when set.
    return {
        name: value
        for name, value in _record_fields(record).items()
        if name in _ALWAYS_WRITTEN or _is_set(name, value)
    }


def _is_set(name: str, value: Any) -> bool:
    if name in ("parameters", "vars") and value == {}:
        return False
    return value is not None and value != []  # an empty usage is {}, as it always was


converter.register_unstructure_hook(ManifestRecord, _unstructure_record)


def usage_record(usage: Usage) -> dict[str, float]:
    """The figures of ``usage`` the API reported (the fields that are not ``None``).

    Example:
        >>> from nanobanana import Usage
        >>> usage_record(Usage(usd_spent=0.039))
        {'usd_spent': 0.039}
    """
    record: dict[str, float] = converter.unstructure(usage)
    return record


def manifest_line(record: ManifestRecord) -> dict[str, Any]:
    """The JSON object of one manifest line, ready for ``json.dumps``.

    Fields that are ``None`` or empty are left out, except ``key`` and ``prompt``;
    ``usage`` holds only the figures reported; ``elapsed`` is rounded to milliseconds.

    Example:
        >>> from nanobanana import Usage
        >>> manifest_line(ManifestRecord(
        ...     index=0, key="ea60da7d9fbafe533172e2ef84e1be75", status="ok", prompt="a red kite",
        ...     paths=["000000-a-red-kite.png"], attempts=1, elapsed=1.23456,
        ...     usage=Usage(usd_spent=0.039),
        ... ))  # doctest: +NORMALIZE_WHITESPACE
        {'index': 0, 'key': 'ea60da7d9fbafe533172e2ef84e1be75', 'status': 'ok',
         'prompt': 'a red kite', 'paths': ['000000-a-red-kite.png'], 'attempts': 1,
         'elapsed': 1.235, 'usage': {'usd_spent': 0.039}}
    """
    line: dict[str, Any] = converter.unstructure(record)
    return line
