"""``nanobanana gallery OUT``, and the gallery ``batch`` and ``demo`` leave behind."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

from _helpers import against, cli

from nanobanana._cli._gallery_cmd import gallery_after_batch
from nanobanana._cli._plain import PlainReporter
from nanobanana.testing import FakeServer


def prompts_file(folder: Path, *prompts: str) -> Path:
    source = folder / "prompts.txt"
    source.write_text("".join(f"{prompt}\n" for prompt in prompts), encoding="utf-8")
    return source


def test_a_batch_ends_with_a_gallery_of_its_folder(sync_server: FakeServer, tmp_path: Path) -> None:
    source = prompts_file(tmp_path, "a red kite", "a paper boat")
    out = tmp_path / "out"

    result = cli("batch", str(source), "-o", str(out), *against(sync_server))

    assert result.returncode == 0, result.stderr
    page = out / "index.html"
    assert f"Gallery: {page} (open it in a browser)" in result.stderr
    assert "a paper boat" in page.read_text(encoding="utf-8")


def test_with_json_the_gallery_keeps_off_stdout(sync_server: FakeServer, tmp_path: Path) -> None:
    source = prompts_file(tmp_path, "a red kite")
    out = tmp_path / "out"

    result = cli("batch", str(source), "-o", str(out), "--json", *against(sync_server))

    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["type"] for line in result.stdout.splitlines()] == ["item", "summary"]
    assert (out / "index.html").is_file()


def test_no_gallery_leaves_the_folder_without_one(sync_server: FakeServer, tmp_path: Path) -> None:
    source = prompts_file(tmp_path, "a red kite")
    out = tmp_path / "out"

    result = cli("batch", str(source), "-o", str(out), "--no-gallery", *against(sync_server))

    assert result.returncode == 0, result.stderr
    assert (out / "manifest.jsonl").is_file()
    assert not (out / "index.html").exists()
    assert "Gallery" not in result.stderr


def test_a_dry_run_writes_no_gallery(tmp_path: Path) -> None:
    source = prompts_file(tmp_path, "a red kite")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.jsonl").write_text("")

    result = cli("batch", str(source), "-o", str(out), "--dry-run")

    assert result.returncode == 0, result.stderr
    assert not (out / "index.html").exists()


def test_a_gallery_that_cannot_be_written_is_a_warning_only(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    source = prompts_file(tmp_path, "a red kite")
    out = tmp_path / "out"
    (out / "index.html").mkdir(parents=True)  # a folder where the page would go

    result = cli("batch", str(source), "-o", str(out), *against(sync_server))

    assert result.returncode == 0, result.stderr
    assert "warning: the gallery could not be written" in result.stderr
    assert len(list(out.glob("*.png"))) == 1


def test_the_gallery_command_writes_the_page_and_prints_its_path(tmp_path: Path) -> None:
    source = prompts_file(tmp_path, "a red kite", "a paper boat")
    out = tmp_path / "out"
    assert cli("batch", str(source), "-o", str(out), "--fake", "-q").returncode == 0
    (out / "index.html").unlink()

    result = cli("gallery", str(out))

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{out / 'index.html'}\n"
    assert "a red kite" in (out / "index.html").read_text(encoding="utf-8")


def test_the_gallery_command_refuses_a_folder_that_is_not_a_batchs(tmp_path: Path) -> None:
    missing = cli("gallery", str(tmp_path / "nowhere"))
    empty = cli("gallery", str(tmp_path))

    assert missing.returncode == 2
    assert "nowhere: no such folder" in missing.stderr
    assert empty.returncode == 2
    assert "no manifest.jsonl here" in empty.stderr
    assert not (tmp_path / "index.html").exists()


def test_the_gallery_command_reports_a_page_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "manifest.jsonl").write_text("")
    (tmp_path / "index.html").mkdir()

    result = cli("gallery", str(tmp_path))

    assert result.returncode == 1
    assert "nanobanana gallery: error: cannot write" in result.stderr
    assert result.stdout == ""


def test_the_demo_ends_with_a_gallery(tmp_path: Path) -> None:
    def demo(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "nanobanana", "demo", "--progress", "off", *args]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)

    without = demo("-o", "plain", "--no-gallery")
    shown = demo()

    assert without.returncode == 0, without.stderr
    assert not (tmp_path / "plain" / "index.html").exists()
    assert shown.returncode == 0, shown.stderr
    assert "Gallery: nanobanana-demo/index.html" in shown.stderr
    assert "a banana-shaped spaceship over Saturn" in (
        tmp_path / "nanobanana-demo" / "index.html"
    ).read_text(encoding="utf-8")


def test_help_lists_the_gallery_command() -> None:
    result = cli("--help")

    assert "gallery" in result.stdout
    assert "--no-gallery" in cli("batch", "--help").stdout


def test_a_batch_that_left_no_manifest_gets_no_gallery(tmp_path: Path) -> None:
    # A batch stopped before its manifest was opened (an unwritable folder, say).
    stderr = io.StringIO()
    args = argparse.Namespace(no_gallery=False, dry_run=False)

    page = gallery_after_batch(tmp_path, PlainReporter(stream=stderr), args)

    assert page is None
    assert stderr.getvalue() == ""
    assert not (tmp_path / "index.html").exists()
