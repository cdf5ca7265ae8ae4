"""Stopping ``nanobanana batch`` with Ctrl-C or SIGTERM, as a user (or a supervisor) does."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest
from _helpers import against, cli, manifest

from nanobanana._cli._common import Interrupt, signals_restored
from nanobanana.testing import FakeServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def prompts(tmp_path: Path, count: int) -> Path:
    source = tmp_path / "prompts.txt"
    source.write_text("".join(f"a paper crane, fold {i}\n" for i in range(count)))
    return source


def start_batch(*args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "nanobanana", "batch", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lines(out: Path, count: int) -> None:
    """Wait until the batch has written ``count`` manifest lines."""
    deadline = time.monotonic() + 20
    while not (out / "manifest.jsonl").exists() or len(manifest(out)) < count:
        assert time.monotonic() < deadline, "the batch did not get going"
        time.sleep(0.02)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(latency=0.05) as srv:
        yield srv


@pytest.mark.parametrize("ordered", [False, True], ids=["as-finished", "ordered"])
def test_ctrl_c_with_json_gives_every_counted_item_one_record(
    server: FakeServer, tmp_path: Path, ordered: bool
) -> None:
    # The first two requests never answer: they are in flight at Ctrl-C; with --ordered
    # the items finished after them wait for their turn when Ctrl-C comes.
    server.hang_next(2)
    out = tmp_path / "out"
    args = [str(prompts(tmp_path, 60)), "-o", str(out), "--concurrency", "4", "--json"]
    proc = start_batch(*args, *(["--ordered"] if ordered else []), *against(server))
    try:
        wait_for_lines(out, 6)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    records = json_lines(stdout)
    summary = records[-1]
    items = [r for r in records if r["type"] == "item"]
    indices = [r["index"] for r in items]
    assert sorted(indices) == list(range(summary["read"]))  # each exactly once
    assert len(items) == summary["ok"] + summary["failed"] + summary["skipped"]
    assert sum(r["skip_reason"] == "stopped" for r in items) == summary["skipped_by_reason"].get(
        "stopped", 0
    )
    assert {0, 1} <= {r["index"] for r in items if r["skip_reason"] == "stopped"}
    assert sum(r["status"] == "ok" for r in items) == summary["ok"] >= 4
    for record in items:
        assert all(Path(p).is_file() for p in record["paths"])
    assert {r["index"] for r in manifest(out)} == set(indices)
    if ordered:
        assert indices == sorted(indices)


def test_sigterm_stops_the_batch_as_ctrl_c_does(server: FakeServer, tmp_path: Path) -> None:
    server.hang_next(1)
    out = tmp_path / "out"
    args = [str(prompts(tmp_path, 40)), "-o", str(out), "--concurrency", "4", "--json"]
    proc = start_batch(*args, *against(server))
    try:
        wait_for_lines(out, 3)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert "yes (SIGTERM): in-flight requests cancelled" in stderr
    summary = json_lines(stdout)[-1]
    assert (summary["interrupted"], summary["exit_code"]) == (True, 143)
    assert not list(out.glob(".*.part"))
    assert len(manifest(out)) == summary["read"]  # every item read has its line


def ctrl_c_twice(args: list[str], pause: float) -> tuple[int, str]:
    """Start a batch; ``pause`` seconds after it begins, Ctrl-C twice, 10 ms apart."""
    proc = start_batch(*args)
    try:
        assert proc.stderr is not None
        proc.stderr.readline()  # "batch: 40 requests; ...": the batch has begun
        time.sleep(pause)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            return -1, f"still running 15 s after two Ctrl-C, {pause:.3f} s in"
    finally:
        proc.kill()
        proc.communicate()  # reaped, its pipes closed, whatever happened above
    return proc.returncode, stderr


# A command that was stopped by a first Ctrl-C and returned, leaving behind a thread that
# never ends (as a library in the program might): Python then waits for it at exit.
_STUCK_AT_EXIT = """
import os, queue, signal, sys, threading
from nanobanana._cli import _dispatch, console
from nanobanana._cli._common import Interrupt

def command(args):
    with Interrupt() as interrupt:
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=queue.Queue().get, name="never ends").start()
    print("returned", flush=True)
    return interrupt.exit_code

_dispatch._run = command
sys.argv = ["nanobanana", "models"]
console()
"""


def test_a_second_ctrl_c_ends_the_program_even_while_python_waits_for_threads_at_exit() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _STUCK_AT_EXIT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "returned\n"
        time.sleep(0.2)  # into the interpreter's shutdown, waiting for the thread
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 130
    assert stderr.strip().endswith("nanobanana: interrupted")


@pytest.mark.slow
def test_a_second_ctrl_c_always_ends_the_program_at_once(tmp_path: Path) -> None:
    source = prompts(tmp_path, 40)
    out = tmp_path / "out"
    first = cli("batch", str(source), "-o", str(out), "--fake", "-q", "--concurrency", "8")
    assert first.returncode == 0, first.stderr
    done = [r for r in manifest(out) if r["index"] % 2 == 0]  # as if half were done
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in done))
    pace = random.Random(20260509)
    runs = []
    for attempt in range(50):  # each in a copy of the half-done folder, a few at a time
        folder = shutil.copytree(out, tmp_path / f"out-{attempt}")
        args = [str(source), "-o", str(folder), "--fake", "--resume"]
        # Anywhere from the first request to after the last line and the exit.
        runs.append((args, pace.uniform(0.0, 0.5)))
    with ThreadPoolExecutor(max_workers=5) as pool:
        outcomes = list(pool.map(lambda run: ctrl_c_twice(*run), runs))
    for attempt, (code, stderr) in enumerate(outcomes):
        # 130; or, when both came after the batch had finished, 0 or killed by SIGINT
        # on the way out
        assert code in (0, 130, -signal.SIGINT), f"attempt {attempt}: {stderr}"
        if code == 130 and "Items          40 of 40" not in stderr:
            # Stopped mid-batch: no traceback. (A Ctrl-C that lands after the batch has
            # finished, while the interpreter shuts down, may make Python itself print
            # "Exception ignored ... KeyboardInterrupt"; the program still ends at once.)
            assert "Traceback" not in stderr, f"attempt {attempt}: {stderr}"


def test_a_ctrl_c_as_the_command_starts_cancels_its_work_without_a_traceback() -> None:
    # The signal lands once the event loop runs but before the batch has begun: asyncio's
    # own handler would raise KeyboardInterrupt wherever the loop happens to be.
    interrupt = Interrupt()
    steps: list[str] = []

    async def command() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        await anyio.sleep(0)
        with interrupt.cancelling():
            await anyio.sleep(30)
            steps.append("worked on")  # never: the work starts cancelled
        steps.append("summary shown")

    with signals_restored(), interrupt:
        anyio.run(command, backend="asyncio")
    assert steps == ["summary shown"]
    assert (interrupt.hit, interrupt.exit_code) == (True, 130)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_sigterm_during_the_work_cancels_it_and_exits_143() -> None:
    interrupt = Interrupt()
    steps: list[str] = []

    async def command() -> None:
        with interrupt.cancelling():
            os.kill(os.getpid(), signal.SIGTERM)
            await anyio.sleep(30)
            steps.append("worked on")
        steps.append("summary shown")

    with signals_restored(), interrupt:
        anyio.run(command, backend="asyncio")
    assert steps == ["summary shown"]
    assert (interrupt.signal_name, interrupt.exit_code) == ("SIGTERM", 143)
