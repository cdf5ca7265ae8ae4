"""What a generate or edit call returns: the images, their usage, the whole result.

These values are built from the API's response by the client; saving an image
writes it atomically.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import attrs

from ._files import atomic_write
from ._imaging import SUFFIXES
from ._provenance import GenerationRecord, record_json, sidecar_path, stamp
from ._usage import Usage, money_repr

__all__ = ["GeneratedImage", "ImageResult", "Usage", "money_repr", "write_image"]


@attrs.frozen(kw_only=True)
class GeneratedImage:
    """One image the API returned.

    Attributes:
        data: The image file's bytes (fetched already when the API answered with a URL).
        mime_type: Sniffed from ``data`` (``image/png``, ``image/jpeg``, ...), never
            taken on trust from the server.
        url: Where the API made the image available, when it answered with a URL.
        width: Pixels, when the API said or the header could be read.
        height: Pixels, likewise.
        record: What made the image (prompt, model, parameters, request id, usage),
            written into the file by :meth:`save`; ``None`` when the call was made
            with ``metadata=False``.

    Example:
        >>> import nanobanana as nb
        >>> img = nb.GeneratedImage(data=b"\\x89PNG\\r\\n\\x1a\\n", mime_type="image/png")
        >>> img.suffix
        '.png'
    """

    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    mime_type: str
    url: str | None = None
    width: int | None = None
    height: int | None = None
    record: GenerationRecord | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def suffix(self) -> str:
        """The file suffix that goes with :attr:`mime_type` (``.png``, ``.jpg``, ...).

        Example:
            >>> import nanobanana as nb
            >>> nb.GeneratedImage(data=b"\\xff\\xd8\\xff", mime_type="image/jpeg").suffix
            '.jpg'
        """
        return SUFFIXES.get(self.mime_type, ".bin")

    @property
    def default_name(self) -> str:
        """A stable file name: ``image-`` and the start of the bytes' SHA-256, plus suffix.

        Example:
            >>> import nanobanana as nb
            >>> img = nb.GeneratedImage(data=b"\\x89PNG\\r\\n\\x1a\\n", mime_type="image/png")
            >>> img.default_name
            'image-4c4b6a3be1314ab8.png'
        """
        return f"image-{hashlib.sha256(self.data).hexdigest()[:16]}{self.suffix}"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image to ``path`` atomically and return where it went.

        The bytes go to a temporary file beside the target, then are renamed over it,
        so a reader never sees half an image, even if the process dies mid-write. When
        ``path`` is an existing directory (or ends with a path separator), the file is
        named :attr:`default_name` inside it.

        The image's :attr:`record` goes into the file (PNG text chunks, XMP in a JPEG
        or WebP), inserted byte by byte: the pixels are not touched. A C2PA-signed
        image is written exactly as received, and the record beside it in
        ``NAME.json`` (see :func:`read_metadata`).

        Example:
            >>> import tempfile, nanobanana as nb
            >>> img = nb.GeneratedImage(data=b"\\x89PNG\\r\\n\\x1a\\n", mime_type="image/png")
            >>> img.save(tempfile.mkdtemp()).suffix
            '.png'
        """
        target = Path(path)
        if target.is_dir() or str(path).endswith((os.sep, "/")):
            target.mkdir(parents=True, exist_ok=True)
            target = target / self.default_name
        write_image(target, self)
        return target


@attrs.frozen(kw_only=True)
class ImageResult:
    """What one generate or edit call returned.

    Attributes:
        images: The images, in the order the API listed them (at least one).
        model: The model id the request was sent with.
        description: Text the model wrote beside the images, if any.
        usage: Credits, USD and tokens, from the body or the ``x-aimlapi-*`` headers.
        request_id: The API's ``x-inference-id`` for this response.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer() as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url
        ... ) as client:
        ...     result = client.generate("a red kite", model=nb.Model.NANO_BANANA_PRO)
        ...     print(len(result.images), result.model)
        1 google/nano-banana-pro
    """

    images: tuple[GeneratedImage, ...]
    model: str
    description: str | None = None
    usage: Usage = attrs.field(factory=Usage)
    request_id: str | None = None

    @property
    def image(self) -> GeneratedImage:
        """The first image: the only one when ``num_images`` was 1.

        Example:
            >>> import nanobanana as nb
            >>> img = nb.GeneratedImage(data=b"\\x89PNG\\r\\n\\x1a\\n", mime_type="image/png")
            >>> nb.ImageResult(images=(img,), model="google/nano-banana-pro").image is img
            True
        """
        return self.images[0]

    def save(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Save every image into ``directory`` (created if missing); return the paths.

        Example:
            >>> import tempfile, nanobanana as nb
            >>> img = nb.GeneratedImage(data=b"\\x89PNG\\r\\n\\x1a\\n", mime_type="image/png")
            >>> result = nb.ImageResult(images=(img,), model="google/nano-banana-pro")
            >>> paths = result.save(tempfile.mkdtemp())
            >>> paths[0].name
            'image-4c4b6a3be1314ab8.png'
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        return [img.save(folder) for img in self.images]


def write_image(target: Path, image: GeneratedImage, tag: str = "") -> None:
    """Write ``image`` to the file ``target`` atomically, with its record when it has one.

    The record goes inside the file, or (for a C2PA-signed image, whose bytes are left
    as they came) beside it in ``NAME.json``. ``tag`` marks the temporary file (see
    :func:`atomic_write`).
    """
    if image.record is None:
        atomic_write(target, image.data, tag)
        return
    data, sidecar = stamp(image.data, image.record)
    atomic_write(target, data, tag)
    if sidecar:
        atomic_write(sidecar_path(target), record_json(image.record, indent=2).encode(), tag)
