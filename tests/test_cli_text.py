"""What the batch summary says: counts in the right number, and a spend cap that
agrees with the spend shown beside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _helpers import against, cli

from nanobanana.testing import FakeServer


def rows(stderr: str) -> dict[str, str]:
    """The summary table's rows, label to value."""
    found = re.findall(r"^  (\S[\w ]*?)  +(\S.*)$", stderr, flags=re.MULTILINE)
    return dict(found)


def test_a_dry_run_of_one_prompt_would_send_1_request(tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("a red kite\n")
    result = cli("batch", str(source), "-o", str(tmp_path / "out"), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert rows(result.stderr)["Would send"] == "1 request, 1 image"


def test_a_dry_run_counts_in_the_plural(tmp_path: Path) -> None:
    source = tmp_path / "prompts.jsonl"
    source.write_text('{"prompt": "a red kite", "num_images": 2}\n{"prompt": "a blue boat"}\n')
    result = cli("batch", str(source), "-o", str(tmp_path / "out"), "--dry-run")
    assert rows(result.stderr)["Would send"] == "2 requests, 3 images"


def test_the_spend_cap_row_agrees_with_the_spent_row(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "cranes.txt"
    source.write_text("".join(f"paper crane number {n}\n" for n in range(40)))
    out = tmp_path / "budget"
    flags = ("--max-spend-usd", "0.2", "--concurrency", "4", "--progress", "off")
    result = cli("batch", str(source), "-o", str(out), *flags, *against(sync_server))
    assert result.returncode == 1, result.stderr
    table = rows(result.stderr)
    spent = table["Spent"]
    assert table["Stopped"].startswith(f"max_spend_usd=0.2 reached: {spent} spent")
    # and the figure is the whole batch's, as the API reported it
    usd = sum(r.json.get("num_images", 1) for r in sync_server.generation_requests) * 0.039
    assert f"${usd:,.4f}" in spent


@pytest.mark.slow
def test_an_outage_shows_as_a_pause_and_429s_as_rate_limited_requests(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "kites.txt"
    source.write_text("".join(f"a kite, number {n}\n" for n in range(6)))
    sync_server.outage(5.0, status=503)  # down for 5 s: the CLI takes 1-2 s to start
    sync_server.fail_next(3, status=429, retry_after=0)  # then a few 429s
    flags = ("--concurrency", "4", "--progress", "plain")
    result = cli("batch", str(source), "-o", str(tmp_path / "out"), *flags, *against(sync_server))

    assert result.returncode == 0, result.stderr
    assert re.search(r"paused: API unavailable, (next probe in \d+ s|probing)", result.stderr)
    table = rows(result.stderr)
    assert table["OK"] == "6"
    assert table["Failed"] == "0"
    assert re.fullmatch(r"\d+ \(3 rate-limited, retried\)", table["Requests sent"])
    assert re.fullmatch(r"\d+(\.\d)? s \(API unavailable\)", table["Paused"])
