"""Faults at scale: a 2,000-prompt chaos batch, hung servers, and kill-and-resume of the CLI."""

from __future__ import annotations

import asyncio
import collections
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from _helpers import assert_complete_png
from _raw_api import ENDPOINT, serve
from aiohttp import web

import nanobanana as nb
from nanobanana._batch import read_manifest
from nanobanana.testing import FakeServer, make_png

pytestmark = pytest.mark.anyio

MARGIN = 0.5  # seconds of slack on a shared two-core machine


# -- 1. a 2,000-prompt chaos batch ----------------------------------------------------------


def queue_chaos(server: FakeServer, rng: random.Random, n: int, timeout: float) -> None:
    slow = 0
    for _ in range(n):
        roll = rng.random()
        if roll < 0.55:
            server.slow_next(1, 0.0)  # a normal answer
        elif roll < 0.65:
            server.fail_next(1, 429, retry_after_ms=1)
        elif roll < 0.68:
            server.fail_next(1, 429, retry_after=0.001)
        elif roll < 0.76:
            server.fail_next(1, 500)
        elif roll < 0.83:
            server.fail_next(1, 503)
        elif roll < 0.89:
            server.drop_next(1, reset=rng.random() < 0.5)
        elif roll < 0.93:
            server.malformed_next(1, kind="truncated")
        elif roll < 0.97:
            server.fail_next(
                1, rng.choice([502, 503]), body="<html><body>Bad Gateway</body></html>"
            )
        elif roll < 0.99:
            server.malformed_next(1, kind="html")
        elif slow < 12:
            server.slow_next(1, timeout + 0.4)  # past the client's timeout
            slow += 1
        else:
            server.slow_next(1, 0.0)


async def test_a_2000_prompt_chaos_batch_loses_nothing_and_retries_boundedly(
    server: FakeServer,
) -> None:
    rng = random.Random(0xC4A05)
    max_retries, timeout, count = 3, 2.0, 2000  # a timeout a loaded CI machine meets
    queue_chaos(server, rng, 3600, timeout)
    prompts = [f"chaos prompt {i}" for i in range(count)]
    async with nb.AsyncClient(
        api_key=server.api_key,
        base_url=server.url,
        timeout=timeout,
        retry=nb.RetryPolicy.no_wait(max_retries=max_retries),
    ) as client:
        batch = client.batch(prompts, concurrency=64)
        with anyio.fail_after(240):  # a hang detector, wide enough for a loaded machine
            async with batch:
                items = [item async for item in batch]

    assert sorted(item.index for item in items) == list(range(count))  # each exactly once
    failures = collections.Counter[str]()
    for item in items:
        assert item.status in ("ok", "failed"), item
        if item.ok:
            assert item.result is not None
            assert item.result.images
            assert item.error is None
        else:
            assert isinstance(item.error, nb.NanoBananaError), item.error
            assert not isinstance(item.error, nb.ValidationError)
            failures[type(item.error).__name__] += 1
            assert not isinstance(item.error, nb.RateLimitError)  # 429s cost patience only
        # Rate-limit answers spend no retries: the other attempts stay bounded.
        assert 1 <= item.attempts - item.throttled <= max_retries + 1
    assert sum(item.throttled for item in items) == batch.summary.throttled
    assert batch.summary.ok + batch.summary.failed == count
    assert batch.summary.ok > count * 0.8, failures

    records = server.generation_requests
    sent = collections.Counter(r.json["prompt"] for r in records)
    assert set(sent) == set(prompts)
    not_throttled = collections.Counter(r.json["prompt"] for r in records if r.status != 429)
    assert max(not_throttled.values()) <= max_retries + 1
    served_ok = collections.Counter(r.json["prompt"] for r in records if r.outcome == "ok")
    assert max(served_ok.values()) == 1  # no prompt was generated (and billed) twice
    ok_prompts = {prompts[item.index] for item in items if item.ok}
    assert ok_prompts == set(served_ok)
    outcomes = collections.Counter(r.outcome for r in records)
    assert outcomes["cancelled"] >= 1  # some requests did run past the timeout
    assert outcomes["dropped"] >= 1
    assert outcomes["malformed:truncated"] >= 1


# -- 2. a server that never answers ---------------------------------------------------------


async def _elapsed(coro: Any) -> tuple[BaseException, float]:
    start = time.monotonic()
    try:
        await coro
    except nb.NanoBananaError as exc:
        return exc, time.monotonic() - start
    raise AssertionError("the call did not fail")


@pytest.mark.parametrize("call", ["generate", "edit"])
async def test_a_hung_call_fails_with_a_timeout_within_the_total_timeout(
    server: FakeServer, call: str
) -> None:
    server.hang_next(1)
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, timeout=0.4, max_retries=0
    ) as client:
        if call == "generate":
            coro = client.generate("a kite")
        else:
            coro = client.edit("make it night", make_png(4, 4, b"in"))
        error, took = await _elapsed(coro)

    assert isinstance(error, nb.APITimeoutError), error
    assert 0.35 <= took <= 0.4 + MARGIN
    assert server.generation_requests[-1].outcome == "hung"


