"""Provenance in JPEG and WebP files (an XMP packet), and beside C2PA-signed files (a
sidecar): each saved file still decodes, and exiftool reads the record back."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from _provenance_helpers import (
    AI_MEDIA,
    WEBP_EXTENDED,
    WEBP_LOSSLESS,
    WEBP_LOSSY,
    a_record,
    decodes,
    exiftool,
    needs_exiftool,
    segment,
    tiny_jpeg,
    webp_chunks,
)
from _raw_api import ENDPOINT, b64, serve
from aiohttp import web

import nanobanana as nb
from nanobanana.testing import make_png

XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\0"


def save(tmp_path: Path, data: bytes, name: str, record: nb.GenerationRecord | None = None) -> Path:
    image = nb.GeneratedImage(data=data, mime_type="image/x", record=record or a_record())
    return image.save(tmp_path / name)


def jpeg_markers(data: bytes) -> list[tuple[int, bytes]]:
    """``(marker, payload)`` of the segments before the scan."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        out.append((data[pos + 1], data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return out


# -- JPEG -----------------------------------------------------------------------------


def test_a_saved_jpeg_reads_back_and_still_decodes(tmp_path: Path) -> None:
    original = tiny_jpeg()
    path = save(tmp_path, original, "kite.jpg")

    assert nb.read_metadata(path) == a_record()
    assert decodes("djpeg", path)
    data = path.read_bytes()
    assert data.endswith(original[original.index(b"\xff\xdb") :])  # tables and scan as sent


def test_the_xmp_segment_goes_after_jfif_and_exif(tmp_path: Path) -> None:
    exif = segment(0xE1, b"Exif\0\0MM\0\x2a\0\0\0\x08\0\0")
    path = save(tmp_path, tiny_jpeg(exif), "kite.jpg")

    markers = jpeg_markers(path.read_bytes())
    assert [m for m, _ in markers][:3] == [0xE0, 0xE1, 0xE1]
    assert markers[1][1].startswith(b"Exif")
    assert markers[2][1].startswith(XMP_APP1)


def test_a_jpeg_saved_twice_has_one_packet_the_new_one(tmp_path: Path) -> None:
    first = save(tmp_path, tiny_jpeg(), "first.jpg", a_record("first"))
    second = save(tmp_path, first.read_bytes(), "second.jpg", a_record("second"))

    packets = [p for m, p in jpeg_markers(second.read_bytes()) if p.startswith(XMP_APP1)]
    assert len(packets) == 1
    assert nb.read_metadata(second) == a_record("second")


def test_a_jpeg_with_another_tools_xmp_keeps_it_and_gets_a_sidecar(tmp_path: Path) -> None:
    theirs = segment(0xE1, XMP_APP1 + b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    original = tiny_jpeg(theirs)
    path = save(tmp_path, original, "kite.jpg")

    assert path.read_bytes() == original
    assert nb.read_metadata(path) == a_record()


def test_a_record_too_large_for_a_jpeg_segment_goes_to_a_sidecar(tmp_path: Path) -> None:
    long_prompt = "a kite " * 6_000  # 42 KB, twice in the packet
    path = save(tmp_path, tiny_jpeg(), "kite.jpg", a_record(long_prompt))

    assert path.read_bytes() == tiny_jpeg()
    assert nb.read_metadata(path) == a_record(long_prompt)


# -- WebP -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "picture", "alpha"),
    [(WEBP_LOSSY, b"VP8 ", False), (WEBP_LOSSLESS, b"VP8L", True)],
    ids=["lossy", "lossless"],
)
def test_a_simple_webp_becomes_extended_with_its_canvas_and_xmp(
    tmp_path: Path, original: bytes, picture: bytes, alpha: bool
) -> None:
    path = save(tmp_path, original, "kite.webp")

    chunks = webp_chunks(path.read_bytes())
    assert [fourcc for fourcc, _ in chunks] == [b"VP8X", picture, b"XMP "]
    flags, canvas = chunks[0][1][0], chunks[0][1][4:]
    assert flags == (0x04 | (0x10 if alpha else 0))
    assert canvas == bytes(6)  # 1x1, stored minus one
    assert chunks[1] == webp_chunks(original)[0]
    assert nb.read_metadata(path) == a_record()
    assert decodes("dwebp", path)


