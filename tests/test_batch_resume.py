"""Resuming a batch from its manifest, including after the process was killed mid-run."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _helpers import assert_complete_png

import nanobanana as nb
from nanobanana._batch import read_manifest
from nanobanana.testing import FakeServer

WORKER = Path(__file__).with_name("_batch_worker.py")


def prompts(n: int) -> list[str]:
    return [f"prompt number {i}" for i in range(n)]


async def drain(batch: nb.AsyncBatch) -> list[nb.BatchItem]:
    async with batch:
        return [item async for item in batch]


def raw_lines(out_dir: Path) -> list[str]:
    return (out_dir / "manifest.jsonl").read_text(encoding="utf-8").splitlines()


def last_outcome(out_dir: Path) -> dict[str, str]:
    """The status of each request key, as the last manifest line about it says."""
    return {line["key"]: line["status"] for line in read_manifest(out_dir / "manifest.jsonl")}


async def test_resume_skips_what_succeeded_and_runs_what_failed_again(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    server.fail_next(2, 400)
    first = await drain(client.batch(prompts(8), out_dir=tmp_path, concurrency=1))
    assert [item.ok for item in sorted(first, key=lambda i: i.index)] == [False] * 2 + [True] * 6
    server.reset()

    again = client.batch(prompts(8), out_dir=tmp_path, resume=True)
    items = {item.index: item for item in await drain(again)}

    assert sorted(r.json["prompt"] for r in server.generation_requests) == prompts(2)
    assert items[0].ok
    assert items[1].ok
    assert {items[i].skip_reason for i in range(2, 8)} == {"done"}
    assert again.summary.skipped_by_reason == {"done": 6}
    assert set(last_outcome(tmp_path).values()) == {"ok"}
    assert len(raw_lines(tmp_path)) == 8 + 2  # "done" items add no line

    server.reset()
    third = client.batch(prompts(8), out_dir=tmp_path, resume=True)
    await drain(third)
    assert server.generation_requests == []
    assert third.summary.skipped == 8


async def test_resume_matches_requests_not_positions(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    requests: list[str | nb.ImageRequest] = [
        *prompts(5),
        nb.ImageRequest(prompt="wide", aspect_ratio="16:9"),
    ]
    await drain(client.batch(requests, out_dir=tmp_path))
    server.reset()

    changed: list[str | nb.ImageRequest] = [
        nb.ImageRequest(prompt="wide", aspect_ratio="4:3"),
        *reversed(requests),
    ]
    items = await drain(client.batch(changed, out_dir=tmp_path, resume=True))

    assert [r.json["prompt"] for r in server.generation_requests] == ["wide"]
    assert server.generation_requests[0].json["aspect_ratio"] == "4:3"
    assert sum(item.skip_reason == "done" for item in items) == 6


async def test_a_prompt_listed_twice_needs_two_successes(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    await drain(client.batch(["same", "same", "other"], out_dir=tmp_path))
    server.reset()

    items = await drain(client.batch(["same"] * 3, out_dir=tmp_path, resume=True))

    assert len(server.generation_requests) == 1
    assert sorted(item.status for item in items) == ["ok", "skipped", "skipped"]


async def test_a_prompt_with_a_lone_surrogate_is_saved_recorded_and_resumed(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    odd = "a \ud800 kite"  # valid in JSON ("\\ud800"), not encodable as UTF-8

    items = await drain(client.batch([odd, "plain"], out_dir=tmp_path))

    assert all(item.ok for item in items)
    recorded = read_manifest(tmp_path / "manifest.jsonl")
    assert sorted(line["prompt"] for line in recorded) == sorted([odd, "plain"])
    server.reset()
    again = await drain(client.batch([odd, "plain"], out_dir=tmp_path, resume=True))
    assert server.generation_requests == []
    assert {item.skip_reason for item in again} == {"done"}


async def test_a_torn_last_line_is_ignored_and_the_next_run_starts_a_new_line(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    await drain(client.batch(prompts(3), out_dir=tmp_path))
    manifest = tmp_path / "manifest.jsonl"
    with manifest.open("ab") as fh:
        fh.write(b'{"index":3,"key":"0123456789abcdef","status":"o')  # killed mid-write
    server.reset()

    await drain(client.batch(prompts(4), out_dir=tmp_path, resume=True))

    assert [r.json["prompt"] for r in server.generation_requests] == ["prompt number 3"]
    lines = raw_lines(tmp_path)
    assert len(lines) == 5
    torn = [line for line in lines if not line.endswith("}")]
    assert torn == ['{"index":3,"key":"0123456789abcdef","status":"o']
    for line in lines:
        if line not in torn:
            json.loads(line)
    records = list(read_manifest(manifest))
    assert sorted(r["index"] for r in records) == [0, 1, 2, 3]
    assert set(last_outcome(tmp_path).values()) == {"ok"}


def _manifest_line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_a_batch_killed_half_way_resumes_to_exactly_one_success_per_prompt(
    tmp_path: Path,
) -> None:
    out_dir = tmp_path / "out"
    manifest = out_dir / "manifest.jsonl"
    count = 60
    with FakeServer(latency=0.05) as server:
        assert server.api_key is not None
        command = [sys.executable, str(WORKER), server.url, server.api_key, str(out_dir)]
        command.append(str(count))
        errors = tmp_path / "stderr.txt"
        with errors.open("wb") as stderr:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                deadline = time.monotonic() + 30
                while _manifest_line_count(manifest) < 10:
                    assert proc.poll() is None, errors.read_text()
                    assert time.monotonic() < deadline, "the worker wrote no manifest"
                    time.sleep(0.005)
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        killed_at = _manifest_line_count(manifest)
        assert killed_at < count, "the worker finished before it could be killed"

        for _ in range(3):
            done = subprocess.run(command, capture_output=True, timeout=60, check=False)
            if done.returncode == 0:
                break
        assert done.returncode == 0, done.stderr.decode()
        sent = collections.Counter(r.json["prompt"] for r in server.generation_requests)

    records: list[dict[str, Any]] = list(read_manifest(manifest))
    ok_per_key = collections.Counter(r["key"] for r in records if r["status"] == "ok")
    ok_prompts = {r["prompt"] for r in records if r["status"] == "ok"}
    assert ok_prompts == {f"worker prompt {i}" for i in range(count)}
    assert len(ok_per_key) == count
    assert set(ok_per_key.values()) == {1}  # no prompt succeeded twice
    # Only prompts cut off by the kill were asked for twice.
    assert sum(n - 1 for n in sent.values()) <= 4

    files = sorted(p for p in out_dir.iterdir() if p.name != "manifest.jsonl")
    assert [p for p in files if p.name.startswith(".") or p.suffix != ".png"] == []
    recorded = {name for r in records if r["status"] == "ok" for name in r["paths"]}
    assert len(recorded) == count
    # An image written just before the kill, its line not: kept, never written over.
    unrecorded = [p for p in files if p.name not in recorded]
    assert len(unrecorded) <= sum(n - 1 for n in sent.values())
    for path in files:
        assert_complete_png(path)
    for record in records:
        if record["status"] == "ok":
            assert all((out_dir / name).is_file() for name in record["paths"])


async def test_a_dry_run_with_resume_counts_only_what_a_resume_would_send(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    await drain(client.batch(prompts(4), out_dir=tmp_path))
    sent = len(server.generation_requests)

    batch = client.batch(prompts(10), out_dir=tmp_path, resume=True, dry_run=True)
    items = await drain(batch)

    assert len(server.generation_requests) == sent
    assert batch.summary.planned_requests == 6
    assert [i.skip_reason for i in items].count("done") == 4


async def test_changing_the_default_model_between_runs_sends_everything_again(
    server: FakeServer, tmp_path: Path
) -> None:
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url) as first:
        await drain(first.batch(prompts(3), out_dir=tmp_path))
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, model=nb.Model.NANO_BANANA_PRO
    ) as second:
        items = await drain(second.batch(prompts(3), out_dir=tmp_path, resume=True))
    assert [i.status for i in items] == ["ok", "ok", "ok"]
    assert {r.json["model"] for r in server.generation_requests[-3:]} == {"google/nano-banana-pro"}


# -- never writing over an image the manifest records --------------------------------------

KITES = ["a red kite over a green hill", "a blue boat", "a lighthouse at dawn", "a fox"]


def ok_files(out_dir: Path) -> list[str]:
    """Every file name the manifest's ok lines record, in order."""
    records = read_manifest(out_dir / "manifest.jsonl")
    return [name for r in records if r["status"] == "ok" for name in r["paths"]]


