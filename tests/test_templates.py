"""``nb.expand``: one prompt template standing for many requests."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, strategies as st

import nanobanana as nb
from nanobanana._templates import Placeholder, Template, parse_template
from nanobanana.testing import FakeServer

# -- the cross product ------------------------------------------------------------------


def test_keyword_values_give_their_cross_product_in_template_order() -> None:
    requests = nb.expand(
        "a {animal} in {style} style",
        style=["pixel art", "watercolor"],  # the template's order wins, not the keywords'
        animal=["cat", "dog"],
    )
    assert [(r.prompt, dict(r.vars or {})) for r in requests] == [
        ("a cat in pixel art style", {"animal": "cat", "style": "pixel art"}),
        ("a cat in watercolor style", {"animal": "cat", "style": "watercolor"}),
        ("a dog in pixel art style", {"animal": "dog", "style": "pixel art"}),
        ("a dog in watercolor style", {"animal": "dog", "style": "watercolor"}),
    ]


def test_the_product_has_a_len_and_iterates_again_the_same() -> None:
    requests = nb.expand("{a}{b}{c}", a="xy", b=["1", "2", "3"], c=[1, 2.5])
    assert len(requests) == 1 * 3 * 2
    assert repr(requests) == "<Variations of '{a}{b}{c}'>"
    assert [r.prompt for r in requests] == [r.prompt for r in requests]
    assert [r.prompt for r in requests][:2] == ["xy11", "xy12.5"]


def test_the_product_is_made_lazily() -> None:
    many = nb.expand("{a} {b} {c}", a=range(1000), b=range(1000), c=range(1000))
    assert len(many) == 10**9
    first = next(iter(many))
    assert first.prompt == "0 0 0"


def test_settings_apply_to_every_request_and_are_checked_at_once() -> None:
    requests = list(
        nb.expand("a {x}", x=["1", "2"], aspect_ratio="16:9", tag="spring", num_images=2)
    )
    assert {(r.aspect_ratio, r.tag, r.num_images) for r in requests} == {("16:9", "spring", 2)}
    with pytest.raises(nb.ValidationError, match="aspect_ratio"):
        nb.expand("a {x}", x=["1"], aspect_ratio="7:7")


def test_a_template_without_placeholders_is_one_request() -> None:
    assert [r.prompt for r in nb.expand("a lighthouse {{at}} dawn")] == ["a lighthouse {at} dawn"]


def test_a_placeholder_without_values_is_named() -> None:
    with pytest.raises(nb.ValidationError, match=r"no value for placeholder.* style"):
        nb.expand("a {animal} in {style} style", animal=["cat"])


def test_a_value_for_no_placeholder_is_named() -> None:
    with pytest.raises(nb.ValidationError, match=r"unknown placeholder.*animl.*has: animal"):
        nb.expand("a {animal}", animal=["cat"], animl=["dog"])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"x": []}, "x: has no values"),
        ({"x": [True]}, "must be a string or a number, got bool"),
        ({"x": None}, "must be a value or a list of values"),
    ],
)
def test_bad_values_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(nb.ValidationError, match=message):
        nb.expand("a {x}", **values)


# -- rows -------------------------------------------------------------------------------


def test_rows_fill_the_template_one_request_each_with_their_labels() -> None:
    rows = [
        {"animal": "cat", "style": "ink", "id": "c-1", "tag": "pets"},
        {"animal": "owl", "style": "oil", "id": 2, "aspect_ratio": "1:1"},
    ]
    requests = nb.expand("a {animal} in {style}", rows=rows, aspect_ratio="16:9")
    assert len(requests) == 2
    assert [(r.prompt, r.id, r.tag, r.aspect_ratio) for r in requests] == [
        ("a cat in ink", "c-1", "pets", "16:9"),
        ("a owl in oil", "2", None, "1:1"),  # a row's own setting wins
    ]
    assert [dict(r.vars or {}) for r in requests][1] == {"animal": "owl", "style": "oil"}


def test_empty_cells_leave_settings_unset_and_a_bad_setting_names_its_row() -> None:
    rows = [
        {"animal": "cat", "aspect_ratio": "", "tag": None},
        {"animal": "dog", "aspect_ratio": "7:7"},
    ]
    requests = iter(nb.expand("a {animal}", rows=rows, aspect_ratio="1:1"))
    first = next(requests)
    assert (first.aspect_ratio, first.tag) == ("1:1", None)
    with pytest.raises(nb.ValidationError, match="must be one of") as caught:
        next(requests)
    assert caught.value.field == "rows[1]['aspect_ratio']"


def test_a_template_must_be_text() -> None:
    with pytest.raises(nb.ValidationError, match="template: must be a string, got bytes"):
        nb.expand(b"a {animal}", animal="cat")  # type: ignore[arg-type]


def test_rows_from_an_iterator_are_read_lazily_and_have_no_len() -> None:
    def rows() -> Any:
        yield {"animal": "cat"}
        raise AssertionError("read too far")

    requests = nb.expand("a {animal}", rows=rows())
    assert not hasattr(requests, "__len__")
    assert next(iter(requests)).prompt == "a cat"


def test_a_bad_row_is_named_when_it_is_reached() -> None:
    rows = [{"animal": "cat", "style": "ink"}, {"animal": "dog", "colour": "red"}]
    requests = iter(nb.expand("a {animal} in {style}", rows=rows))
    assert next(requests).prompt == "a cat in ink"
    with pytest.raises(nb.ValidationError) as caught:
        next(requests)
    assert caught.value.field == "rows[1]"
    assert "no value for placeholder(s) style" in str(caught.value)
    assert "unknown placeholder(s) colour" in str(caught.value)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["cat"]], r"rows\[0\]: must be a mapping"),
        ("cat", "rows: must be an iterable of mappings"),
    ],
)
def test_rows_must_be_mappings(rows: Any, message: str) -> None:
    with pytest.raises(nb.ValidationError, match=message):
        list(nb.expand("a {animal}", rows=rows))


def test_rows_and_keyword_values_do_not_mix() -> None:
    with pytest.raises(nb.ValidationError, match="not both"):
        nb.expand("a {animal}", rows=[{"animal": "cat"}], animal=["dog"])


async def test_the_variations_run_as_one_batch(client: nb.AsyncClient, server: FakeServer) -> None:
    requests = nb.expand("a {animal} in {style}", animal=["cat", "dog"], style=["ink", "oil"])
    batch = client.batch(requests, ordered=True)
    assert batch.summary.total == 4
    prompts = [item.request.prompt async for item in batch if item.request is not None]
    assert prompts == ["a cat in ink", "a cat in oil", "a dog in ink", "a dog in oil"]
    assert sorted(r.json["prompt"] for r in server.generation_requests) == sorted(prompts)
    assert all("vars" not in r.json for r in server.generation_requests)


# -- the template language --------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a {animal", "'{' at position 2 is never closed"),
        ("a animal}", "single '}' at position 8"),
        ("a {} cat", "empty placeholder {} at position 2"),
        ("a {x:>3} cat", "{x:>3} at position 2 is not a placeholder"),
        ("a {two words}", "is not a placeholder"),
    ],
)
def test_malformed_templates_say_where(template: str, message: str) -> None:
    with pytest.raises(nb.ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        nb.expand(template)


names = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=8)
literals = st.text(max_size=12)


def escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@given(st.lists(st.one_of(literals, names.map(Placeholder)), max_size=8))
def test_a_template_written_from_parts_reads_back_as_those_parts(
    parts: list[str | Placeholder],
) -> None:
    text = "".join(escape(p) if isinstance(p, str) else f"{{{p.name}}}" for p in parts)
    template = Template(text)
    expected_names = list(dict.fromkeys(p.name for p in parts if isinstance(p, Placeholder)))
    assert list(template.names) == expected_names
    values = {name: f"<{name.upper()}>" for name in expected_names}
    expected = "".join(p if isinstance(p, str) else values[p.name] for p in parts)
    assert template.render(values) == expected


@given(st.text())
def test_escaped_text_is_itself(text: str) -> None:
    assert Template(escape(text)).render({}) == text
    assert Template(escape(text)).names == ()


@given(st.text(alphabet=st.sampled_from("ab {}:_1"), max_size=20))
def test_any_text_parses_or_is_a_validation_error(text: str) -> None:
    outcome: Any
    try:
        outcome = parse_template(text)
    except nb.ValidationError as exc:
        outcome = exc
    if isinstance(outcome, nb.ValidationError):
        assert outcome.field == "template"
    else:
        assert all(isinstance(p, Placeholder) or p for p in outcome)
