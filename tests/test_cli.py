"""The ``nanobanana`` command line, run as a user runs it: a subprocess, against a FakeServer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import against, cli, manifest

from nanobanana.testing import FakeServer

NANOBANANA_DIR = Path(__file__).resolve().parent.parent / "nanobanana"


def assert_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr


# -- help, usage errors -----------------------------------------------------------------

_HEAVY = ("aiohttp", "rich", "anyio", "nanobanana._client", "nanobanana.testing")

_HELP_PROBE = """
import sys, types, contextlib, io
pkg = types.ModuleType("nanobanana"); pkg.__path__ = [{path!r}]; sys.modules["nanobanana"] = pkg
from nanobanana._cli import main
for argv in (["--help"], ["batch", "--help"], ["generate", "--help"]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(argv)
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


def test_help_imports_nothing_heavy_from_the_cli() -> None:
    # The package __init__ is replaced by an empty module: this measures the CLI alone.
    probe = _HELP_PROBE.format(path=str(NANOBANANA_DIR), heavy=_HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_python_m_help_does_not_import_aiohttp() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nanobanana", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    assert "usage: nanobanana" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "nanobanana._client" not in imported
    assert "aiohttp" not in imported
    assert "rich" not in imported


def test_version_and_missing_command() -> None:
    assert cli("--version").stdout.startswith("nanobanana ")
    result = cli()
    assert result.returncode == 2
    assert "a command is required" in result.stderr


def test_unknown_flag_is_a_usage_error() -> None:
    assert_usage_error(cli("generate", "x", "--fake", "--bogus"), "--bogus")


def test_an_unquoted_prompt_gets_a_hint_to_quote_it() -> None:
    result = cli("generate", "a", "red", "kite", "--fake")
    assert_usage_error(result, "unrecognized arguments: red kite", '"a red kite"', "quote")


def test_an_unknown_flag_gets_no_quoting_hint() -> None:
    assert "quote" not in cli("generate", "x", "--fake", "--bogus").stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("generate", "x", "--fake", "--aspect-ratio", "7:5"), "aspect_ratio"),
        (("generate", "x", "--fake", "--resolution", "8K"), "--resolution"),
        (("generate", "x", "--fake", "-n", "0"), "must be >= 1"),
        (("generate", "x", "--fake", "-n", "5"), "num_images"),
        (("batch", "in.txt", "-o", "out", "--fake", "--concurrency", "0"), "--concurrency"),
        (("batch", "in.txt", "-o", "out", "--fake", "--rpm", "-1"), "--rpm"),
        (("batch", "in.txt", "-o", "out", "--fake", "--max-outage", "-1"), "--max-outage"),
        (("generate", "x", "--fake", "--max-throttled-wait", "soon"), "--max-throttled-wait"),
        (("edit", "x", "--fake", "-i", "missing.png"), "missing.png"),
        (("generate", "x", "--fake", "--base-url", "http://127.0.0.1:9"), "--fake"),
        (("generate", "x", "--api-key", "k", "--base-url", "ftp://x"), "base_url"),
    ],
)
def test_invalid_option_values_are_usage_errors(args: tuple[str, ...], needle: str) -> None:
    assert_usage_error(cli(*args), needle)


def test_missing_key_is_a_usage_error() -> None:
    assert_usage_error(cli("generate", "a lighthouse"), "no API key", "AIML_API_KEY")


def test_unreadable_input_is_a_usage_error(tmp_path: Path) -> None:
    assert_usage_error(cli("batch", str(tmp_path / "nope.txt"), "-o", "out", "--fake"), "no such")
    assert_usage_error(cli("batch", str(tmp_path), "-o", "out", "--fake", "--format", "txt"))
    (tmp_path / "in.doc").write_text("a prompt\n")
    assert_usage_error(cli("batch", str(tmp_path / "in.doc"), "-o", "out", "--fake"), "--format")
    (tmp_path / "bad.csv").write_text("text,colour\nhello,red\n")
    assert_usage_error(cli("batch", str(tmp_path / "bad.csv"), "-o", "out", "--fake"), "prompt")


# -- generate, edit, models ---------------------------------------------------------------