def identities(out_dir: Path, names: list[str]) -> dict[str, tuple[int, bytes]]:
    return {name: ((out_dir / name).stat().st_ino, (out_dir / name).read_bytes()) for name in names}


async def test_a_resume_with_other_parameters_writes_beside_the_first_images(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    await drain(client.batch(KITES, out_dir=tmp_path))
    first = ok_files(tmp_path)
    before = identities(tmp_path, first)
    assert "000000-a-red-kite-over-a-green-hill.png" in first

    wide = [nb.ImageRequest(prompt=p, aspect_ratio="16:9") for p in KITES]
    items = await drain(client.batch(wide, out_dir=tmp_path, resume=True))

    assert [item.status for item in items] == ["ok"] * 4  # other requests: sent
    assert identities(tmp_path, first) == before  # the first images are untouched
    names = ok_files(tmp_path)
    assert len(names) == len(set(names)) == 8  # no two lines name one file
    assert "000000-a-red-kite-over-a-green-hill-2.png" in names
    assert all((tmp_path / name).is_file() for name in names)

    # A resume of the first requests finds their images still there: nothing to send.
    server.reset()
    again = client.batch(KITES, out_dir=tmp_path, resume=True)
    await drain(again)
    assert server.generation_requests == []
    assert again.summary.skipped_by_reason == {"done": 4}


async def test_a_plain_rerun_into_the_same_folder_overwrites_nothing(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    await drain(client.batch(KITES, out_dir=tmp_path))
    first = ok_files(tmp_path)
    before = identities(tmp_path, first)

    await drain(client.batch(KITES, out_dir=tmp_path))

    assert identities(tmp_path, first) == before
    names = ok_files(tmp_path)
    assert len(names) == len(set(names)) == 8
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".png"]) == 8


async def test_resume_sends_again_a_success_whose_image_is_gone(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    await drain(client.batch(KITES, out_dir=tmp_path))
    gone = tmp_path / "000001-a-blue-boat.png"
    gone.unlink()
    server.reset()

    again = client.batch(KITES, out_dir=tmp_path, resume=True)
    items = {item.index: item for item in await drain(again)}

    assert [r.json["prompt"] for r in server.generation_requests] == ["a blue boat"]
    assert items[1].ok
    assert again.summary.skipped_by_reason == {"done": 3}
    # The new image does not take the name an earlier line records for another.
    assert [path.name for path in items[1].paths] == ["000001-a-blue-boat-2.png"]
    assert not gone.exists()

    server.reset()
    third = client.batch(KITES, out_dir=tmp_path, resume=True)
    await drain(third)
    assert server.generation_requests == []


async def test_a_dry_run_with_resume_counts_a_missing_image_as_to_send(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    await drain(client.batch(KITES, out_dir=tmp_path))
    (tmp_path / "000002-a-lighthouse-at-dawn.png").unlink()

    batch = client.batch(KITES, out_dir=tmp_path, resume=True, dry_run=True)
    await drain(batch)

    assert batch.summary.planned_requests == 1
