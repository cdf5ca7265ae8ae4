"""Every model of the API notes, by constant and by id; unknown ids pass through."""

from __future__ import annotations

import copy
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _raw_api import png
from hypothesis import given, strategies as st

import nanobanana as nb
from nanobanana.testing import FakeServer

# The table of API-NOTES.md: (constant, id, kind), one row per id.
GENERATE_MODELS = [
    ("NANO_BANANA", "google/gemini-2.5-flash-image"),
    ("GEMINI_2_5_FLASH_IMAGE", "google/gemini-2.5-flash-image"),
    ("NANO_BANANA_PRO", "google/nano-banana-pro"),
    ("GEMINI_3_PRO_IMAGE_PREVIEW", "google/gemini-3-pro-image-preview"),
    ("NANO_BANANA_2", "google/nano-banana-2"),
    ("GEMINI_3_1_FLASH_IMAGE_PREVIEW", "google/gemini-3-1-flash-image-preview"),
    ("NANO_BANANA_2_LITE", "google/gemini-3-1-flash-lite-image"),
    ("GOOGLE_NANO_BANANA_EDIT", "google/nano-banana-edit"),
]
EDIT_MODELS = [
    ("NANO_BANANA_EDIT", "google/gemini-2.5-flash-image-edit"),
    ("GEMINI_2_5_FLASH_IMAGE_EDIT", "google/gemini-2.5-flash-image-edit"),
    ("NANO_BANANA_PRO_EDIT", "google/nano-banana-pro-edit"),
    ("GEMINI_3_PRO_IMAGE_PREVIEW_EDIT", "google/gemini-3-pro-image-preview-edit"),
    ("NANO_BANANA_2", "google/nano-banana-2"),
    ("GEMINI_3_1_FLASH_IMAGE_PREVIEW", "google/gemini-3-1-flash-image-preview"),
    ("NANO_BANANA_2_LITE", "google/gemini-3-1-flash-lite-image"),
    ("GOOGLE_NANO_BANANA_EDIT", "google/nano-banana-edit"),
    ("GEMINI_3_PRO_IMAGE_EDIT", "google/gemini-3-pro-image-edit"),
]
ALIASES = [
    ("google/nano-banana-pro", "google/gemini-3-pro-image-preview"),
    ("google/nano-banana-pro-edit", "google/gemini-3-pro-image-preview-edit"),
    ("google/nano-banana-2", "google/gemini-3-1-flash-image-preview"),
]
HAS_RESOLUTION = {
    "google/nano-banana-pro",
    "google/gemini-3-pro-image-preview",
    "google/nano-banana-pro-edit",
    "google/gemini-3-pro-image-preview-edit",
    "google/nano-banana-2",
    "google/gemini-3-1-flash-image-preview",
    "google/gemini-3-1-flash-lite-image",
    "google/gemini-3-pro-image-edit",
}


@pytest.mark.parametrize(("name", "model_id"), GENERATE_MODELS + EDIT_MODELS)
def test_every_documented_model_has_a_constant_equal_to_its_id(name: str, model_id: str) -> None:
    assert getattr(nb.Model, name) == model_id
    assert nb.Model(model_id) == model_id
    assert nb.model_info(model_id) is not None


@pytest.mark.parametrize("by", ["constant", "id"])
@pytest.mark.parametrize(("name", "model_id"), GENERATE_MODELS)
async def test_generate_with_every_model(
    client: nb.AsyncClient, server: FakeServer, name: str, model_id: str, by: str
) -> None:
    model = getattr(nb.Model, name) if by == "constant" else model_id
    resolution = "2K" if model_id in HAS_RESOLUTION else None

    result = await client.generate("a red kite", model=model, resolution=resolution)

    sent = server.generation_requests[0].json
    assert sent["model"] == model_id
    assert type(sent["model"]) is str
    assert result.model == model_id
    assert result.image.mime_type == "image/png"


