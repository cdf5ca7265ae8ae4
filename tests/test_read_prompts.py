"""``nb.read_prompts``: a file of prompts read as ``nanobanana batch`` reads it, so that
a file gives the same requests to the SDK and to the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _helpers import against, cli

import nanobanana as nb
from nanobanana.testing import FakeServer

PROMPTS_TXT = """\
# spring catalogue
a red kite over a green hill
a blue boat at anchor, watercolour

a lighthouse at dawn, oil painting
\\#1 best banana, a retro poster
"""


def sent(server: FakeServer, start: int = 0) -> list[dict[str, Any]]:
    """The generation requests the server received (from the ``start``-th on), in a
    stable order."""
    return sorted((r.json for r in server.generation_requests[start:]), key=json.dumps)


def test_comment_and_blank_lines_are_not_prompts(tmp_path: Path) -> None:
    path = tmp_path / "prompts.txt"
    path.write_text(PROMPTS_TXT)
    prompts = nb.read_prompts(path)
    assert [r.prompt for r in prompts] == [
        "a red kite over a green hill",
        "a blue boat at anchor, watercolour",
        "a lighthouse at dawn, oil painting",
        "#1 best banana, a retro poster",
    ]
    assert len(prompts) == 4
    assert len(list(prompts)) == 4, "it can be iterated again"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("prompts.txt", PROMPTS_TXT),
        (
            "jobs.jsonl",
            '# tonight\n{"prompt": "a red kite", "aspect_ratio": "16:9"}\n\n'
            '{"prompt": "a blue boat", "num_images": 2, "extra_body": {"seed": 7}}\n',
        ),
        (
            "jobs.csv",
            'prompt,aspect_ratio,num_images\na red kite,16:9,\n"a blue boat, at anchor",,2\n',
        ),
    ],
)
def test_the_sdk_and_the_command_line_send_the_same_requests(
    sync_server: FakeServer, sync_client: nb.Client, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = cli("batch", str(path), "-o", str(tmp_path / "cli"), "-q", *against(sync_server))
    assert result.returncode == 0, result.stderr
    from_cli = sent(sync_server)

    summary = sync_client.batch(nb.read_prompts(path), out_dir=tmp_path / "sdk").run()

    assert summary.ok == summary.total == len(from_cli)
    assert sent(sync_server, start=len(from_cli)) == from_cli


def test_defaults_apply_where_a_line_sets_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": "b", "aspect_ratio": "1:1"}\n')
    prompts = nb.read_prompts(path, aspect_ratio="16:9", model=nb.Model.NANO_BANANA_PRO)
    assert [(r.aspect_ratio, r.model) for r in prompts] == [
        ("16:9", "google/nano-banana-pro"),
        ("1:1", "google/nano-banana-pro"),
    ]


def test_a_bad_default_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "prompts.txt"
    path.write_text("a\nb\n")
    with pytest.raises(nb.ValidationError, match="aspect_ratio") as info:
        nb.read_prompts(path, aspect_ratio="7:5")
    assert info.value.field == "aspect_ratio"


def test_bad_lines_are_named_before_anything_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"prompt": "a"}\nnull\n{"prompt": "b", "seed": 1}\n')
    with pytest.raises(nb.ValidationError) as info:
        nb.read_prompts(path)
    message = str(info.value)
    assert message.startswith(f"{path}: 2 bad line(s): ")
    assert f"{path}:2: expected a JSON object, got null" in message
    assert f"{path}:3: unknown option 'seed'" in message


def test_a_csv_with_an_unclosed_quote_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text('prompt\na red kite\n"a blue boat, at anchor\n' + "row, more\n" * 50)
    with pytest.raises(nb.ValidationError, match="unterminated quote") as info:
        nb.read_prompts(path)
    assert str(info.value) == f"{path}:3: unterminated quote"


def test_the_format_comes_from_the_suffix_or_is_named(tmp_path: Path) -> None:
    path = tmp_path / "prompts.list"
    path.write_text('{"prompt": "a red kite"}\n')
    with pytest.raises(nb.ValidationError, match=r"name it \.txt, \.jsonl or \.csv"):
        nb.read_prompts(path)
    assert [r.prompt for r in nb.read_prompts(path, format="jsonl")] == ["a red kite"]
    assert [r.prompt for r in nb.read_prompts(path, format="txt")] == ['{"prompt": "a red kite"}']
    with pytest.raises(nb.ValidationError, match="format"):
        nb.read_prompts(path, format="xlsx")


def test_an_empty_file_has_no_prompts(tmp_path: Path) -> None:
    path = tmp_path / "prompts.csv"
    path.write_text("prompt,aspect_ratio\n")
    assert len(nb.read_prompts(path)) == 0
    assert list(nb.read_prompts(path)) == []


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        nb.read_prompts(tmp_path / "nowhere.txt")


def test_read_prompts_is_public() -> None:
    assert "read_prompts" in nb.__all__
    assert "read_prompts" in dir(nb)
