"""The results made for every answer are built through their slots: the same values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nanobanana as nb
from nanobanana import _batch, _client
from nanobanana._models import fast_builder, prompt_request

IMAGE = {"data": b"\x89PNG", "mime_type": "image/png", "url": "https://x/1", "width": 3}
USAGE = {"credits_used": 2.0, "usd_spent": 0.5, "tokens_used": None}
RESULT = {
    "images": (nb.GeneratedImage(**IMAGE),),
    "model": "google/nano-banana-pro",
    "description": "a kite",
    "usage": nb.Usage(**USAGE),
    "request_id": "r-1",
}
ITEM = {
    "index": 4,
    "request": nb.ImageRequest(prompt="a red kite"),
    "key": "k",
    "status": "ok",
    "attempts": 2,
    "elapsed": 1.5,
    "paths": (Path("000004-a-red-kite.png"),),
    "usage": nb.Usage(**USAGE),
    "request_id": "r-1",
}
CASES = [
    (nb.GeneratedImage, _client._new_image, IMAGE),
    (nb.Usage, _client._new_usage, USAGE),
    (nb.ImageResult, _client._new_result, RESULT),
    (nb.BatchItem, _batch._new_item, ITEM),
]


IDS = [cls.__name__ for cls, _, _ in CASES]


@pytest.mark.parametrize(("cls", "build", "values"), CASES, ids=IDS)
def test_a_built_result_equals_one_made_by_its_class(
    cls: type[Any], build: Any, values: dict[str, Any]
) -> None:
    built, made = build(**values), cls(**values)

    assert type(built) is cls
    assert attrs.asdict(built, recurse=False) == attrs.asdict(made, recurse=False)
    assert built == made
    assert hash(built) == hash(made)
    assert repr(built) == repr(made)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.__setattr__(attrs.fields(cls)[0].name, None)


def test_a_builder_takes_the_defaults_and_refuses_unknown_fields() -> None:
    usage = _client._new_usage()
    assert usage == nb.Usage()
    with pytest.raises(TypeError):
        _client._new_usage(credits=1)


def test_a_class_whose_init_validates_gets_no_builder() -> None:
    with pytest.raises(TypeError, match="does more than set its fields"):
        fast_builder(nb.ImageRequest)


@given(st.text(st.characters(exclude_categories=[])) | st.none() | st.integers())
def test_a_plain_prompt_request_equals_the_one_the_class_makes(prompt: Any) -> None:
    def outcome(make: Any) -> Any:
        try:
            return make(prompt)
        except nb.ValidationError as exc:
            return f"refused: {exc}"

    made = outcome(lambda p: nb.ImageRequest(prompt=p))
    built = outcome(prompt_request)
    if isinstance(made, str):
        assert built == made
        return

    assert built == made
    assert hash(built) == hash(made)
    assert repr(built) == repr(made)
    assert built.to_dict() == made.to_dict()
    assert dict(built.extra_body) == {}
    with pytest.raises(TypeError):
        built.extra_body["model"] = "x"  # type: ignore[index]
