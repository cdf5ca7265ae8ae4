"""WebP: the XMP packet in an ``XMP `` chunk, announced by a flag of the ``VP8X`` chunk.

Metadata needs the extended layout. A simple file (one ``VP8 `` or ``VP8L`` chunk)
is given a ``VP8X`` chunk first, with the canvas size read from the bitstream (and
the alpha flag, for a lossless picture that has alpha). The picture's chunks are
copied as they are; the RIFF size is made right.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from .._imaging import image_size

__all__ = ["webp_has_c2pa", "webp_insert_xmp", "webp_xmp"]

_XMP_FLAG, _ALPHA_FLAG = 0x04, 0x10
# The chunks that come before XMP in the extended layout; unknown chunks come after.
_BEFORE_XMP = frozenset({b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L", b"EXIF"})


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """``(fourcc, whole chunk)`` of each chunk, the padding byte included.

    Raises:
        ValueError: not a WebP, or a chunk runs past the end of the file.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    end = min(len(data), 8 + struct.unpack_from("<I", data, 4)[0])
    pos = 12
    while pos + 8 <= end:
        fourcc, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        stop = pos + 8 + size + (size & 1)
        if pos + 8 + size > end:
            raise ValueError(f"the WebP chunk {fourcc!r} is cut short")
        yield fourcc, data[pos:stop]
        pos = stop


def _chunk(fourcc: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) & 1 else b""
    return fourcc + struct.pack("<I", len(payload)) + payload + pad


def webp_xmp(data: bytes) -> bytes | None:
    """The XMP packet of a WebP, or ``None``.

    Raises:
        ValueError: not a readable WebP.
    """
    for fourcc, chunk in _chunks(data):
        if fourcc == b"XMP ":
            (size,) = struct.unpack_from("<I", chunk, 4)
            return chunk[8 : 8 + size]
    return None


def webp_has_c2pa(data: bytes) -> bool:
    """Whether the file has a ``C2PA`` chunk (a signed manifest).

    Raises:
        ValueError: not a readable WebP.
    """
    return any(fourcc == b"C2PA" for fourcc, _ in _chunks(data))


def _vp8x(data: bytes, first: bytes) -> bytes:
    """The ``VP8X`` chunk a simple file gets: its canvas size, alpha for VP8L."""
    size = image_size(data, "image/webp")
    if size is None or first[:4] not in (b"VP8 ", b"VP8L"):
        raise ValueError("the WebP file has no picture to take the canvas size from")
    flags = 0
    if first[:4] == b"VP8L" and len(first) >= 13 and first[12] & 0x10:  # alpha_is_used
        flags |= _ALPHA_FLAG
    width, height = size
    return _chunk(
        b"VP8X",
        bytes([flags, 0, 0, 0])
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little"),
    )


def webp_insert_xmp(data: bytes, packet: bytes) -> bytes:
    """``data`` with ``packet`` in an ``XMP `` chunk (in the extended layout; an XMP
    chunk already there is replaced).

    Raises:
        ValueError: not a readable WebP.
    """
    chunks = [(fourcc, chunk) for fourcc, chunk in _chunks(data) if fourcc != b"XMP "]
    if not chunks:
        raise ValueError("the WebP file has no chunks")
    if chunks[0][0] != b"VP8X":
        chunks.insert(0, (b"VP8X", _vp8x(data, chunks[0][1])))
    head = bytearray(chunks[0][1])
    head[8] |= _XMP_FLAG
    chunks[0] = (b"VP8X", bytes(head))
    at = max(i for i, (fourcc, _) in enumerate(chunks) if fourcc in _BEFORE_XMP) + 1
    chunks.insert(at, (b"XMP ", _chunk(b"XMP ", packet)))
    body = b"WEBP" + b"".join(chunk for _, chunk in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
