"""Ray Data: what the stage costs against one process, and what its shared limits keep.

2,000 prompts (500 with ``--quick``) against a :class:`FakeServer` (in a thread of this
process, the Ray driver) answering after 1 s, sent:

* by **one process**: the SDK's batch, ``Client.batch(concurrency=64)``, the baseline;
* through **Ray Data** (``nanobanana.ray.generate_images``) with 1, 2 and 4 actors
  sharing the same total concurrency (64, 32 and 16 each): what the stage costs;
* with **4 actors of 64 each**: what more actors (more machines) change.

Each scenario runs without a rate limit and with ``server.rate_limit(40/s)``, a limit
below what 64 requests in flight at 1 s would send (64/s). Throughput is successful
answers a second at the server, from its first request to its last success (so the
start of the Ray actors is left out; the wall time with it is given as information);
the share of 429s is over every request the server saw. Both are given as ratios
against the one-process baseline measured in the same run, under the same limit.

Not in the test suite; about 8 minutes on 2 cores (3 with ``--quick``). Needs the
``ray`` extra. ``run_all.py --only ray`` keeps the figures in ``results/latest.json``
and writes them to ``docs/performance.md``.

Usage::

    python benchmarks/ray_scale.py [--quick] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import log, machine_info, write_json

import nanobanana as nb
from nanobanana.testing import FakeServer

LATENCY = 1.0
TOTAL_CONCURRENCY = 64
LIMIT = 40.0  # requests a second, when the server limits the rate
# (label, actors, concurrency per actor); actors 0 is the one-process baseline.
SCENARIOS = [
    ("one process", 0, 64),
    ("Ray, 1 actor x 64", 1, 64),
    ("Ray, 2 actors x 32", 2, 32),
    ("Ray, 4 actors x 16", 4, 16),
    ("Ray, 4 actors x 64", 4, 64),
]


def one_process(server: FakeServer, texts: list[str], out: Path, concurrency: int) -> int:
    with nb.Client(api_key=server.api_key, base_url=server.url) as client:
        return client.batch(texts, concurrency=concurrency, out_dir=out).run().ok


def through_ray(
    server: FakeServer, texts: list[str], out: Path, actors: int, concurrency: int
) -> int:
    import ray

    import nanobanana.ray

    ds = ray.data.from_items([{"prompt": text} for text in texts], override_num_blocks=40)
    rows = nanobanana.ray.generate_images(
        ds,
        out_dir=out,
        actors=actors,
        concurrency=concurrency,
        batch_size=50,
        api_key=server.api_key,
        base_url=server.url,
    ).take_all()
    return sum(row["status"] == "ok" for row in rows)


def measure(
    label: str, actors: int, concurrency: int, n: int, limit: float | None
) -> dict[str, Any]:
    stem = f"{label} {limit} a lighthouse at dawn, postcard"
    texts = [f"{stem} {i}" for i in range(n)]
    with FakeServer(latency=LATENCY) as server, tempfile.TemporaryDirectory() as tmp:
        if limit is not None:
            server.rate_limit(per_second=limit)
        started = time.monotonic()
        if actors:
            ok = through_ray(server, texts, Path(tmp), actors, concurrency)
        else:
            ok = one_process(server, texts, Path(tmp), concurrency)
        wall = time.monotonic() - started
        records = server.generation_requests
    first = min(r.received_at for r in records)
    last_ok = max(r.received_at for r in records if r.status == 200) + LATENCY
    return {
        "scenario": label,
        "actors": actors,
        "concurrency": concurrency,
        "limit": limit,
        "items": n,
        "ok": ok,
        "requests": len(records),
        "throughput": round(ok / (last_ok - first), 2),
        "share_429": round(sum(r.status == 429 for r in records) / len(records), 4),
        "wall_s": round(wall, 1),
    }


def run(quick: bool) -> list[dict[str, Any]]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray.data.DataContext.get_current().enable_progress_bars = False
    n = 500 if quick else 2000
    rows: list[dict[str, Any]] = []
    try:
        for limit in (None, LIMIT):
            base: dict[str, Any] | None = None
            for label, actors, concurrency in SCENARIOS:
                log(f"{label}, limit {limit}")
                row = measure(label, actors, concurrency, n, limit)
                base = base or row
                row["throughput_ratio"] = round(row["throughput"] / base["throughput"], 3)
                row["share_429_vs_one_process"] = round(row["share_429"] - base["share_429"], 4)
                rows.append(row)
    finally:
        ray.shutdown()
    return rows


def render_section(result: dict[str, Any] | None) -> list[str]:
    """The ``docs/performance.md`` section for these figures (empty without any)."""
    if not result:
        return []
    out = ["## Ray Data", ""]
    out.append(
        f"What the Ray Data stage (`nanobanana.ray`) costs against one process, and what its "
        f"shared throttle keeps. Written by `benchmarks/ray_scale.py` ({result['generated']}"
        f"{', quick run' if result.get('quick') else ''}): {result['rows'][0]['items']:,} "
        f"prompts against a fake server answering after {LATENCY:g} s, on this 2-core "
        "machine (the actors, the driver and the fake server share its CPUs). Throughput "
        "is successful answers a second at the server, from its first request to its last "
        "success (the actors' start is in the wall time only); the ratio and the 429 share "
        "are against the one-process batch in the same run, under the same limit."
    )
    out.append("")
    out.append(
        "| scenario | server limit | throughput | vs one process | 429 share | "
        "429 share, one process | wall time |"
    )
    out.append("|---|---|---|---|---|---|---|")
    base_share: dict[Any, float] = {}
    for r in result["rows"]:
        if r["actors"] == 0:
            base_share[r["limit"]] = r["share_429"]
        limit = "none" if r["limit"] is None else f"{r['limit']:g}/s"
        out.append(
            f"| {r['scenario']} | {limit} | {r['throughput']:g}/s | "
            f"{r['throughput_ratio']:.2f} | {r['share_429']:.1%} | "
            f"{base_share[r['limit']]:.1%} | {r['wall_s']:g} s |"
        )
    out.append("")
    out.append(
        "Split across actors, the same total concurrency sends as fast as one process "
        "(the ratios near 1.00), and under a rate limit the actors together keep to it as "
        "one process does, with about the share of 429s one process gets: the throttle is "
        "one, whichever actor meets a 429. More actors (4 x 64) send more only while "
        "nothing else binds: without a limit, as fast as this machine lets them; under the "
        "limit, what the limit lets through and no faster, with more 429s on the way (the "
        "256 requests in flight at the start all meet the limit before a rate is learned). "
        "That is what more machines would change too: each adds actors, but the account's "
        "limit is the API's, shared by every client of the key, and it binds, not the "
        "client. Below it, more machines add throughput until it binds; past it, they add "
        "429s, not images: keep the total concurrency near what the limit lets through "
        "(the limit times the answer time)."
    )
    out.append("")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 prompts instead of 2,000")
    parser.add_argument("--json-out", default=None, help="write the figures there as JSON")
    args = parser.parse_args()
    started = time.monotonic()
    rows = run(args.quick)
    result = {
        "benchmark": "ray_scale",
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "duration_s": round(time.monotonic() - started, 1),
        "machine": machine_info(),
        "rows": rows,
    }
    print("\n".join(render_section(result)))
    if args.json_out:
        write_json(args.json_out, result)


if __name__ == "__main__":
    main()
