"""nanobanana against its peers: a plain aiohttp loop (the floor) and openai-python.

The same requests to the same fake server (in its own process), per payload size and
concurrency, in fresh worker subprocesses:

async, ``asyncio.gather`` under a semaphore (``batch`` drains ``client.batch``):

* ``aiohttp``  - the floor: one ``ClientSession``, POST the JSON, ``json.loads``,
  base64-decode every image (``_common.plain_gather``);
* ``openai``   - ``openai.AsyncOpenAI(base_url=<server>/v1, max_retries=0)`` and
  ``client.images.generate(model=..., prompt=...)``, base64-decoding ``data[].b64_json``;
* ``generate`` - ``nanobanana.AsyncClient.generate``;
* ``batch``    - ``async for item in client.batch(prompts, concurrency=...)``.

sync, one call after another:

* ``http.client`` - the floor: one keep-alive ``http.client.HTTPConnection``;
* ``openai``      - ``openai.OpenAI(...).images.generate``;
* ``nanobanana``  - ``nanobanana.Client.generate``.

Reported: client CPU ms per request (``time.process_time()``, every thread, after a
warm-up that opens the connections), wall throughput, errors (retries are off in every
client, so each failure is counted), and each as a ratio to the floor taken within the
repetition; the variants rotate from one repetition to the next and the median is kept.
Target: sync ``nanobanana`` / ``openai`` CPU per call <= 0.60.

openai is not a dependency of nanobanana: without it (``pip install openai``) its
variants are skipped and said so.

Usage::

    python benchmarks/peers.py --quick
    python benchmarks/peers.py --payloads 8KB --concurrency 64
    python benchmarks/peers.py --concurrency 1000 --latency 1 --payloads 8KB --skip-sync
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import http.client
import importlib.util
import json
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import (
    ENDPOINT,
    Outcome,
    emit,
    log,
    machine_info,
    plain_gather,
    plain_headers,
    plain_session,
    prompts,
    publish,
    raise_nofile_limit,
    rotated,
    run_worker,
    rusage_self,
    sdk_batch,
    sdk_gather,
    summarize,
)
from _server import fake_server, warm_server

ASYNC_VARIANTS = ("aiohttp", "openai", "generate", "batch")
ASYNC_FLOOR = "aiohttp"
SYNC_VARIANTS = ("http.client", "openai", "nanobanana")
SYNC_FLOOR = "http.client"
SYNC_TARGET = 0.60  # nanobanana / openai, CPU per call
OPENAI_MISSING = "openai is not installed: skipping the openai variants (pip install openai)"
# label -> (image bytes, async requests, async --quick, sync calls, sync --quick)
PAYLOADS: dict[str, tuple[int, int, int, int, int]] = {
    "8KB": (8 * 1024, 2000, 600, 600, 200),
    "256KB": (256 * 1024, 600, 256, 200, 80),
    "1.5MB": (1536 * 1024, 200, 100, 60, 30),
}
DEFAULT_PAYLOADS = "8KB,256KB"
DEFAULT_CONCURRENCY = "1,64,256"


def openai_available() -> bool:
    return importlib.util.find_spec("openai") is not None


def _model() -> str:
    import nanobanana as nb

    return nb.Model.NANO_BANANA.value


def _decoded(response: Any) -> int:
    return sum(len(base64.b64decode(item.b64_json)) for item in response.data)


# -- async worker --------------------------------------------------------------------


async def openai_gather(client: Any, model: str, texts: Sequence[str], concurrency: int) -> Outcome:
    """``AsyncOpenAI.images.generate`` in the gather-under-a-semaphore loop."""
    sem = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> int:
        async with sem:
            return _decoded(await client.images.generate(model=model, prompt=prompt))

    results = await asyncio.gather(*(one(p) for p in texts), return_exceptions=True)
    out = Outcome()
    for r in results:
        if isinstance(r, int):
            out.ok += 1
            out.decoded_bytes += r
        else:
            out.errors += 1
            out.first_error = out.first_error or f"{type(r).__name__}: {r}"
    return out


async def _timed(run: Callable[[Sequence[str]], Any], texts: list[str], warm: list[str]) -> tuple:
    await run(warm)
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    out = await run(texts)
    return out, time.process_time() - cpu0, time.perf_counter() - wall0


async def _run_async(variant: str, url: str, key: str, n: int, warmup: int, conc: int) -> dict:
    model = _model()
    texts, warm = prompts(n), prompts(warmup)
    if variant == "aiohttp":
        async with plain_session(conc) as session:
            endpoint = url + ENDPOINT
            out, cpu, wall = await _timed(
                lambda t: plain_gather(session, endpoint, key, model, t, conc), texts, warm
            )
    elif variant == "openai":
        import openai

        async with openai.AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0) as client:
            out, cpu, wall = await _timed(
                lambda t: openai_gather(client, model, t, conc), texts, warm
            )
    else:
        import nanobanana as nb

        async with nb.AsyncClient(api_key=key, base_url=url, model=model) as client:
            if variant == "generate":
                out, cpu, wall = await _timed(lambda t: sdk_gather(client, t, conc), texts, warm)
            else:
                out, cpu, wall = await _timed(lambda t: sdk_batch(client, t, conc), texts, warm)
    return _result(variant, n, out, cpu, wall)


# -- sync worker ---------------------------------------------------------------------


def _sync_loop(call: Callable[[str], int], texts: Sequence[str]) -> Outcome:
    out = Outcome()
    for prompt in texts:
        try:
            out.decoded_bytes += call(prompt)
            out.ok += 1
        except Exception as exc:  # every failure is counted, none stops the loop
            out.errors += 1
            out.first_error = out.first_error or f"{type(exc).__name__}: {exc}"
    return out


def _run_sync(variant: str, url: str, key: str, n: int, warmup: int) -> dict[str, Any]:
    model = _model()
    texts, warm = prompts(n), prompts(warmup)
    closers: list[Callable[[], Any]] = []
    if variant == "http.client":
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
        headers = plain_headers(key)
        path = parts.path.rstrip("/") + ENDPOINT
        closers.append(conn.close)

        def call(prompt: str) -> int:
            conn.request("POST", path, json.dumps({"model": model, "prompt": prompt}), headers)
            resp = conn.getresponse()
            payload = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            doc = json.loads(payload)
            return sum(len(base64.b64decode(item["b64_json"])) for item in doc["data"])

    elif variant == "openai":
        import openai

        oa = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
        closers.append(oa.close)

        def call(prompt: str) -> int:
            return _decoded(oa.images.generate(model=model, prompt=prompt))

    else:
        import nanobanana as nb

        nbc = nb.Client(api_key=key, base_url=url, model=model)
        closers.append(nbc.close)

        def call(prompt: str) -> int:
            return sum(len(image.data) for image in nbc.generate(prompt).images)

    try:
        _sync_loop(call, warm)
        gc.collect()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        out = _sync_loop(call, texts)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        for close in closers:
            close()
    return _result(variant, n, out, cpu, wall)


def _result(variant: str, n: int, out: Outcome, cpu: float, wall: float) -> dict[str, Any]:
    return {
        "variant": variant,
        "requests": n,
        "ok": out.ok,
        "errors": out.errors,
        "first_error": out.first_error,
        "decoded_bytes": out.decoded_bytes,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_per_request_ms": 1000 * cpu / n,
        "throughput_rps": n / wall if wall > 0 else None,
        "rusage": rusage_self(),
    }


def worker(args: argparse.Namespace) -> None:
    raise_nofile_limit()
    if args.mode == "sync":
        emit(_run_sync(args.variant, args.url, args.key, args.requests, args.warmup))
    else:
        emit(
            asyncio.run(
                _run_async(args.variant, args.url, args.key, args.requests, args.warmup, args.conc)
            )
        )


# -- driver --------------------------------------------------------------------------


def _cell(
    script: Path,
    server: Any,
    mode: str,
    variants: Sequence[str],
    floor: str,
    n: int,
    conc: int,
    repetitions: int,
    tag: str,
) -> dict[str, Any]:
    """Every variant, ``repetitions`` times in rotating order; medians and ratios."""
    warmup = max(conc, min(64, n // 10)) if mode == "async" else max(8, n // 10)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    cpu_ratio: dict[str, list[float]] = {v: [] for v in variants if v != floor}
    rps_ratio: dict[str, list[float]] = {v: [] for v in variants if v != floor}
    vs_openai: list[float] = []
    mine = "nanobanana" if mode == "sync" else "generate"
    for rep in range(repetitions):
        this: dict[str, dict[str, Any]] = {}
        for variant in rotated(variants, rep):
            args = ["--mode", mode, "--variant", variant, "--url", server.url]
            args += ["--key", server.api_key, "--requests", str(n), "--warmup", str(warmup)]
            args += ["--conc", str(conc)]
            this[variant] = res = run_worker(script, args)
            runs[variant].append(res)
            if res["errors"]:
                log(f"{tag} {variant}: {res['errors']} errors, first: {res['first_error']}")
        for v in cpu_ratio:
            cpu_ratio[v].append(this[v]["cpu_per_request_ms"] / this[floor]["cpu_per_request_ms"])
            rps_ratio[v].append(this[v]["throughput_rps"] / this[floor]["throughput_rps"])
        if "openai" in this:
            vs_openai.append(
                this[mine]["cpu_per_request_ms"] / this["openai"]["cpu_per_request_ms"]
            )
        log(
            f"{tag} rep {rep + 1}/{repetitions}: "
            + ", ".join(f"{v} {this[v]['cpu_per_request_ms']:.3f} ms" for v in variants)
            + " | "
            + ", ".join(f"{v} x{cpu_ratio[v][-1]:.3f}" for v in cpu_ratio)
        )
    cell: dict[str, Any] = {
        "requests": n,
        "warmup_requests": warmup,
        "concurrency": conc,
        "variants": {
            v: {
                "cpu_per_request_ms": summarize([r["cpu_per_request_ms"] for r in runs[v]]),
                "throughput_rps": summarize([r["throughput_rps"] for r in runs[v]]),
                "errors": sum(r["errors"] for r in runs[v]),
            }
            for v in variants
        },
        "cpu_ratio_to_floor": {v: summarize(x) for v, x in cpu_ratio.items()},
        "throughput_ratio_to_floor": {v: summarize(x) for v, x in rps_ratio.items()},
    }
    if vs_openai:
        cell[f"{mine}_vs_openai_cpu"] = summarize(vs_openai)
    return cell


def measure(
    *,
    payloads: list[str],
    concurrencies: list[int],
    repetitions: int,
    quick: bool,
    latency: float,
    requests: int | None,
    skip_sync: bool,
    skip_async: bool,
) -> dict[str, Any]:
    script = Path(__file__).resolve()
    has_openai = openai_available()
    if not has_openai:
        log(OPENAI_MISSING)
    a_vars = [v for v in ASYNC_VARIANTS if has_openai or v != "openai"]
    s_vars = [v for v in SYNC_VARIANTS if has_openai or v != "openai"]
    async_out: dict[str, Any] = {}
    sync_out: dict[str, Any] = {}
    for label in payloads:
        size, n_full, n_quick, s_full, s_quick = PAYLOADS[label]
        with fake_server(latency=latency, image_bytes=size) as server:
            warm_server(server)
            if not skip_async:
                async_out[label] = {}
                for conc in concurrencies:
                    n = requests or (n_quick if quick else n_full)
                    n = max(n, 2 * conc)
                    tag = f"peers async {label} c={conc}"
                    async_out[label][str(conc)] = _cell(
                        script, server, "async", a_vars, ASYNC_FLOOR, n, conc, repetitions, tag
                    )
            if not skip_sync:
                n = requests or (s_quick if quick else s_full)
                sync_out[label] = _cell(
                    script,
                    server,
                    "sync",
                    s_vars,
                    SYNC_FLOOR,
                    n,
                    1,
                    repetitions,
                    f"peers sync {label}",
                )
                vs = sync_out[label].get("nanobanana_vs_openai_cpu")
                sync_out[label]["meets_target"] = (
                    vs["median"] <= SYNC_TARGET if vs is not None else None
                )
    import aiohttp

    versions: dict[str, str | None] = {"aiohttp": aiohttp.__version__, "openai": None}
    if has_openai:
        import openai

        versions["openai"] = openai.__version__
        try:
            import httpx

            versions["httpx"] = httpx.__version__
        except ImportError:
            pass
    return {
        "benchmark": "peers",
        "params": {
            "payloads": payloads,
            "concurrency": concurrencies,
            "repetitions": repetitions,
            "server_latency_s": latency,
            "quick": quick,
            "async_floor": ASYNC_FLOOR,
            "sync_floor": SYNC_FLOOR,
            "openai_max_retries": 0,
        },
        "versions": versions,
        "openai_skipped": not has_openai,
        "sync_target_vs_openai": SYNC_TARGET,
        "async": async_out,
        "sync": sync_out,
    }


def render(doc: dict[str, Any]) -> str:
    p = doc["params"]
    lines = []
    if doc.get("openai_skipped"):
        lines.append(OPENAI_MISSING)
    if doc["async"]:
        lines.append(
            f"Async, CPU ms/request and req/s ({p['repetitions']} repetitions, medians, "
            f"server latency {p['server_latency_s']:g} s); x = ratio to the aiohttp floor"
        )
        lines.append(
            f"{'payload':>7} {'conc':>5} {'N':>5} {'variant':>9} {'CPU ms':>8} {'CPU x':>7}"
            f" {'req/s':>8} {'req/s x':>8} {'errors':>6}"
        )
        for label, cells in doc["async"].items():
            for conc, c in cells.items():
                for v, x in c["variants"].items():
                    cr = c["cpu_ratio_to_floor"].get(v, {"median": 1.0})["median"]
                    tr = c["throughput_ratio_to_floor"].get(v, {"median": 1.0})["median"]
                    lines.append(
                        f"{label:>7} {conc:>5} {c['requests']:>5} {v:>9}"
                        f" {x['cpu_per_request_ms']['median']:>8.3f} {cr:>7.3f}"
                        f" {x['throughput_rps']['median']:>8.0f} {tr:>8.3f} {x['errors']:>6}"
                    )
                if "generate_vs_openai_cpu" in c:
                    lines.append(
                        f"{'':>23} generate / openai CPU: "
                        f"{c['generate_vs_openai_cpu']['median']:.3f}"
                    )
    if doc["sync"]:
        lines.append("")
        lines.append("Sync, sequential calls, CPU ms/call; x = ratio to the http.client floor")
        lines.append(
            f"{'payload':>7} {'N':>5} {'variant':>11} {'CPU ms':>8} {'CPU x':>7} {'calls/s':>8}"
            f" {'errors':>6}"
        )
        for label, c in doc["sync"].items():
            for v, x in c["variants"].items():
                cr = c["cpu_ratio_to_floor"].get(v, {"median": 1.0})["median"]
                lines.append(
                    f"{label:>7} {c['requests']:>5} {v:>11}"
                    f" {x['cpu_per_request_ms']['median']:>8.3f} {cr:>7.3f}"
                    f" {x['throughput_rps']['median']:>8.0f} {x['errors']:>6}"
                )
            vs = c.get("nanobanana_vs_openai_cpu")
            if vs:
                met = "met" if c["meets_target"] else "MISSED"
                lines.append(
                    f"{'':>13} nanobanana / openai CPU: {vs['median']:.3f}"
                    f" (target <= {SYNC_TARGET:.2f}) {met}"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and repetitions")
    parser.add_argument("--repetitions", type=int, default=None, help="default 5 (quick: 3)")
    parser.add_argument(
        "--payloads",
        default=DEFAULT_PAYLOADS,
        help=f"comma-separated subset of {', '.join(PAYLOADS)} (default {DEFAULT_PAYLOADS})",
    )
    parser.add_argument(
        "--concurrency",
        default=DEFAULT_CONCURRENCY,
        help=f"comma-separated async concurrencies (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument("--requests", type=int, default=None, help="override N everywhere")
    parser.add_argument("--latency", type=float, default=0.0, help="server latency, seconds")
    parser.add_argument("--skip-sync", action="store_true", help="only the async loops")
    parser.add_argument("--skip-async", action="store_true", help="only the sync loops")
    parser.add_argument("--json-out", default=None, help="write the results here")
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("async", "sync"), help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--conc", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    payloads = [p.strip() for p in args.payloads.split(",") if p.strip()]
    unknown = [p for p in payloads if p not in PAYLOADS]
    if unknown:
        parser.error(f"unknown payloads {unknown}; choose from {list(PAYLOADS)}")
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    reps = args.repetitions or (3 if args.quick else 5)
    info = machine_info()
    started = time.monotonic()
    doc = measure(
        payloads=payloads,
        concurrencies=concurrencies,
        repetitions=reps,
        quick=args.quick,
        latency=args.latency,
        requests=args.requests,
        skip_sync=args.skip_sync,
        skip_async=args.skip_async,
    )
    publish(doc, info, started, render, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
