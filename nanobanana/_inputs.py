"""Input images for edits: local paths and bytes become base64 data URLs.

The MIME type of a data URL is sniffed from the bytes, never guessed from the file
suffix. ``http(s)`` URLs are passed through for the API to fetch.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio.to_thread

from ._b64 import encode as b64encode
from ._errors import ValidationError
from ._imaging import sniff_mime
from ._models import ImageInput
from ._urls import is_data_url, is_http_url

__all__ = ["encode_images"]

_KINDS = "PNG, JPEG, WEBP or GIF"


def _data_url(data: bytes, field: str, what: str) -> str:
    mime = sniff_mime(data)
    if mime is None:
        raise ValidationError(field, f"{what} is not a {_KINDS} image")
    return f"data:{mime};base64,{b64encode(data).decode('ascii')}"


def _read(path: Path, field: str) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ValidationError(field, f"no such file: {os.fspath(path)!r}") from None
    except IsADirectoryError:
        raise ValidationError(field, f"is a directory, not an image: {os.fspath(path)!r}") from None
    except OSError as exc:
        raise ValidationError(
            field, f"cannot read {os.fspath(path)!r}: {exc.strerror or exc}"
        ) from None


def _encode_one(item: ImageInput, field: str) -> str:
    if isinstance(item, bytes):
        return _data_url(item, field, "the bytes given")
    if isinstance(item, str) and is_http_url(item):
        return item
    if isinstance(item, str) and is_data_url(item):
        if not item[5:].lower().startswith("image/") or ";base64," not in item[:100]:
            raise ValidationError(field, "a data URL must be data:image/...;base64,...")
        return item
    path = Path(os.fspath(item)).expanduser()
    return _data_url(_read(path, field), field, repr(os.fspath(path)))


def _encode_all(images: tuple[ImageInput, ...]) -> list[str]:
    return [_encode_one(item, f"images[{i}]") for i, item in enumerate(images)]


async def encode_images(images: tuple[ImageInput, ...]) -> list[str]:
    """Turn each input image into what ``image_urls`` takes.

    Files are read and encoded in a worker thread so that large inputs do not stall
    the event loop.

    Raises:
        ValidationError: a path that does not exist, a file or bytes that are not a
            PNG, JPEG, WEBP or GIF image, a malformed data URL. ``field`` names the
            position, as in ``images[2]``.
    """
    if all(isinstance(item, str) and is_http_url(item) for item in images):
        return [str(item) for item in images]  # nothing to read: no worker thread
    return await anyio.to_thread.run_sync(_encode_all, images)
