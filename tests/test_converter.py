"""The response converter: every documented shape, and nothing but ResponseError on junk."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import attrs
import pytest
from hypothesis import given, strategies as st

import nanobanana as nb
from nanobanana._converter import (
    ManifestRecord,
    WireImage,
    WireResponse,
    WireUsage,
    converter,
    manifest_line,
    parse_body,
    request_body,
    request_key,
    usage_from_headers,
    usage_record,
)
from nanobanana._errors import BODY_EXCERPT_BYTES
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
    wire = parse({"images": ["https://cdn/x.png", "HTTP://CDN/Y.PNG", "aGk="]})

    assert wire.images == (
        WireImage(url="https://cdn/x.png"),
        WireImage(url="HTTP://CDN/Y.PNG"),
        WireImage(b64="aGk="),
    )


DOCUMENTED_SHAPES = [
    {"data": [{"url": None, "b64_json": "aGk="}], "meta": {"usage": {"tokens_used": 9}}},
    {"images": [{"url": "https://cdn/x.png", "content_type": "image/png"}], "description": "x"},
    {"description": "", "data": [{"url": "https://cdn/x.png", "width": 8, "height": 6}]},
    {"data": [{"mime_type": "image/webp", "b64_json": None, "url": "https://cdn/x.webp"}]},
    {"output": {"choices": [{"image_base64": "aGk="}]}},
    {"output": {"data": [{"b64_json": "aGk="}]}, "usage": {"usd_spent": "0.5"}},
]


@pytest.mark.parametrize("doc", DOCUMENTED_SHAPES)
def test_the_converter_itself_reads_every_documented_shape(doc: dict[str, Any]) -> None:
    wire = converter.structure(doc, WireResponse)

    assert wire == parse(doc)
    assert len(wire.images) == 1


def test_usage_figures_too_large_for_a_float_are_read_as_unknown() -> None:
    huge = "1" + "0" * 400
    body = f'{{"data": [{{"b64_json": "aGk="}}], "usage": {{"credits_used": {huge}}}}}'

    assert parse_body(body.encode()).usage == WireUsage()
    assert usage_from_headers({"x-aimlapi-credits-used": huge}) == WireUsage()


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"data": []}, "the image list is empty @ $.data"),
        ({"images": []}, "the image list is empty @ $.images"),
        ({"data": {"b64_json": "aGk="}}, "expected an array of images, found an object @ $.data"),
        ({"data": ["aGk=", 1]}, "expected an image object or string, found a number @ $.data[1]"),
        ({"images": [[]]}, "expected an image object or string, found an array @ $.images[0]"),
        (
            {"output": {"choices": [{"image_base64": "aGk="}, None]}},
            "expected an image object or string, found null @ $.output.choices[1]",
        ),
        (
            {"output": {"data": "aGk="}},
            "expected an array of images, found a string @ $.output.data",
        ),
        ({"message": "ok"}, "found no image list ('data', 'images' or 'output') @ $"),
        (
            {"data": None, "output": "aGk="},
            "found no image list ('data', 'images' or 'output') @ $",
        ),
        ([], "expected a JSON object, found an array @ $"),
        (None, "expected a JSON object, found null @ $"),
        (
            {"data": [1, True, None, [], 2.5]},
            "expected an image object or string, found a number @ $.data[0]; "
            "expected an image object or string, found a boolean @ $.data[1]; "
            "expected an image object or string, found null @ $.data[2] (and 2 more)",
        ),
    ],
)
def test_what_cannot_be_read_is_named_by_its_place_in_the_response(doc: Any, problem: str) -> None:
    with pytest.raises(nb.ResponseError) as info:
        parse(doc)

    assert str(info.value) == f"the response could not be read: {problem}"
    assert info.value.request_id == "req-1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the response is empty (JSONDecodeError)"),
        (b" \n", "the response is empty (JSONDecodeError)"),
        (b'{"data": [', "the response is not valid JSON (JSONDecodeError)"),
        (b"\xff\xfe\x00", "the response is not valid JSON (UnicodeDecodeError)"),
        (b"[" * 100_000, "the response is not valid JSON (RecursionError)"),
    ],
)
def test_a_body_that_is_not_json_says_so(body: bytes, message: str) -> None:
    with pytest.raises(nb.ResponseError, match=re.escape(message)) as info:
        parse_body(body, request_id="req-1")

    assert info.value.body == body[:BODY_EXCERPT_BYTES]
    assert info.value.request_id == "req-1"


@pytest.mark.parametrize("body", [b"<" * 100_000, b'{"data": [' + b"1," * 50_000 + b"1]}"])
def test_a_response_error_keeps_the_first_64_kib_of_the_body(body: bytes) -> None:
    with pytest.raises(nb.ResponseError) as info:
        parse_body(body)

    assert info.value.body == body[:65_536]


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
def test_responses_without_an_image_list_are_response_errors(doc: Any) -> None:
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


# -- what is sent ------------------------------------------------------------------------------


def test_the_body_sent_holds_what_was_set_then_extra_body() -> None:
    request = nb.ImageRequest(prompt="a red kite", resolution="2K", extra_body={"seed": 7})

    body = request_body(request, "google/nano-banana-pro", ["https://cdn/a.png"])

    assert body == {
        "model": "google/nano-banana-pro",
        "prompt": "a red kite",
        "resolution": "2K",
        "image_urls": ["https://cdn/a.png"],
        "seed": 7,
    }
    assert list(body) == ["model", "prompt", "resolution", "image_urls", "seed"]


def test_the_body_of_a_plain_prompt_is_its_model_and_prompt() -> None:
    request = nb.ImageRequest(prompt="a red kite")

    assert request_body(request, "google/x", None) == {"model": "google/x", "prompt": "a red kite"}
    assert request_body(request, "google/x", []) == {"model": "google/x", "prompt": "a red kite"}


def test_every_field_set_is_sent() -> None:
    request = nb.ImageRequest(
        prompt="a red kite", num_images=2, aspect_ratio="16:9", resolution="4K", model="acme/x"
    )

    assert request_body(request, "acme/x", None) == {
        "model": "acme/x",
        "prompt": "a red kite",
        "num_images": 2,
        "aspect_ratio": "16:9",
        "resolution": "4K",
    }


# -- what a manifest line holds ----------------------------------------------------------------


def test_usage_record_keeps_the_figures_reported() -> None:
    assert usage_record(nb.Usage(credits_used=81900.0, usd_spent=0.039)) == {
        "credits_used": 81900.0,
        "usd_spent": 0.039,
    }
    assert usage_record(nb.Usage(tokens_used=1290.0)) == {"tokens_used": 1290.0}
    assert usage_record(nb.Usage()) == {}


MANIFEST_LINES = [
    (
        ManifestRecord(
            index=3,
            key="ea60da7d9fbafe533172e2ef84e1be75",
            status="ok",
            prompt="a red kite",
            paths=["000003-a-red-kite.png", "000003-a-red-kite-2.png"],
            attempts=2,
            elapsed=4.56789,
            usage=nb.Usage(credits_used=2.0, usd_spent=0.078),
            request_id="inf-1",
        ),
        {
            "index": 3,
            "key": "ea60da7d9fbafe533172e2ef84e1be75",
            "status": "ok",
            "prompt": "a red kite",
            "paths": ["000003-a-red-kite.png", "000003-a-red-kite-2.png"],
            "attempts": 2,
            "elapsed": 4.568,
            "usage": {"credits_used": 2.0, "usd_spent": 0.078},
            "request_id": "inf-1",
        },
    ),
    (
        ManifestRecord(
            index=0,
            key="2c10a598a3f5c62a6fc1773e985b9c88",
            status="failed",
            prompt="a red kite",
            error_type="RateLimitError",
            error="HTTP 429: Too Many Requests",
            attempts=4,
            elapsed=0.1,
            usage=nb.Usage(),
        ),
        {
            "index": 0,
            "key": "2c10a598a3f5c62a6fc1773e985b9c88",
            "status": "failed",
            "prompt": "a red kite",
            "error_type": "RateLimitError",
            "error": "HTTP 429: Too Many Requests",
            "attempts": 4,
            "elapsed": 0.1,
            "usage": {},
        },
    ),
    (
        ManifestRecord(
            index=7,
            key=None,
            status="skipped",
            prompt=None,
            skip_reason="budget",
            attempts=0,
            elapsed=0.0,
        ),
        {
            "index": 7,
            "key": None,
            "status": "skipped",
            "prompt": None,
            "skip_reason": "budget",
            "attempts": 0,
            "elapsed": 0.0,
        },
    ),
]


@pytest.mark.parametrize(("record", "line"), MANIFEST_LINES)
def test_a_manifest_line_holds_what_is_set_in_the_order_of_earlier_releases(
    record: ManifestRecord, line: dict[str, Any]
) -> None:
    assert manifest_line(record) == line
    assert list(manifest_line(record)) == list(line)
    assert converter.unstructure(record) == line


def reference_line(record: ManifestRecord) -> dict[str, Any]:
    """A manifest line as earlier releases wrote it, field by field."""
    line: dict[str, Any] = {
        "index": record.index,
        "key": record.key,
        "status": record.status,
        "prompt": record.prompt,
    }
    if record.skip_reason is not None:
        line["skip_reason"] = record.skip_reason
    if record.paths:
        line["paths"] = list(record.paths)
    if record.error_type is not None:
        line["error_type"] = record.error_type
    if record.error is not None:
        line["error"] = record.error
    line["attempts"] = record.attempts
    line["elapsed"] = round(record.elapsed, 3)
    if record.usage is not None:
        line["usage"] = {k: v for k, v in attrs.asdict(record.usage).items() if v is not None}
    if record.request_id is not None:
        line["request_id"] = record.request_id
    return line


maybe_text = st.none() | st.text(max_size=10)
maybe_figure = st.none() | st.floats(allow_nan=False)
manifest_records = st.builds(
    ManifestRecord,
    index=st.integers(min_value=0),
    key=maybe_text,
    status=st.sampled_from(["ok", "failed", "skipped"]),
    prompt=maybe_text,
    skip_reason=maybe_text,
    paths=st.lists(st.text(min_size=1, max_size=10), max_size=3),
    error_type=maybe_text,
    error=maybe_text,
    attempts=st.integers(min_value=0, max_value=10),
    elapsed=st.floats(min_value=0, max_value=1e6),
    usage=st.none() | st.builds(nb.Usage, credits_used=maybe_figure, usd_spent=maybe_figure),
    request_id=maybe_text,
)


@given(manifest_records)
def test_every_manifest_line_is_the_one_earlier_releases_wrote(record: ManifestRecord) -> None:
    line = manifest_line(record)

    assert line == reference_line(record)
    assert json.dumps(line) == json.dumps(reference_line(record))


# -- request keys: manifests on users' disks are matched by them ---------------------------

KEYS_OF_EARLIER_RELEASES = [
    (nb.ImageRequest(prompt="a red kite"), "google/x", "ea60da7d9fbafe533172e2ef84e1be75"),
    (
        nb.ImageRequest(prompt="a red kite"),
        "google/gemini-2.5-flash-image",
        "2c10a598a3f5c62a6fc1773e985b9c88",
    ),
    (
        nb.ImageRequest(prompt="a red kite", model="google/nano-banana-pro"),
        None,
        "d8724188f39ff5ab97d8793976ab8bcf",
    ),
    (nb.ImageRequest(prompt="a red kite"), None, "7c31a5e0c9d435a00da095899c54fc48"),
    (
        nb.ImageRequest(prompt="a red kite", model="google/nano-banana-pro"),
        "google/nano-banana-2",
        "87ccacaef0884e6db1e71d915169c226",
    ),
    (
        nb.ImageRequest(
            prompt="a lighthouse at dawn",
            model="google/nano-banana-pro",
            num_images=3,
            aspect_ratio="16:9",
            resolution="2K",
            images=["https://example.com/a.png"],
            extra_body={"seed": 7, "enhance_prompt": False},
        ),
        None,
        "24b9f8b0390c97245321c4296ad16b71",
    ),
    (
        nb.ImageRequest(
            prompt="make it night",
            images=[b"\x89PNG\r\n\x1a\nabc", bytearray(b"\xff\xd8\xffxyz")],
        ),
        "google/gemini-2.5-flash-image-edit",
        "9319bc2a0ac7f7aa7ebe51b83c696c3a",
    ),
    (
        nb.ImageRequest(
            prompt="make it night", images=[Path("photos/kite.png"), "photos/boat.jpg"]
        ),
        "google/gemini-2.5-flash-image-edit",
        "54dea19cd7b2a13127cbd89be4440c04",
    ),
    (
        nb.ImageRequest(
            prompt="a red kite",
            extra_body={"provider": "fal", "nested": {"b": [1, 2.5, None], "a": "\u00fc"}},
        ),
        "google/x",
        "eadec6c421361e49255be0cbe52d1b28",
    ),
    (
        nb.ImageRequest(
            prompt="\u6771\u4eac\u306e\u591c\u666f\u3001\u30cd\u30aa\u30f3"
            ' \U0001f303 "quoted" \\ back\nline'
        ),
        "google/gemini-2.5-flash-image",
        "9852ab21e3819d43d710ce29a201aa14",
    ),
    (
        nb.ImageRequest(prompt="a kite \ud800 lone"),
        "google/gemini-2.5-flash-image",
        "bc5a1293a1ae2dd994ec01d3bd52eb06",
    ),
]


@pytest.mark.parametrize(("request_", "model", "key"), KEYS_OF_EARLIER_RELEASES)
def test_request_keys_of_earlier_releases_still_match(
    request_: nb.ImageRequest, model: str | None, key: str
) -> None:
    assert request_key(request_, model) == key


def test_a_request_with_its_own_model_has_the_key_of_that_model_given_apart() -> None:
    with_model = nb.ImageRequest(prompt="a red kite", model="google/x")

    assert request_key(with_model) == request_key(nb.ImageRequest(prompt="a red kite"), "google/x")


def reference_key(request: nb.ImageRequest, model: str | None) -> str:
    """The key as documented: SHA-256 of the canonical JSON of the request's content."""
    doc: dict[str, Any] = {"prompt": request.prompt}
    model = request.model if model is None else model
    if model is not None:
        doc["model"] = model
    for name in ("num_images", "aspect_ratio", "resolution"):
        if getattr(request, name) is not None:
            doc[name] = getattr(request, name)
    if request.images:
        doc["images"] = [
            "sha256:" + hashlib.sha256(item).hexdigest()
            if isinstance(item, bytes)
            else os.fspath(item)
            for item in request.images
        ]
    if request.extra_body:
        doc["extra_body"] = dict(request.extra_body)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# Any text, lone surrogates included (a prompt can carry one: JSON escapes them).
