"""The Kubernetes Job and the Slurm script of docs/scale.md work as shown: they parse,
their command lines are accepted by the CLI, and their shards cover every input once."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import nanobanana as nb
from nanobanana._cli._parser import build_parser

PAGE = Path(__file__).resolve().parent.parent / "docs" / "scale.md"
_SHOWN = re.compile(
    r"<!-- docs-test: file (?P<name>[\w.-]+) -->\n```\w*\n(?P<body>.*?)\n```", re.DOTALL
)


def shown_files() -> dict[str, str]:
    return {m["name"]: m["body"] + "\n" for m in _SHOWN.finditer(PAGE.read_text())}


def job() -> dict[str, Any]:
    docs = list(yaml.safe_load_all(shown_files()["postcards-job.yaml"]))
    assert len(docs) == 1
    doc: dict[str, Any] = docs[0]
    return doc


def job_container() -> dict[str, Any]:
    (container,) = job()["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def slurm_command() -> list[str]:
    script = shown_files()["postcards.sbatch"].replace("\\\n", " ")
    (line,) = [line for line in script.splitlines() if line.startswith("nanobanana ")]
    return shlex.split(line)


def run_cli(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "JOB_"))}
    return subprocess.run(
        [sys.executable, "-m", "nanobanana", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=base | env,
    )


def test_the_page_shows_a_job_and_a_script() -> None:
    assert sorted(shown_files()) == ["postcards-job.yaml", "postcards.sbatch"]


def test_the_kubernetes_job_is_an_indexed_job_that_names_its_completions() -> None:
    spec = job()["spec"]
    assert (job()["apiVersion"], job()["kind"]) == ("batch/v1", "Job")
    assert spec["completionMode"] == "Indexed"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    env = {e["name"]: e for e in job_container()["env"]}
    assert env["JOB_COMPLETIONS"]["value"] == str(spec["completions"])
    assert env["AIML_API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "api-key"


def test_the_kubernetes_command_is_accepted_by_the_cli() -> None:
    command = job_container()["command"]
    assert all(isinstance(word, str) for word in command)  # numbers quoted, as env needs
    assert command[0] == "nanobanana"
    args = build_parser().parse_args(command[1:])
    assert (args.command, args.shard, args.resume) == ("batch", "auto", True)
    assert args.output.startswith(job_container()["volumeMounts"][0]["mountPath"])


def test_the_pods_of_the_job_are_its_shards() -> None:
    completions = job()["spec"]["completions"]
    shards = [
        nb.Shard.from_env({"JOB_COMPLETION_INDEX": str(i), "JOB_COMPLETIONS": str(completions)})
        for i in range(completions)
    ]
    assert shards == [nb.Shard(k, completions) for k in range(completions)]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_slurm_script_is_valid_bash(tmp_path: Path) -> None:
    script = tmp_path / "postcards.sbatch"
    script.write_text(shown_files()["postcards.sbatch"])
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_slurm_command_is_accepted_by_the_cli() -> None:
    command = slurm_command()
    args = build_parser().parse_args(command[1:])
    assert (args.command, args.shard, args.resume) == ("batch", "auto", True)


def test_the_tasks_of_the_slurm_array_are_its_shards() -> None:
    (spec,) = re.findall(r"^#SBATCH --array=(\S+)$", shown_files()["postcards.sbatch"], re.M)
    first, last = map(int, spec.split("%")[0].split("-"))
    count = last - first + 1
    env = {
        "SLURM_ARRAY_TASK_COUNT": str(count),
        "SLURM_ARRAY_TASK_MIN": str(first),
        "SLURM_ARRAY_TASK_MAX": str(last),
        "SLURM_ARRAY_TASK_STEP": "1",
    }
    shards = [
        nb.Shard.from_env(env | {"SLURM_ARRAY_TASK_ID": str(task)})
        for task in range(first, last + 1)
    ]
    assert shards == [nb.Shard(k, count) for k in range(count)]


@pytest.mark.parametrize("kind", ["kubernetes", "slurm"])
def test_the_commands_run_a_shard(kind: str, tmp_path: Path) -> None:
    """Each command, with its input and folder moved here, runs its shard (dry run)."""
    (tmp_path / "prompts.txt").write_text("".join(f"postcard {i}\n" for i in range(32)))
    if kind == "kubernetes":
        argv, env = job_container()["command"][1:], {"JOB_COMPLETION_INDEX": "3"}
        env["JOB_COMPLETIONS"] = str(job()["spec"]["completions"])
    else:
        argv, env = slurm_command()[1:], {"SLURM_ARRAY_TASK_ID": "4"}
        env |= {"SLURM_ARRAY_TASK_COUNT": "16", "SLURM_ARRAY_TASK_MIN": "1"}
    argv[argv.index("-o") + 1] = str(tmp_path / "out")
    argv[1] = str(tmp_path / "prompts.txt")

    result = run_cli([*argv, "--dry-run"], env)

    assert result.returncode == 0, result.stderr
    assert "other_shard" in result.stderr
