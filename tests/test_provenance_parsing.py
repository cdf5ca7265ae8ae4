"""Reading records out of files the SDK did not write: broken, hostile or foreign
files give ``None`` (or a sidecar), never an exception, and never a wrong record."""

from __future__ import annotations

import datetime as dt
import json
import struct
import zlib
from pathlib import Path

from _provenance_helpers import WEBP_LOSSLESS, a_record, segment, tiny_jpeg
from hypothesis import given, settings, strategies as st

import nanobanana as nb
from nanobanana._provenance import input_digests, read_embedded, record_json, stamp
from nanobanana._provenance._record import record_from_json
from nanobanana._provenance._xmp import record_from_xmp
from nanobanana.testing import make_png


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with(*chunks: bytes) -> bytes:
    png = make_png(4, 4, b"kite")
    return png[:33] + b"".join(chunks) + png[33:]


STAMPED = [
    stamp(make_png(4, 4, b"kite"), a_record())[0],
    stamp(tiny_jpeg(), a_record())[0],
    stamp(WEBP_LOSSLESS, a_record())[0],
]


@settings(max_examples=300, deadline=None)
@given(
    which=st.integers(0, 2),
    cut=st.integers(0, 4000),
    flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=4),
)
def test_a_damaged_file_reads_as_a_record_or_none_never_an_error(
    which: int, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(STAMPED[which][: max(cut, 12)])
    for at, value in flips:
        if at < len(data):
            data[at] = value

    found = read_embedded(bytes(data))

    assert found is None or isinstance(found, nb.GenerationRecord)
    stamp(bytes(data), a_record("again"))  # stamping it does not raise either


def test_a_record_in_a_compressed_chunk_of_another_writer_reads_back() -> None:
    text = record_json(a_record()).encode()
    ztxt = png_chunk(b"zTXt", b"nanobanana\0\0" + zlib.compress(text))
    itxt = png_chunk(b"iTXt", b"nanobanana\0\x01\0en\0\0" + zlib.compress(text))

    assert read_embedded(png_with(ztxt)) == a_record()
    assert read_embedded(png_with(itxt)) == a_record()


def test_a_text_chunk_that_inflates_past_16_mib_is_not_read() -> None:
    bomb = png_chunk(b"zTXt", b"nanobanana\0\0" + zlib.compress(b" " * (17 * 1024 * 1024)))

    assert read_embedded(png_with(bomb)) is None


def test_a_broken_text_chunk_is_skipped() -> None:
    no_keyword_end = png_chunk(b"tEXt", b"nanobanana")
    bad_zlib = png_chunk(b"zTXt", b"nanobanana\0\0not zlib")
    good = png_chunk(b"iTXt", b"nanobanana\0\0\0\0\0" + record_json(a_record()).encode())

    assert read_embedded(png_with(no_keyword_end, bad_zlib, good)) == a_record()


def test_a_png_without_idat_or_iend_gets_a_sidecar_not_an_error() -> None:
    head = make_png(4, 4, b"kite")[:33]

    assert stamp(head + png_chunk(b"IEND", b""), a_record()) == (
        head + png_chunk(b"IEND", b""),
        True,
    )
    assert stamp(head, a_record())[1] is True
    assert read_embedded(head) is None


def test_xmp_with_a_doctype_or_broken_xml_is_not_read() -> None:
    packet = b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>"

    assert record_from_xmp(packet) is None
    assert record_from_xmp(b"<x:xmpmeta") is None


def test_a_record_property_written_as_an_attribute_reads_back() -> None:
    escaped = record_json(a_record()).replace("&", "&amp;").replace('"', "&quot;")
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        f'xmlns:nanobanana="urn:nanobanana:record/1.0/" nanobanana:Record="{escaped}"/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()

    assert record_from_xmp(packet) == a_record()


def test_a_record_with_fields_of_the_wrong_type_keeps_what_it_can() -> None:
    doc = {
        "format": "nanobanana.record/1",
        "prompt": "a red kite",
        "model": "m",
        "parameters": ["not", "a", "mapping"],
        "request_id": 42,
        "usage": {"usd_spent": "a lot", "credits_used": True, "tokens_used": 12},
        "input_images": ["sha256:ab", 7],
        "created": "yesterday",
    }

    record = record_from_json(json.dumps(doc))

    assert record == nb.GenerationRecord(
        prompt="a red kite",
        model="m",
        usage=nb.Usage(tokens_used=12.0),
        input_images=("sha256:ab",),
        sdk_version="unknown",
        created=dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    )


def test_a_time_without_a_zone_is_taken_as_utc_and_junk_is_no_record() -> None:
    doc = {"format": "nanobanana.record/1", "prompt": "p", "model": "m"}
    record = record_from_json(json.dumps({**doc, "created": "2026-05-01T12:00:00"}))

    assert record is not None
    assert record.created == dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    assert record_from_json(b"\xff not json") is None
    assert record_from_json("[" * 100_000 + "]" * 100_000) is None
    assert record_from_json(json.dumps({**doc, "format": "other/2"})) is None
    assert record_from_json(json.dumps({**doc, "model": None})) is None


def test_a_lone_surrogate_in_a_prompt_survives_the_round_trip() -> None:
    record = a_record("broken \ud800 text")

    assert record_from_json(record_json(record).encode()) == record
    assert read_embedded(stamp(make_png(4, 4, b"kite"), record)[0]) == record


def test_input_digests_name_every_kind_of_input(tmp_path: Path) -> None:
    data_url = "data:image/gif;base64,R0lGODlh"

    digests = input_digests((data_url, "data:image/png;base64,!!!", tmp_path / "gone.png"))

    assert digests[0] == input_digests((b"GIF89a",))[0]
    assert digests[1:] == ("unreadable", "unreadable")


def test_a_jpeg_cut_in_its_headers_is_no_record_and_gets_a_sidecar() -> None:
    cut = tiny_jpeg(segment(0xE1, b"Exif\0\0"))[:30]

    assert read_embedded(cut) is None
    assert stamp(cut, a_record()) == (cut, True)
