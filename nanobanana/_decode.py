"""A successful response, turned into an :class:`ImageResult`.

The converter reads the JSON into wire classes; this module decodes each image
(base64, or a URL fetched through the ``download`` callable it is given), checks
that the bytes are an image, reads its size, and merges the usage reported in the
body with the one in the ``x-aimlapi-*`` headers.
"""

from __future__ import annotations

import binascii
from collections.abc import Awaitable, Callable, Mapping

import anyio

from ._amend import amended
from ._b64 import decode as b64decode
from ._converter import WireImage, WireResponse, parse_body, usage_from_headers
from ._errors import BODY_EXCERPT_BYTES, ResponseError
from ._imaging import image_size, sniff_mime
from ._models import GeneratedImage, ImageResult, Usage
from ._urls import is_data_url

__all__ = ["Download", "decode_response"]

#: Fetches an image URL of a response: ``await download(url)`` gives its bytes.
Download = Callable[[str], Awaitable[bytes]]


async def decode_response(
    body: bytes,
    headers: Mapping[str, str],
    *,
    model: str,
    download: Download,
    redact: Callable[[bytes], bytes],
) -> ImageResult:
    """The :class:`ImageResult` of a 2xx response.

    Args:
        body: The response body.
        headers: The response headers (``x-inference-id``, ``x-aimlapi-*``).
        model: The model the request was sent with.
        download: Fetches the images the response gives as URLs.
        redact: Blanks the API key out of a body excerpt kept by an error.

    Raises:
        ResponseError: the response has no usable image (its ``body`` is the start of
            the response, redacted).
    """
    request_id = headers.get("x-inference-id")
    try:
        wire = parse_body(body, request_id=request_id)
        images = await _images(wire, download, request_id)
    except ResponseError as exc:
        excerpt = exc.body or body[:BODY_EXCERPT_BYTES]
        raise amended(exc, body=redact(excerpt)) from exc
    return ImageResult(
        images=images,
        model=model,
        description=wire.description,
        usage=_usage(wire, headers),
        request_id=request_id,
    )


async def _images(
    wire: WireResponse, download: Download, request_id: str | None
) -> tuple[GeneratedImage, ...]:
    """Every image of ``wire``, in order; several URLs are fetched at the same time."""
    fetched: dict[int, bytes] = {}

    async def fetch(position: int, url: str) -> None:
        fetched[position] = await download(url)

    urls: dict[int, str] = {}
    for position, item in enumerate(wire.images):
        if item.b64 is not None:
            continue
        if item.url is None:
            raise ResponseError(
                "an image entry has neither base64 data nor a URL", request_id=request_id
            )
        urls[position] = item.url
    if urls:
        try:
            async with anyio.create_task_group() as tg:
                for position, url in urls.items():
                    tg.start_soon(fetch, position, url)
        except* ResponseError as group:  # the first error itself, not a group of one
            raise group.exceptions[0] from None
    return tuple(
        _image(fetched[i] if i in fetched else _decode_b64(item.b64, request_id), item, request_id)
        for i, item in enumerate(wire.images)
    )


def _image(data: bytes, item: WireImage, request_id: str | None) -> GeneratedImage:
    mime = sniff_mime(data)
    if mime is None:
        raise ResponseError(
            f"an image in the response is not a PNG, JPEG, WEBP or GIF ({len(data)} bytes)",
            request_id=request_id,
        )
    width, height = item.width, item.height
    if width is None or height is None:
        size = image_size(data, mime)
        if size is not None:
            width, height = size
    return GeneratedImage(data=data, mime_type=mime, url=item.url, width=width, height=height)


def _decode_b64(text: str | None, request_id: str | None) -> bytes:
    text = text or ""
    if is_data_url(text):
        _, sep, text = text.partition(",")
        if not sep:
            raise ResponseError("a data URL in the response has no payload", request_id=request_id)
    try:
        data = b64decode(text)
    except (binascii.Error, ValueError):
        raise ResponseError("an image's base64 data is invalid", request_id=request_id) from None
    if not data:
        raise ResponseError("an image's base64 data is empty", request_id=request_id)
    return data


def _usage(wire: WireResponse, headers: Mapping[str, str]) -> Usage:
    """The usage in the body, completed from the headers where the body is silent."""
    body, head = wire.usage, usage_from_headers(headers)
    return Usage(
        credits_used=body.credits_used if body.credits_used is not None else head.credits_used,
        usd_spent=body.usd_spent if body.usd_spent is not None else head.usd_spent,
        tokens_used=body.tokens_used,
    )
