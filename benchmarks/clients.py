"""Every client doing the same work: CPU per request, throughput, peak RSS and errors.

The same requests to the same fake server (in its own process), for every payload,
concurrency and server latency of the matrix, through each client:

async, ``asyncio.gather`` under a semaphore (``batch`` drains ``client.batch``):

* ``aiohttp``  - the floor: one ``ClientSession``, POST the JSON, ``json.loads``,
  base64-decode every image (``_common.plain_gather``);
* ``openai``   - ``openai.AsyncOpenAI(base_url=<server>/v1, max_retries=0)`` and
  ``client.images.generate(model=..., prompt=...)``, base64-decoding ``data[].b64_json``;
* ``generate`` - ``nanobanana.AsyncClient.generate``;
* ``batch``    - ``async for item in client.batch(prompts, concurrency=...)``.

sync, one call after another (server latency 0):

* ``http.client`` - the floor: one keep-alive ``http.client.HTTPConnection``;
* ``openai``      - ``openai.OpenAI(...).images.generate``;
* ``nanobanana``  - ``nanobanana.Client.generate``.

Method: for each cell, ONE worker subprocess opens every variant's client, warms each
(the warm-up opens the connections), then runs the variants interleaved in rounds: in
round r the variants go in rotated order, each sending the same requests on its own
warmed connections, with ``time.process_time()`` (user + system CPU of the process,
every thread) and the wall clock read around each variant's timed part and summed per
variant over the rounds. Each ratio to the floor is taken within that worker. The
worker is then repeated in fresh processes and the median (and min-max) over the
repetitions is reported. Retries are off in every client, so every failure is counted.

Base64: nanobanana decodes images with pybase64 whenever it can import it (its
``speedups`` extra); the floors and openai-python decode with the standard library's
``base64``. The async workers make pybase64 unimportable before anything imports
nanobanana (``sys.modules["pybase64"] = None``, as if the extra were not installed), so
every client of the matrix does the same base64 work and the CPU against the floor is
the SDK's own; ``--speedups`` lets nanobanana use pybase64 there instead (information:
the CPU target against the floor is then not evaluated). The sync workers decode as
installed. Each worker reports which base64 nanobanana used, and each cell records it.

openai is not a dependency of nanobanana: without it (``pip install -r
benchmarks/requirements.txt``) its variants are skipped and said so.

Usage::

    python benchmarks/clients.py --quick
    python benchmarks/clients.py --latency 0 --payloads 8KB --concurrency 64
    python benchmarks/clients.py --latency 1 --payloads 8KB --concurrency 1000 --skip-sync
    python benchmarks/clients.py --speedups --skip-sync   # nanobanana with pybase64
    python benchmarks/clients.py --plan              # the cells, their sizes, no run
    python benchmarks/clients.py --estimate          # full-run time, from latest.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import http.client
import importlib.util
import json
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    ENDPOINT,
    RESULTS_DIR,
    TARGETS,
    Outcome,
    emit,
    log,
    machine_info,
    outcome,
    peak_rss_kb,
    plain_gather,
    plain_headers,
    plain_session,
    process_peak_rss_mb,
    prompts,
    publish,
    raise_nofile_limit,
    reset_peak_rss,
    rotated,
    run_worker,
    sdk_batch,
    sdk_gather,
    summarize,
)
from _server import fake_server, warm_server

ASYNC_VARIANTS = ("aiohttp", "openai", "generate", "batch")
ASYNC_FLOOR = "aiohttp"
ASYNC_MINE = ("generate", "batch")
SYNC_VARIANTS = ("http.client", "openai", "nanobanana")
SYNC_FLOOR = "http.client"
SYNC_MINE = "nanobanana"
OPENAI_MISSING = (
    "openai is not installed: skipping the openai variants "
    "(pip install -r benchmarks/requirements.txt)"
)

PAYLOADS: dict[str, int] = {"8KB": 8 * 1024, "256KB": 256 * 1024, "1.5MB": 1536 * 1024}
CONCURRENCY = (1, 64, 256, 1000)
LATENCIES = (0.0, 1.0)
# The fake server (aiohttp) keeps the last answer of every open keep-alive connection
# until that connection's next request, and the four clients' pools stay open side by
# side: the server holds about 4 x connections x answer (an answer is the image in
# base64, 4/3 of it). At 1.5 MB and concurrency 1,000 that would be 8 GB. So the
# concurrency actually used is capped to keep those answers within this budget
# (--server-budget-mb; 0 lifts it) and the cell says so.
SERVER_BUDGET_MB = 512
POOLS = 4
# Warm every variant's pool at once (latency > 0) only if the answers fit in this and
# the connections opened at once stay few enough for the server's accept backlog (more
# at once and some wait for a SYN retransmit, or time out).
WARM_TOGETHER_BYTES = 768 * 1024 * 1024
WARM_TOGETHER_CONNECTIONS = 1024

# A client's idle keep-alive connections expire: aiohttp's (the floor's and
# nanobanana's) after 15 s, httpx's (openai-python's) after 5 s. A client idle longer
# than this while the others ran re-opens its pool, untimed, before its timed part.
IDLE_REFRESH_S: dict[str, float] = {"openai": 4.0}
IDLE_REFRESH_DEFAULT_S = 12.0

# Which base64 nanobanana decodes with in a worker (the spec's "nanobanana_base64"):
# STDLIB makes pybase64 unimportable in the worker, INSTALLED leaves it as installed.
# What it actually used is reported as "stdlib" or "pybase64".
STDLIB = "stdlib"
INSTALLED = "installed"
PYBASE64 = "pybase64"
# The targets (TARGETS) are in _common.py: run_all.py evaluates them too. These are the
# async matrix's.
ASYNC_TARGET_KEYS = ("from_concurrency", "cpu_vs_floor", "cpu_vs_openai", "rps_vs_floor")


@dataclass(frozen=True)
class Sizes:
    """How much work a run does."""

    repetitions: int  # fresh worker processes per cell
    rounds: int  # interleaved rounds per worker
    requests: dict[str, int]  # latency 0: requests per variant and round, by payload
    waves: int  # latency > 0: requests per variant and round = waves x concurrency
    sync_calls: dict[str, int]  # sync: calls per variant and round, by payload
    # Async cells of these payloads run more workers: with small images the clients
    # differ least, and a worker's ratio varies by +-0.1 to 0.2 on a shared machine.
    more_repetitions: dict[str, int] = field(default_factory=dict)
    # Rounds of a cell whose round is a single request (1 s latency, concurrency 1):
    # one request after an idle second varies by +-30%, and `rounds` of them are too
    # few samples. None: `rounds`.
    single_request_rounds: int | None = None

    def repetitions_for(self, payload: str) -> int:
        """Worker processes for an async cell of ``payload``."""
        return self.more_repetitions.get(payload, self.repetitions)

    def rounds_for(self, requests: int) -> int:
        """Interleaved rounds per worker for an async cell of ``requests`` per round."""
        if requests == 1 and self.single_request_rounds is not None:
            return self.single_request_rounds
        return self.rounds


FULL = Sizes(
    repetitions=3,
    rounds=3,
    requests={"8KB": 1000, "256KB": 200, "1.5MB": 40},
    waves=2,
    sync_calls={"8KB": 200, "256KB": 60, "1.5MB": 16},
    more_repetitions={"8KB": 5},
    single_request_rounds=12,
)
QUICK = Sizes(
    repetitions=2,
    rounds=1,
    requests={"8KB": 200, "256KB": 40, "1.5MB": 10},
    waves=1,
    sync_calls={"8KB": 60, "256KB": 20, "1.5MB": 6},
)


@dataclass(frozen=True)
class Cell:
    """One cell of the async matrix and how much it sends."""

    latency_s: float
    payload: str
    concurrency: int  # as named in the matrix
    concurrency_used: int  # the same unless capped (see SERVER_BUDGET_MB)
    requests: int  # per variant and round
    warmup: int  # per variant, once, before the rounds
    reduced: str | None = None

    @property
    def key(self) -> str:
        return f"{self.latency_s:g}s/{self.payload}/c{self.concurrency}"

    @property
    def in_flight(self) -> int:
        return min(self.concurrency_used, self.requests)

    @property
    def ideal_rps(self) -> float | None:
        return self.in_flight / self.latency_s if self.latency_s > 0 else None

    @property
    def workload(self) -> tuple[float, str, int, int]:
        """What the workers do: two cells capped to the same workload are measured once."""
        return (self.latency_s, self.payload, self.concurrency_used, self.requests)


def concurrency_cap(payload: str, budget_mb: float = SERVER_BUDGET_MB) -> int | None:
    """The most connections per client whose answers fit the server's budget (64s)."""
    if budget_mb <= 0:
        return None
    answer = PAYLOADS[payload] * 4 / 3
    cap = int(budget_mb * 1024 * 1024 / (POOLS * answer)) // 64 * 64
    return max(cap, 64)


