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

__all__ = ["GeneratedImage", "ImageResult", "Usage", "money_repr"]


def money_repr(amount: float | None) -> str:
    """How a sum of money shows in a repr: rounded to 6 decimals (the value is kept exact).

    Example:
        >>> money_repr(0.1 + 0.2), money_repr(None), money_repr(81_900.0)
        ('0.3', 'None', '81900.0')
    """
    return "None" if amount is None else repr(round(amount, 6))


@attrs.frozen(kw_only=True)
class Usage:
    """What a request cost, as far as the API reported it.

    Attributes:
        credits_used: AI/ML API credits (``x-aimlapi-credits-used`` or ``credits_used``).
        usd_spent: US dollars (``x-aimlapi-usd-spent`` or ``usd_spent``).
        tokens_used: Tokens, on models that still report them.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer(usd_per_image=0.039) as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url
        ... ) as client:
        ...     print(client.generate("a red kite", num_images=2).usage.usd_spent)
        0.078

        A repr shows money rounded to 6 decimals; the attributes keep the exact sums:

        >>> usage = nb.Usage(usd_spent=0.1 + 0.2)
        >>> usage, usage.usd_spent
        (Usage(credits_used=None, usd_spent=0.3, tokens_used=None), 0.30000000000000004)
    """

    credits_used: float | None = attrs.field(default=None, repr=money_repr)
    usd_spent: float | None = attrs.field(default=None, repr=money_repr)
    tokens_used: float | None = None


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
        atomic_write(target, self.data)
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
