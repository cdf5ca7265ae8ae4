"""Putting a record into image bytes and reading it back, whatever the image type.

A PNG gets three text chunks (see ``_png``); a JPEG or a WebP gets the XMP packet,
which carries the whole record too.

A file signed with C2PA (a PNG ``caBX`` chunk, a JPEG ``APP11`` JUMBF box, a WebP
``C2PA`` chunk) binds a hash of its bytes: inserting anything would break the
signature, so such a file is written exactly as received and its record goes to a
sidecar, ``NAME.json`` beside it (``kite.png.json``). So does the record of a file
that cannot be parsed, of a JPEG or WebP that has an XMP packet of another tool
(kept as it is: a file has one packet), and of a JPEG whose packet would not fit in
one segment (64 KB). A type that has no place for a record (GIF, anything unknown)
is written untouched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import attrs

from .._imaging import sniff_mime
from ._jpeg import jpeg_has_c2pa, jpeg_insert_xmp, jpeg_xmp
from ._png import (
    PARAMETERS_KEYWORD,
    RECORD_KEYWORD,
    XMP_KEYWORD,
    itxt_chunk,
    png_chunks,
    png_insert_texts,
    png_texts,
    text_chunk,
)
from ._record import GenerationRecord, a1111_parameters, record_from_json, record_json
from ._webp import webp_has_c2pa, webp_insert_xmp, webp_xmp
from ._xmp import NS_RECORD, record_from_xmp, xmp_packet

__all__ = ["read_embedded", "read_metadata", "read_record", "sidecar_path", "stamp"]


@attrs.frozen
class _XmpFormat:
    """How one file type holds an XMP packet."""

    has_c2pa: Callable[[bytes], bool]
    xmp: Callable[[bytes], bytes | None]
    insert_xmp: Callable[[bytes, bytes], bytes]


_XMP_FORMATS = {
    "image/jpeg": _XmpFormat(jpeg_has_c2pa, jpeg_xmp, jpeg_insert_xmp),
    "image/webp": _XmpFormat(webp_has_c2pa, webp_xmp, webp_insert_xmp),
}


def sidecar_path(image: Path) -> Path:
    """Where the record of ``image`` goes when it cannot go inside: ``NAME.json``.

    Example:
        >>> sidecar_path(Path("out/kite.png")).as_posix()
        'out/kite.png.json'
    """
    return image.with_name(image.name + ".json")


def stamp(data: bytes, record: GenerationRecord) -> tuple[bytes, bool]:
    """The bytes to write for ``data`` with ``record``, and whether the record goes to
    a sidecar instead (the bytes are then ``data`` itself).

    Example:
        >>> from nanobanana.testing import make_png
        >>> png = make_png(8, 8, b"seed")
        >>> stamped, sidecar = stamp(png, GenerationRecord(prompt="a red kite", model="m"))
        >>> len(stamped) > len(png), sidecar
        (True, False)
        >>> stamp(b"GIF89a", GenerationRecord(prompt="a red kite", model="m"))
        (b'GIF89a', False)
    """
    mime = sniff_mime(data)
    try:
        if mime == "image/png":
            return _stamp_png(data, record)
        if mime in _XMP_FORMATS:
            return _stamp_xmp(data, record, _XMP_FORMATS[mime])
    except ValueError:
        return data, True
    return data, False


def _stamp_png(data: bytes, record: GenerationRecord) -> tuple[bytes, bool]:
    if any(kind == b"caBX" for kind, _ in png_chunks(data)):
        return data, True
    chunks = [
        text_chunk(PARAMETERS_KEYWORD, a1111_parameters(record)),
        itxt_chunk(RECORD_KEYWORD, record_json(record)),
    ]
    replace = {PARAMETERS_KEYWORD, RECORD_KEYWORD}
    xmp = png_texts(data).get(XMP_KEYWORD)
    if xmp is None or NS_RECORD.encode() in xmp:  # one packet a file: another's is kept
        chunks.append(itxt_chunk(XMP_KEYWORD, xmp_packet(record)))
        replace.add(XMP_KEYWORD)
    return png_insert_texts(data, chunks, replace), False


def _stamp_xmp(data: bytes, record: GenerationRecord, kind: _XmpFormat) -> tuple[bytes, bool]:
    if kind.has_c2pa(data):
        return data, True
    old = kind.xmp(data)
    if old is not None and NS_RECORD.encode() not in old:
        return data, True
    return kind.insert_xmp(data, xmp_packet(record)), False


def read_embedded(data: bytes) -> GenerationRecord | None:
    """The record inside image bytes, or ``None`` (none there, or not readable).

    Example:
        >>> from nanobanana.testing import make_png
        >>> record = GenerationRecord(prompt="a red kite", model="m")
        >>> read_embedded(stamp(make_png(8, 8, b"seed"), record)[0]) == record
        True
    """
    mime = sniff_mime(data)
    try:
        if mime == "image/png":
            texts = png_texts(data)
            if RECORD_KEYWORD in texts:
                return record_from_json(texts[RECORD_KEYWORD])
            packet = texts.get(XMP_KEYWORD)
        elif mime in _XMP_FORMATS:
            packet = _XMP_FORMATS[mime].xmp(data)
        else:
            return None
    except ValueError:
        return None
    return record_from_xmp(packet) if packet is not None else None


def read_metadata(path: str | os.PathLike[str]) -> GenerationRecord | None:
    """The generation record of an image file the SDK saved, or ``None``.

    The record is read from inside the file, else from its sidecar ``NAME.json``
    (written beside a C2PA-signed image, whose bytes the SDK leaves as they were).

    Args:
        path: The image file.

    Raises:
        OSError: the file cannot be read (``FileNotFoundError`` when it is missing).

    Example:
        >>> import tempfile, nanobanana as nb
        >>> from nanobanana.testing import make_png
        >>> record = nb.GenerationRecord(prompt="a red kite", model="google/nano-banana")
        >>> png = make_png(8, 8, b"kite")
        >>> image = nb.GeneratedImage(data=png, mime_type="image/png", record=record)
        >>> path = image.save(tempfile.mkdtemp())
        >>> nb.read_metadata(path).prompt
        'a red kite'
    """
    return read_record(Path(path))[0]


def read_record(image: Path) -> tuple[GenerationRecord | None, Path | None]:
    """The record of ``image`` and the file it was read from (the image or its sidecar).

    Raises:
        OSError: the image cannot be read.
    """
    record = read_embedded(image.read_bytes())
    if record is not None:
        return record, image
    sidecar = sidecar_path(image)
    try:
        record = record_from_json(sidecar.read_bytes())
    except OSError:
        return None, None
    return (record, sidecar) if record is not None else (None, None)
