"""What the provenance tests share: a record, hand-made JPEG and WebP files, exiftool."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

import nanobanana as nb

EXIFTOOL = shutil.which("exiftool") or "/usr/bin/exiftool"
needs_exiftool = pytest.mark.skipif(
    not Path(EXIFTOOL).exists(), reason="exiftool is not installed (CI installs it)"
)
AI_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def a_record(prompt: str = "a red kite over the sea", **changes: Any) -> nb.GenerationRecord:
    fields: dict[str, Any] = {
        "prompt": prompt,
        "model": "google/nano-banana-pro",
        "parameters": {"aspect_ratio": "16:9", "resolution": "2K", "extra_body": {"seed": 7}},
        "request_id": "req-42",
        "usage": nb.Usage(usd_spent=0.134, credits_used=348.4),
        "created": dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC),
        **changes,
    }
    return nb.GenerationRecord(**fields)


def exiftool(path: Path, *tags: str) -> dict[str, Any]:
    run = subprocess.run(
        [EXIFTOOL, "-json", "-charset", "utf8", *tags, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    doc: dict[str, Any] = json.loads(run.stdout)[0]
    return doc


def segment(marker: int, payload: bytes) -> bytes:
    """A JPEG segment: ``FF``, the marker, the length, the payload."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def tiny_jpeg(*extra: bytes) -> bytes:
    """A valid 8x8 grey baseline JPEG (every block flat), ``extra`` segments after JFIF.

    One quantisation table, one Huffman code per table (DC difference 0, end of
    block), so the whole scan is two bits, padded with ones: ``0x3F``.
    """
    jfif = segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    dqt = segment(0xDB, b"\0" + bytes([1]) * 64)
    sof = segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")
    dht_dc = segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")
    dht_ac = segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00")
    sos = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    head = b"".join([jfif, *extra, dqt, sof, dht_dc, dht_ac])
    return b"\xff\xd8" + head + sos + b"\x3f\xff\xd9"


# The 1x1 WebP files browsers are probed with: lossless (VP8L, with alpha), lossy
# (VP8) and extended (VP8X, ALPH and VP8).
WEBP_LOSSLESS = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
WEBP_LOSSY = base64.b64decode("UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA")
WEBP_EXTENDED = base64.b64decode(
    "UklGRkoAAABXRUJQVlA4WAoAAAAQAAAAAAAAAAAAQUxQSAwAAAARBxAR/Q9ERP8DAABWUDggGAAAABQBAJ0BKgEAAQ"
    "AAAP4AAA3AAP7mtQAAAA=="
)


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``(fourcc, payload)`` of each chunk of a WebP."""
    assert (data[:4], data[8:12]) == (b"RIFF", b"WEBP")
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8, "the RIFF size is wrong"
    out, pos = [], 12
    while pos < len(data):
        fourcc, (size,) = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])
        out.append((fourcc, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    assert pos == len(data)
    return out


def decodes(tool: str, path: Path) -> bool:
    """Whether ``djpeg`` or ``dwebp`` decodes the file (skip the test without the tool)."""
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    args = [tool, str(path)] if tool == "djpeg" else [tool, "-quiet", str(path), "-o", "-"]
    return subprocess.run(args, capture_output=True, check=False).returncode == 0