def plan_cell(
    latency: float,
    payload: str,
    concurrency: int,
    sizes: Sizes,
    requests: int | None = None,
    budget_mb: float = SERVER_BUDGET_MB,
) -> Cell:
    """Size a cell: enough requests to fill the concurrency, capped where memory says so.

    Latency 0: ``sizes.requests[payload]`` per round, at least the concurrency.
    Latency > 0: ``sizes.waves`` waves of the concurrency; at concurrency 1 one request
    per round (each takes the whole latency and shows nothing more).
    """
    used, reduced = concurrency, None
    cap = concurrency_cap(payload, budget_mb)
    if cap is not None and concurrency > cap:
        used = cap
        held = POOLS * concurrency * PAYLOADS[payload] * 4 / 3 / 1e9
        reduced = (
            f"run at concurrency {cap}: at {concurrency} the server would hold about "
            f"{held:.1f} GB of {payload} answers"
        )
    if requests is not None:
        n = requests
    elif latency > 0:
        n = 1 if used == 1 else sizes.waves * used
    else:
        n = max(sizes.requests[payload], used)
    in_flight = min(used, n)
    warmup = in_flight if latency > 0 else max(in_flight, 8)
    return Cell(latency, payload, concurrency, used, n, warmup, reduced)


def openai_available() -> bool:
    return importlib.util.find_spec("openai") is not None


def _model() -> str:
    import nanobanana as nb

    return nb.Model.NANO_BANANA.value


def _decoded(response: Any) -> int:
    return sum(len(base64.b64decode(item.b64_json)) for item in response.data)


# -- workers: every variant of a cell, interleaved, in one process ---------------------


Runner = Callable[[Sequence[str]], Awaitable[Outcome]]


async def openai_gather(client: Any, model: str, texts: Sequence[str], concurrency: int) -> Outcome:
    """``AsyncOpenAI.images.generate`` in the gather-under-a-semaphore loop."""
    sem = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> int:
        async with sem:
            return _decoded(await client.images.generate(model=model, prompt=prompt))

    return outcome(await asyncio.gather(*(one(p) for p in texts), return_exceptions=True))


