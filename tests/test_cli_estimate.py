"""``nanobanana batch --dry-run``: how many requests and images, and what they would cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _helpers import against, cli, manifest

from nanobanana._cli._estimate import manifest_prices
from nanobanana.testing import FakeServer


def summary(stdout: str) -> dict[str, Any]:
    records = [json.loads(line) for line in stdout.splitlines()]
    (last,) = [r for r in records if r["type"] == "summary"]
    return last


def variations(out: Path, *extra: str) -> tuple[str, ...]:
    return (
        "batch",
        "--template",
        "a {animal}",
        "--var",
        "animal=cat,dog,owl",
        "-o",
        str(out),
        *extra,
    )


def test_a_given_price_per_image_prices_the_plan(tmp_path: Path) -> None:
    done = cli(*variations(tmp_path / "out", "--dry-run", "-n", "2", "--price-per-image", "0.05"))
    assert done.returncode == 0, done.stderr
    assert "Would send      3 requests, 6 images" in done.stderr
    assert "Estimated cost  $0.3000 (an estimate for 6 images, from --price-per-image)" in (
        done.stderr
    )
    done = cli(*variations(tmp_path / "out", "--dry-run", "--price-per-image", "0.05", "--json"))
    assert summary(done.stdout)["estimated_usd"] == pytest.approx(0.15)
    assert summary(done.stdout)["estimate_source"] == "--price-per-image"


def test_without_a_price_the_cost_is_unknown(tmp_path: Path) -> None:
    done = cli(*variations(tmp_path / "out", "--dry-run"))
    assert done.returncode == 0, done.stderr
    assert "Estimated cost  unknown (the API publishes no prices: pass --price-per-image)" in (
        done.stderr
    )
    record = summary(cli(*variations(tmp_path / "out", "--dry-run", "--json")).stdout)
    assert (record["estimated_usd"], record["estimate_source"]) == (None, None)


def test_the_prices_an_earlier_run_recorded_price_the_plan(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = cli("batch", "--template", "a {animal}", "--var", "animal=ant", "-o", str(out),
                *against(sync_server))  # fmt: skip
    assert first.returncode == 0, first.stderr
    (line,) = manifest(out)
    price = line["usage"]["usd_spent"] / len(line["paths"])

    done = cli(*variations(out, "--dry-run", "-n", "2", "--json"))
    record = summary(done.stdout)
    assert record["estimated_usd"] == pytest.approx(6 * price)
    assert record["estimate_source"] == f"prices per image recorded in {out / 'manifest.jsonl'}"
    # A model the manifest has no price for leaves the cost unknown.
    other = summary(
        cli(*variations(out, "--dry-run", "--json", "-m", "google/nano-banana-pro")).stdout
    )
    assert other["estimated_usd"] is None


def test_a_resumed_dry_run_prices_only_what_it_would_send(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cli("batch", "--template", "a {animal}", "--var", "animal=cat", "-o", str(out),
        *against(sync_server))  # fmt: skip
    done = cli(*variations(out, "--dry-run", "--resume", "--price-per-image", "1", "--json"))
    record = summary(done.stdout)
    assert (record["planned_images"], record["estimated_usd"]) == (2, 2.0)


def test_a_price_without_a_dry_run_is_a_usage_error(tmp_path: Path) -> None:
    done = cli(*variations(tmp_path / "out", "--price-per-image", "0.05", "--fake"))
    assert done.returncode == 2
    assert "--price-per-image prices a --dry-run" in done.stderr


def test_only_ok_lines_with_a_model_and_a_spend_give_a_price() -> None:
    ok = {"status": "ok", "model": "m", "paths": ["a.png"], "usage": {"usd_spent": 0.04}}
    assert manifest_prices(
        [
            ok,
            {**ok, "status": "failed", "usage": {"usd_spent": 9.0}},
            {key: value for key, value in ok.items() if key != "model"},  # an older line
            {**ok, "usage": {}},
            {**ok, "paths": []},
            {**ok, "usage": {"usd_spent": 0.08}, "parameters": {"resolution": "4K"}},
        ]
    ) == {("m", None): 0.04, ("m", "4K"): 0.08}
