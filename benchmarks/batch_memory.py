"""Peak memory of a batch writing 1 MB images to ``out_dir``: does it stay flat with N?

``client.batch(prompts, concurrency=..., out_dir=tmp)`` runs in a fresh subprocess per
measurement, against the fake server (own process, no latency) padding every PNG to
about 1 MB. The peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of that
subprocess at the end (cross-checked with Linux's ``VmHWM``). Also reported: the RSS
after imports and client creation (before the batch), and the RSS sampled after every
1 % of the items, whose median is the steady state and whose first and last quarters
show any growth along the run. The prompt counts (default 1,000 and 10,000) alternate
from one repetition to the next; the ratio largest/smallest is taken per repetition and
its median reported.

The peak is the maximum over a run of a quantity that jumps with each burst of answers
(up to ``concurrency`` bodies being decoded at once), so a longer run tends to see a
slightly higher peak even when nothing accumulates; the steady-state ratio separates
the two.

Each image file is deleted as soon as its item comes out of the batch, so a 10,000
image run does not need 10 GB of disk (``--keep-files`` keeps them until the end of
the subprocess); the temporary ``out_dir`` is removed afterwards. Deleting a file does
not change the client's memory: the SDK has already written and released it.

Targets (``TARGETS`` in ``_common.py``): flat (largest/smallest <= 1.10) and under
200 MB at the largest count.

Usage::

    python benchmarks/batch_memory.py                      # 1,000 vs 10,000 prompts
    python benchmarks/batch_memory.py --prompts 500,2000   # smaller, faster
    python benchmarks/batch_memory.py --quick              # 1,000 vs 3,000, 1 repetition
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    TARGETS,
    emit,
    log,
    machine_info,
    process_peak_rss_mb,
    prompts,
    publish,
    raise_nofile_limit,
    run_worker,
    summarize,
)
from _server import fake_server, warm_server

IMAGE_BYTES = 1024 * 1024
TARGET_FLAT = TARGETS["batch_memory_flat"]
TARGET_PEAK_MB = TARGETS["batch_memory_peak_mb"]
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _maxrss_mb() -> float:
    # Linux reports kilobytes, macOS bytes.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _current_rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return None


def _vm_hwm_mb() -> float | None:
    """The peak RSS of this process image (Linux ``VmHWM``), to cross-check ``ru_maxrss``."""
    return process_peak_rss_mb(os.getpid())


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


# -- worker --------------------------------------------------------------------------


async def _run(
    url: str,
    key: str,
    n: int,
    concurrency: int,
    out_dir: Path,
    keep_files: bool,
    client_options: dict[str, Any],
) -> dict[str, Any]:
    import nanobanana as nb

    texts = prompts(n)
    every = max(1, n // 100)
    samples: list[float] = []
    ok = errors = written = 0
    first_error = None
    async with nb.AsyncClient(api_key=key, base_url=url, **client_options) as client:
        before = _maxrss_mb()
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        done = 0
        async for item in client.batch(texts, concurrency=concurrency, out_dir=out_dir):
            done += 1
            if item.ok:
                ok += 1
                for path in item.paths:
                    written += path.stat().st_size
                    if not keep_files:
                        path.unlink()
            else:
                errors += 1
                if first_error is None:
                    first_error = f"{type(item.error).__name__}: {item.error}"
            if done % every == 0:
                rss = _current_rss_mb()
                if rss is not None:
                    samples.append(rss)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    return {
        "prompts": n,
        "concurrency": concurrency,
        "ok": ok,
        "errors": errors,
        "first_error": first_error,
        "bytes_written": written,
        "rss_before_batch_mb": before,
        "peak_rss_mb": _maxrss_mb(),
        "vm_hwm_mb": _vm_hwm_mb(),
        # The RSS every 1 % of the items: its median is the steady state, and the
        # mean of the first and last quarters shows any growth along the run.
        "rss_median_mb": statistics.median(samples) if samples else None,
        "rss_first_quarter_mb": _mean(samples[: len(samples) // 4]),
        "rss_last_quarter_mb": _mean(samples[-(len(samples) // 4) :]),
        "wall_s": wall,
        "cpu_s": cpu,
    }


def worker(args: argparse.Namespace) -> None:
    raise_nofile_limit()
    tmp = Path(tempfile.mkdtemp(prefix="nb-bench-memory-"))
    try:
        result = asyncio.run(
            _run(
                args.url,
                args.key,
                args.count,
                args.concurrency,
                tmp / "out",
                args.keep_files,
                json.loads(args.client_options),
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    emit(result)


# -- driver --------------------------------------------------------------------------


def measure(
    *,
    counts: list[int],
    concurrency: int,
    repetitions: int,
    keep_files: bool,
    quick: bool,
    client_options: str = "{}",
) -> dict[str, Any]:
    script = Path(__file__).resolve()
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    ratios: list[float] = []
    steady_ratios: list[float] = []
    small, large = min(counts), max(counts)
    with fake_server(image_bytes=IMAGE_BYTES) as server:
        warm_server(server)
        for rep in range(repetitions):
            order = counts if rep % 2 == 0 else list(reversed(counts))
            this: dict[int, dict[str, Any]] = {}
            for n in order:
                args = [
                    "--url",
                    server.url,
                    "--key",
                    server.api_key,
                    "--count",
                    str(n),
                    "--concurrency",
                    str(concurrency),
                    "--client-options",
                    client_options,
                ]
                if keep_files:
                    args.append("--keep-files")
                res = run_worker(script, args, timeout=6 * 3600)
                this[n] = res
                runs[n].append(res)
                log(
                    f"memory rep {rep + 1}/{repetitions}: {n} prompts: peak "
                    f"{res['peak_rss_mb']:.1f} MB (before batch {res['rss_before_batch_mb']:.1f}"
                    f" MB), {res['wall_s']:.1f} s, {res['errors']} errors"
                )
            ratios.append(this[large]["peak_rss_mb"] / this[small]["peak_rss_mb"])
            if this[large]["rss_median_mb"] and this[small]["rss_median_mb"]:
                steady_ratios.append(this[large]["rss_median_mb"] / this[small]["rss_median_mb"])
    per_count = {
        str(n): {
            "peak_rss_mb": summarize([r["peak_rss_mb"] for r in runs[n]]),
            "rss_before_batch_mb": summarize([r["rss_before_batch_mb"] for r in runs[n]]),
            "batch_growth_mb": summarize(
                [r["peak_rss_mb"] - r["rss_before_batch_mb"] for r in runs[n]]
            ),
            "vm_hwm_mb": summarize([r["vm_hwm_mb"] or 0.0 for r in runs[n]]),
            "steady_rss_mb": summarize([r["rss_median_mb"] or 0.0 for r in runs[n]]),
            "rss_growth_first_to_last_quarter_mb": summarize(
                [
                    (r["rss_last_quarter_mb"] or 0.0) - (r["rss_first_quarter_mb"] or 0.0)
                    for r in runs[n]
                ]
            ),
            "wall_s": summarize([r["wall_s"] for r in runs[n]]),
            "cpu_s": summarize([r["cpu_s"] for r in runs[n]]),
            "errors": sum(r["errors"] for r in runs[n]),
            "first_error": next((r["first_error"] for r in runs[n] if r["first_error"]), None),
            "mb_written": round(runs[n][-1]["bytes_written"] / 1e6, 1),
        }
        for n in counts
    }
    ratio = summarize(ratios)
    peak_large = per_count[str(large)]["peak_rss_mb"]["median"]
    return {
        "benchmark": "batch_memory",
        "params": {
            "prompts": counts,
            "concurrency": concurrency,
            "image_bytes": IMAGE_BYTES,
            "repetitions": repetitions,
            "keep_files": keep_files,
            "quick": quick,
            "client_options": json.loads(client_options),
        },
        "per_prompts": per_count,
        "ratio_largest_to_smallest": ratio,
        "steady_ratio_largest_to_smallest": summarize(steady_ratios),
        "target_flat_ratio": TARGET_FLAT,
        "target_peak_mb": TARGET_PEAK_MB,
        "meets_target": {
            "flat": ratio["median"] <= TARGET_FLAT,
            "under_peak": peak_large < TARGET_PEAK_MB,
        },
    }


def render(doc: dict[str, Any]) -> str:
    p = doc["params"]
    lines = [
        f"Peak RSS, batch of ~1 MB images to out_dir, concurrency {p['concurrency']} "
        f"({p['repetitions']} repetitions, medians)",
    ]
    for n, r in doc["per_prompts"].items():
        lines.append(
            f"  {int(n):>6} prompts: peak {r['peak_rss_mb']['median']:.1f} MB (before batch "
            f"{r['rss_before_batch_mb']['median']:.1f} MB,"
            f" steady {r['steady_rss_mb']['median']:.1f} MB),"
            f" {r['wall_s']['median']:.1f} s, {r['errors']} errors"
        )
    met = doc["meets_target"]
    lines.append(
        f"  ratio largest/smallest: x{doc['ratio_largest_to_smallest']['median']:.3f} "
        f"(target <= {TARGET_FLAT}: {'met' if met['flat'] else 'MISSED'}), steady-state "
        f"x{doc['steady_ratio_largest_to_smallest']['median']:.3f}; "
        f"under {TARGET_PEAK_MB:.0f} MB: {'met' if met['under_peak'] else 'MISSED'}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 vs 3,000 prompts, once")
    parser.add_argument(
        "--prompts", default=None, help="comma-separated prompt counts (default 1000,10000)"
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repetitions", type=int, default=None, help="default 3 (quick: 1)")
    parser.add_argument("--keep-files", action="store_true", help="do not delete images early")
    parser.add_argument(
        "--client-options",
        default="{}",
        help="diagnosis only: AsyncClient keyword arguments as JSON, e.g. '{\"trust_env\": false}'",
    )
    parser.add_argument("--json-out", default=None, help="write the results here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    default = "1000,3000" if args.quick else "1000,10000"
    counts = sorted({int(x) for x in (args.prompts or default).split(",") if x.strip()})
    if len(counts) < 2:
        parser.error("--prompts needs at least two different counts")
    info = machine_info()
    started = time.monotonic()
    doc = measure(
        counts=counts,
        concurrency=args.concurrency,
        repetitions=args.repetitions or (1 if args.quick else 3),
        keep_files=args.keep_files,
        quick=args.quick,
        client_options=args.client_options,
    )
    publish(doc, info, started, render, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
