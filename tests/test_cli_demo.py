"""``nanobanana demo`` as a new user runs it: twice, in a git checkout, then the hint."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import manifest


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m nanobanana ARGS`` in ``cwd``, as a user types it there."""
    command = [sys.executable, "-m", "nanobanana", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_demo_run_twice_resumes_instead_of_redoing_everything(tmp_path: Path) -> None:
    first = run("demo", "--progress", "off", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("14 images are in")
    second = run("demo", "--progress", "off", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Skipped        12 (12 done)" in second.stderr
    assert "Requests sent  0" in second.stderr
    assert "made by an earlier run" in second.stdout
    assert len(manifest(tmp_path / "nanobanana-demo")) == 12


def test_the_closing_hint_runs_as_printed(tmp_path: Path) -> None:
    demo = run("demo", "--progress", "off", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    hint = next(line for line in demo.stderr.splitlines() if line.startswith("Next: "))
    command = shlex.split(hint.removeprefix("Next: ").split("   (")[0])
    assert command[:2] == ["nanobanana", "batch"]
    batch = run(*command[1:], cwd=tmp_path)
    assert batch.returncode == 0, batch.stderr
    assert len(manifest(tmp_path / "out")) == 12
    assert len(list((tmp_path / "out").glob("*.png"))) == 14


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_demo_folder_is_not_untracked_noise_in_a_git_checkout(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    demo = run("demo", "-q", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "nanobanana-demo" / "manifest.jsonl").is_file()
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""


def test_demo_honours_timeout_and_max_retries(tmp_path: Path) -> None:
    # The demo's fake API answers after 0.4 s: a 0.1 s limit and no retries fail all 12.
    demo = run("demo", "--timeout", "0.1", "--max-retries", "0", "--progress", "off", cwd=tmp_path)
    assert demo.returncode == 1
    assert "Failed         12" in demo.stderr
    assert "Requests sent  12" in demo.stderr
    assert "Timeout" in demo.stderr


def _varying_parts_masked(text: str) -> list[str]:
    """The lines of the demo's output with what changes from run to run masked: the
    fake API's port, the wall time, where the demo folder is, and the progress lines a
    run slower than their interval prints."""
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"Wall time      \S+ s", "Wall time      T s", text)
    text = re.sub(r"images are in \S+/nanobanana-demo/", "images are in DIR/nanobanana-demo/", text)
    lines = text.strip().splitlines()
    return [line for line in lines if not re.match(r"demo: \d+/\S+ done: ", line)]


def test_the_readme_shows_what_the_demo_prints(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    shown = readme.split("not on a terminal it prints:\n\n```console\n", 1)[1].split("```", 1)[0]
    command, _, printed = shown.partition("\n")
    assert command == "$ nanobanana demo"

    demo = subprocess.run(
        [sys.executable, "-m", "nanobanana", "demo"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # both streams, in the order they were written
        text=True,
        timeout=60,
    )

    assert demo.returncode == 0, demo.stdout
    assert _varying_parts_masked(demo.stdout) == _varying_parts_masked(printed)