async def _open_async(
    variant: str,
    stack: contextlib.AsyncExitStack,
    spec: dict[str, Any],
) -> Runner:
    """Open ``variant``'s client on ``stack``; return what sends a list of prompts."""
    url, key, conc = spec["url"], spec["key"], spec["concurrency"]
    model = _model()
    if variant == "aiohttp":
        session = await stack.enter_async_context(plain_session(conc))
        endpoint = url + ENDPOINT
        return lambda texts: plain_gather(session, endpoint, key, model, texts, conc)
    if variant == "openai":
        import openai

        oa = await stack.enter_async_context(
            openai.AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
        )
        return lambda texts: openai_gather(oa, model, texts, conc)
    import nanobanana as nb

    client = await stack.enter_async_context(
        nb.AsyncClient(
            api_key=key, base_url=url, model=model, max_retries=0, **spec["client_options"]
        )
    )
    if variant == "generate":
        return lambda texts: sdk_gather(client, texts, conc)
    return lambda texts: sdk_batch(client, texts, conc)


def _open_sync(
    variant: str, stack: contextlib.ExitStack, spec: dict[str, Any]
) -> Callable[[Sequence[str]], Outcome]:
    """``variant``'s client, as what makes one call per prompt, one after another."""
    url, key = spec["url"], spec["key"]
    model = _model()
    if variant == "http.client":
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
        stack.callback(conn.close)
        headers = plain_headers(key)
        path = parts.path.rstrip("/") + ENDPOINT

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
        stack.callback(oa.close)

        def call(prompt: str) -> int:
            return _decoded(oa.images.generate(model=model, prompt=prompt))

    else:
        import nanobanana as nb

        nbc = nb.Client(
            api_key=key, base_url=url, model=model, max_retries=0, **spec["client_options"]
        )
        stack.callback(nbc.close)

        def call(prompt: str) -> int:
            return sum(len(image.data) for image in nbc.generate(prompt).images)

    def run(texts: Sequence[str]) -> Outcome:
        out = Outcome()
        for prompt in texts:
            try:
                out.decoded_bytes += call(prompt)
                out.ok += 1
            except Exception as exc:  # every failure is counted, none stops the loop
                out.errors += 1
                out.first_error = out.first_error or f"{type(exc).__name__}: {exc}"
        return out

    return run


def _rounds(
    spec: dict[str, Any],
    run: Callable[[str, Sequence[str]], Outcome],
    together: Callable[[Sequence[str]], list[Outcome]] | None = None,
) -> dict[str, Any]:
    """Warm every variant, then the interleaved rounds; sums per variant.

    ``run(variant, prompts)`` sends the prompts through one variant and returns when
    they are done; ``together(prompts)``, if given and the spec asks for it, does that
    for every variant at once (the warm-up at latency > 0).
    """
    variants: list[str] = spec["variants"]
    warm = prompts(spec["warmup"])
    texts = prompts(spec["requests"])
    t0 = time.perf_counter()
    last_used: dict[str, float] = {}  # when each variant last used its connections
    if together is not None and spec.get("warm_together"):
        warm_outs = together(warm)
        last_used = dict.fromkeys(variants, time.perf_counter())
    else:
        warm_outs = []
        for v in variants:
            warm_outs.append(run(v, warm))
            last_used[v] = time.perf_counter()
    warm_s = time.perf_counter() - t0
    acc: dict[str, dict[str, Any]] = {
        v: {
            "variant": v,
            "requests": 0,
            "ok": 0,
            "errors": 0,
            "first_error": None,
            "decoded_bytes": 0,
            "cpu_s": 0.0,
            "wall_s": 0.0,
            "peak_rss_kb": 0,
            "warmup_errors": w.errors,
            "warmup_first_error": w.first_error,
            "refreshes": 0,
            "per_round": [],
        }
        for v, w in zip(variants, warm_outs, strict=True)
    }
    orders = []
    hwm_exact = True
    for r in range(spec["rounds"]):
        order = rotated(variants, spec["offset"] + r)
        orders.append(order)
        for v in order:
            if time.perf_counter() - last_used[v] > IDLE_REFRESH_S.get(v, IDLE_REFRESH_DEFAULT_S):
                # Its idle connections may have expired while the others ran: open them
                # again, untimed, so the timed part runs on a warm pool as in the first
                # round (a client under steady load would not have been idle that long).
                refresh = run(v, warm)
                acc[v]["refreshes"] += 1
                acc[v]["warmup_errors"] += refresh.errors
            gc.collect()
            hwm_exact = reset_peak_rss() and hwm_exact
            cpu0, wall0 = time.process_time(), time.perf_counter()
            out = run(v, texts)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            peak = peak_rss_kb()
            a = acc[v]
            a["requests"] += len(texts)
            a["ok"] += out.ok
            a["errors"] += out.errors
            a["first_error"] = a["first_error"] or out.first_error
            a["decoded_bytes"] += out.decoded_bytes
            a["cpu_s"] += cpu
            a["wall_s"] += wall
            a["peak_rss_kb"] = max(a["peak_rss_kb"], peak)
            a["per_round"].append({"cpu_s": round(cpu, 6), "wall_s": round(wall, 6)})
            last_used[v] = time.perf_counter()
    for a in acc.values():
        a["cpu_per_request_ms"] = 1000 * a["cpu_s"] / a["requests"]
        a["throughput_rps"] = a["requests"] / a["wall_s"] if a["wall_s"] > 0 else None
        a["peak_rss_mb"] = a.pop("peak_rss_kb") / 1024
    return {
        "warmup_s": warm_s,
        "orders": orders,
        "peak_rss_per_variant": hwm_exact,
        "variants": acc,
    }


