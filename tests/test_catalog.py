"""The catalog brought up to date: the newer edit ids, provider and web search, `models`."""

from __future__ import annotations

import json

import pytest
from _helpers import cli
from _raw_api import png

import nanobanana as nb
from nanobanana.testing import FakeServer

NEW_EDIT = "google/nano-banana-edit"
NEW_PRO_EDIT = "google/gemini-3-pro-image-edit"


# -- the newer edit ids, beside the older ones ---------------------------------------------


def test_the_older_and_newer_edit_ids_are_distinct_models_with_their_own_limits() -> None:
    limits = {
        model: (info.max_input_images, info.aspect_ratios, bool(info.resolutions))
        for model in (
            nb.Model.NANO_BANANA_EDIT,
            nb.Model.GOOGLE_NANO_BANANA_EDIT,
            nb.Model.NANO_BANANA_PRO_EDIT,
            nb.Model.GEMINI_3_PRO_IMAGE_EDIT,
        )
        if (info := nb.model_info(model)) is not None
    }

    five = ("1:1", "9:16", "16:9", "3:4", "4:3")
    assert limits == {
        "google/gemini-2.5-flash-image-edit": (None, nb.ASPECT_RATIOS, False),
        NEW_EDIT: (3, five, False),
        "google/nano-banana-pro-edit": (14, nb.ASPECT_RATIOS, True),
        NEW_PRO_EDIT: (5, five, True),
    }


