"""Image bytes: what kind they are and how large, read from their first bytes.

The SDK never trusts a file suffix or a ``content_type`` the server sends: both can
lie. The few header bytes of PNG, JPEG, WEBP and GIF say the truth.
"""

from __future__ import annotations

import struct

__all__ = ["SUFFIXES", "image_size", "sniff_mime"]

SUFFIXES: dict[str, str] = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
}


def sniff_mime(data: bytes) -> str | None:
    """The MIME type of ``data`` from its magic bytes, or ``None`` if not an image we know.

    Example:
        >>> sniff_mime(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8))
        'image/png'
        >>> sniff_mime(b"hello") is None
        True
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def image_size(data: bytes, mime: str | None = None) -> tuple[int, int] | None:
    """``(width, height)`` read from the image header, or ``None`` if it cannot be read.

    ``mime`` is the type the caller sniffed already, if it did.

    Example:
        >>> gif = b"GIF89a" + (5).to_bytes(2, "little") + (3).to_bytes(2, "little")
        >>> image_size(gif), image_size(b"GIF89a")
        ((5, 3), None)
    """
    try:
        if mime is None:
            mime = sniff_mime(data)
        if mime == "image/png":
            if data[12:16] != b"IHDR":
                return None
            w, h = struct.unpack_from(">II", data, 16)  # IHDR's width and height
            return (w, h)
        if mime == "image/gif":
            w, h = struct.unpack_from("<HH", data, 6)  # the logical screen's
            return (w, h)
        if mime == "image/webp":
            return _webp_size(data)
        if mime == "image/jpeg":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return (w, h)
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return (w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    return None


# Start-of-frame markers carry the dimensions; DHT (C4), JPG (C8) and DAC (CC) do not.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    end = len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF:
            h, w = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return (w, h)
        pos += 2 + length
    return None