any_text = st.text(st.characters(exclude_categories=[]), min_size=1).filter(str.strip)
unknown_models = st.sampled_from([None, "google/x", "acme/future-model"])
image_inputs = st.one_of(
    st.binary(min_size=1, max_size=16),
    any_text,
    any_text.map(PurePosixPath),
)
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)
# Named fields, and the two that are checked when they come in extra_body.
_NOT_EXTRA = {
    "model",
    "prompt",
    "num_images",
    "aspect_ratio",
    "resolution",
    "provider",
    "enable_web_search",
}
extra_bodies = st.dictionaries(
    any_text.filter(lambda k: k not in _NOT_EXTRA),
    st.recursive(
        json_leaves,
        lambda c: st.lists(c, max_size=3) | st.dictionaries(any_text, c, max_size=3),
        max_leaves=8,
    ),
    max_size=3,
)
image_requests = st.builds(
    nb.ImageRequest,
    prompt=any_text,
    model=unknown_models,
    num_images=st.none() | st.integers(1, 4),
    aspect_ratio=st.none() | st.sampled_from(nb.ASPECT_RATIOS),
    resolution=st.none() | st.sampled_from(nb.RESOLUTIONS),
    images=st.lists(image_inputs, max_size=3),
    extra_body=st.none() | extra_bodies,
)


@given(image_requests, unknown_models)
def test_the_key_of_a_request_is_the_hash_of_its_canonical_json(
    request_: nb.ImageRequest, model: str | None
) -> None:
    assert request_key(request_, model) == reference_key(request_, model)


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
