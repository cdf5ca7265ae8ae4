"""Images and response bodies of the fake server.

Benchmarks drive the server at thousands of responses a second, with images of up to
a few megabytes, so two costs are kept off each response. Images are cached: a PNG
and its base64 are made once per prompt, index, size and padding. And the base64 is
spliced into the JSON as bytes: ``json.dumps`` spends about 10 ms on the base64 of a
1.5 MB image, which would hold a benchmark server near 100 responses a second.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import attrs

from ._faults import MALFORMED_KINDS
from ._png import make_png

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

#: The shapes a successful response can take (see :attr:`FakeServer.shape`).
RESPONSE_SHAPES: tuple[str, ...] = ("data_b64", "images_url", "data_url", "nb2", "output_choices")
# The shapes that carry images as base64, and those that link to them.
_INLINE_SHAPES = ("data_b64", "output_choices")
_LINKED_SHAPES = ("images_url", "data_url", "nb2")

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
        seed = f"{index}\x00{prompt}".encode("utf-8", "surrogatepass")
        png = make_png(size[0], size[1], seed, pad_to)
        image = Image(png, base64.b64encode(png), size[0], size[1])
        self._items[key] = image
        self._bytes += len(image.png) + len(image.b64)
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


def _usage_meta(usage: Usage) -> dict[str, Any]:
    return {"usage": {"credits_used": _number(usage.credits), "usd_spent": _number(usage.usd)}}


def _describe(prompt: str) -> str:
    return f"Here is your image: {prompt[:200]}"


def _splice(payload: Any, blobs: Sequence[bytes]) -> bytes:
    """``payload`` as JSON, its placeholder strings replaced by ``blobs`` in order."""
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
    """The JSON body of a successful generation, in one of :data:`RESPONSE_SHAPES`.

    The URL shapes link every image under ``base_url``, keeping it in ``files``.
    """
    if shape in _INLINE_SHAPES:
        payload = _inline_payload(shape, len(images), prompt, usage)
        return _splice(payload, [image.b64 for image in images])
    if shape not in _LINKED_SHAPES:
        raise ValueError(f"unknown response shape {shape!r}")
    links = [(image, f"{base_url}/files/{files.add(image)}.png") for image in images]
    return json.dumps(_linked_payload(shape, links, prompt, usage), separators=(",", ":")).encode()


def _inline_payload(shape: str, count: int, prompt: str, usage: Usage) -> dict[str, Any]:
    """A body carrying base64 images, each one a placeholder for :func:`_splice`."""
    if shape == "data_b64":
        return {
            "data": [{"url": None, "b64_json": _MARK} for _ in range(count)],
            "meta": _usage_meta(usage),
        }
    return {
        "output": {"choices": [{"image_base64": _MARK} for _ in range(count)]},
        "description": _describe(prompt),
    }


def _linked_payload(
    shape: str, links: Sequence[tuple[Image, str]], prompt: str, usage: Usage
) -> dict[str, Any]:
    """A body pointing at each image by URL."""
    if shape == "images_url":
        return {
            "images": [
                {
                    "url": url,
                    "content_type": "image/png",
                    "file_name": "output.png",
                    "file_size": len(image.png),
                    "width": image.width,
                    "height": image.height,
                }
                for image, url in links
            ],
            "description": _describe(prompt),
        }
    if shape == "data_url":
        return {
            "description": "",
            "data": [
                {
                    "url": url,
                    "content_type": "image/png",
                    "width": image.width,
                    "height": image.height,
                    "file_name": "output.png",
                }
                for image, url in links
            ],
            "meta": {"usage": {"tokens_used": _TOKENS_PER_IMAGE * usage.images}},
        }
    return {  # nb2
        "data": [{"mime_type": "image/png", "b64_json": None, "url": url} for _, url in links],
        "meta": {"usage": {"credits_used": _number(usage.credits)}},
    }


_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head>"
    b"<body><h1>Sign in</h1><p>This network requires you to sign in before "
    b"browsing.</p></body></html>\n"
)


def render_malformed(kind: str, success: bytes, usage: Usage) -> tuple[bytes, str]:
    """The body and content type of a 200 response a client cannot use.

    Args:
        kind: One of :data:`MALFORMED_KINDS`.
        success: The body a normal response would have had (``"truncated"`` cuts it).
        usage: Billing figures for the JSON kinds.
    """
    meta = _usage_meta(usage)
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
