"""``nanobanana batch --template/--var/--repeat``: many requests from one template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _helpers import against, cli, manifest

from nanobanana._cli._exit import UsageError
from nanobanana._cli._variations import parse_var
from nanobanana.testing import FakeServer


def by_index(out: Path) -> list[dict[str, object]]:
    return sorted(manifest(out), key=lambda doc: doc["index"])  # type: ignore[arg-type,return-value]


def test_template_and_vars_make_every_combination(sync_server: FakeServer, tmp_path: Path) -> None:
    styles = tmp_path / "styles.txt"
    styles.write_text("pixel art\n\nwatercolor\n")
    out = tmp_path / "out"
    done = cli(
        "batch",
        "--template",
        "a {animal} in {style} style",
        "--var",
        "animal=cat, dog",
        "--var",
        f"style=@{styles}",
        "-o",
        str(out),
        "--aspect-ratio",
        "1:1",
        *against(sync_server),
    )
    assert done.returncode == 0, done.stderr
    docs = by_index(out)
    assert [(d["prompt"], d["vars"]) for d in docs] == [
        ("a cat in pixel art style", {"animal": "cat", "style": "pixel art"}),
        ("a cat in watercolor style", {"animal": "cat", "style": "watercolor"}),
        ("a dog in pixel art style", {"animal": "dog", "style": "pixel art"}),
        ("a dog in watercolor style", {"animal": "dog", "style": "watercolor"}),
    ]
    assert {json.dumps(d["parameters"]) for d in docs} == {'{"aspect_ratio": "1:1"}'}
    assert "Items          4 of 4" in done.stderr


def test_csv_columns_fill_the_template_with_ids_tags_and_lines(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("id,animal,style,tag\na1,cat,ink,pets\na2,dog,oil,\na3,owl,,\n")
    out = tmp_path / "out"
    done = cli(
        "batch", str(rows), "--template", "a {animal} in {style}", "-o", str(out), "--json",
        *against(sync_server),
    )  # fmt: skip
    assert done.returncode == 1  # the owl has no style
    assert f"{rows}:4: no value for placeholder(s) style" in done.stderr
    docs = by_index(out)
    assert [(d["id"], d.get("tag"), d["line"], d["prompt"]) for d in docs] == [
        ("a1", "pets", 2, "a cat in ink"),
        ("a2", None, 3, "a dog in oil"),
    ]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    items = sorted((r for r in records if r["type"] == "item"), key=lambda r: r["index"])
    assert [(r["id"], r["tag"], r["vars"]) for r in items] == [
        ("a1", "pets", {"animal": "cat", "style": "ink"}),
        ("a2", None, {"animal": "dog", "style": "oil"}),
    ]
    assert {r["model"] for r in items} == {docs[0]["model"]}


def test_jsonl_from_stdin_fills_the_template(sync_server: FakeServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = cli(
        "batch", "-", "--template", "a {animal}", "-o", str(out), *against(sync_server),
        stdin='{"animal": "cat", "id": 1}\n{"animal": "dog", "prompt": "a dog"}\n',
    )  # fmt: skip
    assert done.returncode == 1
    assert "<stdin>:2: gives a prompt" in done.stderr
    assert [(d["prompt"], d["id"], d["line"]) for d in by_index(out)] == [("a cat", "1", 1)]


def test_repeat_sends_each_request_again_and_resumes_what_ran_before(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red kite\na blue boat\n")
    out = tmp_path / "out"
    first = cli("batch", str(prompts), "-o", str(out), *against(sync_server))
    assert first.returncode == 0, first.stderr
    sync_server.reset()

    again = cli(
        "batch", str(prompts), "-o", str(out), "--repeat", "3", "--resume", "--json",
        *against(sync_server),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    # Repeat 0 of each prompt has the key of the first run: done; 1 and 2 are new.
    assert len(sync_server.generation_requests) == 4
    docs = manifest(out)
    assert len({d["key"] for d in docs}) == 6
    assert sorted((d["prompt"], d.get("repeat")) for d in docs[2:]) == [
        ("a blue boat", 1), ("a blue boat", 2), ("a red kite", 1), ("a red kite", 2),
    ]  # fmt: skip
    records = [json.loads(line) for line in again.stdout.splitlines()]
    items = sorted((r for r in records if r["type"] == "item"), key=lambda r: r["index"])
    assert [(r["line"], r["skip_reason"]) for r in items] == [
        (1, "done"), (1, None), (1, None), (2, "done"), (2, None), (2, None),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "o"], "give an INPUT file (or - for stdin), or a --template and --var"),
        (["x.csv", "--var", "a=b", "-o", "o"], "--var fills the placeholders of a --template"),
        (["x.csv", "--template", "{a}", "--var", "a=b", "-o", "o"], "give one of them"),
        (["x.txt", "--template", "{a}", "-o", "o", "--format", "txt"], "use .csv or .jsonl"),
        (["--template", "a {animal}", "-o", "o"], "no value for placeholder(s) animal"),
        (["--template", "a {x", "--var", "x=1", "-o", "o"], "'{' at position 2 is never closed"),
        (["--template", "{a}", "--var", "a=1", "--var", "b=2", "-o", "o"], "unknown placeholder"),
        (["--template", "{a}", "--var", "a=1", "--var", "a=2", "-o", "o"], "given twice"),
        (["--template", "{model}", "--var", "model=x", "-o", "o"], "names a request option"),
        (["--template", "{a}", "--var", "a=@missing.txt", "-o", "o"], "cannot read missing.txt"),
        (["--template", "{a}", "--var", "a= , ", "-o", "o"], "--var a: no values"),
        (["--template", "{a}", "--var", "a", "-o", "o"], "write NAME=VALUE,VALUE"),
        (["x.csv", "--template", "{a", "-o", "o"], "--template: '{' at position 0"),
        (["--template", "{a}", "--var", "a=1", "--repeat", "0", "-o", "o"], "must be >= 1"),
    ],
)
def test_meaningless_variations_are_usage_errors(
    args: list[str], message: str, tmp_path: Path
) -> None:
    (tmp_path / "x.csv").write_text("a\n1\n")
    (tmp_path / "x.txt").write_text("a\n")
    done = cli("batch", *[a.replace("x.", f"{tmp_path}/x.") for a in args], "--fake")
    assert done.returncode == 2
    assert message in done.stderr


def test_a_csv_header_without_a_placeholder_is_refused(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("animal,colour\ncat,red\n")
    done = cli("batch", str(rows), "--template", "a {animal} in {style}", "-o", "o", "--fake")
    assert done.returncode == 2
    assert "rows.csv:1: no value for placeholder(s) style; unknown placeholder(s) colour" in (
        done.stderr
    )


def test_var_values_from_a_file_skip_blank_lines(tmp_path: Path) -> None:
    values = tmp_path / "v.txt"
    values.write_text("\ufeffred, with a comma\n\n  blue \n", encoding="utf-8")
    assert parse_var(f"colour=@{values}") == ("colour", ["red, with a comma", "blue"])
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_var("=red")
