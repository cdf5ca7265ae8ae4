"""Rate limits and outages: does a batch lose items, and how much of the limit does it use?

Three families of scenarios, each one batch on a :class:`FakeServer` (in a thread of
this process, so its clock is the batch's) with its load switches:

* **Token bucket** (``server.rate_limit``) at 10, 40 and 200 requests a second, with
  answers after 0 s, 0.2 s and 2 s. The concurrency is enough to exceed the limit
  (``2 * limit * latency + 16``, at most 256); where even that cannot reach the limit
  (200/s at 2 s), the reference is what the concurrency allows, and at 200/s it is at
  most what this machine delivers at that concurrency without any limit (measured
  first: the client and the fake server share its CPUs). Goodput is measured in
  the steady state: successful answers the server sent after a warm-up (``max(2 s,
  2 * latency)``), per second, against the reference. The share of 429s is given over
  the whole run (learning included) and over the steady state.
* **Random 429s** (``server.throttle_share``) of 10, 30 and 50 %, with and without
  ``Retry-After: 1``, answers after 0.5 s, concurrency 32; and 30 % with answers
  after 3 s, as images take, over a batch of about 30 s (15 s with ``--quick``).
  Throughput is items per second over the whole batch against the ideal
  ``(1 - p) * concurrency / latency``.
* **An outage** (``server.outage``): 503 to everything for 60 s (20 s with
  ``--quick``), starting 1 s into a batch at concurrency 8. Requests the server saw
  during it, how long the batch took to send again after it (against the probe
  interval then), and the time paused.

Every scenario is scaled down to seconds (the limits and latencies are real, the
batches short), so the whole run takes about 4 minutes (2 with ``--quick``). Not in
the test suite. ``run_all.py --only rate_limits`` keeps the figures in
``results/latest.json`` and writes them to ``docs/performance.md``.

Usage::

    python benchmarks/rate_limits.py [--quick] [--only TEXT] [--json-out FILE]

``--only`` runs the scenarios whose name contains the text (``bucket``,
``bucket 200/s@2s``, ``random 30%``, ``retry-after``, ``after 3s``, ``outage``): for
trying a change.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import time
from typing import Any

from _common import log, machine_info, write_json

import nanobanana as nb
from nanobanana.testing import FakeServer

TARGETS = {
    "failed": 0,
    "bucket_goodput": 0.90,  # of the limit (or of what the concurrency allows)
    "bucket_429_share": 0.10,
    "random_throughput": 0.60,  # of the ideal (1 - p) * concurrency / latency
    "outage_probe_intervals": 2.0,  # resumes within this many probe intervals
    "outage_requests": 20,  # at most, during a 60 s outage
}


async def _run_batch(
    server: FakeServer, n: int, concurrency: int, stem: str
) -> tuple[nb.BatchSummary, float]:
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url) as client:
        started = time.monotonic()
        batch = client.batch([f"{stem} {i}" for i in range(n)], concurrency=concurrency)
        summary = await batch.run()
    return summary, started


def _steady_goodput(records: list[Any], since: float) -> float:
    """Successful answers a second the server sent from ``since`` on."""
    ok_times = sorted(r.received_at for r in records if r.received_at >= since and r.status == 200)
    span = ok_times[-1] - ok_times[0] if len(ok_times) > 1 else 0.0
    return (len(ok_times) - 1) / span if span > 0 else 0.0


async def capacity(latency: float, concurrency: int, seconds: float) -> float:
    """What this machine delivers at ``concurrency`` without any limit (client and
    server share its CPUs): successful answers a second, after a warm-up."""
    warmup = max(1.0, 2 * latency)
    n = math.ceil(min(400.0, concurrency / max(latency, 0.002)) * (seconds + warmup))
    with FakeServer(latency=latency) as server:
        summary, started = await _run_batch(server, min(n, 3000), concurrency, "capacity")
        steady = _steady_goodput(server.generation_requests, started + warmup)
    # A batch over before the warm-up is: its whole rate, then.
    return steady or summary.ok / summary.elapsed


async def token_bucket(limit: float, latency: float, seconds: float) -> dict[str, Any]:
    concurrency = int(min(256, 2 * limit * latency + 16))
    reference = min(limit, concurrency / latency) if latency else limit
    machine = None
    if limit >= 100:  # may be more than this machine delivers at all: measure that
        machine = await capacity(latency, concurrency, seconds / 2)
        reference = min(reference, machine)
    warmup = max(2.0, 2 * latency)
    n = math.ceil(min(limit, reference * 1.2) * (seconds + warmup))
    with FakeServer(latency=latency) as server:
        server.rate_limit(per_second=limit)
        summary, started = await _run_batch(server, n, concurrency, f"bucket {limit}")
        records = server.generation_requests
    steady = [r for r in records if r.received_at >= started + warmup]
    goodput = _steady_goodput(records, started + warmup)
    return {
        "family": "token bucket",
        "scenario": f"{limit:g}/s, answers after {latency:g} s",
        "concurrency": concurrency,
        "items": n,
        "failed": summary.failed,
        "goodput": round(goodput, 2),
        "reference": round(reference, 2),
        "machine_capacity": None if machine is None else round(machine, 1),
        "goodput_ratio": round(goodput / reference, 3),
        "share_429": round(summary.throttled / max(summary.requests_sent, 1), 3),
        "share_429_steady": round(sum(r.status == 429 for r in steady) / max(len(steady), 1), 3),
        "learned_rate": None if summary.send_rate is None else round(summary.send_rate, 1),
        "time_paused": round(summary.time_paused, 1),
        "elapsed": round(summary.elapsed, 1),
    }


async def random_share(
    p: float, retry_after: float | None, seconds: float, latency: float = 0.5
) -> dict[str, Any]:
    concurrency = 32
    ideal = (1 - p) * concurrency / latency
    n = math.ceil(ideal * seconds)
    with FakeServer(latency=latency) as server:
        server.throttle_share(p, retry_after=retry_after)
        summary, _ = await _run_batch(server, n, concurrency, f"share {p}")
    throughput = summary.ok / summary.elapsed
    with_header = "Retry-After: 1" if retry_after is not None else "no Retry-After"
    answers = "" if latency == 0.5 else f", answers after {latency:g} s"
    return {
        "family": "random 429",
        "scenario": f"{p:.0%} 429s, {with_header}{answers}",
        "concurrency": concurrency,
        "items": n,
        "failed": summary.failed,
        "throughput": round(throughput, 2),
        "ideal": round(ideal, 2),
        "throughput_ratio": round(throughput / ideal, 3),
        "share_429": round(summary.throttled / max(summary.requests_sent, 1), 3),
        "final_concurrency": summary.concurrency,
        "time_paused": round(summary.time_paused, 1),
        "elapsed": round(summary.elapsed, 1),
    }


async def outage(seconds: float) -> dict[str, Any]:
    concurrency, latency = 8, 0.2
    n = math.ceil(4 * concurrency / latency)  # 1 s before the outage, 3 s after
    with FakeServer(latency=latency) as server:

        async def take_it_down() -> None:
            await asyncio.sleep(1.0)
            server.outage(seconds, status=503)

        down = asyncio.ensure_future(take_it_down())
        summary, started = await _run_batch(server, n, concurrency, "outage")
        await down
        records = server.generation_requests
    during = [r for r in records if r.outcome.startswith("outage:")]
    began, ended = started + 1.0, started + 1.0 + seconds
    probes = [r.received_at for r in during]
    after = [r.received_at for r in records if r.received_at >= ended and r.status == 200]
    resumed_after = (after[0] - ended) if after else math.inf
    gaps = [b - a for a, b in itertools.pairwise(probes) if b - a > 0.5]
    interval = gaps[-1] if gaps else math.nan
    return {
        "family": "outage",
        "scenario": f"503 to everything for {seconds:g} s",
        "concurrency": concurrency,
        "items": n,
        "failed": summary.failed,
        "requests_during": len([r for r in records if began <= r.received_at < ended]),
        "resumed_after": round(resumed_after, 1),
        "probe_interval": round(interval, 1),
        "probe_intervals": round(resumed_after / interval, 2) if gaps else None,
        "time_paused": round(summary.time_paused, 1),
        "elapsed": round(summary.elapsed, 1),
    }


def evaluate(row: dict[str, Any]) -> bool:
    """Whether ``row`` meets its targets."""
    met = row["failed"] == TARGETS["failed"]
    if row["family"] == "token bucket":
        met &= row["goodput_ratio"] >= TARGETS["bucket_goodput"]
        met &= row["share_429"] <= TARGETS["bucket_429_share"]
    elif row["family"] == "random 429":
        met &= row["throughput_ratio"] >= TARGETS["random_throughput"]
    else:
        ratio = row["probe_intervals"]
        met &= ratio is not None and ratio <= TARGETS["outage_probe_intervals"]
        met &= row["requests_during"] <= TARGETS["outage_requests"]
    return bool(met)


async def run(quick: bool, only: str | None = None) -> list[dict[str, Any]]:
    """Run the scenarios (those whose name contains ``only``, when given)."""
    rows: list[dict[str, Any]] = []
    seconds = 4.0 if quick else 8.0

    def wanted(name: str) -> bool:
        if only is None or only in name:
            log(name)
            return True
        return False

    for limit in (10.0, 40.0, 200.0):
        for latency in (0.0, 0.2, 2.0):
            if wanted(f"bucket {limit:g}/s@{latency:g}s"):
                rows.append(await token_bucket(limit, latency, seconds))
    for p in (0.1, 0.3, 0.5):
        for retry_after in (None, 1.0):
            if wanted(f"random {p:.0%}{' retry-after' if retry_after else ''}"):
                rows.append(await random_share(p, retry_after, seconds))
    if wanted("random 30% after 3s"):
        rows.append(await random_share(0.3, None, seconds * 3.75, latency=3.0))
    if wanted("outage"):
        rows.append(await outage(20.0 if quick else 60.0))
    for row in rows:
        row["met"] = evaluate(row)
    return rows


def render_section(result: dict[str, Any] | None) -> list[str]:
    """The ``docs/performance.md`` section for these figures (empty without any)."""
    if not result:
        return []
    rows = result["rows"]
    out = ["## Rate limits and outages", ""]
    out.append(
        "Does a batch lose items to rate limits or outages, and how much of a limit does it "
        f"use? Written by `benchmarks/rate_limits.py` ({result['generated']}"
        f"{', quick run' if result.get('quick') else ''}; scenarios scaled down to seconds: "
        "see the script's docstring). Targets: 0 failed items everywhere; under a token "
        "bucket, steady-state goodput at least 0.90 of the limit and at most 10 % of requests "
        "answered 429; under random 429s, throughput at least 0.6 of the ideal "
        "(1 - p) x concurrency / latency; through an outage, sending again within 2 probe "
        "intervals of recovery and at most 20 requests during a 60 s outage."
    )
    out.append("")
    out.append(
        "| scenario | concurrency | items | failed | goodput / reference | 429 share "
        "(steady) | learned rate | met |"
    )
    out.insert(
        -1,
        "The reference is the limit, or less where the concurrency or this machine cannot "
        "reach it (see the script). Goodput is steady-state; the 429 share is over the "
        "whole run, learning included, and over the steady state.\n",
    )
    out.append("|---|---|---|---|---|---|---|---|")
    for r in (r for r in rows if r["family"] == "token bucket"):
        out.append(
            f"| token bucket {r['scenario']} | {r['concurrency']} | {r['items']} | "
            f"{r['failed']} | {r['goodput']:g}/s of {r['reference']:g}/s = "
            f"{r['goodput_ratio']:.2f} | {r['share_429']:.1%} ({r['share_429_steady']:.1%}) | "
            f"{r['learned_rate'] if r['learned_rate'] is not None else '-'} | "
            f"{'yes' if r['met'] else '**no**'} |"
        )
    out.append(
        "\nThe token bucket of 200/s with answers after 0.2 s comes out two ways: in about "
        "one run in three (13 of 41 runs), a comparison early in the batch "
        "takes the limit for a background share (the share it compares with was counted "
        "while the limit's opening burst still let more through) and puts the limits "
        "back, so the batch sends at full speed for about half a second, until the "
        "share tells it otherwise: 17-28 % of all requests refused instead of 1-4 %, "
        "and as much in the steady state when that half second falls in it. Fixing "
        "that comparison is open work. The 40/s bucket with answers after 2 s has a "
        "steady state of a few seconds only (480 items, a 4 s warm-up): over eight runs "
        "its goodput came out between 0.78 and 1.11 of the limit, 6 of 8 at 0.9 or more, "
        "with and without the last change to the throttle.\n"
    )
    out.append(
        "| scenario | concurrency | items | failed | throughput / ideal | 429 share | "
        "concurrency at the end | met |"
    )
    out.append("|---|---|---|---|---|---|---|---|")
    for r in (r for r in rows if r["family"] == "random 429"):
        out.append(
            f"| {r['scenario']} | {r['concurrency']} | {r['items']} | {r['failed']} | "
            f"{r['throughput']:g}/s of {r['ideal']:g}/s = {r['throughput_ratio']:.2f} | "
            f"{r['share_429']:.1%} | {r['final_concurrency']} | "
            f"{'yes' if r['met'] else '**no**'} |"
        )
    out.append(
        "\nWith `Retry-After: 1`, an item refused k times in a row waits k seconds, and "
        "the batch ends with its unluckiest item: with half of all requests refused, one "
        "item in 128 needs 8 attempts or more. So those cells vary from run to run more "
        "than the others, by how late such items happened to start: over five runs, the "
        "50 % cell with `Retry-After` came out between 0.49 and 0.71 of the ideal, 3 of "
        "5 at 0.6 or more (0.37-0.69 over four runs of the throttle before the changes "
        "for slow answers, which do not touch this regime). A share of 10 % is "
        "the slowest to tell from a limit being probed (see the batch guide): a batch "
        "first slows down to about half its speed and puts its limits back only when "
        "the shares have told it, which may take most of these 8-second batches. Over "
        "five runs the two 10 % cells came out between 0.42 and 0.84 of the "
        "ideal, 7 of 10 at 0.6 or more (in simulation, about a third of 8-second batches "
        "stay below 0.6; 30 s in, one in a hundred). The last row has answers after 3 s, "
        "as images take, over a batch of about 30 s: a first guess at the rate counts "
        "what was sent over the slowest answers' round trip, not over the last 2 s, "
        "when the batch had sent its requests and was waiting for them.\n"
    )
    out.append(
        "| scenario | items | failed | requests during the outage | sending again after "
        "(probe interval) | time paused | met |"
    )
    out.append("|---|---|---|---|---|---|---|")
    for r in (r for r in rows if r["family"] == "outage"):
        out.append(
            f"| {r['scenario']} | {r['items']} | {r['failed']} | {r['requests_during']} | "
            f"{r['resumed_after']:g} s ({r['probe_interval']:g} s) | {r['time_paused']:g} s | "
            f"{'yes' if r['met'] else '**no**'} |"
        )
    out.append("")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter batches and outage")
    parser.add_argument("--json-out", default=None, help="write the figures there as JSON")
    parser.add_argument(
        "--only",
        default=None,
        metavar="TEXT",
        help="run only the scenarios whose name contains TEXT: 'bucket', 'bucket 200/s', "
        "'bucket 40/s@2s', 'random', 'random 50%%', 'retry-after', 'after 3s', 'outage'",
    )
    args = parser.parse_args()
    started = time.monotonic()
    rows = asyncio.run(run(args.quick, args.only))
    result = {
        "benchmark": "rate_limits",
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "duration_s": round(time.monotonic() - started, 1),
        "machine": machine_info(),
        "targets": TARGETS,
        "rows": rows,
    }
    print("\n".join(render_section(result)))
    if args.json_out:
        write_json(args.json_out, result)


if __name__ == "__main__":
    main()
