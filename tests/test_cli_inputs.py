"""Batch input of the CLI: formats, line numbers, the index rule (in process), and
what a user sees for a malformed CSV, an empty input or a JSON line that is not an
object (running the command).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from _helpers import against, cli

from nanobanana import ImageRequest
from nanobanana._cli import UsageError
from nanobanana._cli._inputs import FileSource, LineMap, StdinSource, detect_format
from nanobanana._cli._lines import BadLine, Defaults
from nanobanana.testing import FakeServer


def read(
    path: Path, fmt: str, defaults: Defaults | None = None
) -> tuple[list[tuple[int, str]], list[BadLine]]:
    """(line, prompt) of each request, in order, and the bad lines."""
    source = FileSource(path, fmt, defaults or Defaults(), path.name)
    bad: list[BadLine] = []
    count = source.scan(bad.append)
    good = []
    for index, request in enumerate(source):
        line = source.lines.pop(index)
        assert line is not None
        good.append((line, request.prompt))
    assert len(source) == len(good)
    assert count == len(bad)
    return good, bad


def test_txt_skips_blanks_and_comments_and_unescapes(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("\ufeffone\n\n   \n# note\n  two  \n\\#three\n")
    good, bad = read(path, "txt")
    assert good == [(1, "one"), (5, "two"), (6, "#three")]
    assert bad == []


def test_jsonl_bad_lines_take_no_index(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(
        b'{"prompt": "a"}\n[1, 2]\n'
        b'{"prompt": "b", "images": "nope.png"}\n\xff\xfe\n{"prompt": "c"}\n'
    )
    good, bad = read(path, "jsonl")
    assert good == [(1, "a"), (5, "c")]
    assert [(b.line, b.message.split(":")[0]) for b in bad] == [
        (2, "expected a JSON object, got an array"),
        (3, "images[0]"),
        (4, "not valid UTF-8 text"),
    ]


def test_csv_line_numbers_follow_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "prompt,images,extra_body,num_images\n"
        '"two\nlines",,,\n\nthree,,"{""seed"": 1}",2\nx,,[1],\n'
    )
    good, bad = read(path, "csv")
    assert good == [(2, "two\nlines"), (5, "three")]
    assert [(b.line, b.message) for b in bad] == [(6, "extra_body: must be a JSON object")]


def test_csv_header_problems_are_usage_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("prompt,prompt\na,b\n")
    with pytest.raises(UsageError, match="twice"):
        read(path, "csv")


def test_defaults_apply_where_a_line_sets_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": "b", "aspect_ratio": "1:1"}\n')
    source = FileSource(path, "jsonl", Defaults(aspect_ratio="16:9", num_images=2), "p")
    source.scan(lambda bad: None)
    assert [(r.aspect_ratio, r.num_images) for r in source] == [("16:9", 2), ("1:1", 2)]


def test_detect_format() -> None:
    assert detect_format("a.TXT", None) == "txt"
    assert detect_format("a.ndjson", None) == "jsonl"
    assert detect_format("a.txt", "csv") == "csv"
    assert detect_format("-", None) == "auto"
    with pytest.raises(UsageError, match="--format"):
        detect_format("a.xlsx", None)


def test_line_map_forgets_what_it_returned() -> None:
    lines = LineMap()
    assert [lines.add(7), lines.add(9)] == [0, 1]
    assert lines.pop(1) == 9
    assert lines.pop(1) is None


async def test_stdin_sniffs_jsonl_and_streams() -> None:
    stream = io.BytesIO(b'\n# c\n{"prompt": "a"}\nnot json\n{"prompt": "b"}\n')
    bad: list[BadLine] = []
    source = StdinSource(stream, "auto", Defaults(), bad.append)
    got: list[ImageRequest] = [r async for r in source]
    assert [r.prompt for r in got] == ["a", "b"]
    assert [b.line for b in bad] == [4]
    assert [source.lines.pop(0), source.lines.pop(1)] == [3, 5]


# -- what the user sees --------------------------------------------------------------

_RUNS = [(), ("--strict",), ("--dry-run",)]


@pytest.mark.parametrize("flags", _RUNS, ids=["plain", "strict", "dry-run"])
def test_a_csv_with_an_unclosed_quote_is_refused_before_anything_is_sent(
    sync_server: FakeServer, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    source = tmp_path / "prompts.csv"
    rows = [f"row {n}, at dusk" for n in range(998)]
    source.write_text("\n".join(["prompt", "a red kite", '"a blue boat, at anchor', *rows]) + "\n")
    out = tmp_path / "out"
    result = cli("batch", str(source), "-o", str(out), *flags, *against(sync_server))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"nanobanana batch: error: {source}:3: unterminated quote"
    )
    assert "Traceback" not in result.stderr
    assert sync_server.generation_requests == []
    assert not list(out.glob("*.png"))


def test_a_quote_that_closes_far_away_is_an_unterminated_quote(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('prompt\n"a blue boat\n' + "more of it\n" * 20_000 + '"\n')
    with pytest.raises(UsageError, match=r"p\.csv:2: unterminated quote"):
        read(path, "csv")


def test_a_stray_quote_in_a_csv_is_a_usage_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('prompt,aspect_ratio\na red kite,16:9\n"a blue" boat,1:1\n')
    with pytest.raises(UsageError, match=r"p\.csv:3: malformed CSV"):
        read(path, "csv")


_EMPTY = {
    "empty.txt": "",
    "comments.txt": "# nothing yet\n\n",
    "empty.jsonl": "",
    "header.csv": "prompt,aspect_ratio\n",
    "empty.csv": "",
}


@pytest.mark.parametrize(
    ("name", "flags"),
    [(name, ()) for name in sorted(_EMPTY)]
    + [("empty.csv", ("--strict",)), ("header.csv", ("--dry-run",)), ("empty.txt", ("--strict",))],
)
def test_an_input_without_prompts_runs_nothing_and_says_so(
    sync_server: FakeServer, tmp_path: Path, name: str, flags: tuple[str, ...]
) -> None:
    source = tmp_path / name
    source.write_text(_EMPTY[name])
    result = cli("batch", str(source), "-o", str(tmp_path / "out"), *flags, *against(sync_server))
    assert result.returncode == 0, result.stderr
    assert f"warning: {source} has no prompts: nothing to do" in result.stderr
    assert re.search(r"Items +0 of 0", result.stderr)
    assert sync_server.generation_requests == []


@pytest.mark.parametrize("flags", [(), ("--strict",), ("--format", "csv")])
def test_empty_stdin_runs_nothing_and_says_so(
    sync_server: FakeServer, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    out = tmp_path / "out"
    result = cli("batch", "-", "-o", str(out), *flags, *against(sync_server), stdin="")
    assert result.returncode == 0, result.stderr
    assert "warning: <stdin> has no prompts: nothing to do" in result.stderr
    assert sync_server.generation_requests == []


def test_an_input_of_only_bad_lines_is_not_called_empty(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "jobs.jsonl"
    source.write_text("null\n")
    result = cli("batch", str(source), "-o", str(tmp_path / "out"), *against(sync_server))
    assert result.returncode == 1
    assert f"{source}:1: expected a JSON object, got null" in result.stderr
    assert "no prompts" not in result.stderr


@pytest.mark.parametrize(
    ("line", "kind"),
    [("null", "null"), ("[1]", "an array"), ('"a kite"', "a string"), ("7", "a number")],
)
def test_a_jsonl_line_that_is_not_an_object_says_what_it_is(
    tmp_path: Path, line: str, kind: str
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(line + "\n")
    _, bad = read(path, "jsonl")
    assert bad == [BadLine(1, f"expected a JSON object, got {kind}")]
