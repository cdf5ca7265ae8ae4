"""Wall-clock throughput at high concurrency: nanobanana batch against a plain aiohttp loop.

The fake server (in its own process) waits ``--latency`` seconds (default 1 s) before
each answer and sends a small image, so the ideal rate is ``concurrency / latency``
requests a second (1000/s at concurrency 1000). Two ways to send N requests (default
3000) at that concurrency:

* ``aiohttp`` - one ``ClientSession`` (pool as large as the concurrency),
  ``asyncio.gather`` under a semaphore, ``json.loads``, base64-decode;
* ``batch``   - ``async for item in client.batch(prompts, concurrency=...)``;
* ``generate`` - for diagnosis: ``AsyncClient.generate`` in the plain gather loop,
  which separates the cost of a request from that of the batch engine around it.

Each measurement runs in a fresh subprocess. A warm-up wave of ``concurrency`` requests
opens the connections first (the kernel's accept backlog would otherwise delay part of
the first wave by a SYN retransmit, a property of the test rig, not of the client);
its wall time is reported as ``cold_wave_s``. The timed run follows on the warm pool.
The variants alternate, each repetition's ratio batch/aiohttp is kept, medians are
reported. Target: batch >= 0.95 x min(ideal, aiohttp), with no errors.

Usage::

    python benchmarks/batch_throughput.py            # 3000 requests, 7 repetitions
    python benchmarks/batch_throughput.py --quick    # 2000 requests, 3 repetitions
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
TARGET_RATIO = 0.95


# -- worker --------------------------------------------------------------------------


async def _run_variant(
    variant: str,
    url: str,
    key: str,
    n: int,
    concurrency: int,
    timeout: float,
    client_options: dict[str, Any],
) -> dict[str, Any]:
    import nanobanana as nb

    model = nb.Model.NANO_BANANA.value
    texts = prompts(n)
    warm = prompts(concurrency)
    if variant == "aiohttp":
        async with plain_session(concurrency, timeout) as session:
            endpoint = url + "/v1/images/generations"
            t0 = time.perf_counter()
            warm_out = await plain_gather(session, endpoint, key, model, warm, concurrency)
            cold = time.perf_counter() - t0
            gc.collect()
            cpu0, t0 = time.process_time(), time.perf_counter()
            out = await plain_gather(session, endpoint, key, model, texts, concurrency)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    else:
        run = sdk_batch if variant == "batch" else sdk_gather
        # max_retries=0: an error is counted, not hidden by a retry.
        async with nb.AsyncClient(
            api_key=key,
            base_url=url,
            model=model,
            timeout=timeout,
            max_retries=0,
            **client_options,
        ) as client:
            t0 = time.perf_counter()
            warm_out = await run(client, warm, concurrency)
            cold = time.perf_counter() - t0
            gc.collect()
            cpu0, t0 = time.process_time(), time.perf_counter()
            out = await run(client, texts, concurrency)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "variant": variant,
        "requests": n,
        "ok": out.ok,
        "errors": out.errors,
        "first_error": out.first_error,
        "warmup_errors": warm_out.errors,
        "cold_wave_s": cold,
        "wall_s": wall,
        "throughput_rps": n / wall,
        "cpu_s": cpu,
        "cpu_per_request_ms": 1000 * cpu / n,
        "rusage": rusage_self(),
    }


def worker(args: argparse.Namespace) -> None:
    raise_nofile_limit()
    result = asyncio.run(
        _run_variant(
            args.variant,
            args.url,
            args.key,
            args.requests,
            args.concurrency,
            60.0,
            json.loads(args.client_options),
        )
    )
    emit(result)


# -- driver --------------------------------------------------------------------------


def measure(
    *,
    requests: int,
    concurrency: int,
    latency: float,
    repetitions: int,
    quick: bool,
    client_options: str = "{}",
) -> dict[str, Any]:
    script = Path(__file__).resolve()
    ideal = concurrency / latency
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    vs_plain: list[float] = []
    gen_vs_plain: list[float] = []
    with fake_server(latency=latency) as server:
        warm_server(server)
        for rep in range(repetitions):
            this: dict[str, dict[str, Any]] = {}
            for variant in rotated(VARIANTS, rep):
                this[variant] = run_worker(
                    script,
                    [
                        "--variant",
                        variant,
                        "--url",
                        server.url,
                        "--key",
                        server.api_key,
                        "--requests",
                        str(requests),
                        "--concurrency",
                        str(concurrency),
                        "--client-options",
                        client_options,
                    ],
                )
                runs[variant].append(this[variant])
            plain_rps = this["aiohttp"]["throughput_rps"]
            vs_plain.append(this["batch"]["throughput_rps"] / plain_rps)
            gen_vs_plain.append(this["generate"]["throughput_rps"] / plain_rps)
            log(
                f"throughput rep {rep + 1}/{repetitions}: "
                + ", ".join(
                    f"{v} {this[v]['throughput_rps']:.0f} req/s ({this[v]['errors']} errors)"
                    for v in VARIANTS
                )
                + f" | batch/aiohttp x{vs_plain[-1]:.3f}"
            )
    tput = {v: summarize([r["throughput_rps"] for r in runs[v]]) for v in VARIANTS}
    plain_med, batch_med = tput["aiohttp"]["median"], tput["batch"]["median"]
    vs_ideal = summarize([r["throughput_rps"] / ideal for r in runs["batch"]])
    plain_vs_ideal = summarize([r["throughput_rps"] / ideal for r in runs["aiohttp"]])
    vs_plain_s = summarize(vs_plain)
    reference = "ideal" if ideal <= plain_med else "aiohttp"
    vs_reference = vs_ideal["median"] if reference == "ideal" else vs_plain_s["median"]
    errors = sum(r["errors"] for r in runs["batch"])
    return {
        "benchmark": "batch_throughput",
        "params": {
            "requests": requests,
            "concurrency": concurrency,
            "server_latency_s": latency,
            "repetitions": repetitions,
            "quick": quick,
            "client_options": json.loads(client_options),
        },
        "ideal_rps": ideal,
        "variants": {
            v: {
                "throughput_rps": tput[v],
                "wall_s": summarize([r["wall_s"] for r in runs[v]]),
                "cold_wave_s": summarize([r["cold_wave_s"] for r in runs[v]]),
                "cpu_s": summarize([r["cpu_s"] for r in runs[v]]),
                "cpu_per_request_ms": summarize([r["cpu_per_request_ms"] for r in runs[v]]),
                "errors": sum(r["errors"] for r in runs[v]),
                "warmup_errors": sum(r["warmup_errors"] for r in runs[v]),
                "first_error": next((r["first_error"] for r in runs[v] if r["first_error"]), None),
            }
            for v in VARIANTS
        },
        "batch_vs_ideal": vs_ideal,
        "aiohttp_vs_ideal": plain_vs_ideal,
        "batch_vs_aiohttp": vs_plain_s,
        "generate_vs_aiohttp": summarize(gen_vs_plain),
        "reference": reference,
        "batch_vs_reference": vs_reference,
        "target_ratio": TARGET_RATIO,
        "errors": errors,
        "meets_target": vs_reference >= TARGET_RATIO and errors == 0,
        "batch_median_rps": batch_med,
    }


def render(doc: dict[str, Any]) -> str:
    p, v = doc["params"], doc["variants"]
    return "\n".join(
        [
            f"Throughput: {p['requests']} requests, concurrency {p['concurrency']}, server latency "
            f"{p['server_latency_s']:g} s, ideal {doc['ideal_rps']:.0f} req/s "
            f"({p['repetitions']} repetitions, medians)",
            f"  aiohttp: {v['aiohttp']['throughput_rps']['median']:.0f} req/s"
            f" (x{doc['aiohttp_vs_ideal']['median']:.3f} of ideal),"
            f" errors {v['aiohttp']['errors']}",
            f"  generate: {v['generate']['throughput_rps']['median']:.0f} req/s"
            f" (x{doc['generate_vs_aiohttp']['median']:.3f} of aiohttp), errors"
            f" {v['generate']['errors']} (diagnosis: SDK requests without the batch engine)",
            f"  batch:   {v['batch']['throughput_rps']['median']:.0f} req/s"
            f" (x{doc['batch_vs_ideal']['median']:.3f} of ideal,"
            f" x{doc['batch_vs_aiohttp']['median']:.3f} of aiohttp), errors {v['batch']['errors']}",
            f"  target: batch >= {TARGET_RATIO} x {doc['reference']} and 0 errors -> "
            f"{'met' if doc['meets_target'] else 'MISSED'}",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and repetitions")
    parser.add_argument("--requests", type=int, default=None, help="default 3000 (quick: 2000)")
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=1.0, help="server latency, seconds")
    parser.add_argument("--repetitions", type=int, default=None, help="default 7 (quick: 3)")
    parser.add_argument(
        "--client-options",
        default="{}",
        help="diagnosis only: AsyncClient keyword arguments as JSON, e.g. '{\"trust_env\": false}'",
    )
    parser.add_argument("--json-out", default=None, help="write the results here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    raise_nofile_limit()
    info = machine_info()
    started = time.monotonic()
    doc = measure(
        requests=args.requests or (2000 if args.quick else 3000),
        concurrency=args.concurrency,
        latency=args.latency,
        repetitions=args.repetitions or (3 if args.quick else 7),
        quick=args.quick,
        client_options=args.client_options,
    )
    publish(doc, info, started, render, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
