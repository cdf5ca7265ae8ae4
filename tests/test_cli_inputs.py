"""Batch input parsing of the CLI, in process: formats, line numbers, the index rule."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from nanobanana import ImageRequest
from nanobanana._cli import UsageError
from nanobanana._cli._inputs import FileSource, LineMap, StdinSource, detect_format
from nanobanana._cli._lines import BadLine, Defaults


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
        (2, "expected a JSON object, got list"),
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
    path.write_text("")
    with pytest.raises(UsageError, match="empty"):
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
