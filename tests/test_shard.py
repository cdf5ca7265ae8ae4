"""Shards: one batch split across machines, as a user of ``batch(..., shard=)`` sees it."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import nanobanana as nb
from nanobanana._converter import request_key
from nanobanana.testing import FakeServer

MODEL = "google/nano-banana"


def prompts(n: int, stem: str = "prompt") -> list[str]:
    return [f"{stem} number {i}" for i in range(n)]


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def run(client: nb.AsyncClient, inputs: list[str], **options: object) -> list[nb.BatchItem]:
    async with client.batch(inputs, **options) as batch:  # type: ignore[arg-type]
        return [item async for item in batch]


# -- which inputs a shard takes ------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_sixteen_shards_of_a_thousand_inputs_cover_every_input_once(seed: int) -> None:
    rng = random.Random(seed)
    inputs = [f"{rng.random()} {word}" for word in prompts(1000)]
    keys = [request_key(nb.ImageRequest(prompt=prompt), MODEL) for prompt in inputs]
    shards = [nb.Shard(k, 16) for k in range(16)]

    takers = [[shard.index for shard in shards if shard.takes(key)] for key in keys]

    assert all(len(taken) == 1 for taken in takers)
    shares = [sum(taken == [k] for taken in takers) for k in range(16)]
    assert sum(shares) == 1000
    assert min(shares) > 0  # every machine gets work (62.5 each on average)


@given(
    count=st.integers(min_value=1, max_value=64),
    prompts_=st.lists(st.text(min_size=1).filter(str.strip), max_size=30),
)
def test_any_split_gives_each_request_to_exactly_one_shard(count: int, prompts_: list[str]) -> None:
    for prompt in prompts_:
        key = request_key(nb.ImageRequest(prompt=prompt), MODEL)
        assert sum(nb.Shard(k, count).takes(key) for k in range(count)) == 1


@pytest.mark.slow
def test_sixteen_dry_run_batches_each_take_their_share_of_a_thousand() -> None:
    inputs = prompts(1000)
    mine: list[int] = []
    with nb.Client(api_key="my-key") as client:
        for k in range(16):
            for item in client.batch(inputs, dry_run=True, shard=nb.Shard(k, 16)):
                assert item.skip_reason in ("dry_run", "other_shard")
                if item.skip_reason == "dry_run":
                    mine.append(item.index)
    assert sorted(mine) == list(range(1000))


def test_a_shard_takes_the_same_requests_whatever_their_order() -> None:
    inputs = prompts(200)
    shuffled = random.Random(7).sample(inputs, len(inputs))
    taken: list[set[str]] = []
    with nb.Client(api_key="my-key") as client:
        for order in (inputs, shuffled):
            batch = client.batch(order, dry_run=True, shard=nb.Shard(2, 5))
            taken.append({i.request.prompt for i in batch if i.skip_reason == "dry_run"})  # type: ignore[union-attr]
    assert taken[0] == taken[1]
    assert 0 < len(taken[0]) < 200


def test_an_input_that_is_no_request_is_reported_by_one_shard_only() -> None:
    inputs = ["a red kite", "   ", "a blue boat"]
    failed = []
    with nb.Client(api_key="my-key") as client:
        for k in range(3):
            items = list(client.batch(inputs, dry_run=True, shard=nb.Shard(k, 3)))
            failed += [(k, item.index) for item in items if item.status == "failed"]
    assert failed == [(1, 1)]  # its position decides: index 1 of 3 shards


# -- what a shard writes ------------------------------------------------------------------


async def test_shards_sharing_a_folder_write_one_manifest_each(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    inputs = prompts(40)
    summaries = []
    for k in range(4):
        batch = client.batch(inputs, out_dir=tmp_path, shard=nb.Shard(k, 4))
        summaries.append(await batch.run())

    names = sorted(p.name for p in tmp_path.glob("manifest*"))
    assert names == [f"manifest-0{k}-of-04.jsonl" for k in range(4)]
    recorded = [doc for name in names for doc in lines(tmp_path / name)]
    assert sorted(doc["index"] for doc in recorded) == list(range(40))  # type: ignore[type-var]
    assert all(doc["status"] == "ok" for doc in recorded)
    assert len(list(tmp_path.glob("*.png"))) == 40
    assert len(server.generation_requests) == 40
    for summary in summaries:
        assert summary.ok + summary.skipped_by_reason["other_shard"] == 40
        assert summary.manifest is not None
        assert summary.manifest.name.startswith("manifest-0")


async def test_a_resumed_shard_sends_nothing_it_has_done(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    shard = nb.Shard(1, 4)
    first = await client.batch(prompts(20), out_dir=tmp_path, shard=shard).run()
    sent = len(server.generation_requests)

    again = await client.batch(prompts(20), out_dir=tmp_path, shard=shard, resume=True).run()

    assert len(server.generation_requests) == sent
    assert again.skipped_by_reason == {"done": first.ok, "other_shard": 20 - first.ok}
    assert len(lines(tmp_path / "manifest-01-of-04.jsonl")) == first.ok


async def test_a_resume_reads_the_manifests_of_every_shard(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    for k in range(3):
        await client.batch(prompts(30), out_dir=tmp_path, shard=nb.Shard(k, 3)).run()
    sent = len(server.generation_requests)

    # The same folder, split another way (or not at all): nothing is sent again.
    halves = client.batch(prompts(30), out_dir=tmp_path, shard=nb.Shard(0, 2), resume=True)
    whole = client.batch(prompts(30), out_dir=tmp_path, resume=True)

    assert (await halves.run()).ok == 0
    assert (await whole.run()).skipped_by_reason == {"done": 30}
    assert len(server.generation_requests) == sent


async def test_a_shard_leaves_the_partial_files_of_live_shards_alone(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    own = tmp_path / ".000001-a.png.s1of4-0123456789ab.part"
    live = tmp_path / ".000002-b.png.s2of4-0123456789ab.part"
    dead = tmp_path / ".000003-c.png.s3of4-0123456789ab.part"
    unsharded = tmp_path / ".000004-d.png.0123456789ab.part"
    for path in (own, live, dead, unsharded):
        path.write_bytes(b"\x89PNG half")
    an_hour_ago = time.time() - 3600
    os.utime(dead, (an_hour_ago, an_hour_ago))

    await client.batch(prompts(4), out_dir=tmp_path, shard=nb.Shard(1, 4)).run()

    assert sorted(p.name for p in tmp_path.glob(".*.part")) == sorted([live.name, unsharded.name])


async def test_an_unsharded_batch_leaves_a_live_shards_partial_files_alone(
    client: nb.AsyncClient, tmp_path: Path
) -> None:
    live = tmp_path / ".000002-b.png.s2of4-0123456789ab.part"
    left = tmp_path / ".000004-d.png.0123456789ab.part"
    for path in (live, left):
        path.write_bytes(b"\x89PNG half")

    await client.batch(prompts(2), out_dir=tmp_path).run()

    assert [p.name for p in tmp_path.glob(".*.part")] == [live.name]


def test_a_sync_client_batch_takes_a_shard(sync_client: nb.Client, tmp_path: Path) -> None:
    summary = sync_client.batch(prompts(8), out_dir=tmp_path, shard=nb.Shard(0, 2)).run()

    assert summary.ok + summary.skipped_by_reason["other_shard"] == 8
    assert (tmp_path / "manifest-00-of-02.jsonl").is_file()


# -- naming a shard ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((4, 4), "index must be from 0 to 3 (shards are numbered from 0), got 4"),
        ((-1, 4), "index must be from 0 to 3"),
        ((True, 4), "index must be from 0 to 3"),
        ((0, 0), "count must be an int >= 1, got 0"),
        ((0, "4"), "count must be an int >= 1, got '4'"),
    ],
)
def test_a_shard_out_of_range_is_refused(args: tuple[object, object], message: str) -> None:
    with pytest.raises(nb.ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        nb.Shard(*args)  # type: ignore[arg-type]


def test_a_batch_takes_only_a_shard(sync_client: nb.Client) -> None:
    with pytest.raises(nb.ValidationError, match="shard: must be a Shard or None, got '3/16'"):
        sync_client.batch(["a red kite"], shard="3/16")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0/1", (0, 1)), ("3/16", (3, 16)), (" 15/16 ", (15, 16)), ("007/100", (7, 100))],
)
def test_a_shard_is_named_as_k_of_n(text: str, expected: tuple[int, int]) -> None:
    shard = nb.Shard.parse(text)
    assert (shard.index, shard.count) == expected


@pytest.mark.parametrize("text", ["", "3", "3/", "/16", "3/16/2", "-1/4", "a/b", "3.0/16", "٣/16"])
def test_a_shard_name_that_is_not_k_of_n_is_refused(text: str) -> None:
    with pytest.raises(nb.ValidationError, match="expected K/N"):
        nb.Shard.parse(text)


@given(count=st.integers(min_value=1, max_value=10**6), data=st.data())
def test_a_shard_name_reads_back_as_the_same_shard(count: int, data: st.DataObject) -> None:
    shard = nb.Shard(data.draw(st.integers(min_value=0, max_value=count - 1)), count)
    assert nb.Shard.parse(str(shard)) == shard
    width = len(shard.manifest_name.split("-")[1])
    assert shard.manifest_name == f"manifest-{shard.index:0{width}d}-of-{count:0{width}d}.jsonl"


def test_manifest_names_sort_in_shard_order() -> None:
    names = [nb.Shard(k, 100).manifest_name for k in range(100)]
    assert names == sorted(names)
    assert names[7] == "manifest-007-of-100.jsonl"


# -- shards from the environment of a job ---------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"JOB_COMPLETION_INDEX": "0", "JOB_COMPLETIONS": "16"}, (0, 16)),
        ({"JOB_COMPLETION_INDEX": "15", "JOB_COMPLETIONS": "16"}, (15, 16)),
        # sbatch --array=0-15
        ({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "16"}, (5, 16)),
        # sbatch --array=1-16: ids from 1
        (
            {
                "SLURM_ARRAY_TASK_ID": "16",
                "SLURM_ARRAY_TASK_COUNT": "16",
                "SLURM_ARRAY_TASK_MIN": "1",
                "SLURM_ARRAY_TASK_MAX": "16",
                "SLURM_ARRAY_TASK_STEP": "1",
            },
            (15, 16),
        ),
        # sbatch --array=10-40:10
        (
            {
                "SLURM_ARRAY_TASK_ID": "30",
                "SLURM_ARRAY_TASK_COUNT": "4",
                "SLURM_ARRAY_TASK_MIN": "10",
                "SLURM_ARRAY_TASK_MAX": "40",
                "SLURM_ARRAY_TASK_STEP": "10",
            },
            (2, 4),
        ),
    ],
)
def test_the_shard_of_a_job_comes_from_its_environment(
    env: dict[str, str], expected: tuple[int, int]
) -> None:
    shard = nb.Shard.from_env(env)
    assert (shard.index, shard.count) == expected


def test_the_shard_of_a_job_is_read_from_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    monkeypatch.setenv("JOB_COMPLETIONS", "3")
    assert nb.Shard.from_env() == nb.Shard(2, 3)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "neither JOB_COMPLETION_INDEX .* nor SLURM_ARRAY_TASK_ID"),
        (
            {"JOB_COMPLETION_INDEX": "1", "SLURM_ARRAY_TASK_ID": "1"},
            "both JOB_COMPLETION_INDEX .* and SLURM_ARRAY_TASK_ID",
        ),
        ({"JOB_COMPLETION_INDEX": "1"}, "JOB_COMPLETIONS is not; set it in the pod's env"),
        (
            {"JOB_COMPLETION_INDEX": "16", "JOB_COMPLETIONS": "16"},
            "JOB_COMPLETION_INDEX=16 of JOB_COMPLETIONS=16 names no shard",
        ),
        ({"JOB_COMPLETION_INDEX": "x", "JOB_COMPLETIONS": "16"}, "must be a whole number"),
        ({"SLURM_ARRAY_TASK_ID": "3"}, "SLURM_ARRAY_TASK_COUNT is not set"),
        (
            {
                "SLURM_ARRAY_TASK_ID": "0",
                "SLURM_ARRAY_TASK_COUNT": "4",
                "SLURM_ARRAY_TASK_MIN": "1",
            },
            "names no shard",
        ),
        # sbatch --array=1,3,7: not evenly spaced
        (
            {
                "SLURM_ARRAY_TASK_ID": "7",
                "SLURM_ARRAY_TASK_COUNT": "3",
                "SLURM_ARRAY_TASK_MIN": "1",
                "SLURM_ARRAY_TASK_MAX": "7",
                "SLURM_ARRAY_TASK_STEP": "1",
            },
            "not an evenly spaced range",
        ),
    ],
)
def test_an_environment_that_names_no_shard_is_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(nb.ValidationError, match=message):
        nb.Shard.from_env(env)
