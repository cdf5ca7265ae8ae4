"""Soak: does one long-lived AsyncClient leak memory over tens of thousands of requests?

``N`` requests (default 50,000) go through one :class:`nanobanana.AsyncClient`, as
``generate`` calls from ``--concurrency`` workers (default 16), against the fake server
in a process of its own (see ``_server.py``). Every ``--every`` requests (default 500)
the client process's resident set (``VmRSS`` in ``/proc/self/status``) is sampled. The
report gives the first and last samples and the slope of RSS against requests, fitted by
least squares over the second half of the samples (the first half includes the warm-up:
pool, caches and allocator arenas filling), in KB per 1,000 requests. A client that
keeps something per request shows a steady positive slope; a flat one, a slope near 0.

Not part of the test suite: it takes minutes. The figures go to
``benchmarks/results/soak.json``.

Usage::

    python benchmarks/soak.py                       # 50,000 requests
    python benchmarks/soak.py --requests 5000       # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from _common import RESULTS_DIR, log, machine_info, prompts, raise_nofile_limit, write_json
from _server import fake_server, warm_server


def rss_kb() -> int:
    """The resident set size of this process, in KB (``VmRSS``)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def slope_per_1000(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of RSS (KB) against requests, per 1,000 requests."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return 1000.0 * sxy / sxx if sxx else 0.0


async def soak(url: str, api_key: str, total: int, every: int, concurrency: int) -> dict[str, Any]:
    import nanobanana as nb

    texts = prompts(64)
    samples: list[tuple[int, int]] = []
    done = 0
    failed = 0
    next_index = 0
    started = time.monotonic()
    async with nb.AsyncClient(api_key=api_key, base_url=url) as client:

        async def worker() -> None:
            nonlocal done, failed, next_index
            while next_index < total:
                i = next_index
                next_index += 1
                try:
                    await client.generate(texts[i % len(texts)])
                except nb.NanoBananaError:
                    failed += 1
                done += 1
                if done % every == 0:
                    samples.append((done, rss_kb()))
                    if done % (every * 10) == 0:
                        log(f"{done} requests, RSS {samples[-1][1]} KB")

        samples.append((0, rss_kb()))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    second_half = samples[len(samples) // 2 :]
    return {
        "requests": total,
        "failed": failed,
        "concurrency": concurrency,
        "sample_every": every,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(total / elapsed, 1),
        "rss_first_kb": samples[0][1],
        "rss_after_first_sample_kb": samples[1][1] if len(samples) > 1 else None,
        "rss_last_kb": samples[-1][1],
        "rss_max_kb": max(y for _, y in samples),
        "slope_kb_per_1000_requests_second_half": round(slope_per_1000(second_half), 3),
        "samples": [[x, y] for x, y in samples],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50_000, help="requests to send")
    parser.add_argument("--every", type=int, default=500, help="sample RSS every K requests")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "soak.json", help="where the figures go"
    )
    args = parser.parse_args(argv)
    raise_nofile_limit()
    with fake_server() as server:
        warm_server(server)
        log(f"soak: {args.requests} requests at concurrency {args.concurrency}")
        result = asyncio.run(
            soak(server.url, server.api_key, args.requests, args.every, args.concurrency)
        )
    doc = {"benchmark": "soak", "machine": machine_info(), **result}
    write_json(args.out, doc)
    log(
        f"RSS {result['rss_first_kb']} KB -> {result['rss_last_kb']} KB; slope over the "
        f"second half {result['slope_kb_per_1000_requests_second_half']} KB per 1,000 "
        f"requests; {result['failed']} failed; {result['seconds']} s"
    )


if __name__ == "__main__":
    main()
