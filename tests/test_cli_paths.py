"""Where ``-o`` puts the images, and the paths the command line refuses, run as a user runs
it: a subprocess, against a FakeServer (or ``--fake``)."""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import against, cli
from hypothesis import given, settings, strategies as st

from nanobanana.testing import FakeServer, make_png


def assert_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr


def run_in(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m nanobanana ARGS`` from ``folder``, as a user in that folder would."""
    return subprocess.run(
        [sys.executable, "-m", "nanobanana", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=folder,
        env={**os.environ, **(env or {})},
    )


# -- an output path that cannot work is refused before anything is sent -------------------


@pytest.mark.parametrize("output", ["{file}/x", "{file}/x.png", "/proc/nbx.png", "/sys/nbx.png"])
def test_generate_refuses_an_unwritable_output_before_sending(
    sync_server: FakeServer, tmp_path: Path, output: str
) -> None:
    kite = tmp_path / "kite.png"
    kite.write_bytes(b"not a folder")
    result = cli("generate", "a cat", "-o", output.format(file=kite), *against(sync_server))
    assert_usage_error(result, "-o ")
    assert sync_server.generation_requests == []


@pytest.mark.parametrize("output", ["{file}/sub", "{file}", "/proc/nbx", "/sys/nbx"])
def test_batch_refuses_an_unwritable_output_in_one_line(
    sync_server: FakeServer, tmp_path: Path, output: str
) -> None:
    kite = tmp_path / "kite.png"
    kite.write_bytes(b"not a folder")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red kite\na blue boat\n")
    out = output.format(file=kite)
    result = cli("batch", str(prompts), "-o", out, *against(sync_server))
    assert_usage_error(result, f"-o {out}")
    assert sync_server.generation_requests == []


# -- a paid image is never thrown away --------------------------------------------------------


def test_an_image_that_cannot_be_written_is_saved_in_the_working_folder(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    (out / "kite-2.png").mkdir(parents=True)  # the second image's name is taken by a folder
    work.mkdir()
    args = ("generate", "a red kite", "-n", "2", "-o", str(out / "kite.png"), "--json")
    result = run_in(work, *args, *against(sync_server))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    doc = json.loads(result.stdout)
    paths = [Path(p) for p in doc["paths"]]
    assert paths == [out / "kite-1.png", work / "kite-2.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    saved = f"saved to {work / 'kite-2.png'} instead (request id {doc['request_id']})"
    assert saved in result.stderr


def test_without_a_writable_working_folder_the_image_goes_to_the_temporary_folder(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    out, temp = tmp_path / "out", tmp_path / "temp"
    (out / "kite-2.png").mkdir(parents=True)
    temp.mkdir()
    args = ("generate", "a red kite", "-n", "2", "-o", str(out / "kite.png"))
    result = run_in(Path("/proc"), *args, *against(sync_server), env={"TMPDIR": str(temp)})
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [str(out / "kite-1.png"), str(temp / "kite-2.png")]
    assert f"saved to {temp / 'kite-2.png'} instead" in result.stderr
    assert (temp / "kite-2.png").read_bytes().startswith(b"\x89PNG")


# -- what -o names ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cat.bmp", "x.tiff", "notes.txt"])
def test_an_unknown_suffix_is_refused_and_creates_nothing(
    sync_server: FakeServer, tmp_path: Path, name: str
) -> None:
    result = cli("generate", "a cat", "-o", str(tmp_path / name), *against(sync_server))
    assert_usage_error(result, name, ".png")
    assert list(tmp_path.iterdir()) == []
    assert sync_server.generation_requests == []


def test_a_trailing_slash_names_a_folder(tmp_path: Path) -> None:
    result = cli("generate", "a cat", "-o", f"{tmp_path / 'newdir.png'}/", "--fake", "-q")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "newdir.png").is_dir()
    assert Path(result.stdout.strip()) == tmp_path / "newdir.png" / "a-cat.png"


@pytest.mark.parametrize("name", ["x.webp", "x.jpeg", "x.GIF"])
def test_a_suffix_that_would_lie_about_the_bytes_is_corrected_and_said(
    tmp_path: Path, name: str
) -> None:
    result = cli("generate", "a cat", "-o", str(tmp_path / name), "--fake", "-q")
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == tmp_path / "x.png"
    assert (tmp_path / "x.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]
    assert f"the image is PNG, so it is saved as {tmp_path / 'x.png'}" in result.stderr


def test_a_true_suffix_is_kept(tmp_path: Path) -> None:
    result = cli("generate", "a cat", "-o", str(tmp_path / "x.png"), "--fake")
    assert Path(result.stdout.strip()) == tmp_path / "x.png"
    assert "saved as" not in result.stderr


# -- input images ---------------------------------------------------------------------------


def test_edit_with_a_folder_as_input_says_it_is_a_folder(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    (tmp_path / "pics").mkdir()
    result = cli("edit", "x", "-i", str(tmp_path / "pics"), *against(sync_server))
    assert_usage_error(result, "is a directory", "pics")
    assert "no such file" not in result.stderr
    assert sync_server.generation_requests == []


def test_edit_with_an_ftp_url_names_the_scheme(sync_server: FakeServer) -> None:
    result = cli("edit", "x", "-i", "ftp://x/y.png", *against(sync_server))
    assert_usage_error(result, "ftp:// URLs are not supported", "'ftp://x/y.png'")
    assert sync_server.generation_requests == []


# -- no user error ends in a traceback ---------------------------------------------------------

_NAMES = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=10)


def _bad_outputs(base: Path, command: str) -> st.SearchStrategy[str]:
    """``-o`` values no image can be written to (and, for one image, that are no image
    file name): under a file, in /proc or /sys, an existing file, an unknown suffix."""
    kinds = [
        st.builds(
            lambda parts, tail: str(base.joinpath("kite.png", *parts)) + tail,
            st.lists(_NAMES, min_size=1, max_size=3),
            st.sampled_from(["", "/", ".png", ".jpg"]),
        ),
        st.builds(
            lambda root, name, tail: f"{root}/{name}{tail}",
            st.sampled_from(["/proc", "/proc/self", "/sys", "/sys/kernel"]),
            _NAMES.filter(lambda name: not name.isdigit()),
            st.sampled_from(["", "/", ".png"]),
        ),
        st.just(str(base / "notes")),
    ]
    if command != "batch":
        kinds.append(
            st.builds(
                lambda name, suffix: str(base / f"{name}{suffix}"),
                _NAMES,
                st.sampled_from([".bmp", ".tiff", ".heic", ".svg", ".txt", ".pdf"]),
            )
        )
    return st.one_of(kinds)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("paths")
    (folder / "kite.png").write_bytes(make_png(8, 8, b"kite"))
    (folder / "notes").write_text("a file, not a folder\n")
    (folder / "prompts.txt").write_text("a red kite\n")
    return folder


@pytest.mark.slow
@settings(max_examples=10, deadline=None)
@given(data=st.data(), command=st.sampled_from(["generate", "edit", "batch"]))
def test_a_bad_output_is_one_line_and_exit_2_never_a_traceback(
    base: Path, data: st.DataObject, command: str
) -> None:
    output = data.draw(_bad_outputs(base, command), label="-o")
    args = {
        "generate": ("generate", "a cat"),
        "edit": ("edit", "a cat", "-i", str(base / "kite.png")),
        "batch": ("batch", str(base / "prompts.txt")),
    }[command]
    assert_usage_error(cli(*args, "-o", output, "--fake"), "-o ")
