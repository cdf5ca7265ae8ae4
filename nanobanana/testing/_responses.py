"""Images and response bodies of the fake server, built for speed.

Everything here runs on the server's event loop for each successful request, so the
expensive parts are cached: a PNG and its base64 are made once per (prompt, index,
size, padding), and the base64 is spliced into the JSON as bytes instead of going
through ``json.dumps`` (which would scan and copy megabytes per response).
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import attrs

from ._faults import MALFORMED_KINDS
from ._png import encode_padded

__all__ = [
    "RESPONSE_SHAPES",
    "FileStore",
    "Image",
    "ImageCache",
    "Usage",
    "image_dimensions",
    "render_malformed",
    "render_success",
]

#: Response shapes the server can answer with (see :attr:`FakeServer.shape`).
RESPONSE_SHAPES: tuple[str, ...] = ("data_b64", "images_url", "data_url", "nb2", "output_choices")

# Gemini 2.5 Flash Image's documented output sizes divided by 16: small, yet the
# ratio a client sees is the real one (1:1 is 1024x1024, 16:9 is 1344x768, ...).
_BASE_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (64, 64),
    "2:3": (52, 78),
    "3:2": (78, 52),
    "3:4": (54, 74),
    "4:3": (74, 54),
    "4:5": (56, 72),
    "5:4": (72, 56),
    "9:16": (48, 84),
    "16:9": (84, 48),
    "21:9": (96, 42),
}
_SCALE = {"1K": 1, "2K": 2, "4K": 4}
# The token count Gemini bills per output image; the Pro pages report tokens.
_TOKENS_PER_IMAGE = 1290
# Stands in for base64 text in the JSON; random so no prompt can contain it.
_MARK = f"nanobanana-image-{uuid.uuid4().hex}"
_MARK_BYTES = _MARK.encode()


def image_dimensions(
    aspect_ratio: str, resolution: str, override: tuple[int, int] | None
) -> tuple[int, int]:
    """The fake's output size: ``override``, or the ratio's base size scaled by resolution."""
    if override is not None:
        return override
    width, height = _BASE_SIZES.get(aspect_ratio, _BASE_SIZES["1:1"])
    scale = _SCALE.get(resolution, 1)
    return width * scale, height * scale


@attrs.frozen
class Image:
    """A generated PNG with its base64 (ASCII bytes) and size."""

    png: bytes = attrs.field(repr=False)
    b64: bytes = attrs.field(repr=False)
    width: int
    height: int


@attrs.frozen
class Usage:
    """The billing figures of one response."""

    images: int
    credits: float
    usd: float


class ImageCache:
    """Least-recently-used images, bounded in count and in bytes.

    Only the server's event loop touches it, so it needs no lock.
    """

    def __init__(self, max_items: int = 4096, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._items: OrderedDict[tuple[str, int, int, int, int | None], Image] = OrderedDict()
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._bytes = 0

    def get(self, prompt: str, index: int, size: tuple[int, int], pad_to: int | None) -> Image:
        key = (prompt, index, size[0], size[1], pad_to)
        image = self._items.get(key)
        if image is not None:
            self._items.move_to_end(key)
            return image
        png, b64 = encode_padded(
            size[0], size[1], f"{index}\x00{prompt}".encode("utf-8", "surrogatepass"), pad_to
        )
        image = Image(png, b64, size[0], size[1])
        self._items[key] = image
        self._bytes += len(png) + len(b64)
        while len(self._items) > self._max_items or (
            self._bytes > self._max_bytes and len(self._items) > 1
        ):
            _, old = self._items.popitem(last=False)
            self._bytes -= len(old.png) + len(old.b64)
        return image


class FileStore:
    """The images served at ``/files/<id>.png``; the oldest go first past ``limit``.

    Entries reference images of the :class:`ImageCache`, so a repeated prompt costs no
    memory here beyond the entry itself.
    """

    def __init__(self, limit: int) -> None:
        self._items: OrderedDict[str, Image] = OrderedDict()
        self._limit = limit

    def add(self, image: Image) -> str:
        file_id = uuid.uuid4().hex
        self._items[file_id] = image
        while len(self._items) > self._limit:
            self._items.popitem(last=False)
        return file_id

    def get(self, file_id: str) -> Image | None:
        return self._items.get(file_id)


def _number(value: float) -> int | float:
    # Rounded so 3 * 0.039 reads 0.117, not 0.11699999999999999.
    return int(value) if float(value).is_integer() else round(float(value), 10)


def _describe(prompt: str) -> str:
    return f"Here is your image: {prompt[:200]}"


def _splice(payload: Any, blobs: Sequence[bytes]) -> bytes:
    parts = json.dumps(payload, separators=(",", ":")).encode().split(_MARK_BYTES)
    out = [parts[0]]
    for blob, rest in zip(blobs, parts[1:], strict=True):
        out.append(blob)
        out.append(rest)
    return b"".join(out)


def render_success(
    shape: str,
    images: Sequence[Image],
    prompt: str,
    usage: Usage,
    files: FileStore,
    base_url: str,
) -> bytes:
    """The JSON body of a successful generation, in one of :data:`RESPONSE_SHAPES`."""

    def url(image: Image) -> str:
        return f"{base_url}/files/{files.add(image)}.png"

    credits, usd = _number(usage.credits), _number(usage.usd)
    payload: dict[str, Any]
    if shape == "data_b64":
        payload = {
            "data": [{"url": None, "b64_json": _MARK} for _ in images],
            "meta": {"usage": {"credits_used": credits, "usd_spent": usd}},
        }
        return _splice(payload, [image.b64 for image in images])
    if shape == "output_choices":
        payload = {
            "output": {"choices": [{"image_base64": _MARK} for _ in images]},
            "description": _describe(prompt),
        }
        return _splice(payload, [image.b64 for image in images])
    if shape == "images_url":
        payload = {
            "images": [
                {
                    "url": url(image),
                    "content_type": "image/png",
                    "file_name": "output.png",
                    "file_size": len(image.png),
                    "width": image.width,
                    "height": image.height,
                }
                for image in images
            ],
            "description": _describe(prompt),
        }
    elif shape == "data_url":
        payload = {
            "description": "",
            "data": [
                {
                    "url": url(image),
                    "content_type": "image/png",
                    "width": image.width,
                    "height": image.height,
                    "file_name": "output.png",
                }
                for image in images
            ],
            "meta": {"usage": {"tokens_used": _TOKENS_PER_IMAGE * usage.images}},
        }
    elif shape == "nb2":
        payload = {
            "data": [
                {"mime_type": "image/png", "b64_json": None, "url": url(image)} for image in images
            ],
            "meta": {"usage": {"credits_used": credits}},
        }
    else:
        raise ValueError(f"unknown response shape {shape!r}")
    return json.dumps(payload, separators=(",", ":")).encode()


_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head>"
    b"<body><h1>Sign in</h1><p>This network requires you to sign in before "
    b"browsing.</p></body></html>\n"
)


def render_malformed(kind: str, success: bytes, usage: Usage) -> tuple[bytes, str]:
    """The body and content type of a 200 response a client cannot use.

    Args:
        kind: One of :data:`MALFORMED_KINDS`.
        success: The body a normal answer would have had (``"truncated"`` cuts it).
        usage: Billing figures for the JSON kinds.
    """
    meta = {"usage": {"credits_used": _number(usage.credits), "usd_spent": _number(usage.usd)}}
    if kind == "not_json":
        return b"\x00\x1f<<< not json at all >>>\n", "text/html; charset=utf-8"
    if kind == "bad_json":
        return b"{'data': [this is not JSON]}", "application/json"
    if kind == "truncated":
        return success[: max(1, len(success) // 2)], "application/json"
    if kind == "no_image":
        return json.dumps({"data": [], "meta": meta}).encode(), "application/json"
    if kind == "null_data":
        return json.dumps({"data": None, "meta": None}).encode(), "application/json"
    if kind == "bad_base64":
        data = [{"url": None, "b64_json": "iVBORw0K!!not*base64@@"}]
        return json.dumps({"data": data, "meta": meta}).encode(), "application/json"
    if kind == "html":
        return _HTML_PAGE, "text/html; charset=utf-8"
    if kind == "empty":
        return b"", "application/json"
    raise ValueError(f"unknown malformed kind {kind!r}; expected one of {MALFORMED_KINDS}")