def _async_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Every async client on one event loop; each timed part runs the loop to its end."""
    variants: list[str] = spec["variants"]
    with asyncio.Runner() as loop:
        stack = contextlib.AsyncExitStack()
        try:
            runners = {v: loop.run(_open_async(v, stack, spec)) for v in variants}

            def run(variant: str, texts: Sequence[str]) -> Outcome:
                return loop.run(runners[variant](texts))

            async def gather(texts: Sequence[str]) -> list[Outcome]:
                return list(await asyncio.gather(*(runners[v](texts) for v in variants)))

            return _rounds(spec, run, lambda texts: loop.run(gather(texts)))
        finally:
            loop.run(stack.aclose())


def _sync_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Every sync client, called from plain code (no event loop of this thread)."""
    variants: list[str] = spec["variants"]
    with contextlib.ExitStack() as stack:
        runners = {v: _open_sync(v, stack, spec) for v in variants}
        return _rounds(spec, lambda v, texts: runners[v](texts))


def decode_with_stdlib() -> None:
    """Make pybase64 unimportable in this process, as if the ``speedups`` extra were absent.

    nanobanana picks its decoder when it is first imported: called before that, it
    leaves nanobanana with the standard library's ``base64``, as the floor and
    openai-python use, so the clients of a cell do the same base64 work.
    """
    if any(name == "nanobanana" or name.startswith("nanobanana.") for name in sys.modules):
        raise RuntimeError("nanobanana is already imported: its decoder is chosen")
    # A None entry makes `import pybase64` raise ImportError, installed or not.
    sys.modules["pybase64"] = None  # type: ignore[assignment]


def base64_used() -> str:
    """``pybase64`` if this process loaded it (of the clients, only nanobanana does)."""
    return PYBASE64 if sys.modules.get("pybase64") is not None else STDLIB


def worker(args: argparse.Namespace) -> None:
    raise_nofile_limit()
    spec = json.loads(args.spec)
    if spec.get("nanobanana_base64", INSTALLED) == STDLIB:
        decode_with_stdlib()
    result = _sync_worker(spec) if spec["mode"] == "sync" else _async_worker(spec)
    emit({**result, "nanobanana_base64": base64_used()})


# -- driver --------------------------------------------------------------------------


def _repeat(
    script: Path,
    spec: dict[str, Any],
    repetitions: int,
    floor: str,
    tag: str,
) -> list[dict[str, Any]]:
    """Run the worker ``repetitions`` times (fresh processes); log each."""
    workers = []
    variants = spec["variants"]
    for rep in range(repetitions):
        t0 = time.monotonic()
        res = run_worker(script, ["--spec", json.dumps({**spec, "offset": rep * spec["rounds"]})])
        workers.append(res)
        v = res["variants"]
        for name, x in v.items():
            if x["errors"] or x["warmup_errors"]:
                log(
                    f"{tag} {name}: {x['errors']} errors ({x['warmup_errors']} in the warm-up),"
                    f" first: {x['first_error'] or x['warmup_first_error']}"
                )
        floor_cpu = v[floor]["cpu_per_request_ms"]
        log(
            f"{tag} rep {rep + 1}/{repetitions} ({time.monotonic() - t0:.0f} s): "
            + ", ".join(
                f"{n} {v[n]['cpu_per_request_ms']:.3f} ms {v[n]['throughput_rps']:.0f}/s"
                + ("" if n == floor else f" x{v[n]['cpu_per_request_ms'] / floor_cpu:.2f}")
                for n in variants
            )
        )
    return workers


def _ratios(workers: list[dict[str, Any]], a: str, b: str, field: str) -> dict[str, Any]:
    return summarize(
        [w["variants"][a][field] / w["variants"][b][field] for w in workers],
    )


def _variant_stats(workers: list[dict[str, Any]], v: str) -> dict[str, Any]:
    xs = [w["variants"][v] for w in workers]
    return {
        "cpu_per_request_ms": summarize([x["cpu_per_request_ms"] for x in xs]),
        "throughput_rps": summarize([x["throughput_rps"] for x in xs]),
        "peak_rss_mb": summarize([x["peak_rss_mb"] for x in xs]),
        "requests": sum(x["requests"] for x in xs),
        "errors": sum(x["errors"] for x in xs),
        "warmup_errors": sum(x["warmup_errors"] for x in xs),
        "refreshes": sum(x.get("refreshes", 0) for x in xs),
        "first_error": next(
            (x["first_error"] or x["warmup_first_error"] for x in xs if x["first_error"]),
            None,
        ),
        "wall_s": round(sum(x["wall_s"] for x in xs), 3),
    }


def _base64_of(workers: list[dict[str, Any]]) -> str:
    """Which base64 nanobanana used in a cell's workers (``mixed`` if they differed)."""
    used = {w.get("nanobanana_base64", PYBASE64) for w in workers}
    return used.pop() if len(used) == 1 else "mixed"


def cell_base64(cell: dict[str, Any], bench: dict[str, Any]) -> str:
    """What nanobanana decoded with in ``cell`` of ``bench`` (a clients.py document).

    Cells measured before the workers reported it: pybase64 if it was installed, as
    nanobanana then used it.
    """
    recorded = cell.get("nanobanana_base64")
    if recorded:
        return str(recorded)
    return PYBASE64 if bench.get("versions", {}).get("pybase64") else STDLIB


