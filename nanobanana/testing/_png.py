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

import base64
import hashlib
import struct
import threading
import zlib
from collections import OrderedDict

__all__ = ["PNG_SIGNATURE", "encode_padded", "make_png", "png_size"]

#: The eight bytes every PNG file starts with.
PNG_SIGNATURE: bytes = b"\x89PNG\r\n\x1a\n"

# Lowercase first letter: ancillary (safe to ignore); lowercase second: private;
# uppercase third: the reserved bit PNG requires; lowercase fourth: safe to copy.
_PAD_TYPE = b"nbPd"
_CHUNK_OVERHEAD = 12  # length, type, CRC
# Signature plus the whole IHDR chunk. It is a multiple of 3, which is what lets the
# server base64-encode the three parts of a padded file separately (see encode_padded).
_HEAD_SIZE = 8 + _CHUNK_OVERHEAD + 13
_MAX_SIDE = 16_384

# One pseudo-random blob, grown on demand, that all padding is sliced from. Random
# rather than zeros so padded files stay as incompressible as real photographs.
_pad_source = b""
_pad_lock = threading.Lock()


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
    global _pad_source
    if len(_pad_source) < size:
        with _pad_lock:
            if len(_pad_source) < size:
                grown = max(size, 2 * len(_pad_source), 64 * 1024)
                _pad_source = hashlib.shake_256(b"nanobanana fake padding").digest(grown)
    return _pad_source[:size]


def _check(width: int, height: int, pad_to: int | None) -> None:
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise ValueError(f"width and height must be 1..{_MAX_SIDE}, got {width}x{height}")
    if pad_to is not None and pad_to < 0:
        raise ValueError(f"pad_to must be >= 0, got {pad_to}")


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
    _check(width, height, pad_to)
    head, body = _head(width, height), _body(width, height, seed)
    if pad_to is None:
        return head + body
    room = pad_to - len(head) - len(body) - _CHUNK_OVERHEAD
    if room < 0:
        return head + body
    return head + _chunk(_PAD_TYPE, _padding(room)) + body


class _PadChunks:
    """Padding chunks, and their base64, by data length: a few sizes serve many files."""

    def __init__(self, limit: int = 16) -> None:
        self._limit = limit
        self._items: OrderedDict[int, tuple[bytes, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, size: int) -> tuple[bytes, bytes]:
        with self._lock:
            hit = self._items.get(size)
            if hit is not None:
                self._items.move_to_end(size)
                return hit
        chunk = _chunk(_PAD_TYPE, _padding(size))
        made = (chunk, base64.b64encode(chunk))
        with self._lock:
            self._items[size] = made
            while len(self._items) > self._limit:
                self._items.popitem(last=False)
        return made


_pad_chunks = _PadChunks()


def encode_padded(width: int, height: int, seed: bytes, pad_to: int | None) -> tuple[bytes, bytes]:
    """Make a PNG like :func:`make_png` together with its base64, cheaply.

    The padded size is approximate (it lands within about 0.4% below ``pad_to``):
    the padding length is rounded down to a multiple of 3 on a coarse grid, so files
    of neighbouring sizes share one padding chunk. Because the header and the padding
    chunk are multiples of 3 bytes long, the base64 of the whole file is the
    concatenation of the parts' base64, and the large middle part is encoded once.

    Args:
        width: Image width in pixels.
        height: Image height in pixels.
        seed: Bytes the picture is derived from.
        pad_to: Approximate file size wanted, or ``None`` for no padding.

    Returns:
        ``(png, base64_of_png)``, the latter as ASCII bytes.
    """
    _check(width, height, pad_to)
    head, body = _head(width, height), _body(width, height, seed)
    room = -1 if pad_to is None else pad_to - len(head) - len(body) - _CHUNK_OVERHEAD
    if room < 0:
        png = head + body
        return png, base64.b64encode(png)
    grid = 3 * max(1, pad_to // 768) if pad_to else 3
    chunk, chunk_b64 = _pad_chunks.get(room - room % grid)
    return head + chunk + body, base64.b64encode(head) + chunk_b64 + base64.b64encode(body)


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
