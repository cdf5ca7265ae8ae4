"""``nb.write_gallery(out_dir)``: one self-contained HTML page of a batch's items.

The page itself is driven in a real browser in ``test_gallery_browser.py``; these
tests read what the page embeds and how it is written.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, strategies as st

import nanobanana as nb
from nanobanana._gallery import GALLERY_NAME
from nanobanana._gallery._page import embed_json
from nanobanana._gallery._records import gallery_data, latest_records
from nanobanana.testing import FakeServer

HOSTILE = "<img src=x onerror=alert(1)>"
SCRIPT_END = "</script><script>alert(2)</script>"
DATA = re.compile(r'<script type="application/json" id="nb-data">(.*?)</script>', re.DOTALL)


def write_manifest(folder: Path, lines: list[dict[str, Any]], name: str = "manifest.jsonl") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (folder / name).write_text(text, encoding="utf-8")


def line(index: int, status: str = "ok", prompt: str | None = None, **extra: Any) -> dict[str, Any]:
    """A manifest line as the batch writes it, with ``extra`` fields."""
    record: dict[str, Any] = {
        "index": index,
        "key": f"key-{index}",
        "status": status,
        "prompt": prompt if prompt is not None else f"prompt {index}",
        "attempts": 1,
        "elapsed": 1.5,
    }
    if status == "ok":
        record["paths"] = [f"{index:06d}-prompt-{index}.png"]
    return record | extra


def embedded(page: Path) -> dict[str, Any]:
    """The data the page embeds, as its script reads it."""
    found = DATA.search(page.read_text(encoding="utf-8"))
    assert found is not None
    document: dict[str, Any] = json.loads(found.group(1))
    return document


def test_a_batch_gets_a_gallery_of_every_item(sync_client: nb.Client, tmp_path: Path) -> None:
    prompts = ["a red kite", "a paper boat", "a lighthouse at dawn"]
    items = list(sync_client.batch(prompts, out_dir=tmp_path))

    page = nb.write_gallery(tmp_path)

    assert page == tmp_path / GALLERY_NAME
    shown = embedded(page)
    assert shown["title"] == tmp_path.name
    assert sorted(item["prompt"] for item in shown["items"]) == sorted(prompts)
    by_prompt = {item["prompt"]: item for item in shown["items"]}
    for item in items:
        assert item.request is not None
        assert by_prompt[item.request.prompt]["images"] == [p.name for p in item.paths]
        assert by_prompt[item.request.prompt]["status"] == "ok"
    summary = shown["summary"]
    assert summary["total"] == 3
    assert summary["counts"] == {"ok": 3}
    assert summary["images"] == 3
    assert summary["usd"] == pytest.approx(sum(i.usage.usd_spent or 0 for i in items if i.usage))


def test_a_templated_batch_shows_its_labels_variables_model_and_parameters(
    sync_client: nb.Client, tmp_path: Path
) -> None:
    requests = nb.expand(
        "a {animal} in {style} style", animal=["cat", "owl"], style="ukiyo-e",
        tag="zoo", aspect_ratio="16:9",
    )  # fmt: skip
    list(sync_client.batch(requests, out_dir=tmp_path))

    items = embedded(nb.write_gallery(tmp_path))["items"]

    assert [item["prompt"] for item in items] == [
        "a cat in ukiyo-e style",
        "a owl in ukiyo-e style",
    ]
    assert [item["vars"] for item in items] == [
        [["animal", "cat"], ["style", "ukiyo-e"]],
        [["animal", "owl"], ["style", "ukiyo-e"]],
    ]
    assert {item["tag"] for item in items} == {"zoo"}
    assert {item["model"] for item in items} == {"google/gemini-2.5-flash-image"}
    assert ["aspect_ratio", "16:9"] in items[0]["parameters"]


def test_a_prompt_of_markup_is_shown_as_text_never_run(tmp_path: Path) -> None:
    write_manifest(
        tmp_path,
        [
            line(0, prompt=HOSTILE),
            line(1, "failed", prompt=SCRIPT_END, error=f"the server said {HOSTILE}"),
            line(2, prompt="fish & chips", tag="<b>bold</b>", vars={"x": "<i>"}),
        ],
    )

    page = nb.write_gallery(tmp_path).read_text(encoding="utf-8")

    assert HOSTILE not in page
    assert "<i>" not in page
    assert "<b>bold" not in page
    # The data script and the page's own script: no third element was opened or closed.
    assert page.count("<script") == 2
    assert page.count("</script>") == 2
    shown = embedded(tmp_path / GALLERY_NAME)
    assert [item["prompt"] for item in shown["items"]] == [HOSTILE, SCRIPT_END, "fish & chips"]
    assert shown["items"][1]["error"] == f"the server said {HOSTILE}"
    assert shown["items"][2]["tag"] == "<b>bold</b>"
    # The page's script builds the cards with textContent, never with innerHTML.
    assert "innerHTML" not in page
    assert "outerHTML" not in page
    assert "insertAdjacentHTML" not in page


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    write_manifest(tmp_path, [line(0, prompt="see https://example.com/kite.png")])

    page = nb.write_gallery(tmp_path).read_text(encoding="utf-8")
    markup = DATA.sub("", page)  # the data holds the prompt, which may name a URL

    assert re.findall(r"https?://", markup) == []
    # Nothing is loaded from elsewhere (the icon is an empty data: URL).
    assert re.findall(r"<(?:link|script)[^>]*\b(?:href|src)=\"(?!data:)", markup) == []
    assert "@import" not in markup
    assert "url(" not in markup
    assert 'http-equiv="Content-Security-Policy"' in markup


@given(st.text())
def test_any_text_is_embedded_without_markup_and_read_back_the_same(text: str) -> None:
    embedded_text = embed_json({"prompt": text})

    assert not set("<>&") & set(embedded_text)
    assert json.loads(embedded_text) == {"prompt": text}


def test_failed_and_skipped_items_are_shown_with_why(tmp_path: Path) -> None:
    write_manifest(
        tmp_path,
        [
            line(0),
            line(1, "failed", error_type="ServerError", error="500: overloaded", attempts=3),
            line(2, "skipped", skip_reason="budget"),
        ],
    )

    shown = embedded(nb.write_gallery(tmp_path))

    failed, skipped = shown["items"][1], shown["items"][2]
    assert (failed["status"], failed["error_type"], failed["error"]) == (
        "failed",
        "ServerError",
        "500: overloaded",
    )
    assert failed["attempts"] == 3
    assert failed["images"] == []
    assert (skipped["status"], skipped["skip_reason"]) == ("skipped", "budget")
    assert shown["summary"]["counts"] == {"ok": 1, "failed": 1, "skipped": 1}
    assert shown["summary"]["images"] == 1


def test_labels_variables_model_and_parameters_are_shown_when_recorded(tmp_path: Path) -> None:
    labelled = line(
        0,
        id="cat-7",
        tag="cats",
        vars={"animal": "cat", "n": 2},
        line=12,
        model="google/nano-banana-pro",
        parameters={"aspect_ratio": "16:9", "num_images": 2},
        usage={"usd_spent": 0.039, "credits_used": 81900},
        request_id="req-1",
    )
    write_manifest(tmp_path, [labelled, line(1)])

    first, plain = embedded(nb.write_gallery(tmp_path))["items"]

    assert first["id"] == "cat-7"
    assert first["tag"] == "cats"
    assert first["line"] == 12
    assert first["vars"] == [["animal", "cat"], ["n", "2"]]
    assert first["model"] == "google/nano-banana-pro"
    assert first["parameters"] == [["aspect_ratio", "16:9"], ["num_images", "2"]]
    assert (first["usd"], first["credits"], first["request_id"]) == (0.039, 81900, "req-1")
    assert not {"id", "tag", "vars", "line", "model", "parameters", "usd"} & set(plain)


def test_a_resumed_item_shows_its_latest_line(tmp_path: Path) -> None:
    write_manifest(
        tmp_path,
        [
            line(0, "failed", error="timeout"),
            line(1, "skipped", skip_reason="interrupted"),
            line(0),  # the resumed run made it
            line(2, "failed", key="key-1", error="after a reorder"),  # key-1 at another index
            line(3, key="key-1"),  # ...and then made it there
            line(4, key="key-4"),
            line(5, key="key-4"),  # the same prompt twice in the input: two images
        ],
    )

    shown = embedded(nb.write_gallery(tmp_path))

    assert [(i["index"], i["status"]) for i in shown["items"]] == [
        (0, "ok"),
        (3, "ok"),
        (4, "ok"),
        (5, "ok"),
    ]


def at(second: int) -> str:
    """A ``finished_at`` time, as the manifest writes it."""
    return f"2026-01-01T10:00:{second:02d}.000+00:00"


def test_every_manifest_of_a_sharded_run_is_read_the_latest_line_winning(
    tmp_path: Path,
) -> None:
    write_manifest(tmp_path, [line(0, finished_at=at(5)), line(1, finished_at=at(6))])
    shard_0 = [line(2, finished_at=at(1)), line(0, "failed", error="x", finished_at=at(2))]
    write_manifest(tmp_path, shard_0, name="manifest-00-of-02.jsonl")
    shard_1 = [line(1, "skipped", skip_reason="budget", finished_at=at(9))]
    write_manifest(tmp_path, shard_1, name="manifest-01-of-02.jsonl")
    (tmp_path / "manifest.jsonl.bak").write_text(json.dumps(line(9)) + "\n")

    shown = embedded(nb.write_gallery(tmp_path))

    # Item 0 failed in a shard, then a later run made it; item 1 was made, then a later
    # run into the same folder skipped it: each shows its latest line.
    assert [(i["index"], i["status"]) for i in shown["items"]] == [
        (0, "ok"),
        (1, "skipped"),
        (2, "ok"),
    ]


def test_lines_without_a_time_count_as_older_than_timed_ones(tmp_path: Path) -> None:
    write_manifest(tmp_path, [line(0, finished_at=at(1))])
    write_manifest(tmp_path, [line(0, "failed", error="x")], name="manifest-00-of-01.jsonl")

    (item,) = embedded(nb.write_gallery(tmp_path))["items"]

    assert item["status"] == "ok"


def test_a_folder_of_shards_alone_gets_a_gallery(tmp_path: Path) -> None:
    write_manifest(tmp_path, [line(0)], name="manifest-01-of-01.jsonl")

    assert embedded(nb.write_gallery(tmp_path))["summary"]["total"] == 1


def test_wall_time_spans_the_recorded_start_and_finish(tmp_path: Path) -> None:
    write_manifest(
        tmp_path,
        [
            line(0, started="2026-01-01T10:00:00Z", finished="2026-01-01T10:00:04Z"),
            line(1, started="2026-01-01T10:00:01+00:00", finished="2026-01-01T10:00:09.5Z"),
        ],
    )

    summary = embedded(nb.write_gallery(tmp_path))["summary"]

    assert (summary["wall_kind"], summary["seconds"]) == ("wall", 9.5)


def test_wall_time_runs_from_the_first_start_to_the_last_finish_recorded(
    tmp_path: Path,
) -> None:
    # The manifest records when each item finished; it started `elapsed` seconds before.
    write_manifest(
        tmp_path,
        [line(0, finished_at=at(4), elapsed=3.0), line(1, finished_at=at(9), elapsed=2.5)],
    )

    summary = embedded(nb.write_gallery(tmp_path))["summary"]

    assert (summary["wall_kind"], summary["seconds"]) == ("wall", 8.0)


def test_a_repeated_request_shows_which_copy_it_is(tmp_path: Path) -> None:
    write_manifest(tmp_path, [line(0, key="k"), line(1, key="k", repeat=1)])

    first, second = embedded(nb.write_gallery(tmp_path))["items"]

    assert "repeat" not in first
    assert second["repeat"] == 1


def test_without_recorded_times_the_items_own_times_are_summed(tmp_path: Path) -> None:
    write_manifest(tmp_path, [line(0, elapsed=1.25), line(1, elapsed=2.5), line(2, elapsed=None)])

    summary = embedded(nb.write_gallery(tmp_path))["summary"]

    assert (summary["wall_kind"], summary["seconds"]) == ("sum", 3.75)
    page = (tmp_path / GALLERY_NAME).read_text()
    assert "summed over the items" in page  # the page says which figure it shows


def test_times_given_as_epoch_seconds_count_too(tmp_path: Path) -> None:
    write_manifest(tmp_path, [line(0, started_at=100.0, finished_at=103), line(1, start=101)])

    summary = embedded(nb.write_gallery(tmp_path))["summary"]

    assert (summary["wall_kind"], summary["seconds"]) == ("wall", 3.0)


def test_times_without_a_zone_are_read_as_utc(tmp_path: Path) -> None:
    write_manifest(
        tmp_path,
        [line(0, started="2026-01-01T10:00:00", finished="2026-01-01T11:00:00+01:00")],
    )

    summary = embedded(nb.write_gallery(tmp_path))["summary"]

    assert (summary["wall_kind"], summary["seconds"]) == ("wall", 0.0)


def test_variables_and_parameters_of_any_json_type_are_shown_as_json(tmp_path: Path) -> None:
    values = {"s": "cat", "i": 2, "f": 0.5, "b": True, "none": None, "list": ["a", 1]}
    write_manifest(tmp_path, [line(0, vars=values, parameters={"extra_body": {"seed": 7}})])

    (item,) = embedded(nb.write_gallery(tmp_path))["items"]

    assert item["vars"] == [
        ["s", "cat"],
        ["i", "2"],
        ["f", "0.5"],
        ["b", "true"],
        ["none", "null"],
        ["list", '["a", 1]'],
    ]
    assert item["parameters"] == [["extra_body", '{"seed": 7}']]


def test_lines_of_the_wrong_shape_are_read_leniently(tmp_path: Path) -> None:
    (tmp_path / "manifest.jsonl").write_text(
        "not json\n"
        '["a list"]\n'
        '{"key": null, "status": "failed"}\n'
        + json.dumps(
            {
                "key": "k",
                "index": True,
                "status": 3,
                "prompt": ["x"],
                "paths": "a.png",
                "attempts": "2",
                "elapsed": "slow",
                "usage": {"usd_spent": "0.1"},
                "vars": ["not", "a", "dict"],
                "id": 7,
                "started": "yesterday",
            }
        )
        + "\n"
        + '{"key": "torn", "status": "ok"',  # a line a kill cut short
        encoding="utf-8",
    )

    (item,) = embedded(nb.write_gallery(tmp_path))["items"]

    assert item == {"index": None, "status": "unknown", "prompt": "", "images": [], "id": "7"}


def test_figures_too_large_to_add_up_are_left_out_not_written_as_infinity(
    tmp_path: Path,
) -> None:
    huge = {"usd_spent": 1e308, "credits_used": 1}
    write_manifest(
        tmp_path, [line(0, usage=huge, elapsed=1e308), line(1, usage=huge, elapsed=1e308)]
    )

    summary = embedded(nb.write_gallery(tmp_path))["summary"]

    assert (summary["usd"], summary["credits"], summary["seconds"]) == (None, 2, None)
    assert "Infinity" not in (tmp_path / GALLERY_NAME).read_text()


def test_a_prompt_with_a_lone_surrogate_still_gives_a_page(tmp_path: Path) -> None:
    (tmp_path / "manifest.jsonl").write_text(
        '{"key": "k", "index": 0, "status": "ok", "prompt": "a \\ud800 kite"}\n', encoding="utf-8"
    )

    assert embedded(nb.write_gallery(tmp_path))["items"][0]["prompt"] == "a \ud800 kite"


def test_an_empty_manifest_gives_an_empty_gallery(tmp_path: Path) -> None:
    (tmp_path / "manifest.jsonl").write_text("")

    shown = embedded(nb.write_gallery(tmp_path))

    assert shown["items"] == []
    assert shown["summary"]["total"] == 0


def test_a_folder_without_a_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no manifest\.jsonl in"):
        nb.write_gallery(tmp_path)
    with pytest.raises(FileNotFoundError, match="not the output folder of a batch"):
        nb.write_gallery(tmp_path / "missing")
    assert not (tmp_path / GALLERY_NAME).exists()


def test_writing_again_brings_the_gallery_up_to_date(tmp_path: Path) -> None:
    write_manifest(tmp_path, [line(0, "failed", error="x")])
    nb.write_gallery(tmp_path)
    write_manifest(tmp_path, [line(0, "failed", error="x"), line(0)])

    shown = embedded(nb.write_gallery(str(tmp_path)))

    assert [i["status"] for i in shown["items"]] == ["ok"]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_a_gallery_of_a_real_batch_with_failures(tmp_path: Path) -> None:
    with (
        FakeServer() as server,
        nb.Client(
            api_key=server.api_key, base_url=server.url, retry=nb.RetryPolicy.no_wait(max_retries=0)
        ) as client,
    ):
        server.fail_next(1, status=400)
        list(client.batch(["a red kite", "a paper boat"], out_dir=tmp_path, concurrency=1))

    shown = embedded(nb.write_gallery(tmp_path))

    assert sorted(i["status"] for i in shown["items"]) == ["failed", "ok"]
    (failed,) = [i for i in shown["items"] if i["status"] == "failed"]
    assert failed["error_type"] == "BadRequestError"
    assert failed["images"] == []


def test_records_keep_the_order_of_the_input(tmp_path: Path) -> None:
    write_manifest(tmp_path, [line(2), line(0), {"key": "no-index", "status": "ok"}, line(1)])

    records = latest_records([tmp_path / "manifest.jsonl"])
    document = gallery_data("t", records)

    assert [r.get("index") for r in records] == [0, 1, 2, None]
    assert document["summary"]["total"] == 4


LINES = st.lists(
    st.tuples(
        st.sampled_from(["k1", "k2", "k3"]),
        st.integers(0, 3),
        st.sampled_from(["ok", "failed", "skipped"]),
    ),
    max_size=30,
)


@given(LINES)
def test_the_latest_line_of_an_item_wins_and_a_success_retires_earlier_failures(
    lines: list[tuple[str, int, str]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "manifest.jsonl"
        docs = [
            {"key": key, "index": index, "status": status, "n": n}
            for n, (key, index, status) in enumerate(lines)
        ]
        path.write_text("".join(json.dumps(doc) + "\n" for doc in docs))

        records = latest_records([path])

    # The oracle: the last line of each (key, index), unless it is not a success and a
    # success of the same request came after it.
    last = {(d["key"], d["index"]): d for d in docs}
    last_ok = {d["key"]: d["n"] for d in docs if d["status"] == "ok"}
    expected = [
        d for d in last.values() if d["status"] == "ok" or d["n"] > last_ok.get(d["key"], -1)
    ]
    assert sorted(r["n"] for r in records) == sorted(d["n"] for d in expected)
    assert [r["index"] for r in records] == sorted(r["index"] for r in records)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
FIELDS = st.sampled_from(
    ["index", "status", "prompt", "paths", "error", "usage", "vars", "parameters", "id",
     "attempts", "elapsed", "started", "finished", "line", "model", "tag"]
)  # fmt: skip


@given(st.lists(st.dictionaries(FIELDS, JSON), max_size=5))
def test_any_line_gives_a_card_of_text_and_numbers(lines: list[dict[str, Any]]) -> None:
    records = [{**line, "key": f"k{n}"} for n, line in enumerate(lines)]

    document = gallery_data("t", records)

    summary = document["summary"]
    assert summary["total"] == len(records) == sum(summary["counts"].values())
    embed_json(document)  # strict JSON (no NaN, no Infinity), as the browser parses it
    for item in document["items"]:
        assert isinstance(item["prompt"], str)
        assert all(isinstance(name, str) for name in item["images"])
        for pairs in (item.get("vars", []), item.get("parameters", [])):
            assert all(isinstance(a, str) and isinstance(b, str) for a, b in pairs)
    assert not set("<>&") & set(embed_json(document))
