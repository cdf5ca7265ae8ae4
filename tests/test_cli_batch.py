"""``nanobanana batch`` as a user runs it: input formats, bad lines, resume, --json, Ctrl-C."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _helpers import against, cli, manifest

from nanobanana.testing import FakeServer


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_batch_txt(sync_server: FakeServer, tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("# a comment\na red kite\n\na blue boat\n\\#hashtag\n")
    out = tmp_path / "out"
    result = cli("batch", str(source), "-o", str(out), *against(sync_server))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in out.glob("*.png")) == [
        "000000-a-red-kite.png",
        "000001-a-blue-boat.png",
        "000002-hashtag.png",
    ]
    assert [r["prompt"] for r in sorted(manifest(out), key=lambda r: r["index"])] == [
        "a red kite",
        "a blue boat",
        "#hashtag",
    ]
    assert "Manifest" in result.stderr
    assert "Wall time" in result.stderr


def test_batch_jsonl_options_per_line(sync_server: FakeServer, tmp_path: Path) -> None:
    source = tmp_path / "jobs.jsonl"
    lines = [
        {"prompt": "wide", "aspect_ratio": "16:9"},
        {"prompt": "pro", "model": "google/nano-banana-pro", "resolution": "2K"},
        {"prompt": "two", "num_images": 2, "extra_body": {"provider": "google"}},
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    result = cli("batch", str(source), "-o", str(out), "--ordered", *against(sync_server))
    assert result.returncode == 0, result.stderr
    sent = {r.json["prompt"]: r.json for r in sync_server.generation_requests}
    assert sent["wide"]["aspect_ratio"] == "16:9"
    assert (sent["pro"]["model"], sent["pro"]["resolution"]) == ("google/nano-banana-pro", "2K")
    assert (sent["two"]["num_images"], sent["two"]["provider"]) == (2, "google")
    assert len(list(out.glob("*.png"))) == 4


def test_batch_csv_with_defaults_from_flags(sync_server: FakeServer, tmp_path: Path) -> None:
    source = tmp_path / "jobs.csv"
    source.write_text('prompt,aspect_ratio\n"a kite, red",\nsquare,1:1\n')
    out = tmp_path / "out"
    args = ("batch", str(source), "-o", str(out), "--aspect-ratio", "4:3")
    result = cli(*args, *against(sync_server))
    assert result.returncode == 0, result.stderr
    sent = {r.json["prompt"]: r.json["aspect_ratio"] for r in sync_server.generation_requests}
    assert sent == {"a kite, red": "4:3", "square": "1:1"}


@pytest.mark.parametrize(
    "stdin",
    [
        "a red kite\n# skipped\na blue boat\n",
        '{"prompt": "a red kite"}\n{"prompt": "a blue boat"}\n',
    ],
)
def test_batch_from_stdin(sync_server: FakeServer, tmp_path: Path, stdin: str) -> None:
    out = tmp_path / "out"
    result = cli("batch", "-", "-o", str(out), "--json", *against(sync_server), stdin=stdin)
    assert result.returncode == 0, result.stderr
    records = json_lines(result.stdout)
    assert sorted(r["prompt"] for r in records[:-1]) == ["a blue boat", "a red kite"]
    assert records[-1]["type"] == "summary"
    assert records[-1]["ok"] == 2


@pytest.mark.parametrize("strict", [False, True], ids=["streamed", "strict"])
def test_stdin_is_jsonl_when_its_first_request_line_is_an_object(
    sync_server: FakeServer, tmp_path: Path, strict: bool
) -> None:
    # Streamed, or read whole first for --strict: the same rule tells the format.
    stdin = '\ufeff# tonight\'s jobs\n\n{"prompt": "a red kite", "aspect_ratio": "1:1"}\n'
    out = tmp_path / "out"
    flags = ("--strict",) if strict else ()
    result = cli("batch", "-", "-o", str(out), *flags, *against(sync_server), stdin=stdin)
    assert result.returncode == 0, result.stderr
    sent = [(r.json["prompt"], r.json["aspect_ratio"]) for r in sync_server.generation_requests]
    assert sent == [("a red kite", "1:1")]


def test_bad_lines_are_reported_and_the_rest_runs(sync_server: FakeServer, tmp_path: Path) -> None:
    source = tmp_path / "jobs.jsonl"
    source.write_text(
        '{"prompt": "first"}\n'
        "not json\n"
        '{"prompt": "second"}\n'
        '{"aspect_ratio": "1:1"}\n'
        '{"prompt": "x", "colour": "red"}\n'
        '{"prompt": "x", "aspect_ratio": "7:5"}\n'
        '{"prompt": "third"}\n'
    )
    out = tmp_path / "out"
    result = cli("batch", str(source), "-o", str(out), "--json", *against(sync_server))
    assert result.returncode == 1
    for line, reason in [
        (2, "invalid JSON"),
        (4, "no prompt"),
        (5, "unknown option 'colour'"),
        (6, "aspect_ratio"),
    ]:
        assert f"jobs.jsonl:{line}: {reason}" in result.stderr
    records = json_lines(result.stdout)
    invalid = [r["line"] for r in records if r["type"] == "invalid"]
    assert invalid == [2, 4, 5, 6]
    items = {r["index"]: (r["line"], r["prompt"]) for r in records if r["type"] == "item"}
    assert items == {0: (1, "first"), 1: (3, "second"), 2: (7, "third")}
    summary = records[-1]
    assert (summary["type"], summary["ok"], summary["invalid_lines"]) == ("summary", 3, 4)
    assert summary["exit_code"] == 1


def test_strict_refuses_the_whole_file(sync_server: FakeServer, tmp_path: Path) -> None:
    source = tmp_path / "jobs.txt"
    source.write_text("good\n" + '{"prompt": 1}\n')
    jsonl = tmp_path / "jobs.jsonl"
    jsonl.write_text('{"prompt": "good"}\n{"prompt": 1}\nnope\n')
    result = cli(
        "batch", str(jsonl), "-o", str(tmp_path / "out"), "--strict", *against(sync_server)
    )
    assert result.returncode == 2
    assert "jobs.jsonl:2:" in result.stderr
    assert "jobs.jsonl:3:" in result.stderr
    assert "2 bad line(s) (2, 3); nothing was run (--strict)" in result.stderr
    assert sync_server.generation_requests == []


def test_resume_sends_only_what_did_not_succeed(sync_server: FakeServer, tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("one\ntwo\nthree\n")
    out = tmp_path / "out"
    args = ("batch", str(source), "-o", str(out), "--concurrency", "1", *against(sync_server))
    sync_server.fail_next(1, status=400)  # item 0 fails; 400 is not retried
    first = cli(*args)
    assert first.returncode == 1
    assert "item 0 failed: BadRequestError: HTTP 400" in first.stderr
    sync_server.reset()
    second = cli(*args, "--resume", "--json")
    assert second.returncode == 0, second.stderr
    assert [r.json["prompt"] for r in sync_server.generation_requests] == ["one"]
    records = json_lines(second.stdout)
    assert sorted(r["skip_reason"] or r["status"] for r in records[:-1]) == ["done", "done", "ok"]


def test_fail_fast_stops_the_batch(sync_server: FakeServer, tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("".join(f"prompt {i}\n" for i in range(5)))
    sync_server.fail_next(1, status=400)
    args = ("batch", str(source), "-o", str(tmp_path / "out"), "--concurrency", "1", "--fail-fast")
    result = cli(*args, *against(sync_server))
    assert result.returncode == 1
    assert "the batch stopped: BadRequestError" in result.stderr
    assert len(sync_server.generation_requests) == 1


def test_max_throttled_wait_bounds_each_items_patience_for_429s(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("one\n")
    sync_server.fail_next(1, status=429, retry_after=1)
    out = tmp_path / "out"
    args = ("batch", str(source), "-o", str(out), "--max-throttled-wait", "0.5", "--json")
    result = cli(*args, *against(sync_server))
    assert result.returncode == 1
    item = json_lines(result.stdout)[0]
    assert item["status"] == "failed"
    assert "max_throttled_wait=0.5 s" in item["error"]["message"]
    assert len(sync_server.generation_requests) == 1


def test_max_outage_stops_a_batch_resumably(sync_server: FakeServer, tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("".join(f"prompt {i}\n" for i in range(6)))
    out = tmp_path / "out"
    args = ("batch", str(source), "-o", str(out), "--concurrency", "3", *against(sync_server))
    sync_server.outage(3600, status=503)
    stopped = cli(*args, "--max-outage", "0.3")
    assert stopped.returncode == 1
    assert "max_outage=0.3 s" in stopped.stderr
    sync_server.outage(0)
    resumed = cli(*args, "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json_lines(resumed.stdout)[-1]["ok"] == 6


def test_dry_run_needs_no_key_and_sends_nothing(tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("one\ntwo\n")
    result = cli("batch", str(source), "-o", str(tmp_path / "out"), "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    summary = json_lines(result.stdout)[-1]
    assert (summary["planned_requests"], summary["skipped_by_reason"]) == (2, {"dry_run": 2})


def test_fake_flag_runs_offline(tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("one\ntwo\n")
    result = cli("batch", str(source), "-o", str(tmp_path / "out"), "--fake", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(list((tmp_path / "out").glob("*.png"))) == 2


def test_ctrl_c_flushes_the_manifest_and_exits_130(tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("".join(f"prompt {i}\n" for i in range(40)))
    out = tmp_path / "out"
    with FakeServer(latency=0.5) as server:
        command = [sys.executable, "-m", "nanobanana", "batch", str(source), "-o", str(out)]
        command += ["--concurrency", "4", "--json", *against(server)]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while not (out / "manifest.jsonl").exists() or not manifest(out):
                assert time.monotonic() < deadline, "no item finished"
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Interrupted" in stderr
    records = manifest(out)  # every line parses
    assert 1 <= len(records) < 40
    summary = json_lines(stdout)[-1]
    assert (summary["type"], summary["interrupted"], summary["exit_code"]) == ("summary", True, 130)


def test_a_run_into_a_folder_with_a_manifest_warns_that_resume_would_skip(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("a red kite\na blue boat\n")
    out = tmp_path / "out"
    first = cli("batch", str(source), "-o", str(out), *against(sync_server))
    assert first.returncode == 0, first.stderr
    assert "warning" not in first.stderr
    again = cli("batch", str(source), "-o", str(out), *against(sync_server))
    assert again.returncode == 0, again.stderr
    warnings = [line for line in again.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "manifest.jsonl exists" in warnings[0]
    assert "--resume would skip what is done" in warnings[0]
    resumed = cli("batch", str(source), "-o", str(out), "--resume", *against(sync_server))
    assert "warning" not in resumed.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, where mounting one is permitted."""
    disk = tmp_path / "small"
    disk.mkdir()
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("needs Linux and mount")
    command = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]
    if subprocess.run(command, capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs is not permitted here")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_full_disk_stops_the_batch_with_one_line_and_exit_1(small_disk: Path) -> None:
    source = small_disk.parent / "prompts.txt"
    source.write_text("".join(f"a paper crane, fold {i}\n" for i in range(200)))
    out = small_disk / "out"
    with FakeServer(image_bytes=8_000) as server:
        command = ("batch", str(source), "-o", str(out), "--concurrency", "8", "--json")
        result = cli(*command, *against(server), timeout=60)  # never a hang
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    stopped = [line for line in result.stderr.splitlines() if line.startswith("the batch stopped:")]
    assert len(stopped) == 1
    assert "No space left on device" in stopped[0]
    summary = json_lines(result.stdout)[-1]
    assert summary["exit_code"] == 1
    assert "No space left on device" in summary["stop_reason"]
    assert 0 < summary["read"] < 200
    for record in manifest(out):  # closed: every line whole; no ok without its image
        if record["status"] == "ok":
            assert all((out / name).is_file() for name in record["paths"])
