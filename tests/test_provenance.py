"""Provenance: every saved image carries the record of what made it, read back by
the SDK and by exiftool, with every other byte of the file kept."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from _helpers import assert_complete_png
from _provenance_helpers import (
    AI_MEDIA,
    WEBP_LOSSY,
    a_record,
    exiftool,
    needs_exiftool,
    tiny_jpeg,
)
from hypothesis import HealthCheck, given, settings, strategies as st

import nanobanana as nb
from nanobanana._provenance import read_embedded, stamp
from nanobanana._provenance._xmp import record_from_xmp, xmp_packet
from nanobanana.testing import make_png


def save(tmp_path: Path, data: bytes, record: nb.GenerationRecord, name: str) -> Path:
    image = nb.GeneratedImage(data=data, mime_type="image/png", record=record)
    return image.save(tmp_path / name)


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``(type, data)`` of every chunk of a PNG."""
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


# -- PNG ------------------------------------------------------------------------------


def test_a_saved_png_reads_back_as_the_record_it_was_saved_with(tmp_path: Path) -> None:
    record = a_record()
    path = save(tmp_path, make_png(32, 18, b"kite"), record, "kite.png")

    assert nb.read_metadata(path) == record


def test_a_saved_png_stays_valid_and_keeps_its_pixels(tmp_path: Path) -> None:
    original = make_png(32, 18, b"kite")
    path = save(tmp_path, original, a_record(), "kite.png")

    assert_complete_png(path)
    before, after = chunks(original), chunks(path.read_bytes())
    assert [c for c in after if c[0] not in (b"tEXt", b"iTXt")] == before
    idat = b"".join(body for kind, body in after if kind == b"IDAT")
    assert len(zlib.decompress(idat)) == 18 * (1 + 32 * 3)
    kinds = [kind for kind, _ in after]
    assert kinds.index(b"iTXt") < kinds.index(b"IDAT")


def test_the_png_carries_an_a1111_parameters_chunk(tmp_path: Path) -> None:
    path = save(tmp_path, make_png(8, 8, b"kite"), a_record(), "kite.png")

    texts = [body for kind, body in chunks(path.read_bytes()) if kind == b"tEXt"]
    assert texts == [
        b"parameters\0a red kite over the sea\n"
        b'Model: google/nano-banana-pro, Aspect ratio: "16:9", Resolution: 2K, '
        b"Request id: req-42"
    ]


def test_a_prompt_that_is_not_latin_1_gets_an_itxt_parameters_chunk(tmp_path: Path) -> None:
    path = save(tmp_path, make_png(8, 8, b"kite"), a_record("東京の夜景, 4K"), "tokyo.png")

    itxt = [body for kind, body in chunks(path.read_bytes()) if kind == b"iTXt"]
    assert itxt[0].startswith("parameters\0\0\0\0\0東京の夜景, 4K\nModel:".encode())
    assert not [kind for kind, _ in chunks(path.read_bytes()) if kind == b"tEXt"]
    assert nb.read_metadata(path) == a_record("東京の夜景, 4K")


def test_the_json_record_holds_every_field_and_no_key(tmp_path: Path) -> None:
    record = a_record(input_images=("sha256:" + "ab" * 32,))
    path = save(tmp_path, make_png(8, 8, b"kite"), record, "kite.png")

    bodies = [body for kind, body in chunks(path.read_bytes()) if kind == b"iTXt"]
    (text,) = [b for b in bodies if b.startswith(b"nanobanana\0")]
    doc = json.loads(text.split(b"\0", 5)[5])
    assert doc == {
        "format": "nanobanana.record/1",
        "prompt": "a red kite over the sea",
        "model": "google/nano-banana-pro",
        "parameters": {"aspect_ratio": "16:9", "resolution": "2K", "extra_body": {"seed": 7}},
        "request_id": "req-42",
        "usage": {"credits_used": 348.4, "usd_spent": 0.134},
        "input_images": ["sha256:" + "ab" * 32],
        "sdk_version": nb.__version__,
        "created": "2026-05-01T12:00:00Z",
    }


def test_other_chunks_survive_in_order(tmp_path: Path) -> None:
    png = make_png(8, 8, b"kite")
    extra = b"tEXt" + b"Author\0Ada"
    chunk = struct.pack(">I", len(extra) - 4) + extra + struct.pack(">I", zlib.crc32(extra))
    with_author = png[:33] + chunk + png[33:]  # right after IHDR
    path = save(tmp_path, with_author, a_record(), "kite.png")

    kinds = [(kind, body[:6]) for kind, body in chunks(path.read_bytes())]
    assert kinds[:2] == [(b"IHDR", kinds[0][1]), (b"tEXt", b"Author")]
    assert_complete_png(path)