async def test_hung_retries_stop_after_each_attempts_timeout(server: FakeServer) -> None:
    server.hang_next(3)
    async with nb.AsyncClient(
        api_key=server.api_key,
        base_url=server.url,
        timeout=0.3,
        retry=nb.RetryPolicy.no_wait(max_retries=2),
    ) as client:
        error, took = await _elapsed(client.generate("a kite"))

    assert isinstance(error, nb.APITimeoutError)
    assert 0.85 <= took <= 3 * 0.3 + MARGIN
    assert [r.outcome for r in server.generation_requests] == ["hung"] * 3


async def test_a_hung_image_download_fails_within_the_timeout() -> None:
    async def generate(request: web.Request) -> web.Response:
        origin = request.url.origin()
        return web.json_response({"images": [{"url": f"{origin}/files/abc.png"}]})

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_post(ENDPOINT, generate)
    app.router.add_get("/files/{name}", hang)
    async with (
        serve(app) as url,
        nb.AsyncClient(api_key="k", base_url=url, timeout=0.4, max_retries=0) as client,
    ):
        error, took = await _elapsed(client.generate("a kite"))

    assert isinstance(error, nb.ImageDownloadError), error
    assert "did not finish within" in str(error)
    assert took <= 0.4 + MARGIN


async def test_hung_batch_items_fail_with_timeouts_and_the_rest_succeed(
    server: FakeServer,
) -> None:
    server.hang_next(4)
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, timeout=0.4, max_retries=0
    ) as client:
        batch = client.batch([f"p{i}" for i in range(12)], concurrency=4)
        start = time.monotonic()
        async with batch:
            items = [item async for item in batch]
        took = time.monotonic() - start

    failed = [item for item in items if not item.ok]
    assert len(failed) == 4
    assert len(items) == 12
    assert all(isinstance(item.error, nb.APITimeoutError) for item in failed)
    assert all(item.elapsed <= 0.4 + MARGIN for item in failed)
    assert took <= 2 * (0.4 + MARGIN)


# -- 3. kill and resume the CLI under chaos --------------------------------------------------


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_the_cli_killed_repeatedly_under_chaos_resumes_to_one_success_per_prompt(
    tmp_path: Path,
) -> None:
    rng = random.Random(0x5EED)
    count = 240
    prompts = [f"resume chaos {i}" for i in range(count)]
    source = tmp_path / "prompts.txt"
    source.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    manifest = out / "manifest.jsonl"
    log = tmp_path / "stderr.txt"

    with FakeServer(latency=0.02) as server:
        assert server.api_key is not None
        for _ in range(160):
            roll = rng.random()
            if roll < 0.4:
                server.slow_next(1, 0.0)
            elif roll < 0.55:
                server.fail_next(1, 429, retry_after_ms=1)
            elif roll < 0.7:
                server.fail_next(1, rng.choice([500, 503]))
            elif roll < 0.8:
                server.drop_next(1)
            elif roll < 0.9:
                server.malformed_next(1, kind=rng.choice(["truncated", "html"]))
            else:
                server.slow_next(1, 0.2)
        command = [
            sys.executable,
            "-m",
            "nanobanana",
            "batch",
            str(source),
            "-o",
            str(out),
            "--base-url",
            server.url,
            "--api-key",
            server.api_key,
            "--concurrency",
            "8",
            "--max-retries",
            "8",
            "--timeout",
            "5",
            "-q",
        ]
        kills = 0
        with log.open("ab") as stderr:
            for _ in range(4):
                before = _lines(manifest)
                proc = subprocess.Popen(
                    [*command, "--resume"], stdout=subprocess.DEVNULL, stderr=stderr
                )
                try:
                    target = before + rng.randint(5, 35)
                    deadline = time.monotonic() + 30
                    while _lines(manifest) < target and proc.poll() is None:
                        assert time.monotonic() < deadline, log.read_text()
                        time.sleep(rng.uniform(0.001, 0.01))
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL)
                        kills += 1
                finally:
                    proc.wait(timeout=30)
            assert kills >= 3, "the batch finished before it could be killed"
            for _ in range(6):
                done = subprocess.run(
                    [*command, "--resume"], stdout=subprocess.DEVNULL, stderr=stderr, timeout=60
                )
                if done.returncode == 0:
                    break
        assert done.returncode == 0, log.read_text()
        served_ok = collections.Counter(
            r.json["prompt"] for r in server.generation_requests if r.outcome == "ok"
        )

    records = list(read_manifest(manifest))  # a torn line (from a kill) is skipped
    ok = [r for r in records if r["status"] == "ok"]
    ok_per_key = collections.Counter(r["key"] for r in ok)
    assert len(ok_per_key) == count
    assert set(ok_per_key.values()) == {1}
    assert {r["prompt"] for r in ok} == set(prompts)
    # A prompt generated twice is one whose answer a kill cut off before its line.
    assert sum(n - 1 for n in served_ok.values()) <= 8 * kills

    files = sorted(out.iterdir())
    assert [p.name for p in files if p.name.endswith(".part") or p.name.startswith(".")] == []
    images = [p for p in files if p.name not in ("manifest.jsonl", "index.html")]
    referenced = {name for r in ok for name in r["paths"]}
    assert referenced <= {p.name for p in images}
    for path in images:
        assert_complete_png(path)
    raw = manifest.read_bytes().split(b"\n")
    assert raw[-1] == b""  # the last run ended its last line
