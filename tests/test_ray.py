"""A Ray Data stage: rows in, images out, with one throttle and one budget for all actors."""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
import ray
from _helpers import AWS, cli, s3_server

import nanobanana as nb
import nanobanana.ray as nbray
from nanobanana.testing import FakeServer

pytestmark = [
    pytest.mark.ray,
    # Ray Data's context sets its own deprecated fields when it is made.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]

Row = dict[str, Any]


@pytest.fixture(scope="module")
def ambient_server() -> Iterator[FakeServer]:
    """The server the actors find in their environment, as a user's find the API."""
    with FakeServer() as server:
        yield server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 endpoint for the actors to write to."""
    with s3_server() as url:
        yield url


@pytest.fixture(scope="module", autouse=True)
def local_ray(ambient_server: FakeServer, s3_endpoint: str) -> Iterator[None]:
    env = {
        "AIML_API_KEY": ambient_server.api_key or "",
        "AIML_API_BASE": ambient_server.url,
        **AWS,
        "AWS_ENDPOINT_URL": s3_endpoint,
    }
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )
    yield
    ray.shutdown()


def prompts(n: int) -> list[str]:
    return [f"prompt number {i}" for i in range(n)]


def stage(
    server: FakeServer, out: Path | str, texts: list[str], *, actors: int = 4, **options: Any
) -> Any:
    """The dataset of ``texts`` with its images generated against ``server``."""
    ds = ray.data.from_items(
        [{"prompt": text, "n": i} for i, text in enumerate(texts)],
        override_num_blocks=4 * actors,
    )
    options.setdefault("client_options", {"retry": nb.RetryPolicy.no_wait(5)})
    return nbray.generate_images(
        ds,
        out_dir=out,
        actors=actors,
        batch_size=10,
        api_key=server.api_key,
        base_url=server.url,
        **options,
    )


def manifest_lines(out: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(out.glob("manifest*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def paid(server: FakeServer) -> collections.Counter[str]:
    """How many times the server answered each prompt with images (and charged for it)."""
    return collections.Counter(
        r.json["prompt"] for r in server.generation_requests if r.outcome == "ok" and r.json
    )


def test_every_prompt_is_generated_once_across_four_actors(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    texts = prompts(300)
    rows = stage(sync_server, tmp_path, texts, limits="every-prompt").take_all()

    assert sorted(row["prompt"] for row in rows) == sorted(texts)  # none lost, none twice
    assert {row["status"] for row in rows} == {"ok"}
    assert paid(sync_server) == collections.Counter(texts)  # each request sent once
    assert len(sync_server.generation_requests) == 300
    row = next(row for row in rows if row["n"] == 7)  # the user's columns are kept
    assert row["prompt"] == "prompt number 7"
    assert Path(row["image_paths"][0]).is_file()
    assert (row["attempts"], row["usd"], row["resumed"]) == (1, 0.039, False)
    assert row["request_id"]
    assert len(row["key"]) == 32
    # One manifest per actor; together they record every request once.
    assert len(list(tmp_path.glob("manifest-ray-*.jsonl"))) == 4
    lines = manifest_lines(tmp_path)
    assert sorted(line["prompt"] for line in lines) == sorted(texts)
    prompt_of = {line["key"]: line["prompt"] for line in lines}
    assert all(prompt_of[row["key"]] == row["prompt"] for row in rows)
    # The actors asked for permits in batches, not one call per request.
    limits = ray.get_actor("every-prompt", namespace=nbray.NAMESPACE)
    stats = ray.get(limits.stats.remote())
    assert stats["sent"] == 300
    assert stats["in_flight"] == 0
    assert stats["exchanges"] < 300
    # nanobanana status reads every actor's manifest.
    status = cli("status", str(tmp_path))
    assert "  Manifests      4\n  Requests       300\n  OK             300\n" in status.stdout
    # ... and so does the gallery.
    assert cli("gallery", str(tmp_path)).returncode == 0
    assert "prompt number 299" in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_a_spend_cap_holds_for_the_whole_dataset(sync_server: FakeServer, tmp_path: Path) -> None:
    cap = 12 * 0.039 + 0.01  # twelve images at the fake server's price
    rows = stage(sync_server, tmp_path, prompts(80), max_spend_usd=cap).take_all()

    statuses = collections.Counter((row["status"], row["skip_reason"]) for row in rows)
    assert statuses == {("ok", None): 12, ("skipped", "budget"): 68}
    assert sum(paid(sync_server).values()) == 12
    assert sum(row["usd"] for row in rows if row["status"] == "ok") <= cap


def test_a_dataset_run_again_sends_nothing_it_finished(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    texts = prompts(40)
    first = stage(sync_server, tmp_path, texts, actors=2).take_all()
    again = stage(sync_server, tmp_path, texts, actors=2).take_all()

    assert len(sync_server.generation_requests) == 40  # the second run sent nothing
    assert {(row["status"], row["resumed"]) for row in again} == {("ok", True)}
    paths = {row["prompt"]: row["image_paths"] for row in first}
    assert all(row["image_paths"] == paths[row["prompt"]] for row in again)


def share_of_429s(server: FakeServer) -> float:
    records = server.generation_requests
    return sum(r.status == 429 for r in records) / len(records)


def test_a_rate_limit_slows_every_actor_as_it_slows_one_process(tmp_path: Path) -> None:
    texts = prompts(240)
    with FakeServer(latency=0.02) as alone:
        alone.rate_limit(per_second=40, burst=4)
        with nb.Client(
            api_key=alone.api_key, base_url=alone.url, retry=nb.RetryPolicy.no_wait(5)
        ) as client:
            summary = client.batch(texts, concurrency=16, out_dir=tmp_path / "alone").run()
        assert summary.ok == 240
        one_process = share_of_429s(alone)

    with FakeServer(latency=0.02) as shared:
        shared.rate_limit(per_second=40, burst=4)
        rows = stage(shared, tmp_path / "ray", texts, concurrency=4).take_all()
        assert {row["status"] for row in rows} == {"ok"}
        four_actors = share_of_429s(shared)

    assert one_process > 0  # the limit did bind
    assert four_actors <= 2 * one_process + 0.1


def wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_an_actor_killed_mid_run_loses_nothing_and_pays_nothing_twice(
    sync_server: FakeServer, tmp_path: Path
) -> None:
    texts = prompts(120)
    ds = stage(sync_server, tmp_path, texts, actors=2, concurrency=4, timeout=2.0, limits="kill")
    rows: list[Row] = []
    runner = threading.Thread(target=lambda: rows.extend(ds.take_all()))
    runner.start()
    try:
        wait_for(lambda: len(manifest_lines(tmp_path)) >= 20)
        # Hold every request in flight: the actor killed then has none answered and lost.
        sync_server.hang_next(8)
        wait_for(lambda: sync_server.pending_faults == 0)
        records = sync_server.generation_requests
        wait_for(lambda: all(r.outcome != "pending" for r in sync_server.generation_requests))
        wait_for(lambda: len(manifest_lines(tmp_path)) == sum(paid(sync_server).values()))
        limits = ray.get_actor("kill", namespace=nbray.NAMESPACE)
        workers = ray.get(limits.workers.remote())
        ray.kill(next(iter(workers.values())), no_restart=False)
    finally:
        runner.join(timeout=120)
    assert not runner.is_alive()

    assert sum(r.outcome == "hung" for r in records) == 8
    assert sorted(row["prompt"] for row in rows) == sorted(texts)
    assert {row["status"] for row in rows} == {"ok"}
    assert paid(sync_server) == collections.Counter(texts)  # no request paid twice
    assert len(list(tmp_path.glob("manifest-ray-*.jsonl"))) == 3  # the restarted actor's too


def test_the_guides_example_runs(
    ambient_server: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    page = (Path(__file__).parent.parent / "docs" / "scale.md").read_text()
    guide = page.split("## Ray Data", 1)[1]
    example = re.search(r"```python\n(.*?)\n```", guide, re.DOTALL)
    assert example is not None
    monkeypatch.chdir(tmp_path)

    exec(compile(example[1], "scale.md", "exec"), {"__name__": "__main__"})

    assert capsys.readouterr().out == "200 postcards made\n"
    assert len(list((tmp_path / "postcards").glob("*.png"))) == 200
    assert len(ambient_server.generation_requests) == 200


def test_a_row_that_is_no_request_fails_alone(sync_server: FakeServer, tmp_path: Path) -> None:
    ds = ray.data.from_items(
        [
            {"prompt": "a red kite", "aspect_ratio": "16:9"},
            {"prompt": "a blue boat", "aspect_ratio": "sideways"},
        ]
    )
    rows = nbray.generate_images(
        ds, out_dir=tmp_path, actors=1, api_key=sync_server.api_key, base_url=sync_server.url
    ).take_all()

    outcomes = {row["prompt"]: (row["status"], row["error_type"]) for row in rows}
    assert outcomes == {
        "a red kite": ("ok", None),
        "a blue boat": ("failed", "ValidationError"),
    }
    assert "sideways" in next(row["error"] for row in rows if row["status"] == "failed")
    assert len(sync_server.generation_requests) == 1


def test_actors_write_to_one_s3_folder_that_status_reads(
    sync_server: FakeServer, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**AWS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("ray-run")
    url = "s3://ray-run/postcards/"
    texts = prompts(40)

    rows = stage(sync_server, url, texts, actors=2, limits="s3-folder").take_all()

    assert sorted(row["prompt"] for row in rows) == sorted(texts)
    assert {row["status"] for row in rows} == {"ok"}
    assert paid(sync_server) == collections.Counter(texts)
    fs.invalidate_cache()
    names = [str(p).rsplit("/", 1)[-1] for p in fs.ls("ray-run/postcards", detail=False)]
    images = sorted(n for n in names if n.endswith(".png"))
    assert sorted(path for row in rows for path in row["image_paths"]) == [
        url + name for name in images
    ]  # one image per prompt, each where its row says
    status = cli("status", url)  # with the AWS settings of the environment
    assert "  Requests       40\n  OK             40\n" in status.stdout  # every actor's
