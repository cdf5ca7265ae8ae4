"""The SDK's values: requests, results, images, usage, timeouts. attrs classes only.

Requests are strict: a bad argument raises :class:`ValidationError` when the request
is built, before any I/O. Results are built by the converter from whatever shape the
API answered with; these classes hold no (de)serialization code.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias, TypeVar, cast

import attrs

from ._catalog import ASPECT_RATIOS, RESOLUTIONS, model_info
from ._errors import ValidationError
from ._imaging import SUFFIXES

__all__ = [
    "GeneratedImage",
    "ImageInput",
    "ImageRequest",
    "ImageResult",
    "Timeout",
    "Usage",
]

_T = TypeVar("_T")
_FACTORY: type = type(attrs.Factory(list))  # the class of default factories


def fast_builder(cls: type[_T], *, validated: bool = False) -> Callable[..., _T]:
    """A constructor for the frozen attrs class ``cls`` at about half the cost of its own.

    attrs' ``__init__`` of a frozen class sets every field through
    ``object.__setattr__`` (a frozen class refuses plain assignment); the builder sets
    the slots through their descriptors instead, with the same keyword-only
    parameters and defaults (a field with a default factory must be passed). Only for
    classes whose ``__init__`` does nothing else (no converter, validator or
    post-init), which is checked here; used for the objects made for every answer.
    ``validated=True`` lifts the check, for a caller that passes only values the
    class's own ``__init__`` would have checked and converted to themselves.
    """
    fields = attrs.fields(cast(Any, cls))
    if not validated and (
        hasattr(cls, "__attrs_post_init__")
        or any(f.converter is not None or f.validator is not None for f in fields)
    ):
        raise TypeError(f"{cls.__name__}.__init__ does more than set its fields")
    # A field with a factory default is a required parameter: callers pass it.
    params = ", ".join(
        f"{f.name}=_default_{f.name}"
        if f.default is not attrs.NOTHING and not isinstance(f.default, _FACTORY)
        else f.name
        for f in fields
    )
    lines = [f"def build(*, {params}):", "    self = _new(_cls)"]
    lines += [f"    _set_{f.name}(self, {f.name})" for f in fields]
    lines.append("    return self")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for f in fields:
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        namespace[f"_default_{f.name}"] = f.default
    exec("\n".join(lines), namespace)  # code made from the field names alone
    build: Callable[..., _T] = namespace["build"]
    build.__qualname__ = f"fast_builder({cls.__name__})"
    return build


#: An input image for an edit: a local path, raw bytes, or an ``http(s)``/``data:`` URL.
ImageInput: TypeAlias = str | os.PathLike[str] | bytes

_RESERVED_KEYS = frozenset({"model", "prompt", "num_images", "aspect_ratio", "resolution"})


_NO_EXTRA_BODY: Mapping[str, Any] = MappingProxyType({})


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if value is None or (type(value) is dict and not value):
        return _NO_EXTRA_BODY  # read-only and empty: one instance serves every request
    if not isinstance(value, Mapping):
        raise ValidationError("extra_body", f"must be a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ValidationError("extra_body", f"keys must be strings, got {key!r}")
    return MappingProxyType(dict(value))


def _image_tuple(value: Any) -> tuple[ImageInput, ...]:
    if value is None or (type(value) is tuple and not value):
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
        images: Input images for an edit: paths, bytes, or ``http(s)`` URLs.
        extra_body: Extra JSON fields sent as they are, for parameters the SDK does not
            know yet. They cannot replace the fields above.

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
    images: tuple[ImageInput, ...] = attrs.field(default=(), converter=_image_tuple)
    extra_body: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_frozen_mapping, eq=False, repr=lambda m: repr(dict(m))
    )

    @prompt.validator
    def _check_prompt(self, _: object, value: Any) -> None:
        if not isinstance(value, str):
            raise ValidationError("prompt", f"must be a string, got {type(value).__name__}")
        if not value.strip():
            raise ValidationError("prompt", "must not be blank")

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

    def __attrs_post_init__(self) -> None:
        clash = _RESERVED_KEYS.intersection(self.extra_body) if self.extra_body else None
        if clash:
            raise ValidationError(
                "extra_body",
                f"cannot set {', '.join(sorted(clash))}: use the argument of that name",
            )
        if self.model is not None:
            check_model_params(self, self.model)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, with local paths as strings and bytes as their SHA-256.

        Used for manifests and stable request keys; it is not the wire body.

        Example:
            >>> from nanobanana import ImageRequest
            >>> ImageRequest(prompt="a red kite", num_images=2).to_dict()
            {'prompt': 'a red kite', 'num_images': 2}
        """
        from ._converter import converter

        return converter.unstructure(self)  # type: ignore[no-any-return]


def check_model_params(request: ImageRequest, model: str) -> None:
    """Check the parameters ``model`` documents; an unknown model passes unchecked."""
    info = model_info(model)
    if info is None:
        return
    if request.num_images is not None and not info.num_images:
        raise ValidationError(
            "num_images",
            f"{info.id} does not take num_images; leave it unset (one image per request)",
        )
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


_plain_request = fast_builder(ImageRequest, validated=True)


def prompt_request(prompt: Any) -> ImageRequest:
    """``ImageRequest(prompt=prompt)``, every other field at its default, at a fraction of
    the cost: a valid prompt is the only check such a request needs. For batches of
    prompts and plain ``generate`` calls."""
    if type(prompt) is not str or not prompt.strip():
        return ImageRequest(prompt=prompt)  # raises the usual ValidationError
    return _plain_request(
        prompt=prompt,
        model=None,
        num_images=None,
        aspect_ratio=None,
        resolution=None,
        images=(),
        extra_body=_NO_EXTRA_BODY,
    )


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
    """

    credits_used: float | None = None
    usd_spent: float | None = None
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


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file and a rename.

    The file gets the usual permissions (0666 less the umask), as ``open()`` would give
    it; ``tempfile.mkstemp`` would leave it readable by its owner only.
    """
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@attrs.frozen(kw_only=True)
class ImageResult:
    """What one generate or edit call returned.

    Attributes:
        images: The images, in the order the API listed them (at least one).
        model: The model id the request was sent with.
        description: Text the model wrote beside the images, if any.
        usage: Credits, USD and tokens, from the body or the ``x-aimlapi-*`` headers.
        request_id: The API's ``x-inference-id`` for this answer.

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


def _positive(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 seconds or None, got {value!r}")


@attrs.frozen
class Timeout:
    """Time limits of one request, in seconds (``None``: no limit).

    Attributes:
        total: The whole request, from sending to the last byte of the answer. The
            default, 5 minutes, leaves room for 4K renders of the Pro model.
        connect: Opening a TCP (and TLS) connection to the API. Waiting for a free
            connection in the pool counts against ``total`` only.

    Example:
        >>> from nanobanana import Timeout
        >>> Timeout(total=60).connect
        10.0
    """

    total: float | None = attrs.field(default=300.0, validator=_positive)
    connect: float | None = attrs.field(default=10.0, kw_only=True, validator=_positive)
