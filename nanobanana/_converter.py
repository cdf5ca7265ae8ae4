"""The one cattrs converter: every wire name, response shape and hook lives here.

Strict about what is sent, lenient about what is read. The API has answered in (at
least) five shapes over its life; each one is normalised here into the same wire
classes, so nothing above this module knows there was more than one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring
from typing import Any, Protocol, cast

import attrs
import cattrs
from cattrs.preconf.json import make_converter

from ._errors import ResponseError
from ._models import ImageRequest

__all__ = [
    "WireImage",
    "WireResponse",
    "WireUsage",
    "converter",
    "parse_body",
    "request_body",
    "request_key",
    "usage_from_headers",
]

converter = make_converter()


# The wire classes are internal and built once per answer: plain (not frozen) slotted
# classes, whose __init__ assigns directly, cost a fraction of frozen ones.


@attrs.define
class WireImage:
    """One image entry of an answer, before its bytes are decoded or fetched."""

    url: str | None = None
    b64: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None


@attrs.define
class WireUsage:
    credits_used: float | None = None
    usd_spent: float | None = None
    tokens_used: float | None = None


@attrs.define
class WireResponse:
    images: tuple[WireImage, ...]
    description: str | None = None
    usage: WireUsage = attrs.field(factory=WireUsage)


def _is_mapping(value: Any) -> bool:
    # json.loads makes dicts: the exact type check spares an ABC check per call.
    return type(value) is dict or isinstance(value, Mapping)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return None


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def _structure_image(obj: Any, _: type) -> WireImage:
    if isinstance(obj, str):  # a bare base64 string or URL in a list
        if obj.startswith(("http://", "https://")):
            return WireImage(url=obj)
        return WireImage(b64=obj)
    if not _is_mapping(obj):
        raise ResponseError(f"an image entry is a {type(obj).__name__}, not an object")
    # This runs for every image of every answer: the common keys are checked inline,
    # and an absent key costs no call.
    get = obj.get
    b64 = get("b64_json")
    if type(b64) is not str or not b64:
        b64 = _str(b64) or _str(get("image_base64")) or _str(get("b64"))
    url = get("url")
    if url is not None and (type(url) is not str or not url):
        url = _str(url)
    if url is not None and url[:5].lower() == "data:":  # fal.ai's sync mode: no URL to fetch
        b64, url = b64 or url, None
    mime = get("mime_type")
    mime = None if mime is None else _str(mime)
    if mime is None:
        mime = get("content_type")
        mime = None if mime is None else _str(mime)
    width, height = get("width"), get("height")
    return WireImage(
        url,
        b64,
        mime,
        None if width is None else _int(width),
        None if height is None else _int(height),
    )


def _structure_usage(obj: Any, _: type) -> WireUsage:
    if not _is_mapping(obj):
        return WireUsage()
    credits, usd, tokens = obj.get("credits_used"), obj.get("usd_spent"), obj.get("tokens_used")
    return WireUsage(
        None if credits is None else _num(credits),
        None if usd is None else _num(usd),
        None if tokens is None else _num(tokens),
    )


def _image_list(doc: Mapping[str, Any]) -> Any:
    # Shapes 1, 3, 4: "data"; shape 2: "images"; shape 5: "output.choices".
    for key in ("data", "images"):
        if doc.get(key) is not None:
            return doc[key]
    output = doc.get("output")
    if output is not None and _is_mapping(output):
        choices = output.get("choices")
        if choices is not None:
            return choices
        if output.get("data") is not None:
            return output["data"]
    return None


def _structure_response(doc: Any, _: type) -> WireResponse:
    if not _is_mapping(doc):
        raise ResponseError(f"the answer is a JSON {type(doc).__name__}, not an object")
    raw_images = _image_list(doc)
    if raw_images is None:
        raise ResponseError("the answer has no images (no 'data', 'images' or 'output')")
    if not isinstance(raw_images, list):
        raise ResponseError(f"the answer's image list is a {type(raw_images).__name__}")
    # The hooks are called directly: this runs for every answer, and cattrs' dispatch
    # would only find these same functions again.
    images = tuple([_structure_image(item, WireImage) for item in raw_images])
    if not images:
        raise ResponseError("the answer has an empty image list")
    meta = doc.get("meta")
    usage_doc = meta.get("usage") if meta is not None and _is_mapping(meta) else None
    if usage_doc is None:
        usage_doc = doc.get("usage")
    return WireResponse(
        images, _str(doc.get("description")), _structure_usage(usage_doc, WireUsage)
    )


converter.register_structure_hook(WireImage, _structure_image)
converter.register_structure_hook(WireUsage, _structure_usage)
converter.register_structure_hook(WireResponse, _structure_response)


def _unstructure_image_input(item: Any) -> str:
    if isinstance(item, bytes):
        return "sha256:" + hashlib.sha256(item).hexdigest()
    return str(os.fspath(item))


def _unstructure_request(request: ImageRequest) -> dict[str, Any]:
    out: dict[str, Any] = {"prompt": request.prompt}
    if request.model is not None:
        out["model"] = request.model
    if request.num_images is not None:
        out["num_images"] = request.num_images
    if request.aspect_ratio is not None:
        out["aspect_ratio"] = request.aspect_ratio
    if request.resolution is not None:
        out["resolution"] = request.resolution
    if request.images:
        out["images"] = [_unstructure_image_input(i) for i in request.images]
    if request.extra_body:
        out["extra_body"] = dict(request.extra_body)
    return out


converter.register_unstructure_hook(ImageRequest, _unstructure_request)

# Built once: json.dumps with any non-default option builds a new encoder per call.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _Digest(Protocol):
    def hexdigest(self) -> str: ...


def _short_text_sha256() -> Callable[[bytes], _Digest]:
    """CPython's own SHA-256, for the short texts of request keys.

    ``hashlib.sha256`` is OpenSSL's, which goes through its EVP layer: several times the
    code per call. That shows after the process has been idle, as a batch is between
    requests of several seconds. The digest is the same; elsewhere, OpenSSL's.
    """
    for name in ("_sha256", "_sha2"):  # CPython 3.11; 3.12 and later
        try:
            return cast(Callable[[bytes], _Digest], importlib.import_module(name).sha256)
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


_short_sha256 = _short_text_sha256()
_json_string = encode_basestring  # what that encoder writes for a string


def parse_body(body: bytes, *, request_id: str | None = None) -> WireResponse:
    """Parse a success body into a :class:`WireResponse`, or raise :class:`ResponseError`.

    No other exception escapes: not JSON, truncated JSON, nesting deep enough to hit
    the recursion limit, and any shape without images all become ``ResponseError``.
    """
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        kind = "empty" if not body.strip() else "not valid JSON"
        raise ResponseError(
            f"the answer is {kind} ({type(exc).__name__})",
            request_id=request_id,
            body=body[:65536],
        ) from None
    try:
        # The hook itself: cattrs' dispatch would only find this same function.
        return _structure_response(doc, WireResponse)
    except ResponseError as exc:
        raise ResponseError(exc.message, request_id=request_id, body=body[:65536]) from None
    except (cattrs.BaseValidationError, RecursionError, TypeError, ValueError) as exc:
        raise ResponseError(
            f"the answer could not be read: {exc}", request_id=request_id, body=body[:65536]
        ) from None


def usage_from_headers(headers: Mapping[str, str]) -> WireUsage:
    """Usage from the ``x-aimlapi-credits-used`` and ``x-aimlapi-usd-spent`` headers."""
    return WireUsage(
        credits_used=_num(headers.get("x-aimlapi-credits-used")),
        usd_spent=_num(headers.get("x-aimlapi-usd-spent")),
    )


def request_body(request: ImageRequest, model: str, image_urls: list[str] | None) -> dict[str, Any]:
    """The JSON body sent for ``request``: only what was set, then ``extra_body``."""
    body: dict[str, Any] = {"model": model, "prompt": request.prompt}
    if request.num_images is not None:
        body["num_images"] = request.num_images
    if request.aspect_ratio is not None:
        body["aspect_ratio"] = request.aspect_ratio
    if request.resolution is not None:
        body["resolution"] = request.resolution
    if image_urls:
        body["image_urls"] = image_urls
    body.update(request.extra_body)
    return body


def request_key(request: ImageRequest, model: str | None = None) -> str:
    """A stable key of ``request``: the SHA-256 of its canonical JSON, shortened.

    Two requests with the same content get the same key whatever their position in
    an input file, so a manifest still matches after the input is reordered.
    ``model``, when given, stands in for the request's own (the model it is sent to).
    """
    model = request.model if model is None else model
    if (
        model is not None
        and request.num_images is None
        and request.aspect_ratio is None
        and request.resolution is None
        and not request.images
        and not request.extra_body
    ):
        # A prompt and a model, the usual batch item: the text the canonical encoder
        # writes for {"model": ..., "prompt": ...}, without building an encoder.
        text = '{"model":' + _json_string(model) + ',"prompt":' + _json_string(request.prompt) + "}"
    else:
        doc = _unstructure_request(request)
        if model is not None:
            doc["model"] = model
        text = _CANONICAL_JSON.encode(doc)
    # surrogatepass: a prompt with a lone surrogate still gets a key.
    return _short_sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
