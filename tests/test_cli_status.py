"""``nanobanana status OUT_DIR``: every shard's manifest summed up, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _helpers import cli

import nanobanana as nb
from nanobanana.testing import FakeServer


def prompts(n: int) -> list[str]:
    return [f"a lighthouse, postcard {i}" for i in range(n)]


def status_json(out: Path) -> tuple[int, dict[str, Any]]:
    result = cli("status", str(out), "--json")
    assert result.stderr == ""
    return result.returncode, json.loads(result.stdout)


def write_manifest(path: Path, *lines: dict[str, Any], torn: str = "") -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + torn)


def test_status_sums_up_every_shard_of_a_finished_batch(
    sync_client: nb.Client, tmp_path: Path
) -> None:
    for k in range(4):
        sync_client.batch(prompts(40), out_dir=tmp_path, shard=nb.Shard(k, 4)).run()

    result = cli("status", str(tmp_path))

    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"nanobanana status {tmp_path}\n" in text
    assert "  Manifests      4\n" in text
    assert "  Requests       40\n" in text
    assert "  OK             40\n" in text
    assert "  Images         40\n" in text
    assert "  Spent          3,276,000 credits, $1.5600\n" in text
    assert "  Shards         4 of 4 have a manifest\n" in text
    for k in range(4):
        assert f"manifest-0{k}-of-04.jsonl      {k}/4  " in text
    code, doc = status_json(tmp_path)
    assert (code, doc["exit_code"], doc["requests"], doc["ok"], doc["images"]) == (0, 0, 40, 40, 40)
    assert sum(m["ok"] for m in doc["manifests"]) == 40
    assert doc["missing_shards"] == [{"count": 4, "missing": []}]


def test_status_names_the_shards_that_have_not_started(
    sync_client: nb.Client, tmp_path: Path
) -> None:
    for k in (0, 2):
        sync_client.batch(prompts(40), out_dir=tmp_path, shard=nb.Shard(k, 4)).run()

    result = cli("status", str(tmp_path))

    assert result.returncode == 1
    assert "2 of 4 have a manifest; not started: 1, 3 (their requests are pending)" in (
        result.stdout
    )
    code, doc = status_json(tmp_path)
    assert code == 1
    assert doc["missing_shards"] == [{"count": 4, "missing": [1, 3]}]
    assert doc["ok"] == doc["requests"] < 40


def test_status_lists_failures_and_exits_1(
    sync_server: FakeServer, sync_client: nb.Client, tmp_path: Path
) -> None:
    sync_server.fail_next(2, status=422)
    sync_client.batch(prompts(6), out_dir=tmp_path, concurrency=1).run()

    result = cli("status", str(tmp_path))

    assert result.returncode == 1
    assert "  OK             4\n  Failed         2\n" in result.stdout
    assert "Failed (2 of 2 shown):" in result.stdout
    assert "manifest.jsonl: item 0 'a lighthouse, postcard 0': UnprocessableEntityError" in (
        result.stdout
    )
    assert "Shards" not in result.stdout  # an unsharded batch
    assert "  manifest.jsonl        -" in result.stdout

    # A resume makes them: the same folder is now all ok.
    sync_client.batch(prompts(6), out_dir=tmp_path, resume=True).run()
    code, doc = status_json(tmp_path)
    assert (code, doc["ok"], doc["failed"], doc["failures"]) == (0, 6, 0, [])
    assert doc["manifests"][0]["lines"] == 8  # the two failures, then their successes


def test_status_counts_each_request_once_by_its_best_outcome(tmp_path: Path) -> None:
    write_manifest(
        tmp_path / "manifest-00-of-02.jsonl",
        {"index": 0, "key": "a" * 32, "status": "failed", "error_type": "ServerError"},
        {"index": 1, "key": "b" * 32, "status": "skipped", "skip_reason": "budget"},
        {"index": 0, "key": "a" * 32, "status": "ok", "paths": ["000000-x.png"],
         "usage": {"usd_spent": 0.039}},
        {"index": 4, "key": None, "status": "failed", "error_type": "ValidationError"},
        torn='{"index": 5, "key": "cccc", "status": "ok", "pa',
    )  # fmt: skip
    write_manifest(
        tmp_path / "manifest-01-of-02.jsonl",
        {"index": 2, "key": "d" * 32, "status": "skipped", "skip_reason": "stopped"},
        {"index": 2, "key": "d" * 32, "status": "failed", "error": "boom"},
        {"index": 3, "key": "e" * 32, "status": "ok", "paths": ["a.png", "b.png"],
         "usage": {"usd_spent": 0.078, "credits_used": 100}},
        {"note": "not a line of a manifest"},
        ["not", "an", "object"],
    )  # fmt: skip

    code, doc = status_json(tmp_path)

    assert code == 1
    assert (doc["requests"], doc["ok"], doc["failed"], doc["skipped"]) == (5, 2, 2, 1)
    assert doc["skipped_by_reason"] == {"budget": 1}
    assert (doc["images"], doc["usd_spent"], doc["credits_used"]) == (3, 0.117, 100)
    assert sorted((f["index"], f["error_type"]) for f in doc["failures"]) == [
        (2, None),
        (4, "ValidationError"),
    ]
    first, second = doc["manifests"]
    assert (first["shard"], first["lines"], first["requests"], first["ok"]) == ("0/2", 4, 3, 1)
    assert (second["shard"], second["lines"], second["requests"], second["ok"]) == ("1/2", 3, 2, 1)


def test_a_folder_without_a_manifest_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a manifest")

    empty = cli("status", str(tmp_path))
    missing = cli("status", str(tmp_path / "nowhere"))

    assert (empty.returncode, missing.returncode) == (2, 2)
    assert empty.stderr == (
        f"nanobanana status: error: {tmp_path}: no manifest "
        "(manifest.jsonl or manifest-KK-of-NN.jsonl) in it\n"
    )
    assert missing.stderr == f"nanobanana status: error: {tmp_path / 'nowhere'}: no such folder\n"
    assert empty.stdout == missing.stdout == ""


@pytest.mark.parametrize("args", [(), ("a", "b")])
def test_status_takes_one_folder(args: tuple[str, ...]) -> None:
    result = cli("status", *args)
    assert result.returncode == 2
    assert "error:" in result.stderr
    assert result.stdout == ""
