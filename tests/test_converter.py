"""The response converter: every documented shape, and nothing but ResponseError on junk."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nanobanana as nb
from nanobanana._converter import (
    WireImage,
    WireResponse,
    WireUsage,
    parse_body,
    request_key,
    usage_from_headers,
)
from nanobanana._imaging import image_size, sniff_mime


def parse(doc: Any) -> WireResponse:
    return parse_body(json.dumps(doc).encode(), request_id="req-1")


# -- the five shapes of API-NOTES.md --------------------------------------------------------


def test_shape_1_schema_with_b64_and_token_usage() -> None:
    wire = parse(
        {"data": [{"url": None, "b64_json": "aGk="}], "meta": {"usage": {"tokens_used": 9}}}
    )

    assert wire == WireResponse(images=(WireImage(b64="aGk="),), usage=WireUsage(tokens_used=9))


def test_shape_1_with_credits_and_usd() -> None:
    wire = parse(
        {
            "data": [{"url": "https://cdn/x.png", "b64_json": None}],
            "meta": {"usage": {"credits_used": "81900", "usd_spent": 0.039}},
        }
    )

    assert wire.images == (WireImage(url="https://cdn/x.png"),)
    assert wire.usage == WireUsage(credits_used=81900, usd_spent=0.039)


def test_shape_2_seed_page_images_with_description() -> None:
    wire = parse(
        {
            "images": [
                {
                    "url": "https://cdn/x.png",
                    "content_type": "image/png",
                    "file_name": "output.png",
                    "file_size": 1234,
                    "width": None,
                    "height": None,
                }
            ],
            "description": "A racoon eating ice-cream",
        }
    )

    assert wire.images == (WireImage(url="https://cdn/x.png", mime_type="image/png"),)
    assert wire.description == "A racoon eating ice-cream"
    assert wire.usage == WireUsage()


def test_shape_3_pro_pages_with_sizes() -> None:
    wire = parse(
        {
            "description": "",
            "data": [
                {
                    "url": "https://cdn/x.png",
                    "content_type": "image/png",
                    "width": 1024,
                    "height": 768.0,
                    "file_name": "x.png",
                }
            ],
            "meta": {"usage": {"tokens_used": 1290}},
        }
    )

    assert wire.images == (
        WireImage(url="https://cdn/x.png", mime_type="image/png", width=1024, height=768),
    )
    assert wire.description is None
    assert wire.usage.tokens_used == 1290


def test_shape_4_nano_banana_2() -> None:
    wire = parse(
        {
            "data": [{"mime_type": "image/webp", "b64_json": None, "url": "https://cdn/x.webp"}],
            "meta": {"usage": {"credits_used": 12}},
        }
    )

    assert wire.images == (WireImage(url="https://cdn/x.webp", mime_type="image/webp"),)
    assert wire.usage == WireUsage(credits_used=12)


def test_shape_5_older_output_choices() -> None:
    wire = parse({"output": {"choices": [{"image_base64": "aGk="}, {"image_base64": "aG8="}]}})

    assert wire.images == (WireImage(b64="aGk="), WireImage(b64="aG8="))


def test_output_with_a_data_list_is_read_too() -> None:
    wire = parse({"output": {"data": [{"b64_json": "aGk="}]}, "usage": {"usd_spent": "0.5"}})

    assert wire == WireResponse(images=(WireImage(b64="aGk="),), usage=WireUsage(usd_spent=0.5))


def test_a_data_url_in_the_url_field_is_image_data_not_a_link() -> None:
    wire = parse({"images": [{"url": "data:image/png;base64,aGk=", "content_type": "image/png"}]})

    assert wire.images == (WireImage(b64="data:image/png;base64,aGk=", mime_type="image/png"),)


def test_unknown_keys_are_ignored() -> None:
    wire = parse(
        {
            "id": "x",
            "data": [{"b64_json": "aGk=", "revised_prompt": "y", "width": True}],
            "usage": {"credits_used": 2, "extra": 1},
            "created": 1,
        }
    )

    assert wire == WireResponse(images=(WireImage(b64="aGk="),), usage=WireUsage(credits_used=2))


def test_bare_strings_in_the_image_list_are_urls_or_base64() -> None:
    wire = parse({"images": ["https://cdn/x.png", "aGk="]})

    assert wire.images == (WireImage(url="https://cdn/x.png"), WireImage(b64="aGk="))


@pytest.mark.parametrize(
    "doc",
    [
        {"data": []},
        {"data": None, "meta": None},
        {"data": {"b64_json": "aGk="}},
        {"data": [1]},
        {"data": [[]]},
        {"output": {"choices": "aGk="}},
        {"output": "aGk="},
        {"message": "ok"},
        [],
        "aGk=",
        None,
        3,
    ],
)
def test_answers_without_an_image_list_are_response_errors(doc: Any) -> None:
    with pytest.raises(nb.ResponseError) as info:
        parse(doc)

    assert info.value.request_id == "req-1"
    assert info.value.body == json.dumps(doc).encode()


@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b"<html>", b'{"data": [', b"\xff\xfe\x00", b"[" * 100_000, b"NaN garbage"],
)
def test_bodies_that_are_not_json_are_response_errors(body: bytes) -> None:
    with pytest.raises(nb.ResponseError):
        parse_body(body)


def test_usage_headers_are_read_leniently() -> None:
    assert usage_from_headers(
        {"x-aimlapi-credits-used": "81900", "x-aimlapi-usd-spent": "0.039"}
    ) == WireUsage(credits_used=81900, usd_spent=0.039)
    assert usage_from_headers({"x-aimlapi-credits-used": "lots"}) == WireUsage()
    assert usage_from_headers({"x-aimlapi-usd-spent": "inf"}) == WireUsage()


def test_request_key_is_stable_and_tells_requests_apart() -> None:
    a = nb.ImageRequest(prompt="a red kite", images=[b"\x89PNG\r\n\x1a\n"], extra_body={"s": 1})
    same = nb.ImageRequest(prompt="a red kite", images=[b"\x89PNG\r\n\x1a\n"], extra_body={"s": 1})
    other = nb.ImageRequest(prompt="a red kite", aspect_ratio="4:3")

    assert request_key(a) == request_key(same)
    assert request_key(a) != request_key(other)
    assert a.to_dict()["images"][0].startswith("sha256:")


def test_request_keys_of_earlier_releases_still_match() -> None:
    # Manifests written before stay valid: the key of a prompt is the same text's hash.
    kite = nb.ImageRequest(prompt="a red kite")
    assert request_key(kite, "google/x") == "ea60da7d9fbafe533172e2ef84e1be75"
    assert request_key(nb.ImageRequest(prompt="a red kite", model="google/x")) == (
        "ea60da7d9fbafe533172e2ef84e1be75"
    )


def test_keys_are_the_same_where_only_openssl_has_sha256(monkeypatch: pytest.MonkeyPatch) -> None:
    # Keys hash with CPython's own SHA-256 when it has one; without it, OpenSSL's.
    import importlib

    from nanobanana import _converter

    def no_builtin_hashes(name: str) -> Any:
        raise ImportError(name)

    monkeypatch.setattr(importlib, "import_module", no_builtin_hashes)
    fallback = _converter._short_text_sha256()
    monkeypatch.setattr(_converter, "_short_sha256", fallback)

    assert fallback is hashlib.sha256
    kite = nb.ImageRequest(prompt="a red kite")
    assert request_key(kite, "google/x") == "ea60da7d9fbafe533172e2ef84e1be75"


# Any text, lone surrogates included (a prompt can carry one: JSON escapes them).
any_text = st.text(st.characters(exclude_categories=[]), min_size=1).filter(str.strip)


@given(any_text, any_text)
def test_the_key_of_a_prompt_is_the_hash_of_its_canonical_json(prompt: str, model: str) -> None:
    canonical = json.dumps(
        {"prompt": prompt, "model": model.strip()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    expected = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    assert request_key(nb.ImageRequest(prompt=prompt), model.strip()) == expected
    assert request_key(nb.ImageRequest(prompt=prompt, model=model)) == expected


# -- hypothesis: nothing but WireResponse or ResponseError ----------------------------------

SHAPE_KEYS = [
    "data", "images", "output", "choices", "meta", "usage", "description", "url", "b64_json",
    "image_base64", "b64", "mime_type", "content_type", "width", "height", "credits_used",
    "usd_spent", "tokens_used",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities too: json.dumps writes them, json.loads reads them
    | st.text(max_size=20)
    | st.sampled_from(["https://cdn/x.png", "aGk=", "data:image/png;base64,aGk=", "", "!!"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(SHAPE_KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def _structured_or_response_error(body: bytes) -> None:
    try:
        wire = parse_body(body)
    except nb.ResponseError:
        return
    assert isinstance(wire, WireResponse)
    assert wire.images
    assert all(isinstance(img, WireImage) for img in wire.images)
    assert isinstance(wire.usage, WireUsage)


@given(json_values)
def test_any_json_value_parses_or_is_a_response_error(doc: Any) -> None:
    _structured_or_response_error(json.dumps(doc).encode())


@given(st.dictionaries(st.sampled_from(["data", "images"]), json_values, min_size=1))
def test_any_image_list_parses_or_is_a_response_error(doc: dict[str, Any]) -> None:
    _structured_or_response_error(json.dumps(doc).encode())


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_are_a_response_error(body: bytes) -> None:
    _structured_or_response_error(body)


MAGICS = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a"]
MAGICS += [b"RIFF\x00\x00\x00\x00WEBP" + c for c in (b"VP8X", b"VP8 ", b"VP8L", b"ANIM")]


@given(st.sampled_from(MAGICS), st.binary(max_size=64))
def test_image_size_of_any_header_is_a_size_or_none(magic: bytes, rest: bytes) -> None:
    size = image_size(magic + rest)

    assert sniff_mime(magic + rest) is not None
    assert size is None or (isinstance(size[0], int) and isinstance(size[1], int))


def test_image_size_of_truncated_headers_is_none() -> None:
    assert image_size(b"GIF89a\x01") is None
    assert image_size(b"\x89PNG\r\n\x1a\n" + bytes(8)) is None
    assert image_size(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00") is None
    assert image_size(b"\xff\xd8\xff\xc0\x00\x11\x08") is None
    assert image_size(b"not an image at all") is None