def _check(
    value: float, limit: float, *, at_most: bool, not_evaluated: str | None = None
) -> dict[str, Any]:
    """One target in one cell for one variant; ``met`` is None when not evaluated."""
    out: dict[str, Any] = {"value": value, "limit": limit, "met": None}
    if not_evaluated:
        out["not_evaluated"] = not_evaluated
    else:
        out["met"] = value <= limit if at_most else value >= limit
    return out


def evaluate_async(cell: dict[str, Any], base64_used: str = STDLIB) -> dict[str, dict[str, Any]]:
    """The targets of one cell, for ``generate`` and ``batch``: value, limit, met.

    From the cell's medians and the current ``TARGETS``, so that a page written later
    evaluates older figures against the targets it states. Cells below
    ``TARGETS["from_concurrency"]`` are information: no check. ``base64_used`` is what
    nanobanana decoded with in the cell: the CPU against the floor is taken with the
    standard library's base64 on both sides, and is not evaluated otherwise.
    """
    out: dict[str, dict[str, Any]] = {}
    if cell["concurrency"] < TARGETS["from_concurrency"]:
        return out
    for v in ASYNC_MINE:
        if v not in cell["variants"]:
            continue
        t: dict[str, Any] = {}
        t["cpu_vs_floor"] = _check(
            cell["cpu_ratio_to_floor"][v]["median"],
            TARGETS["cpu_vs_floor"],
            at_most=True,
            not_evaluated=None
            if base64_used == STDLIB
            else f"nanobanana decoded with {base64_used}",
        )
        if v in cell.get("cpu_ratio_to_openai", {}):
            t["cpu_vs_openai"] = _check(
                cell["cpu_ratio_to_openai"][v]["median"], TARGETS["cpu_vs_openai"], at_most=True
            )
        if cell["latency_s"] > 0:
            t["throughput"] = _check(
                cell["throughput_ratio_to_floor"][v]["median"],
                TARGETS["rps_vs_floor"],
                at_most=False,
            )
        out[v] = t
    return out


def measure_async(
    cells: list[Cell],
    sizes: Sizes,
    variants: list[str],
    client_options: dict[str, Any],
    budget_mb: float,
    nanobanana_base64: str = STDLIB,
) -> list[dict[str, Any]]:
    script = Path(__file__).resolve()
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    measured: dict[tuple[float, str, int, int], dict[str, Any]] = {}
    for i, cell in enumerate(cells, 1):
        tag = f"[{i}/{len(cells)}] async {cell.key}"
        if cell.reduced:
            log(f"{tag}: reduced: {cell.reduced}")
        same = measured.get(cell.workload)
        if same is not None:
            log(f"{tag}: the same workload as {same['key']}: its figures stand for both")
            results.append(_same_as(cell, same))
            continue
        answer = PAYLOADS[cell.payload] * 1.37
        t0 = time.monotonic()
        # A fresh server per cell: nothing one cell leaves in it (buffers, heap) counts
        # against the next.
        with fake_server(latency=cell.latency_s, image_bytes=PAYLOADS[cell.payload]) as server:
            warm_server(server)
            spec = {
                "mode": "async",
                "url": server.url,
                "key": server.api_key,
                "variants": variants,
                "concurrency": cell.concurrency_used,
                "requests": cell.requests,
                "warmup": cell.warmup,
                "rounds": sizes.rounds_for(cell.requests),
                "warm_together": cell.latency_s > 0
                and len(variants) * cell.warmup <= WARM_TOGETHER_CONNECTIONS
                and len(variants) * cell.warmup * answer <= WARM_TOGETHER_BYTES,
                "client_options": client_options,
                "nanobanana_base64": nanobanana_base64,
            }
            workers = _repeat(script, spec, sizes.repetitions_for(cell.payload), ASYNC_FLOOR, tag)
            server_peak = process_peak_rss_mb(server.pid)
        took = time.monotonic() - t0
        results.append(_async_cell(cell, spec, workers, took, server_peak, budget_mb))
        measured[cell.workload] = results[-1]
        log(f"{tag} done in {took:.0f} s ({time.monotonic() - started:.0f} s so far)")
    return results


def _same_as(cell: Cell, measured: dict[str, Any]) -> dict[str, Any]:
    """``measured``'s figures under ``cell``'s name (both capped to the same workload)."""
    out = {**measured, **asdict(cell), "key": cell.key, "same_as": measured["key"]}
    out["duration_s"] = 0.0
    out["targets"] = evaluate_async(out, out["nanobanana_base64"])
    return out