def test_an_extended_webp_gets_the_xmp_flag_and_keeps_its_chunks(tmp_path: Path) -> None:
    path = save(tmp_path, WEBP_EXTENDED, "kite.webp")

    chunks = webp_chunks(path.read_bytes())
    before = webp_chunks(WEBP_EXTENDED)
    assert [c for c, _ in chunks] == [b"VP8X", b"ALPH", b"VP8 ", b"XMP "]
    assert chunks[0][1][0] == before[0][1][0] | 0x04
    assert chunks[1:3] == before[1:3]
    assert nb.read_metadata(path) == a_record()
    assert decodes("dwebp", path)


# -- C2PA: the signed bytes stay as they are ------------------------------------------


def png_with_c2pa() -> bytes:
    """A PNG with a ``caBX`` chunk (where C2PA keeps its JUMBF manifest) before IDAT."""
    png = make_png(8, 8, b"signed")
    body = b"\0\0\0\x20jumb\0\0\0\x18jumdc2pa\0\x11\0\x10\x80\0\0\xaa\0\x38\x9b\x71c2pa\0"
    chunk = struct.pack(">I", len(body)) + b"caBX" + body
    chunk += struct.pack(">I", zlib.crc32(b"caBX" + body))
    return png[:33] + chunk + png[33:]


def webp_with_c2pa() -> bytes:
    body = WEBP_EXTENDED[12:] + b"C2PA" + struct.pack("<I", 4) + b"jumb"
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


@pytest.mark.parametrize(
    ("name", "signed"),
    [
        ("signed.png", png_with_c2pa()),
        ("signed.jpg", tiny_jpeg(segment(0xEB, b"JP\0\x01\0\0\0\x01\0\0\0\x20jumb"))),
        ("signed.webp", webp_with_c2pa()),
    ],
    ids=["png", "jpeg", "webp"],
)
def test_a_c2pa_signed_image_is_left_as_received_with_a_sidecar(
    tmp_path: Path, name: str, signed: bytes
) -> None:
    path = save(tmp_path, signed, name)

    assert path.read_bytes() == signed
    sidecar = tmp_path / f"{name}.json"
    assert json.loads(sidecar.read_text(encoding="utf-8"))["prompt"] == a_record().prompt
    assert nb.read_metadata(path) == a_record()


def test_an_image_without_a_record_nor_a_sidecar_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "plain.jpg"
    path.write_bytes(tiny_jpeg())

    assert nb.read_metadata(path) is None


# -- exiftool: a reader nobody here wrote -----------------------------------------------


@needs_exiftool
@pytest.mark.parametrize(
    ("name", "original"),
    [("kite.jpg", tiny_jpeg()), ("kite.webp", WEBP_LOSSY), ("kite-x.webp", WEBP_EXTENDED)],
)
def test_exiftool_reads_the_prompt_model_and_source_type(
    tmp_path: Path, name: str, original: bytes
) -> None:
    path = save(tmp_path, original, name, a_record("a red kite, über alles"))

    tags = exiftool(path, "-XMP-dc:Description", "-XMP-iptcExt:all", "-Warning", "-Validate")
    assert tags["Description"] == "a red kite, über alles"
    assert tags["AISystemUsed"] == "google/nano-banana-pro"
    assert tags["DigitalSourceType"] == AI_MEDIA
    assert "Warning" not in tags
    assert tags["Validate"] == "OK"


@needs_exiftool
@pytest.mark.parametrize("original", [tiny_jpeg(), WEBP_LOSSLESS], ids=["jpeg", "webp"])
async def test_an_api_answering_jpeg_or_webp_gives_files_exiftool_reads(
    tmp_path: Path, original: bytes
) -> None:
    async def generate(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"b64_json": b64(original)}]})

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    async with serve(app) as url, nb.AsyncClient(api_key="k", base_url=url) as client:
        result = await client.generate("a lighthouse at dawn", model=nb.Model.NANO_BANANA_PRO)
    path = result.image.save(tmp_path)

    tags = exiftool(path, "-XMP-dc:Description", "-XMP-iptcExt:AISystemUsed")
    assert tags["Description"] == "a lighthouse at dawn"
    assert tags["AISystemUsed"] == "google/nano-banana-pro"
    assert nb.read_metadata(path) == result.image.record