@pytest.mark.parametrize("by", ["constant", "id"])
@pytest.mark.parametrize(("name", "model_id"), EDIT_MODELS)
async def test_edit_with_every_model(
    client: nb.AsyncClient, server: FakeServer, name: str, model_id: str, by: str
) -> None:
    model = getattr(nb.Model, name) if by == "constant" else model_id

    result = await client.edit("make it night", images=[png()], model=model)

    sent = server.generation_requests[0].json
    assert sent["model"] == model_id
    assert len(sent["image_urls"]) == 1
    assert result.model == model_id


@pytest.mark.parametrize(("canonical", "alias"), ALIASES)
def test_both_ids_of_an_aliased_model_are_the_same_model(canonical: str, alias: str) -> None:
    assert nb.model_info(alias) == nb.model_info(canonical)
    assert set(nb.model_info(canonical).ids) == {canonical, alias}  # type: ignore[union-attr]


def test_known_models_lists_the_eight_documented_models() -> None:
    ids = {mid for info in nb.known_models() for mid in info.ids}

    assert len(nb.known_models()) == 8
    assert ids == {mid for _, mid in GENERATE_MODELS + EDIT_MODELS}


async def test_unknown_model_id_is_sent_as_given(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    result = await client.generate(
        "a red kite", model="acme/banana-9000", num_images=2, resolution="4K"
    )

    sent = server.generation_requests[0].json
    assert sent["model"] == "acme/banana-9000"
    assert (sent["num_images"], sent["resolution"]) == (2, "4K")
    assert result.model == "acme/banana-9000"
    assert len(result.images) == 2


async def test_unknown_model_id_is_kept_for_an_edit(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.edit("make it night", images=[png()], model="acme/banana-9000")

    assert server.generation_requests[0].json["model"] == "acme/banana-9000"


async def test_unknown_client_model_is_sent_as_given(server: FakeServer) -> None:
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, model="acme/banana-9000"
    ) as client:
        await client.generate("a red kite")
        await client.edit("make it night", images=[png()])

    assert [r.json["model"] for r in server.generation_requests] == ["acme/banana-9000"] * 2


async def test_extra_body_sends_a_parameter_of_a_newer_api(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.generate(
        "a red kite", model=nb.Model.NANO_BANANA_2, extra_body={"enable_web_search": True}
    )

    assert server.generation_requests[0].json["enable_web_search"] is True


async def test_nano_banana_2_refuses_a_ratio_it_does_not_document(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    with pytest.raises(nb.ValidationError, match=r"aspect_ratio.*1:1, 9:16, 16:9, 3:4, 4:3"):
        await client.generate("a red kite", model=nb.Model.NANO_BANANA_2, aspect_ratio="21:9")

    assert server.requests == []


async def test_flash_image_refuses_resolution_before_sending(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    with pytest.raises(nb.ValidationError, match="resolution"):
        await client.generate("a red kite", resolution="2K")

    assert server.requests == []


@pytest.mark.parametrize(
    "model",
    [
        nb.Model.NANO_BANANA_EDIT,
        nb.Model.NANO_BANANA_PRO_EDIT,
        nb.Model.GEMINI_3_PRO_IMAGE_PREVIEW_EDIT,
    ],
)
async def test_generate_with_an_edit_model_asks_for_images_before_sending(
    client: nb.AsyncClient, server: FakeServer, model: str
) -> None:
    with pytest.raises(nb.ValidationError, match="images"):
        await client.generate("a red kite", model=model)

    assert server.requests == []


async def test_a_client_whose_model_edits_images_refuses_every_plain_prompt(
    server: FakeServer,
) -> None:
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, model=nb.Model.NANO_BANANA_EDIT
    ) as client:
        for _ in range(2):
            with pytest.raises(nb.ValidationError, match="images"):
                await client.generate("a red kite")
        items = [item async for item in client.batch(["a red kite", "a blue boat"])]

    assert [type(item.error) for item in items] == [nb.ValidationError, nb.ValidationError]
    assert server.requests == []


async def test_plain_prompts_and_prompts_with_a_model_each_go_to_their_own_model(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.generate("a red kite")
    with pytest.raises(nb.ValidationError, match="images"):
        await client.generate("a red kite", model=nb.Model.NANO_BANANA_EDIT)
    await client.generate("a blue boat", model=nb.Model.NANO_BANANA_PRO)
    await client.generate("a green hill")

    sent = [r.json["model"] for r in server.generation_requests]
    assert sent == [client.model, "google/nano-banana-pro", client.model]


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        (nb.Model.NANO_BANANA_PRO_EDIT, 14),
        (nb.Model.NANO_BANANA_2, 5),
        (nb.Model.GOOGLE_NANO_BANANA_EDIT, 3),
        (nb.Model.GEMINI_3_PRO_IMAGE_EDIT, 5),
    ],
)
async def test_more_input_images_than_a_model_takes_are_refused(
    client: nb.AsyncClient, server: FakeServer, model: str, limit: int
) -> None:
    images = [png(str(i)) for i in range(limit + 1)]

    with pytest.raises(nb.ValidationError, match=f"at most {limit}"):
        await client.edit("combine", images=images, model=model)
    await client.edit("combine", images=images[:limit], model=model)

    assert len(server.generation_requests) == 1
    assert len(server.generation_requests[0].json["image_urls"]) == limit


def test_saved_images_get_the_usual_file_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    image = nb.GeneratedImage(data=b"\x89PNG\r\n\x1a\n" + bytes(16), mime_type="image/png")
    path = image.save(tmp_path / "kite.png")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


TO_DICT = [
    (nb.ImageRequest(prompt="a red kite"), {"prompt": "a red kite"}),
    (
        nb.ImageRequest(
            prompt="a lighthouse",
            model="google/nano-banana-pro",
            num_images=2,
            aspect_ratio="16:9",
            resolution="2K",
            images=["https://cdn/a.png", Path("photos/kite.png"), b"GIF89a"],
            extra_body={"seed": 7},
        ),
        {
            "prompt": "a lighthouse",
            "model": "google/nano-banana-pro",
            "num_images": 2,
            "aspect_ratio": "16:9",
            "resolution": "2K",
            "images": [
                "https://cdn/a.png",
                "photos/kite.png",
                "sha256:610f5ae4d76e332636a17bd357fd6ce99029316a99d320280d4d77a746bf29e8",
            ],
            "extra_body": {"seed": 7},
        },
    ),
    (nb.ImageRequest(prompt="a red kite", images=[], extra_body={}), {"prompt": "a red kite"}),
]


@pytest.mark.parametrize(("request_", "expected"), TO_DICT)
def test_a_request_as_a_dict_holds_what_was_set(
    request_: nb.ImageRequest, expected: dict[str, object]
) -> None:
    assert request_.to_dict() == expected
    assert list(request_.to_dict()) == list(expected)


def test_a_request_becomes_a_dict_without_loading_the_converter() -> None:
    code = (
        "import sys\n"
        "from nanobanana._models import ImageRequest\n"
        "doc = ImageRequest(prompt='a red kite', images=[b'GIF89a']).to_dict()\n"
        "print(doc['images'][0][:15], 'nanobanana._converter' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert run.stdout.split() == ["sha256:610f5ae4", "False"]


# -- requests travel: pickle and deepcopy --------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
RESERVED = {
    "model",
    "prompt",
    "num_images",
    "aspect_ratio",
    "resolution",
    "provider",
    "enable_web_search",
    "seed",
    "enhance_prompt",
    "person_generation",
    "safety_setting",
    "add_watermark",
    "convert_base64_to_url",
}


@st.composite
def image_requests(draw: st.DrawFn) -> nb.ImageRequest:
    """Any valid request: the arguments each model takes, with values it accepts."""
    model = draw(st.none() | st.sampled_from([m.value for m in nb.Model]) | st.just("acme/x"))
    info = nb.model_info(model) if model is not None else None
    ratios = info.aspect_ratios if info is not None else nb.ASPECT_RATIOS
    takes_resolution = info is None or bool(info.resolutions)
    takes_provider = info is None or info.provider
    takes_search = info is None or info.web_search
    needs_images = info is not None and info.edits == "required"
    image = st.binary(min_size=1, max_size=20) | st.sampled_from(
        ["kite.png", Path("photos/boat.jpg"), "https://example.com/a.png"]
    )
    args: dict[str, Any] = {
        "prompt": draw(st.text(min_size=1).filter(str.strip)),
        "model": model,
        "num_images": draw(st.none() | st.integers(1, 4)),
        "aspect_ratio": draw(st.none() | st.sampled_from(ratios)),
        "resolution": draw(st.none() | st.sampled_from(nb.RESOLUTIONS))
        if takes_resolution
        else None,
        "provider": draw(st.none() | st.sampled_from(["google", "fal", "auto"]))
        if takes_provider
        else None,
        "enable_web_search": draw(st.none() | st.booleans()) if takes_search else None,
        "images": draw(st.lists(image, min_size=1 if needs_images else 0, max_size=3)),
        "extra_body": draw(
            st.dictionaries(st.text().filter(lambda k: k not in RESERVED), JSON_VALUES, max_size=3)
        ),
    }
    return nb.ImageRequest(**args)


@given(image_requests())
def test_a_request_survives_pickle_and_deepcopy(request_: nb.ImageRequest) -> None:
    for copied in (pickle.loads(pickle.dumps(request_)), copy.deepcopy(request_)):
        assert copied == request_
        assert copied.to_dict() == request_.to_dict()
        assert dict(copied.extra_body) == dict(request_.extra_body)
        assert repr(copied) == repr(request_)


def test_a_request_pickles_with_every_protocol() -> None:
    request = nb.ImageRequest(prompt="a red kite", extra_body={"seed": 7, "tags": ["a"]})

    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(request, protocol=protocol))
        assert again.to_dict() == request.to_dict()


def test_the_extra_body_of_a_request_cannot_be_changed_in_place() -> None:
    options = {"tags": ["a"]}
    request = nb.ImageRequest(prompt="a red kite", extra_body={"options": options})
    options["tags"].append("b")

    assert request.extra_body == {"options": {"tags": ["a"]}}
    with pytest.raises(TypeError):
        request.extra_body["seed"] = 7  # type: ignore[index]


# -- extra_body must be JSON --------------------------------------------------------------

NOT_JSON: list[tuple[Any, str]] = [
    ({"when": object()}, "extra_body['when']"),
    ({"options": {"tags": ["a", {1, 2}]}}, "extra_body['options']['tags'][1]"),
    ({"seed": float("nan")}, "extra_body['seed']"),
    ({"ratio": float("inf")}, "extra_body['ratio']"),
    ({"raw": b"bytes"}, "extra_body['raw']"),
    ({"nested": {3: "x"}}, "extra_body['nested']"),
    ({1: "x"}, "extra_body"),
]


@pytest.mark.parametrize(("extra_body", "where"), NOT_JSON)
def test_an_extra_body_that_is_not_json_is_refused_where_it_is_wrong(
    extra_body: dict[Any, Any], where: str
) -> None:
    with pytest.raises(nb.ValidationError) as caught:
        nb.ImageRequest(prompt="a red kite", extra_body=extra_body)

    assert caught.value.field == where
    assert str(caught.value).startswith(f"{where}: ")
    assert "JSON" in str(caught.value)


async def test_an_extra_body_that_is_not_json_sends_nothing(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    with pytest.raises(nb.ValidationError, match=r"extra_body\['when'\]"):
        await client.generate("a red kite", extra_body={"when": object()})

    assert server.requests == []


async def test_an_extra_body_of_tuples_and_nested_objects_is_sent_as_json(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.generate("a red kite", extra_body={"pair": (1, 2), "deep": {"a": [None, 2.5]}})

    sent = server.generation_requests[0].json
    assert (sent["pair"], sent["deep"]) == ([1, 2], {"a": [None, 2.5]})
