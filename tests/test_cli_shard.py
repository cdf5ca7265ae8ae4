"""``nanobanana batch --shard``: a share of the inputs per machine, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import against

from nanobanana.testing import FakeServer

_JOB_VARIABLES = ("JOB_COMPLETION_INDEX", "JOB_COMPLETIONS")


def cli_with_env(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI in an environment with ``env`` and no job variables of this shell."""
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SLURM_") and name not in _JOB_VARIABLES
    }
    return subprocess.run(
        [sys.executable, "-m", "nanobanana", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=base | env,
    )


def items(stdout: str) -> list[tuple[int, str]]:
    records = [json.loads(line) for line in stdout.splitlines()]
    return [(r["index"], r["skip_reason"]) for r in records if r["type"] == "item"]


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("".join(f"prompt number {i}\n" for i in range(24)))
    return path


def test_batch_with_a_shard_sends_its_share_and_keeps_its_own_manifest(
    sync_server: FakeServer, tmp_path: Path, prompts_file: Path
) -> None:
    out = tmp_path / "out"
    result = cli_with_env(
        "batch", str(prompts_file), "-o", str(out), "--shard", "1/3", *against(sync_server), env={}
    )

    assert result.returncode == 0, result.stderr
    assert [p.name for p in out.glob("manifest*")] == ["manifest-01-of-03.jsonl"]
    written = (out / "manifest-01-of-03.jsonl").read_text().splitlines()
    assert len(written) == len(sync_server.generation_requests) == len(list(out.glob("*.png")))
    assert 0 < len(written) < 24
    assert f"{24 - len(written)} other_shard" in result.stderr


def test_every_shard_of_a_folder_together_makes_every_image(
    sync_server: FakeServer, tmp_path: Path, prompts_file: Path
) -> None:
    out = tmp_path / "out"
    for k in range(3):
        result = cli_with_env(
            "batch", str(prompts_file), "-o", str(out), "--shard", f"{k}/3", "--json",
            *against(sync_server), env={},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        items = [r for r in records if r["type"] == "item"]
        assert len(items) == 24  # one record per input, the others' as other_shard
    indices = sorted(
        json.loads(line)["index"]
        for path in out.glob("manifest-*-of-03.jsonl")
        for line in path.read_text().splitlines()
    )
    assert indices == list(range(24))
    assert len(list(out.glob("*.png"))) == 24


@pytest.mark.parametrize(
    ("env", "manifest"),
    [
        ({"JOB_COMPLETION_INDEX": "2", "JOB_COMPLETIONS": "4"}, "manifest-02-of-04.jsonl"),
        (
            {
                "SLURM_ARRAY_TASK_ID": "3",
                "SLURM_ARRAY_TASK_COUNT": "4",
                "SLURM_ARRAY_TASK_MIN": "1",
                "SLURM_ARRAY_TASK_MAX": "4",
                "SLURM_ARRAY_TASK_STEP": "1",
            },
            "manifest-02-of-04.jsonl",
        ),
    ],
    ids=["kubernetes", "slurm"],
)
def test_shard_auto_reads_the_job_environment(
    sync_server: FakeServer,
    tmp_path: Path,
    prompts_file: Path,
    env: dict[str, str],
    manifest: str,
) -> None:
    out = tmp_path / "out"
    args = ("batch", str(prompts_file), "-o", str(out), "--shard", "auto", "--dry-run")
    auto = cli_with_env(*args, "--json", *against(sync_server), env=env)
    named = cli_with_env(*args[:-2], "2/4", "--dry-run", "--json", env={})

    assert auto.returncode == 0, auto.stderr
    assert items(auto.stdout) == items(named.stdout)  # the same share as --shard 2/4

    run = cli_with_env(*args[:-1], *against(sync_server), env=env)
    assert run.returncode == 0, run.stderr
    assert [p.name for p in out.glob("manifest*")] == [manifest]


@pytest.mark.parametrize(
    ("value", "env", "message"),
    [
        ("4/4", {}, "--shard 4/4: index must be from 0 to 3 (shards are numbered from 0), got 4"),
        ("1/0", {}, "--shard 1/0: count must be an int >= 1, got 0"),
        ("three", {}, "--shard three: expected K/N (shard K of N, K from 0), got 'three'"),
        ("auto", {}, "--shard auto: neither JOB_COMPLETION_INDEX"),
        (
            "auto",
            {"JOB_COMPLETION_INDEX": "3"},
            "JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not",
        ),
        (
            "auto",
            {"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "4"},
            "SLURM_ARRAY_TASK_ID=9 (array from 0 in steps of 1, 4 tasks) names no shard",
        ),
    ],
)
def test_a_bad_shard_is_a_usage_error(
    tmp_path: Path, prompts_file: Path, value: str, env: dict[str, str], message: str
) -> None:
    out = tmp_path / "out"
    result = cli_with_env(
        "batch", str(prompts_file), "-o", str(out), "--shard", value, "--fake", env=env
    )

    assert result.returncode == 2
    assert result.stderr.startswith("nanobanana batch: error: --shard ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not out.exists()  # nothing was run
