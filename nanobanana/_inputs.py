"""Input images for edits: local paths and bytes become base64 data URLs.

The MIME type of a data URL is sniffed from the bytes, never guessed from the file
suffix. ``http(s)`` URLs are passed through for the API to fetch; a URL of any other
scheme (``ftp://``, ``file://``...) is refused, by name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import anyio.to_thread

from ._b64 import encode as b64encode
from ._errors import ValidationError
from ._imaging import sniff_mime
from ._models import ImageInput
from ._urls import is_data_url, is_http_url, is_url

__all__ = ["check_image", "encode_images"]

_KINDS = "PNG, JPEG, WEBP or GIF"
#: ``scheme://`` at the start of a string: a URL, not a path.
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def _check_scheme(item: str, field: str) -> None:
    match = _SCHEME.match(item)
    if match is not None and not is_http_url(item):
        raise ValidationError(
            field,
            f"{match[1]}:// URLs are not supported, only http:// and https:// "
            f"(or a local path, bytes, a data: URL): {item!r}",
        )


def check_image(item: ImageInput, field: str) -> None:
    """Refuse an input image that cannot be sent, without reading it: a URL of a
    scheme other than ``http(s)``, a path that does not exist or is a directory.

    Example:
        >>> check_image("https://example.com/cat.png", "images[0]")
        >>> try:
        ...     check_image("ftp://example.com/cat.png", "images[0]")
        ... except ValueError as exc:
        ...     print(str(exc)[:46])
        images[0]: ftp:// URLs are not supported, only
    """
    if isinstance(item, bytes) or (isinstance(item, str) and is_url(item)):
        return
    if isinstance(item, str):
        _check_scheme(item, field)
    path = Path(os.fspath(item)).expanduser()
    if path.is_dir():
        raise ValidationError(field, f"is a directory, not an image: {os.fspath(path)!r}")
    if not path.exists():
        raise ValidationError(field, f"no such file: {os.fspath(path)!r}")


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
    if isinstance(item, str):
        _check_scheme(item, field)
    path = Path(os.fspath(item)).expanduser()
    return _data_url(_read(path, field), field, repr(os.fspath(path)))


def _encode_all(images: tuple[ImageInput, ...]) -> list[str]:
    return [_encode_one(item, f"images[{i}]") for i, item in enumerate(images)]


async def encode_images(images: tuple[ImageInput, ...]) -> list[str]:
    """Turn each input image into what ``image_urls`` takes.

    Files are read and encoded in a worker thread so that large inputs do not stall
    the event loop.

    Raises:
        ValidationError: a path that does not exist or is a directory, a file or bytes
            that are not a PNG, JPEG, WEBP or GIF image, a malformed data URL, a URL
            whose scheme is not ``http(s)``. ``field`` names the
            position, as in ``images[2]``.
    """
    if all(isinstance(item, str) and is_http_url(item) for item in images):
        return [str(item) for item in images]  # nothing to read: no worker thread
    return await anyio.to_thread.run_sync(_encode_all, images)