async def test_the_newer_nano_banana_edit_generates_without_an_image(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    result = await client.generate("a red kite", model=NEW_EDIT, aspect_ratio="16:9")

    assert server.generation_requests[0].json["model"] == NEW_EDIT
    assert result.model == NEW_EDIT


async def test_the_newer_nano_banana_edit_sends_its_documented_options(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    options = {
        "seed": 4294967295,
        "enhance_prompt": False,
        "person_generation": "dont_allow",
        "safety_setting": "block_medium_and_above",
        "add_watermark": True,
        "convert_base64_to_url": False,
    }

    result = await client.edit(
        "make it night", images=[png()], model=NEW_EDIT, num_images=2, extra_body=options
    )

    sent = server.generation_requests[0].json
    assert {key: sent[key] for key in options} == options
    assert len(result.images) == 2


@pytest.mark.parametrize(
    ("extra_body", "field"),
    [
        ({"seed": 4294967296}, "extra_body['seed']"),
        ({"seed": -1}, "extra_body['seed']"),
        ({"seed": "42"}, "extra_body['seed']"),
        ({"safety_setting": "block_none"}, "extra_body['safety_setting']"),
        ({"person_generation": "allow_all"}, "extra_body['person_generation']"),
        ({"enhance_prompt": "yes"}, "extra_body['enhance_prompt']"),
    ],
)
async def test_a_bad_option_of_the_newer_edit_is_refused_before_sending(
    client: nb.AsyncClient, server: FakeServer, extra_body: dict[str, object], field: str
) -> None:
    with pytest.raises(nb.ValidationError) as caught:
        await client.edit("make it night", images=[png()], model=NEW_EDIT, extra_body=extra_body)

    assert caught.value.field == field
    assert server.requests == []


async def test_the_same_options_pass_unchecked_to_a_model_that_does_not_document_them(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.generate("a red kite", extra_body={"seed": -1})

    assert server.generation_requests[0].json["seed"] == -1


async def test_the_newer_pro_edit_needs_an_image_and_refuses_a_ratio_it_does_not_take(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    with pytest.raises(nb.ValidationError, match="images"):
        await client.generate("a red kite", model=NEW_PRO_EDIT)
    with pytest.raises(nb.ValidationError, match="aspect_ratio"):
        await client.edit("make it night", images=[png()], model=NEW_PRO_EDIT, aspect_ratio="21:9")
    result = await client.edit("make it night", images=[png()], model=NEW_PRO_EDIT, resolution="4K")

    assert result.model == NEW_PRO_EDIT
    assert len(server.generation_requests) == 1


# -- provider and enable_web_search ----------------------------------------------------------


@pytest.mark.parametrize("provider", ["google", "fal", "auto"])
async def test_provider_is_sent_to_the_models_that_take_it(
    client: nb.AsyncClient, server: FakeServer, provider: str
) -> None:
    await client.generate("a red kite", provider=provider)
    await client.edit("make it night", images=[png()], model=NEW_PRO_EDIT, provider=provider)

    assert [r.json["provider"] for r in server.generation_requests] == [provider] * 2


async def test_a_provider_the_api_does_not_know_is_refused_before_sending(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    with pytest.raises(nb.ValidationError, match=r"provider: must be one of google, fal, auto"):
        await client.generate("a red kite", provider="openai")

    assert server.requests == []


@pytest.mark.parametrize("model", [nb.Model.NANO_BANANA_2, nb.Model.NANO_BANANA_2_LITE])
async def test_the_nano_banana_2_family_takes_web_search_and_no_provider(
    client: nb.AsyncClient, server: FakeServer, model: str
) -> None:
    await client.generate("today's weather in Paris", model=model, enable_web_search=True)
    for bad in ({"provider": "google"}, {"extra_body": {"provider": "google"}}):
        with pytest.raises(nb.ValidationError, match="does not take provider"):
            await client.generate("a red kite", model=model, **bad)  # type: ignore[arg-type]

    assert [r.json["enable_web_search"] for r in server.generation_requests] == [True]


async def test_web_search_is_refused_by_the_models_that_do_not_take_it(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    with pytest.raises(nb.ValidationError, match="enable_web_search"):
        await client.generate("a red kite", model=nb.Model.NANO_BANANA_PRO, enable_web_search=True)
    with pytest.raises(nb.ValidationError, match="enable_web_search: must be True or False"):
        await client.generate("a red kite", model=nb.Model.NANO_BANANA_2, enable_web_search="yes")  # type: ignore[arg-type]

    assert server.requests == []


async def test_a_client_on_nano_banana_2_refuses_provider_for_an_edit(server: FakeServer) -> None:
    client_nb2 = nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, model=nb.Model.NANO_BANANA_2
    )
    async with client_nb2:
        with pytest.raises(nb.ValidationError, match="provider"):
            await client_nb2.edit("make it night", images=[png()], provider="fal")

    assert server.requests == []


async def test_provider_and_web_search_given_in_extra_body_still_work(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.generate("a red kite", extra_body={"provider": "fal"})
    await client.generate(
        "a red kite", model=nb.Model.NANO_BANANA_2, extra_body={"enable_web_search": False}
    )

    sent = [r.json for r in server.generation_requests]
    assert (sent[0]["provider"], sent[1]["enable_web_search"]) == ("fal", False)


def test_provider_given_twice_is_refused() -> None:
    with pytest.raises(nb.ValidationError, match="extra_body: cannot set provider"):
        nb.ImageRequest(prompt="a red kite", provider="fal", extra_body={"provider": "google"})


def test_provider_and_web_search_are_part_of_a_request_and_its_key() -> None:
    plain = nb.ImageRequest(prompt="a red kite")
    google = nb.ImageRequest(prompt="a red kite", provider="google")
    searching = nb.ImageRequest(prompt="a red kite", enable_web_search=False)

    assert google.to_dict() == {"prompt": "a red kite", "provider": "google"}
    assert searching.to_dict() == {"prompt": "a red kite", "enable_web_search": False}
    assert len({plain, google, searching}) == 3


# -- nanobanana models --------------------------------------------------------------------


def test_models_lists_the_newer_ids_with_their_limits_and_switches() -> None:
    run = cli("models")

    assert run.returncode == 0, run.stderr
    blocks = {block.split()[0]: block for block in run.stdout.split("\n\n")}
    assert "input images   up to 3" in blocks[NEW_EDIT]
    assert "seed enhance_prompt person_generation" in blocks[NEW_EDIT]
    assert "input images   up to 5" in blocks[NEW_PRO_EDIT]
    assert "provider       google fal auto" in blocks["google/nano-banana-pro"]
    assert "provider       - (not taken)" in blocks["google/gemini-3-1-flash-lite-image"]
    assert "web search     yes (enable_web_search)" in blocks["google/nano-banana-2"]
    assert "num_images     1-4, sent as that many requests" in blocks["google/nano-banana-2"]


def test_models_json_has_every_model_with_its_switches() -> None:
    run = cli("models", "--json")

    models = {entry["id"]: entry for entry in json.loads(run.stdout)}
    assert set(models) >= {NEW_EDIT, NEW_PRO_EDIT, "google/gemini-3-1-flash-lite-image"}
    assert models[NEW_EDIT]["options"][0] == "seed"
    assert models[NEW_EDIT]["max_input_images"] == 3
    assert models["google/nano-banana-2"]["provider"] is False
    assert models["google/nano-banana-2"]["web_search"] is True