def _async_cell(
    cell: Cell,
    spec: dict[str, Any],
    workers: list[dict[str, Any]],
    took: float,
    server_peak_rss_mb: float | None,
    budget_mb: float,
) -> dict[str, Any]:
    variants = spec["variants"]
    out: dict[str, Any] = {
        **asdict(cell),
        "key": cell.key,
        # The cap of a reduced cell comes from this; a later partial run may use another.
        "server_budget_mb": budget_mb,
        "image_bytes": PAYLOADS[cell.payload],
        "in_flight": cell.in_flight,
        "ideal_rps": cell.ideal_rps,
        "rounds": spec["rounds"],
        "repetitions": len(workers),
        "warm_together": spec["warm_together"],
        "nanobanana_base64": _base64_of(workers),
        # the limits of this run (a page written later evaluates against its own)
        "target_limits": {k: TARGETS[k] for k in ASYNC_TARGET_KEYS},
        "peak_rss_per_variant": all(w["peak_rss_per_variant"] for w in workers),
        "variants": {v: _variant_stats(workers, v) for v in variants},
        "cpu_ratio_to_floor": {
            v: _ratios(workers, v, ASYNC_FLOOR, "cpu_per_request_ms")
            for v in variants
            if v != ASYNC_FLOOR
        },
        "throughput_ratio_to_floor": {
            v: _ratios(workers, v, ASYNC_FLOOR, "throughput_rps")
            for v in variants
            if v != ASYNC_FLOOR
        },
        "warmup_s": summarize([w["warmup_s"] for w in workers]),
        "server_peak_rss_mb": server_peak_rss_mb,
        "duration_s": round(took, 1),
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if "openai" in variants:
        out["cpu_ratio_to_openai"] = {
            v: _ratios(workers, v, "openai", "cpu_per_request_ms")
            for v in ASYNC_MINE
            if v in variants
        }
    if cell.ideal_rps:
        ideal = cell.ideal_rps
        out["throughput_ratio_to_ideal"] = {
            v: summarize([w["variants"][v]["throughput_rps"] / ideal for w in workers])
            for v in variants
        }
    out["targets"] = evaluate_async(out, out["nanobanana_base64"])
    return out


def measure_sync(
    payloads: list[str], sizes: Sizes, variants: list[str], client_options: dict[str, Any]
) -> dict[str, Any]:
    script = Path(__file__).resolve()
    out: dict[str, Any] = {}
    for i, payload in enumerate(payloads, 1):
        n = sizes.sync_calls[payload]
        tag = f"[{i}/{len(payloads)}] sync {payload}"
        with fake_server(latency=0.0, image_bytes=PAYLOADS[payload]) as server:
            warm_server(server)
            spec = {
                "mode": "sync",
                "url": server.url,
                "key": server.api_key,
                "variants": variants,
                "concurrency": 1,
                "requests": n,
                "warmup": 8,
                "rounds": sizes.rounds,
                "client_options": client_options,
                # unchanged: nanobanana decodes as installed (pybase64 if it is)
                "nanobanana_base64": INSTALLED,
            }
            t0 = time.monotonic()
            workers = _repeat(script, spec, sizes.repetitions, SYNC_FLOOR, tag)
            took = time.monotonic() - t0
        cell: dict[str, Any] = {
            "payload": payload,
            "image_bytes": PAYLOADS[payload],
            "requests": n,
            "rounds": sizes.rounds,
            "repetitions": len(workers),
            "nanobanana_base64": _base64_of(workers),
            "variants": {v: _variant_stats(workers, v) for v in variants},
            "cpu_ratio_to_floor": {
                v: _ratios(workers, v, SYNC_FLOOR, "cpu_per_request_ms")
                for v in variants
                if v != SYNC_FLOOR
            },
            "duration_s": round(took, 1),
            "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if "openai" in variants:
            vs = _ratios(workers, SYNC_MINE, "openai", "cpu_per_request_ms")
            cell["nanobanana_vs_openai_cpu"] = vs
            cell["meets_target"] = vs["median"] <= TARGETS["sync_cpu_vs_openai"]
        out[payload] = cell
        log(f"{tag} done in {took:.0f} s")
    return out


def _versions(has_openai: bool) -> dict[str, str | None]:
    import aiohttp

    versions: dict[str, str | None] = {"aiohttp": aiohttp.__version__, "openai": None}
    # Installed or not (the async workers keep nanobanana from using it unless
    # --speedups; each cell records what nanobanana used).
    versions["pybase64"] = None
    with contextlib.suppress(ImportError, AttributeError):
        versions["pybase64"] = importlib.import_module("pybase64").__version__
    if has_openai:
        import openai

        versions["openai"] = openai.__version__
        for name in ("httpx", "httpx2"):
            with contextlib.suppress(ImportError, AttributeError):
                versions[name] = importlib.import_module(name).__version__
    return versions


def measure(
    *,
    cells: list[Cell],
    payloads: list[str],
    sizes: Sizes,
    budget_mb: float,
    quick: bool,
    skip_sync: bool,
    skip_async: bool,
    client_options: dict[str, Any],
    speedups: bool = False,
) -> dict[str, Any]:
    has_openai = openai_available()
    if not has_openai:
        log(OPENAI_MISSING)
    a_vars = [v for v in ASYNC_VARIANTS if has_openai or v != "openai"]
    s_vars = [v for v in SYNC_VARIANTS if has_openai or v != "openai"]
    doc: dict[str, Any] = {
        "benchmark": "clients",
        "params": {
            "payloads": payloads,
            "concurrency": sorted({c.concurrency for c in cells}),
            "latencies_s": sorted({c.latency_s for c in cells}),
            "quick": quick,
            "sizes": asdict(sizes),
            "server_budget_mb": budget_mb,
            "concurrency_caps": {p: concurrency_cap(p, budget_mb) for p in payloads},
            "async_floor": ASYNC_FLOOR,
            "sync_floor": SYNC_FLOOR,
            "max_retries": 0,
            "client_options": client_options,
            # the async workers' setting; the sync workers decode as installed
            "async_nanobanana_base64": INSTALLED if speedups else STDLIB,
        },
        "targets": TARGETS,
        "versions": _versions(has_openai),
        "openai_skipped": not has_openai,
    }
    if not skip_async:
        doc["async"] = measure_async(
            cells,
            sizes,
            a_vars,
            client_options,
            budget_mb,
            INSTALLED if speedups else STDLIB,
        )
    if not skip_sync:
        doc["sync"] = measure_sync(payloads, sizes, s_vars, client_options)
    return doc


# -- plan and estimate ---------------------------------------------------------------


def render_plan(cells: list[Cell], sizes: Sizes, payloads: list[str]) -> str:
    lines = [
        f"{'latency':>7} {'payload':>7} {'conc':>5} {'used':>5} {'req/round':>9} {'warm-up':>7}"
        f" {'workers':>7} {'rounds':>6}  reduced",
    ]
    for c in cells:
        lines.append(
            f"{c.latency_s:>6g}s {c.payload:>7} {c.concurrency:>5} {c.concurrency_used:>5}"
            f" {c.requests:>9} {c.warmup:>7} {sizes.repetitions_for(c.payload):>7}"
            f" {sizes.rounds_for(c.requests):>6}  {c.reduced or ''}"
        )
    lines.append(
        f"sync: {sizes.repetitions} workers of {sizes.rounds} rounds, "
        + ", ".join(f"{p} {sizes.sync_calls[p]} calls/round" for p in payloads)
    )
    return "\n".join(lines)


def estimate(doc: dict[str, Any], sizes: Sizes, cells: list[Cell], payloads: list[str]) -> str:
    """How long ``sizes`` would take, from the per-cell timings of a previous run ``doc``.

    Per worker: its fixed part (server start, worker start, warm-up: what the cell took
    beyond its timed parts) plus ``rounds`` x each client's wall time per request x the
    requests. A cell capped to the work of an earlier one costs nothing.
    """
    measured = {c["key"]: c for c in doc.get("async", []) if not c.get("same_as")}
    lines, total, missing = [], 0.0, []
    seen: set[tuple[float, str, int, int]] = set()

    def cost(m: dict[str, Any], n: int, workers: int, rounds: int) -> float:
        timed = sum(x["wall_s"] for x in m["variants"].values())
        fixed = max(0.0, m["duration_s"] - timed) / m["repetitions"]
        per_round = sum(x["wall_s"] / x["requests"] for x in m["variants"].values())
        return workers * (fixed + rounds * per_round * n)

    for cell in cells:
        if cell.workload in seen:
            lines.append(f"  {cell.key:>18}:      0 s (the same work as an earlier cell)")
            continue
        seen.add(cell.workload)
        m = measured.get(cell.key) or next(
            (
                c
                for c in measured.values()
                if (c["latency_s"], c["payload"], c.get("concurrency_used")) == cell.workload[:3]
            ),
            None,
        )
        if m is None:
            missing.append(cell.key)
            continue
        secs = cost(
            m, cell.requests, sizes.repetitions_for(cell.payload), sizes.rounds_for(cell.requests)
        )
        total += secs
        lines.append(f"  {cell.key:>18}: {secs:6.0f} s")
    for payload, m in doc.get("sync", {}).items():
        if payload in payloads:
            secs = cost(m, sizes.sync_calls[payload], sizes.repetitions, sizes.rounds)
            total += secs
            lines.append(f"  {'sync ' + payload:>18}: {secs:6.0f} s")
    lines.append(f"clients.py: about {total / 60:.0f} min")
    if missing:
        lines.append(f"no timings for {len(missing)} cells: {', '.join(missing)}")
    return "\n".join(lines)


# -- text report ---------------------------------------------------------------------


def _met(t: dict[str, Any] | None) -> str:
    if t is None:
        return ""
    return f"{t['value']:.2f}{'' if t['met'] else '?' if t['met'] is None else '!'}"


def render(doc: dict[str, Any]) -> str:
    lines = []
    if doc.get("openai_skipped"):
        lines.append(OPENAI_MISSING)
    if doc.get("async"):
        lines.append(
            "Async: CPU ms/request, req/s, peak RSS MB (medians); x = ratio to the aiohttp"
            " floor; ! = target missed, ? = not evaluated (nanobanana used pybase64);"
            f" targets from concurrency {TARGETS['from_concurrency']:g}"
        )
        lines.append(
            f"{'cell':>18} {'variant':>9} {'CPU ms':>8} {'CPU x':>6} {'/openai':>7}"
            f" {'req/s':>7} {'rps x':>6} {'/ideal':>6} {'RSS MB':>7} {'errors':>6}"
        )
        for c in doc["async"]:
            for v, x in c["variants"].items():
                t = c["targets"].get(v, {})
                cr = c["cpu_ratio_to_floor"].get(v, {"median": 1.0})["median"]
                tr = c["throughput_ratio_to_floor"].get(v, {"median": 1.0})["median"]
                ideal = c.get("throughput_ratio_to_ideal", {}).get(v)
                vs_openai = c.get("cpu_ratio_to_openai", {}).get(v)
                cpu_x = _met(t.get("cpu_vs_floor")) or f"{cr:.2f}"
                cpu_o = _met(t.get("cpu_vs_openai")) or (
                    f"{vs_openai['median']:.2f}" if vs_openai else ""
                )
                rps_x = _met(t.get("throughput")) or f"{tr:.2f}"
                lines.append(
                    f"{c['key']:>18} {v:>9} {x['cpu_per_request_ms']['median']:>8.3f}"
                    f" {cpu_x:>6} {cpu_o:>7}"
                    f" {x['throughput_rps']['median']:>7.0f} {rps_x:>6}"
                    f" {ideal['median'] if ideal else float('nan'):>6.2f}"
                    f" {x['peak_rss_mb']['median']:>7.1f} {x['errors']:>6}"
                )
        used = sorted({str(c.get("nanobanana_base64", "?")) for c in doc["async"]})
        lines.append(f"nanobanana decoded the images with: {', '.join(used)}")
    if doc.get("sync"):
        lines.append("")
        lines.append("Sync, sequential calls, CPU ms/call; x = ratio to the http.client floor")
        lines.append(
            f"{'payload':>7} {'variant':>11} {'CPU ms':>8} {'CPU x':>7} {'calls/s':>8}"
            f" {'errors':>6}"
        )
        for label, c in doc["sync"].items():
            for v, x in c["variants"].items():
                cr = c["cpu_ratio_to_floor"].get(v, {"median": 1.0})["median"]
                lines.append(
                    f"{label:>7} {v:>11} {x['cpu_per_request_ms']['median']:>8.3f} {cr:>7.3f}"
                    f" {x['throughput_rps']['median']:>8.0f} {x['errors']:>6}"
                )
            vs = c.get("nanobanana_vs_openai_cpu")
            if vs:
                met = "met" if c["meets_target"] else "MISSED"
                lines.append(
                    f"{'':>7} nanobanana / openai CPU: {vs['median']:.3f}"
                    f" (target <= {TARGETS['sync_cpu_vs_openai']:.2f}) {met}"
                )
    return "\n".join(lines)


def _csv(value: str, cast: Callable[[str], Any]) -> list[Any]:
    return [cast(x.strip()) for x in value.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run of the whole matrix")
    parser.add_argument(
        "--repetitions",
        type=int,
        default=None,
        help="worker processes per cell, every cell (default 3; 5 for 8KB async cells)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="rounds per worker, every cell (default 3; 12 where a round is one request)",
    )
    parser.add_argument(
        "--payloads", default=",".join(PAYLOADS), help=f"subset of {','.join(PAYLOADS)}"
    )
    parser.add_argument(
        "--concurrency",
        default=",".join(map(str, CONCURRENCY)),
        help=f"async concurrencies (default {','.join(map(str, CONCURRENCY))})",
    )
    parser.add_argument(
        "--latency",
        default=",".join(f"{x:g}" for x in LATENCIES),
        help="server latencies in seconds (default 0,1)",
    )
    parser.add_argument(
        "--requests", type=int, default=None, help="requests per variant and round, every cell"
    )
    parser.add_argument(
        "--server-budget-mb",
        type=float,
        default=SERVER_BUDGET_MB,
        help="cap the concurrency so the server holds at most this much of answers "
        f"(default {SERVER_BUDGET_MB}; 0: no cap)",
    )
    parser.add_argument(
        "--speedups",
        action="store_true",
        help="async, for information: nanobanana decodes with pybase64 if installed (by "
        "default the async workers cannot import it); the CPU target against the floor is "
        "then not evaluated",
    )
    parser.add_argument("--skip-sync", action="store_true", help="only the async matrix")
    parser.add_argument("--skip-async", action="store_true", help="only the sync loops")
    parser.add_argument(
        "--client-options",
        default="{}",
        help="diagnosis: nanobanana client keyword arguments as JSON, e.g. "
        "'{\"trust_env\": false}'",
    )
    parser.add_argument("--plan", action="store_true", help="print the cells and their sizes")
    parser.add_argument(
        "--estimate",
        nargs="?",
        const=str(RESULTS_DIR / "latest.json"),
        metavar="JSON",
        help="estimate the run's duration from a previous run's timings (latest.json)",
    )
    parser.add_argument("--json-out", default=None, help="write the results here")
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    payloads = _csv(args.payloads, str)
    unknown = [p for p in payloads if p not in PAYLOADS]
    if unknown:
        parser.error(f"unknown payloads {unknown}; choose from {list(PAYLOADS)}")
    concurrencies = _csv(args.concurrency, int)
    latencies = _csv(args.latency, float)
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        repetitions=args.repetitions or base.repetitions,
        rounds=args.rounds or base.rounds,
        requests=base.requests,
        waves=base.waves,
        sync_calls=base.sync_calls,
        # --repetitions and --rounds set every cell's
        more_repetitions={} if args.repetitions else base.more_repetitions,
        single_request_rounds=None if args.rounds else base.single_request_rounds,
    )
    cells = [
        plan_cell(lat, p, c, sizes, args.requests, args.server_budget_mb)
        for lat in latencies
        for p in payloads
        for c in concurrencies
    ]
    if args.plan:
        print(render_plan(cells, sizes, payloads))
        return
    if args.estimate:
        doc = json.loads(Path(args.estimate).read_text())
        if "benchmarks" in doc:  # latest.json rather than a --json-out
            b = doc["benchmarks"]
            doc = {
                "async": b.get("clients_async", {}).get("async", []),
                "sync": b.get("clients_sync", {}).get("sync", {}),
            }
        print(
            estimate(
                doc,
                sizes,
                [] if args.skip_async else cells,
                [] if args.skip_sync else payloads,
            )
        )
        return
    info = machine_info()
    started = time.monotonic()
    doc = measure(
        cells=cells,
        payloads=payloads,
        sizes=sizes,
        budget_mb=args.server_budget_mb,
        quick=args.quick,
        skip_sync=args.skip_sync,
        skip_async=args.skip_async,
        client_options=json.loads(args.client_options),
        speedups=args.speedups,
    )
    publish(doc, info, started, render, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
