"""Labels on requests (``id``, ``tag``, ``vars``, ``line``, ``repeat``) and what a batch's
manifest records of each item: its labels, model, parameters and time."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import nanobanana as nb
from nanobanana._converter import request_key
from nanobanana.testing import FakeServer

#: The key earlier releases gave ``ImageRequest(prompt="a red kite")`` sent to google/x.
OLD_KEY = "ea60da7d9fbafe533172e2ef84e1be75"


def manifest(out: Path) -> list[dict[str, Any]]:
    lines = (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda doc: doc["index"])


async def drain(batch: nb.AsyncBatch) -> list[nb.BatchItem]:
    async with batch:
        return sorted([item async for item in batch], key=lambda item: item.index)


# -- labels on a request ------------------------------------------------------------------


def test_labels_leave_the_request_key_as_it_was() -> None:
    plain = nb.ImageRequest(prompt="a red kite")
    labelled = nb.ImageRequest(
        prompt="a red kite", id="k-1", tag="kites", vars={"colour": "red"}, line=3, repeat=0
    )
    assert request_key(plain, "google/x") == request_key(labelled, "google/x") == OLD_KEY
    assert labelled.to_dict() == {"prompt": "a red kite"}


def test_each_repeat_above_zero_has_its_own_key() -> None:
    keys = {
        request_key(nb.ImageRequest(prompt="a red kite", repeat=n), "google/x") for n in range(3)
    }
    assert len(keys) == 3
    assert OLD_KEY in keys
    assert nb.ImageRequest(prompt="a red kite", repeat=2).to_dict() == {
        "prompt": "a red kite",
        "repeat": 2,
    }


def test_vars_and_line_are_not_compared_and_a_request_still_hashes() -> None:
    one = nb.ImageRequest(prompt="a cat", vars={"animal": "cat"}, line=1)
    other = nb.ImageRequest(prompt="a cat", vars={"animal": "CAT"}, line=9)
    assert one == other
    assert len({one, other}) == 1
    assert nb.ImageRequest(prompt="a cat", tag="a") != nb.ImageRequest(prompt="a cat", tag="b")
    assert nb.ImageRequest(prompt="a cat", id=7).id == "7"


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ({"id": 1.5}, "id"),
        ({"tag": 3}, "tag"),
        ({"vars": ["a"]}, "vars"),
        ({"vars": {"a": object()}}, "vars['a']"),
        ({"line": "3"}, "line"),
        ({"repeat": -1}, "repeat"),
        ({"repeat": True}, "repeat"),
    ],
)
def test_bad_labels_are_refused_naming_them(labels: dict[str, Any], field: str) -> None:
    with pytest.raises(nb.ValidationError) as caught:
        nb.ImageRequest(prompt="a cat", **labels)
    assert caught.value.field == field


# -- what the manifest records ------------------------------------------------------------


async def test_the_manifest_records_labels_model_and_parameters_and_sends_none_of_the_labels(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    requests = [
        nb.ImageRequest(
            prompt="a cat in ink",
            id="c-1",
            tag="pets",
            vars={"animal": "cat"},
            aspect_ratio="16:9",
            num_images=2,
            extra_body={"seed": 7},
        ),
        nb.ImageRequest(prompt="a plain dog"),
    ]
    items = await drain(client.batch(requests, out_dir=tmp_path))
    labelled, plain = manifest(tmp_path)

    assert labelled["id"] == "c-1"
    assert labelled["tag"] == "pets"
    assert labelled["vars"] == {"animal": "cat"}
    assert labelled["model"] == items[0].model == client.resolve_model(requests[0])
    assert labelled["parameters"] == {"num_images": 2, "aspect_ratio": "16:9", "seed": 7}
    assert datetime.fromisoformat(labelled["finished_at"]).utcoffset() is not None
    # What is not set is not written, so that the lines stay as before.
    assert {"id", "tag", "vars", "line", "repeat", "parameters"}.isdisjoint(plain)
    assert {"model", "finished_at"} <= set(plain)
    sent = [r.json for r in server.generation_requests]
    assert all({"id", "tag", "vars", "line", "repeat"}.isdisjoint(body) for body in sent)


async def test_an_old_manifest_resumes_labelled_requests(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    await drain(client.batch(["a red kite", "a blue boat"], out_dir=tmp_path))
    server.reset()
    labelled = [
        nb.ImageRequest(prompt="a red kite", tag="kites", vars={"thing": "kite"}, line=1),
        nb.ImageRequest(prompt="a blue boat", id="b-2", line=2),
    ]
    items = await drain(client.batch(labelled, out_dir=tmp_path, resume=True))
    assert [item.skip_reason for item in items] == ["done", "done"]
    assert server.generation_requests == []


async def test_repeats_are_items_of_their_own_and_resume_one_by_one(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    await drain(client.batch(["a red kite"], out_dir=tmp_path))
    copies = [nb.ImageRequest(prompt="a red kite", repeat=n) for n in range(3)]
    items = await drain(client.batch(copies, out_dir=tmp_path, resume=True))
    assert [item.status for item in items] == ["skipped", "ok", "ok"]
    assert len({item.key for item in items}) == 3
    assert [doc.get("repeat") for doc in manifest(tmp_path)] == [None, 1, 2]


async def test_a_file_of_prompts_gives_its_lines_ids_and_tags_to_the_manifest(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text("id,tag,prompt\nk-1,kites,a red kite\n\nk-2,,a blue kite\n")
    requests = list(nb.read_prompts(path))
    assert [(r.id, r.tag, r.line) for r in requests] == [("k-1", "kites", 2), ("k-2", None, 4)]
    out = tmp_path / "out"
    await drain(client.batch(requests, out_dir=out))
    docs = manifest(out)
    assert [(d["id"], d.get("tag"), d["line"]) for d in docs] == [
        ("k-1", "kites", 2),
        ("k-2", None, 4),
    ]


def test_jsonl_lines_may_carry_an_id_and_a_tag(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"prompt": "a red kite", "id": 17, "tag": "kites"}\n')
    (request,) = nb.read_prompts(path)
    assert (request.id, request.tag, request.line) == ("17", "kites", 1)