def test_generate_writes_images_and_prints_their_paths(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    args = ("generate", "a lighthouse at dawn", "-n", "2", "--aspect-ratio", "16:9")
    result = cli(*args, "-o", str(tmp_path), *against(sync_server))
    assert result.returncode == 0, result.stderr
    paths = [Path(p) for p in result.stdout.splitlines()]
    assert [p.name for p in paths] == ["a-lighthouse-at-dawn-1.png", "a-lighthouse-at-dawn-2.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    sent = sync_server.generation_requests[0].json
    assert (sent["num_images"], sent["aspect_ratio"]) == (2, "16:9")
    assert "credits" in result.stderr


def test_generate_json_prints_only_json(sync_server: FakeServer, tmp_path: Path) -> None:
    out = tmp_path / "kite.png"
    result = cli("generate", "a red kite", "-o", str(out), "--json", *against(sync_server))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert doc["paths"] == [str(out)]
    assert isinstance(doc["request_id"], str)
    assert doc["usage"]["credits_used"] > 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_generate_failure_exits_1_with_the_error(sync_server: FakeServer, tmp_path: Path) -> None:
    sync_server.fail_next(1, status=400)
    result = cli("generate", "x", "-o", str(tmp_path), "--json", *against(sync_server))
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["error"]["status"] == 400
    assert doc["error"]["type"] == "BadRequestError"
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_generate_max_throttled_wait_bounds_the_patience_for_429s(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    sync_server.fail_next(1, status=429, retry_after=1)
    args = ("generate", "x", "-o", str(tmp_path), "--json", "--max-throttled-wait", "0.5")
    result = cli(*args, *against(sync_server))
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["error"]["status"] == 429
    assert "max_throttled_wait=0.5 s" in doc["error"]["message"]
    assert len(sync_server.generation_requests) == 1


def test_edit_sends_paths_and_urls(sync_server: FakeServer, tmp_path: Path) -> None:
    from nanobanana.testing import make_png

    source = tmp_path / "in.png"
    source.write_bytes(make_png(8, 8, b"cat"))
    url = "https://example.com/cat.png"
    args = ("edit", "make it night", "-i", str(source), "-i", url, "-o", str(tmp_path / "out"))
    result = cli(*args, *against(sync_server))
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).name == "make-it-night.png"
    sent = sync_server.generation_requests[0].json
    assert sent["model"] == "google/gemini-2.5-flash-image-edit"
    assert sent["image_urls"][0].startswith("data:image/png;base64,")
    assert sent["image_urls"][1] == url


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("pro", "google/nano-banana-pro"), ("google/nano-banan-2", "google/nano-banana-2")],
)
def test_an_unknown_model_offline_suggests_the_closest_known_id(
    tmp_path: Path, typed: str, meant: str
) -> None:
    result = cli("generate", "a red kite", "-m", typed, "-o", str(tmp_path), "--fake", "-q")
    assert result.returncode == 0, result.stderr
    assert f"did you mean {meant}?" in result.stderr
    assert len(list(tmp_path.glob("*.png"))) == 1


def test_an_unknown_model_in_a_dry_run_suggests_the_closest_known_id(tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("a red kite\n")
    result = cli("batch", str(source), "-o", str(tmp_path / "out"), "-m", "pro", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "did you mean google/nano-banana-pro?" in result.stderr


def test_an_unknown_model_online_is_sent_as_given(sync_server: FakeServer, tmp_path: Path) -> None:
    result = cli("generate", "a red kite", "-m", "pro", "-o", str(tmp_path), *against(sync_server))
    assert result.returncode == 0, result.stderr
    assert "did you mean" not in result.stderr
    assert sync_server.generation_requests[0].json["model"] == "pro"


def test_batch_max_credits_caps_the_spend(sync_server: FakeServer, tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("one\ntwo\nthree\nfour\n")
    out = tmp_path / "out"
    args = ("batch", str(source), "-o", str(out), "--concurrency", "1", "--json")
    result = cli(*args, "--max-credits", "100000", *against(sync_server))
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert (summary["ok"], summary["skipped_by_reason"]) == (1, {"budget": 3})
    assert "max_credits=100000" in summary["stop_reason"]
    assert len(sync_server.generation_requests) == 1


def test_models_lists_the_catalog() -> None:
    text = cli("models").stdout
    assert "google/nano-banana-pro" in text
    assert "google/gemini-3-pro-image-preview" in text  # an alias
    listed = json.loads(cli("models", "--json").stdout)
    assert {"id", "aliases", "aspect_ratios", "resolutions"} <= set(listed[0])


# -- demo, progress ------------------------------------------------------------------------


def test_demo_runs_offline_into_a_folder(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = cli("demo", "-o", str(out), timeout=60)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    assert len(list(out.glob("*.png"))) >= 12
    assert len(manifest(out)) == 12
    assert "OK             12" in result.stderr


def test_works_without_rich_and_with_a_forced_bar(sync_server: FakeServer, tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("one\ntwo\n")
    code = (
        "import sys; sys.modules['rich'] = None\n"
        "from nanobanana._cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    args = ("batch", str(source), "-o", str(tmp_path / "out"), "--progress", "bar")
    result = subprocess.run(
        [sys.executable, "-c", code, *args, *against(sync_server)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "progress every 2 s" in result.stderr
    assert "OK             2" in result.stderr


def test_rich_bar_when_asked(sync_server: FakeServer, tmp_path: Path) -> None:
    pytest.importorskip("rich")
    source = tmp_path / "prompts.txt"
    source.write_text("one\ntwo\n")
    args = ("batch", str(source), "-o", str(tmp_path / "out"), "--progress", "bar")
    result = cli(*args, *against(sync_server))
    assert result.returncode == 0, result.stderr
    assert "2/2" in result.stderr
    assert "\x1b[" in result.stderr  # drawn for a terminal
