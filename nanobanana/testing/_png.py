"""Small, valid PNG files made with nothing but ``zlib`` and ``struct``.

The fake server needs images that real decoders accept, that differ from prompt to
prompt, and that can be blown up to a chosen file size for payload benchmarks, without
pulling in Pillow. Every file is 8-bit RGB, non-interlaced, with correct CRCs. The
picture is a diagonal two-colour gradient with stripes, every parameter of it taken
from a SHA-256 of the seed.

Padding lives in a private ancillary chunk (``nbPd``) placed right after ``IHDR``.
Decoders skip such chunks, so a padded file still shows the same picture.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

__all__ = ["PNG_SIGNATURE", "make_png", "png_size"]

#: The eight bytes every PNG file starts with.
PNG_SIGNATURE: bytes = b"\x89PNG\r\n\x1a\n"

# Lowercase first letter: ancillary (safe to ignore); lowercase second: private;
# uppercase third: the reserved bit PNG requires; lowercase fourth: safe to copy.
_PAD_TYPE = b"nbPd"
_CHUNK_OVERHEAD = 12  # length, type, CRC
_HEAD_SIZE = 8 + _CHUNK_OVERHEAD + 13  # the signature and the whole IHDR chunk
_MAX_SIDE = 16_384


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _head(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr)


def _gradient(width: int, start: bytes, end: bytes) -> bytes:
    span = max(width - 1, 1)
    row = bytearray()
    for x in range(width):
        for a, b in zip(start, end, strict=True):
            row.append(a + (b - a) * x // span)
    return bytes(row)


def _body(width: int, height: int, seed: bytes) -> bytes:
    """The ``IDAT`` and ``IEND`` chunks: everything after the header."""
    digest = hashlib.sha256(seed).digest()
    first, second, third = digest[0:3], digest[3:6], digest[6:9]
    band = 2 + digest[9] % max(2, height // 3)
    slope = 1 + digest[10] % 3
    # Doubled rows let every scanline be a plain slice, shifted to draw diagonals.
    rows = (_gradient(width, first, second) * 2, _gradient(width, third, first) * 2)
    stride = width * 3
    scanlines = []
    for y in range(height):
        row = rows[(y // band) % 2]
        shift = ((y * slope) % width) * 3
        scanlines.append(b"\x00" + row[shift : shift + stride])  # filter type 0: none
    idat = zlib.compress(b"".join(scanlines), 6)
    return _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _padding(size: int) -> bytes:
    # Pseudo-random rather than zeros, so padded files stay as incompressible as
    # real photographs.
    return hashlib.shake_256(b"nanobanana fake padding").digest(size)


def make_png(width: int, height: int, seed: bytes, pad_to: int | None = None) -> bytes:
    """Make a valid RGB PNG whose picture is derived from ``seed``.

    Equal arguments give byte-identical files; different seeds give different pictures.

    Args:
        width: Image width in pixels (1 to 16384).
        height: Image height in pixels (1 to 16384).
        seed: Any bytes, e.g. an encoded prompt; picks colours, stripes and slope.
        pad_to: If given, add a private ancillary chunk so the file is exactly this
            many bytes. A target smaller than the unpadded file (plus the 12 bytes a
            chunk costs) leaves the file unpadded.

    Returns:
        The PNG file.

    Raises:
        ValueError: A side is out of range or ``pad_to`` is negative.

    Example:
        >>> png = make_png(32, 16, b"a lighthouse at dawn")
        >>> png_size(png)
        (32, 16)
    """
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise ValueError(f"width and height must be 1..{_MAX_SIDE}, got {width}x{height}")
    if pad_to is not None and pad_to < 0:
        raise ValueError(f"pad_to must be >= 0, got {pad_to}")
    head, body = _head(width, height), _body(width, height, seed)
    room = -1 if pad_to is None else pad_to - len(head) - len(body) - _CHUNK_OVERHEAD
    if room < 0:
        return head + body
    return head + _chunk(_PAD_TYPE, _padding(room)) + body


def png_size(data: bytes) -> tuple[int, int]:
    """Read ``(width, height)`` from a PNG file's ``IHDR`` chunk.

    Args:
        data: The file's bytes (at least the first 33).

    Returns:
        The image's width and height in pixels.

    Raises:
        ValueError: ``data`` does not start like a PNG file, or its ``IHDR`` CRC is wrong.

    Example:
        >>> png_size(make_png(3, 2, b"x"))
        (3, 2)
    """
    if len(data) < _HEAD_SIZE or not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise ValueError("PNG file does not start with an IHDR chunk")
    (crc,) = struct.unpack(">I", data[29:33])
    if zlib.crc32(data[12:29]) != crc:
        raise ValueError("PNG IHDR chunk has a bad CRC")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