def test_saving_a_saved_png_again_replaces_its_record(tmp_path: Path) -> None:
    first = save(tmp_path, make_png(8, 8, b"kite"), a_record("first"), "first.png")
    second = save(tmp_path, first.read_bytes(), a_record("second"), "second.png")

    assert nb.read_metadata(second) == a_record("second")
    kinds = [kind for kind, _ in chunks(second.read_bytes())]
    assert kinds.count(b"iTXt") + kinds.count(b"tEXt") == 3


def test_an_image_without_a_record_is_written_untouched(tmp_path: Path) -> None:
    png = make_png(8, 8, b"kite")
    path = nb.GeneratedImage(data=png, mime_type="image/png").save(tmp_path / "kite.png")

    assert path.read_bytes() == png
    assert nb.read_metadata(path) is None


def test_a_gif_is_written_untouched(tmp_path: Path) -> None:
    gif = b"GIF89a" + struct.pack("<HH", 2, 2) + bytes(16)
    image = nb.GeneratedImage(data=gif, mime_type="image/gif", record=a_record())
    path = image.save(tmp_path / "kite.gif")

    assert path.read_bytes() == gif
    assert nb.read_metadata(path) is None
    assert not (tmp_path / "kite.gif.json").exists()


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        nb.read_metadata(tmp_path / "nowhere.png")


def test_a_broken_png_keeps_its_bytes_and_gets_a_sidecar(tmp_path: Path) -> None:
    cut = make_png(8, 8, b"kite")[:-20]  # the end of IDAT and IEND are missing
    path = save(tmp_path, cut, a_record(), "cut.png")

    assert path.read_bytes() == cut
    assert nb.read_metadata(path) == a_record()


def test_a_record_in_a_file_of_another_tool_is_not_read(tmp_path: Path) -> None:
    png = make_png(8, 8, b"kite")
    body = b"nanobanana\0\0\0\0\0" + b'{"prompt": "not ours", "model": "m"}'
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + body))
    path = tmp_path / "other.png"
    path.write_bytes(png[:33] + chunk + png[33:])

    assert nb.read_metadata(path) is None


@pytest.mark.parametrize(
    "prompt",
    ["plain", "line one\nline two\r\nthree", "quotes \" ' <tag> & ]]>", "東京 🌃", "a\x01b\tc"],
)
def test_the_xmp_packet_reads_back_every_prompt(prompt: str) -> None:
    assert record_from_xmp(xmp_packet(a_record(prompt))) == a_record(prompt)


NUL_FREE = st.characters(blacklist_characters="\0")
PROMPTS = st.one_of(
    st.text(NUL_FREE, min_size=1, max_size=2_500),  # at most 10 KB of UTF-8
    st.text(st.characters(max_codepoint=255, blacklist_characters="\0"), max_size=10_240),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prompt=PROMPTS)
def test_any_prompt_written_to_a_png_or_webp_reads_back_exactly(prompt: str) -> None:
    for image in (make_png(4, 4, b"kite"), WEBP_LOSSY):
        data, sidecar = stamp(image, a_record(prompt))

        assert not sidecar
        assert read_embedded(data) == a_record(prompt)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prompt=PROMPTS)
def test_any_prompt_written_to_a_jpeg_reads_back_exactly_inside_or_beside(prompt: str) -> None:
    data, sidecar = stamp(tiny_jpeg(), a_record(prompt))

    if sidecar:  # a packet over 64 KB
        assert data == tiny_jpeg()
        assert len(xmp_packet(a_record(prompt))) > 65_000
    else:
        assert read_embedded(data) == a_record(prompt)


# -- exiftool: a reader nobody here wrote -----------------------------------------------


@needs_exiftool
def test_exiftool_reads_the_prompt_model_and_source_type_from_a_png(tmp_path: Path) -> None:
    path = save(tmp_path, make_png(32, 18, b"kite"), a_record("a red kite, über alles"), "k.png")

    tags = exiftool(path, "-Parameters", "-XMP-dc:Description", "-XMP-iptcExt:all", "-Warning")
    assert tags["Parameters"].startswith("a red kite, über alles\nModel: google/nano-banana-pro")
    assert tags["Description"] == "a red kite, über alles"
    assert tags["DigitalSourceType"] == AI_MEDIA
    assert tags["AISystemUsed"] == "google/nano-banana-pro"
    assert "Warning" not in tags
