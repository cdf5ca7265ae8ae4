"""PNG: the record as text chunks, inserted before the first ``IDAT``.

Three chunks go in: ``parameters`` (the AUTOMATIC1111 scheme most viewers read; a
``tEXt`` chunk, or ``iTXt`` when the text is not Latin-1, as A1111 does), the JSON
record in an ``iTXt`` chunk named ``nanobanana``, and the XMP packet in an ``iTXt``
chunk named ``XML:com.adobe.xmp``. Every other chunk is kept, in order, byte for
byte; the pixels are never decoded.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

__all__ = [
    "PARAMETERS_KEYWORD",
    "PNG_SIGNATURE",
    "RECORD_KEYWORD",
    "XMP_KEYWORD",
    "Chunk",
    "itxt_chunk",
    "png_chunks",
    "png_insert_texts",
    "png_texts",
    "text_chunk",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RECORD_KEYWORD = "nanobanana"
XMP_KEYWORD = "XML:com.adobe.xmp"
PARAMETERS_KEYWORD = "parameters"
_TEXT_TYPES = (b"tEXt", b"iTXt", b"zTXt")
_MAX_TEXT = 16 * 1024 * 1024

#: One chunk: its type and the whole of its bytes (length, type, data and CRC).
Chunk = tuple[bytes, bytes]


def png_chunks(data: bytes) -> Iterator[Chunk]:
    """Every chunk of a PNG file, up to and including ``IEND``.

    Raises:
        ValueError: not a PNG, or a chunk runs past the end of the file.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError("a PNG chunk is cut short")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            raise ValueError(f"the PNG chunk {kind!r} is cut short")
        yield kind, data[pos:end]
        pos = end
        if kind == b"IEND":
            return
    raise ValueError("the PNG file has no IEND chunk")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))
    )


def text_chunk(keyword: str, text: str) -> bytes:
    """A ``tEXt`` chunk when ``text`` is Latin-1 without NUL, else an ``iTXt`` one."""
    try:
        latin = text.encode("latin-1")
    except UnicodeEncodeError:
        return itxt_chunk(keyword, text)
    if b"\0" in latin:
        return itxt_chunk(keyword, text)
    return _chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + latin)


def itxt_chunk(keyword: str, text: str | bytes) -> bytes:
    """An uncompressed ``iTXt`` chunk, with no language tag."""
    body = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    return _chunk(b"iTXt", keyword.encode("latin-1") + b"\0\0\0\0\0" + body)


def _text_of(kind: bytes, chunk: bytes) -> tuple[str, bytes] | None:
    """The keyword and the text bytes of a text chunk (``None`` if it is broken)."""
    body = chunk[8:-4]
    keyword, sep, rest = body.partition(b"\0")
    if not sep:
        return None
    name = keyword.decode("latin-1")
    try:
        if kind == b"tEXt":
            return name, rest
        if kind == b"zTXt":
            return name, _inflate(rest[1:])
        compressed = rest[0]
        _language, _, rest = rest[2:].partition(b"\0")
        _translated, _, text = rest.partition(b"\0")
        return name, _inflate(text) if compressed else text
    except (IndexError, zlib.error):
        return None


def _inflate(data: bytes) -> bytes:
    """Decompressed text, refused past 16 MiB (a small file may inflate to gigabytes)."""
    inflater = zlib.decompressobj()
    text = inflater.decompress(data, _MAX_TEXT)
    if inflater.unconsumed_tail:
        raise zlib.error("the text chunk inflates past 16 MiB")
    return text


def png_texts(data: bytes) -> dict[str, bytes]:
    """The text chunks of a PNG, keyword to text bytes (the first of each keyword).

    Raises:
        ValueError: not a readable PNG.
    """
    texts: dict[str, bytes] = {}
    for kind, chunk in png_chunks(data):
        if kind in _TEXT_TYPES and (found := _text_of(kind, chunk)) is not None:
            texts.setdefault(found[0], found[1])
    return texts


def png_insert_texts(data: bytes, chunks: list[bytes], replace: set[str]) -> bytes:
    """``data`` with ``chunks`` inserted before the first ``IDAT``, and the text chunks
    whose keyword is in ``replace`` left out. Every other chunk is kept as it was.

    Raises:
        ValueError: not a readable PNG, or one without ``IDAT``.
    """
    out = [PNG_SIGNATURE]
    inserted = False
    for kind, chunk in png_chunks(data):
        if kind == b"IDAT" and not inserted:
            out.extend(chunks)
            inserted = True
        if kind in _TEXT_TYPES and chunk[8:].partition(b"\0")[0].decode("latin-1") in replace:
            continue
        out.append(chunk)
    if not inserted:
        raise ValueError("the PNG file has no IDAT chunk")
    return b"".join(out)
