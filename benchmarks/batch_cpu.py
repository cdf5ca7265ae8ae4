"""Client CPU seconds per request: nanobanana against a plain aiohttp loop (the floor).

Three ways to send the same N requests to the same fake server (in its own process),
at the same concurrency, per payload size:

* ``aiohttp``  - the floor: one ``ClientSession``, ``asyncio.gather`` under a
  semaphore, POST the JSON, ``json.loads`` the answer, base64-decode every image;
* ``generate`` - ``nanobanana.AsyncClient.generate`` in the same gather loop;
* ``batch``    - ``async for item in client.batch(prompts, concurrency=...)``.

Each measurement runs in a fresh subprocess: a warm-up (which opens the connections)
is followed by the timed run, over which ``time.process_time()`` (user + system CPU
of the client process, every thread) is read. The order of the variants rotates from
one repetition to the next, the ratio to the floor is taken within each repetition,
and the median is reported. Target: nanobanana within 1.10x of the floor.

Usage::

    python benchmarks/batch_cpu.py            # 8 KB, 256 KB and 1.5 MB payloads
    python benchmarks/batch_cpu.py --quick    # fewer requests and repetitions
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    emit,
    log,
    machine_info,
    plain_gather,
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

VARIANTS = ("aiohttp", "generate", "batch")
FLOOR = "aiohttp"
TARGET_RATIO = 1.10
# label -> (image bytes, requests, requests with --quick)
PAYLOADS: dict[str, tuple[int, int, int]] = {
    "8KB": (8 * 1024, 3000, 800),
    "256KB": (256 * 1024, 1000, 300),
    "1.5MB": (1536 * 1024, 300, 100),
}


# -- worker: one variant, one measurement, in a fresh process ------------------------


async def _run_variant(
    variant: str,
    url: str,
    key: str,
    texts: list[str],
    warm: list[str],
    concurrency: int,
    client_options: dict[str, Any],
) -> dict[str, Any]:
    import nanobanana as nb

    model = nb.Model.NANO_BANANA.value
    if variant == FLOOR:
        async with plain_session(concurrency) as session:
            endpoint = url + "/v1/images/generations"
            await plain_gather(session, endpoint, key, model, warm, concurrency)
            gc.collect()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            out = await plain_gather(session, endpoint, key, model, texts, concurrency)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    else:
        async with nb.AsyncClient(
            api_key=key, base_url=url, model=model, **client_options
        ) as client:
            run = sdk_gather if variant == "generate" else sdk_batch
            await run(client, warm, concurrency)
            gc.collect()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            out = await run(client, texts, concurrency)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "variant": variant,
        "requests": len(texts),
        "ok": out.ok,
        "errors": out.errors,
        "first_error": out.first_error,
        "decoded_bytes": out.decoded_bytes,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_per_request_ms": 1000 * cpu / len(texts),
        "rusage": rusage_self(),
    }


def worker(args: argparse.Namespace) -> None:
    raise_nofile_limit()
    texts = prompts(args.requests)
    warm = prompts(args.warmup)
    result = asyncio.run(
        _run_variant(
            args.variant,
            args.url,
            args.key,
            texts,
            warm,
            args.concurrency,
            json.loads(args.client_options),
        )
    )
    emit(result)


# -- driver --------------------------------------------------------------------------


def measure(
    *,
    payloads: list[str],
    repetitions: int,
    concurrency: int,
    quick: bool,
    latency: float,
    requests: int | None,
    client_options: str,
) -> dict[str, Any]:
    script = Path(__file__).resolve()
    out: dict[str, Any] = {}
    for label in payloads:
        size, n_full, n_quick = PAYLOADS[label]
        n = requests or (n_quick if quick else n_full)
        warmup = max(concurrency, n // 10)
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        ratios: dict[str, list[float]] = {v: [] for v in VARIANTS if v != FLOOR}
        with fake_server(latency=latency, image_bytes=size) as server:
            warm_server(server)
            for rep in range(repetitions):
                this_rep: dict[str, dict[str, Any]] = {}
                for variant in rotated(VARIANTS, rep):
                    res = run_worker(
                        script,
                        [
                            "--variant",
                            variant,
                            "--url",
                            server.url,
                            "--key",
                            server.api_key,
                            "--requests",
                            str(n),
                            "--warmup",
                            str(warmup),
                            "--concurrency",
                            str(concurrency),
                            "--client-options",
                            client_options,
                        ],
                    )
                    this_rep[variant] = res
                    runs[variant].append(res)
                floor = this_rep[FLOOR]["cpu_per_request_ms"]
                for v in ratios:
                    ratios[v].append(this_rep[v]["cpu_per_request_ms"] / floor)
                log(
                    f"cpu {label} rep {rep + 1}/{repetitions}: "
                    + ", ".join(
                        f"{v} {this_rep[v]['cpu_per_request_ms']:.3f} ms/req" for v in VARIANTS
                    )
                    + " | "
                    + ", ".join(f"{v} x{ratios[v][-1]:.3f}" for v in ratios)
                )
        out[label] = {
            "image_bytes": size,
            "requests": n,
            "warmup_requests": warmup,
            "variants": {
                v: {
                    "cpu_per_request_ms": summarize([r["cpu_per_request_ms"] for r in runs[v]]),
                    "wall_s": summarize([r["wall_s"] for r in runs[v]]),
                    "errors": sum(r["errors"] for r in runs[v]),
                    "decoded_bytes_per_request": runs[v][0]["decoded_bytes"] / n,
                }
                for v in VARIANTS
            },
            "ratio_to_floor": {v: summarize(vals) for v, vals in ratios.items()},
            "target_ratio": TARGET_RATIO,
            "meets_target": {
                v: summarize(vals)["median"] <= TARGET_RATIO for v, vals in ratios.items()
            },
        }
    return {
        "benchmark": "batch_cpu",
        "params": {
            "concurrency": concurrency,
            "repetitions": repetitions,
            "server_latency_s": latency,
            "quick": quick,
            "floor": FLOOR,
            "client_options": json.loads(client_options),
        },
        "payloads": out,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and repetitions")
    parser.add_argument("--repetitions", type=int, default=None, help="default 5 (quick: 3)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--payloads",
        default=",".join(PAYLOADS),
        help=f"comma-separated subset of {', '.join(PAYLOADS)}",
    )
    parser.add_argument("--requests", type=int, default=None, help="override N per payload")
    parser.add_argument("--latency", type=float, default=0.0, help="server latency, seconds")
    parser.add_argument(
        "--client-options",
        default="{}",
        help="diagnosis only: AsyncClient keyword arguments as JSON, e.g. '{\"trust_env\": false}'",
    )
    parser.add_argument("--json-out", default=None, help="write the results here")
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    payloads = [p.strip() for p in args.payloads.split(",") if p.strip()]
    unknown = [p for p in payloads if p not in PAYLOADS]
    if unknown:
        parser.error(f"unknown payloads {unknown}; choose from {list(PAYLOADS)}")
    reps = args.repetitions or (3 if args.quick else 5)
    info = machine_info()
    started = time.monotonic()
    doc = measure(
        payloads=payloads,
        repetitions=reps,
        concurrency=args.concurrency,
        quick=args.quick,
        latency=args.latency,
        requests=args.requests,
        client_options=args.client_options,
    )
    publish(doc, info, started, render, args.json_out)


def render(doc: dict[str, Any]) -> str:
    lines = [
        f"CPU per request (concurrency {doc['params']['concurrency']}, "
        f"{doc['params']['repetitions']} repetitions, medians)",
        f"{'payload':>8} {'N':>5} {'aiohttp ms':>11} {'generate ms':>12} {'batch ms':>9}"
        f" {'generate x':>11} {'batch x':>8} {'errors':>6}",
    ]
    for label, p in doc["payloads"].items():
        v, r = p["variants"], p["ratio_to_floor"]
        errors = sum(x["errors"] for x in v.values())
        lines.append(
            f"{label:>8} {p['requests']:>5} {v['aiohttp']['cpu_per_request_ms']['median']:>11.3f}"
            f" {v['generate']['cpu_per_request_ms']['median']:>12.3f}"
            f" {v['batch']['cpu_per_request_ms']['median']:>9.3f}"
            f" {r['generate']['median']:>11.3f} {r['batch']['median']:>8.3f} {errors:>6}"
        )
    lines.append(f"target: ratio <= {TARGET_RATIO:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
