"""JPEG: the XMP packet in an ``APP1`` segment, after the ``JFIF`` and ``Exif`` ones.

Only the segments before the first scan are walked; the compressed picture after it
is copied as it is. A segment holds at most 65,533 bytes, so a packet larger than
that (a prompt of many kilobytes) cannot go in: the caller writes a sidecar.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["XMP_HEADER", "jpeg_has_c2pa", "jpeg_insert_xmp", "jpeg_xmp"]

#: What starts the payload of the ``APP1`` segment that holds XMP.
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\0"
_SOS, _APP0, _APP1, _APP11 = 0xDA, 0xE0, 0xE1, 0xEB
_MAX_PAYLOAD = 0xFFFF - 2  # the length field counts itself


def _segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """``(marker, start, end)`` of each segment before the first scan.

    Raises:
        ValueError: not a JPEG, or its header segments are broken.
    """
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG file")
    pos = 2
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise ValueError("a JPEG segment is broken")
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte
            pos += 1
            continue
        if marker == _SOS:
            return
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise ValueError("a JPEG segment runs past the end of the file")
        yield marker, pos, end
        pos = end


def _is_xmp(data: bytes, marker: int, start: int, end: int) -> bool:
    return marker == _APP1 and data[start + 4 : end].startswith(XMP_HEADER)


def jpeg_xmp(data: bytes) -> bytes | None:
    """The XMP packet of a JPEG, or ``None``.

    Raises:
        ValueError: not a readable JPEG.
    """
    for marker, start, end in _segments(data):
        if _is_xmp(data, marker, start, end):
            return data[start + 4 + len(XMP_HEADER) : end]
    return None


def jpeg_has_c2pa(data: bytes) -> bool:
    """Whether an ``APP11`` segment holds a JUMBF box (where C2PA keeps its manifest).

    Raises:
        ValueError: not a readable JPEG.
    """
    return any(
        marker == _APP11 and b"jumb" in data[start:end] for marker, start, end in _segments(data)
    )


def jpeg_insert_xmp(data: bytes, packet: bytes) -> bytes:
    """``data`` with ``packet`` in an ``APP1`` segment after the leading ``APP0`` and
    ``APP1`` segments; an XMP segment already there is replaced.

    Raises:
        ValueError: not a readable JPEG, or a packet too large for one segment.
    """
    payload = XMP_HEADER + packet
    if len(payload) > _MAX_PAYLOAD:
        raise ValueError(f"the XMP packet is {len(packet)} bytes: too large for a JPEG segment")
    segments = list(_segments(data))
    kept = [data[s:e] for m, s, e in segments if not _is_xmp(data, m, s, e)]
    at = 0
    while at < len(kept) and kept[at][1] in (_APP0, _APP1):
        at += 1
    kept.insert(at, b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload)
    scans = segments[-1][2] if segments else 2  # the scans are copied as they are
    return data[:2] + b"".join(kept) + data[scans:]
