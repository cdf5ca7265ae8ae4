"""Run every benchmark, keep the figures in ``results/latest.json``, write the docs page.

Usage::

    python benchmarks/run_all.py --quick          # the whole suite, small: minutes
    python benchmarks/run_all.py                  # the full run (about 50 minutes on 2 cores)
    python benchmarks/run_all.py --only async --latency 1 --concurrency 1000
    python benchmarks/run_all.py --only memory --memory-prompts 1000,5000
    python benchmarks/run_all.py --render-only    # rewrite docs/performance.{md,png} only

Each benchmark runs as its own process and hands back its JSON: ``async`` (the client
matrix of ``clients.py``), ``sync`` (its sequential calls), ``memory``
(``batch_memory.py``), ``startup`` (``startup.py``), ``rate_limits``
(``rate_limits.py``), ``ray`` (``ray_scale.py``, which needs the ``ray`` extra) and ``gallery``
(``gallery_open.py``, which needs Chromium). With ``--only``, the benchmarks
not run keep their previous figures in ``latest.json`` (each carries its own date and
machine); with ``--payloads``, ``--concurrency`` or ``--latency``, the cells run replace
their previous figures and the others stay. The chart needs matplotlib (``pip install -r
benchmarks/requirements.txt``); without it the JSON and the page are written, the chart
is skipped and the run says so.

The targets (``TARGETS`` in ``_common.py``) are evaluated whenever the page is written,
``--render-only`` included, from the stored medians: the page always checks the figures
against the targets it states, whatever limits were in force when they were measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _plot
from _common import BENCH_DIR, RESULTS_DIR, ROOT, TARGETS, log, machine_info, write_json
from clients import ASYNC_TARGET_KEYS, PYBASE64, STDLIB, cell_base64, evaluate_async
from rate_limits import render_section as rate_limits_section
from ray_scale import render_section as ray_scale_section

# --only name -> (script, its extra arguments, key in latest.json)
BENCHMARKS: dict[str, tuple[str, list[str], str]] = {
    "async": ("clients", ["--skip-sync"], "clients_async"),
    "sync": ("clients", ["--skip-async"], "clients_sync"),
    "memory": ("batch_memory", [], "batch_memory"),
    "startup": ("startup", [], "startup"),
    "gallery": ("gallery_open", [], "gallery_open"),
    "rate_limits": ("rate_limits", [], "rate_limits"),
    "ray": ("ray_scale", [], "ray_scale"),
}
LATEST = RESULTS_DIR / "latest.json"
DOC = ROOT / "docs" / "performance.md"
CHART = DOC.with_suffix(".png")
ASYNC_ORDER = ("aiohttp", "openai", "generate", "batch")
MINE = ("generate", "batch")


def run_benchmark(name: str, args: list[str]) -> dict[str, Any]:
    script_name, extra, _ = BENCHMARKS[name]
    script = BENCH_DIR / f"{script_name}.py"
    with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(script), *extra, *args, "--json-out", str(out)]
        log(f"running {' '.join(cmd[1:])}")
        started = time.monotonic()
        proc = subprocess.run(cmd, check=False)
        if proc.returncode != 0 or not out.exists():
            raise SystemExit(f"{script.name} failed with exit code {proc.returncode}")
        log(f"{name}: {script.name} took {time.monotonic() - started:.0f} s")
        return json.loads(out.read_text())


def merge_async(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new``'s cells replace ``old``'s of the same key; ``old``'s others stay."""
    if not old or not old.get("async"):
        return new
    cells = {c["key"]: c for c in old["async"]}
    cells.update({c["key"]: c for c in new["async"]})
    payload_order = {"8KB": 0, "256KB": 1, "1.5MB": 2}
    merged = sorted(
        cells.values(),
        key=lambda c: (c["latency_s"], payload_order.get(c["payload"], 9), c["concurrency"]),
    )
    return {**new, "async": merged, "merged_with_earlier_cells": len(merged) > len(new["async"])}


def merge_sync(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    if not old or not old.get("sync"):
        return new
    return {**new, "sync": {**old["sync"], **new["sync"]}}


# -- targets -------------------------------------------------------------------------
#
# Every target is evaluated here, when the page is written, from the stored medians
# and the current TARGETS: figures measured under other limits are shown against the
# targets the page states.


def evaluated_cells(matrix: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each cell of the async matrix with its targets, evaluated now (``evaluate_async``)."""
    return [(c, evaluate_async(c, cell_base64(c, matrix))) for c in matrix.get("async", [])]


def _worst(values: list[tuple[float, str]], higher_is_better: bool) -> tuple[float, str] | None:
    if not values:
        return None
    return min(values) if higher_is_better else max(values)


def _async_rows(matrix: dict[str, Any]) -> list[dict[str, Any]]:
    t = TARGETS
    steady = f"concurrency {t['from_concurrency']:g} and above"
    specs = [
        (
            "cpu_vs_floor",
            f"CPU per request <= {t['cpu_vs_floor']:.2f}x the aiohttp loop's, both decoding"
            " with the standard library's `base64`",
            f"async, {steady}, every payload, 0 and 1 s latency; `generate` and `batch`",
            False,
        ),
        (
            "cpu_vs_openai",
            f"CPU per request <= {t['cpu_vs_openai']:.2f}x openai-python's (`AsyncOpenAI`)",
            f"async, {steady}, every payload, 0 and 1 s latency; `generate` and `batch`",
            False,
        ),
        (
            "throughput",
            f"Throughput >= {t['rps_vs_floor']:.2f}x the aiohttp loop's",
            f"1 s latency, {steady}, every payload; `generate` and `batch`",
            True,
        ),
    ]
    cells = evaluated_cells(matrix)
    rows = []
    for name, figure, where, higher in specs:
        checked: list[tuple[float, str]] = []
        unevaluated: list[tuple[float, str]] = []
        met = 0
        for cell, targets in cells:
            for v, checks in targets.items():
                x = checks.get(name)
                if x is None:
                    continue
                label = (x["value"], f"{v}, {cell['key']}")
                if x["met"] is None:
                    unevaluated.append(label)
                else:
                    checked.append(label)
                    met += bool(x["met"])
        parts = []
        if checked:
            worst = _worst(checked, higher)
            assert worst is not None
            parts.append(
                f"{met} of {len(checked)} checks meet it; worst {worst[0]:.3f}x ({worst[1]})"
            )
        if unevaluated:
            worst = _worst(unevaluated, higher)
            assert worst is not None
            parts.append(
                f"{len(unevaluated)} checks not evaluated: nanobanana decoded with pybase64"
                f" there (worst {worst[0]:.3f}x, {worst[1]})"
            )
        if not parts:
            parts.append(f"no cell of {steady} measured")
        status: bool | None = met == len(checked)
        if met < len(checked):
            status = False
        elif unevaluated or not checked:
            status = None
        rows.append({"figure": figure, "where": where, "value": "; ".join(parts), "met": status})
    return rows


def _sync_row(sync: dict[str, Any]) -> dict[str, Any] | None:
    limit = TARGETS["sync_cpu_vs_openai"]
    values = [
        (c["nanobanana_vs_openai_cpu"]["median"], label)
        for label, c in sync["sync"].items()
        if c.get("nanobanana_vs_openai_cpu")
    ]
    if not values:
        return None
    met = sum(v <= limit for v, _ in values)
    return {
        "figure": f"Sync CPU per call <= {limit:.2f}x openai-python's (`OpenAI`)",
        "where": "`Client.generate`, one call after another, every payload",
        "value": f"{met} of {len(values)} payloads meet it; "
        + ", ".join(f"{label} {v:.3f}x" for v, label in values),
        "met": met == len(values),
    }


def _memory_row(mem: dict[str, Any]) -> dict[str, Any]:
    flat, peak_mb = TARGETS["batch_memory_flat"], TARGETS["batch_memory_peak_mb"]
    counts = mem["params"]["prompts"]
    small, large = str(min(counts)), str(max(counts))
    r = mem["per_prompts"]
    ratio = mem["ratio_largest_to_smallest"]["median"]
    peak = r[large]["peak_rss_mb"]["median"]
    return {
        "figure": f"Batch memory flat: peak RSS at {int(large):,} prompts <= {flat:.2f}x at"
        f" {int(small):,}, under {peak_mb:.0f} MB",
        "where": "`client.batch(..., out_dir=...)`, ~1 MB images",
        "value": f"{peak:.1f} MB vs {r[small]['peak_rss_mb']['median']:.1f} MB ({ratio:.3f}x)",
        "met": ratio <= flat and peak < peak_mb,
    }


def _help_row(st: dict[str, Any]) -> dict[str, Any]:
    limit = TARGETS["help_ms"]
    help_ms = st["wall_ms"]["nanobanana --help"]["median"]
    return {
        "figure": f"`nanobanana --help` <= {limit:.0f} ms",
        "where": "the console script, fresh processes",
        "value": f"{help_ms:.0f} ms",
        "met": help_ms <= limit,
    }


def _gallery_row(g: dict[str, Any]) -> dict[str, Any]:
    limit = TARGETS["gallery_open_ms"]
    opened = g["open_ms"][g["largest"]]["median"]
    ratio = g["vs_empty_page"][g["largest"]]["median"]
    return {
        "figure": f"The gallery of {max(g['params']['items']):,} items opens in <= {limit:.0f} ms",
        "where": "`index.html` from the disk, headless Chromium, to the first frame drawn",
        "value": f"{opened:.0f} ms ({ratio:.1f}x an empty page)",
        "met": opened <= limit,
    }


def summary_rows(benchmarks: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: the cells it covers, how many meet it, the worst of them."""
    rows: list[dict[str, Any]] = []
    matrix = benchmarks.get("clients_async")
    if matrix and matrix.get("async"):
        rows += _async_rows(matrix)
    sync = benchmarks.get("clients_sync")
    if sync and sync.get("sync") and not sync.get("openai_skipped"):
        row = _sync_row(sync)
        if row:
            rows.append(row)
    mem = benchmarks.get("batch_memory")
    if mem:
        rows.append(_memory_row(mem))
    st = benchmarks.get("startup")
    if st:
        rows.append(_help_row(st))
    gallery = benchmarks.get("gallery_open")
    if gallery:
        rows.append(_gallery_row(gallery))
    return rows


# -- the docs page -------------------------------------------------------------------


def _spread(s: dict[str, Any] | None, fmt: str = "{:.3f}") -> str:
    if not s or s.get("median") is None:
        return ""
    if s["min"] == s["max"]:
        return fmt.format(s["median"])
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"


def _measured_on(bench: dict[str, Any]) -> str:
    m = bench.get("machine", {})
    local = " with local changes" if m.get("nanobanana_locally_modified") else ""
    return (
        f"Measured {m.get('date', '?')} in {bench.get('duration_s', '?')} s, nanobanana "
        f"commit {m.get('git_commit')}{local} (sources {m.get('nanobanana_sources_sha256')}), "
        f"load average {', '.join(str(x) for x in m.get('loadavg', []))} at the start, "
        f"{', '.join(str(x) for x in m.get('loadavg_end', []))} at the end."
    )


def _status(met: bool | None) -> str:
    return "not evaluated" if met is None else "met" if met else "**missed**"


def _target_cell(t: dict[str, Any] | None, ratio: dict[str, Any] | None = None) -> str:
    """A check as ``1.04x met``; without a check, the ratio alone (information)."""
    if t is None:
        return f"{ratio['median']:.2f}x" if ratio else ""
    value = f"{t['value']:.2f}x"
    if t["met"] is None:
        return f"{value} not evaluated"
    return f"{value} met" if t["met"] else f"**{value} missed**"


def write_docs(doc: dict[str, Any]) -> None:
    doc = {**doc, "summary": summary_rows(doc["benchmarks"])}
    chart: str | None = None
    if _plot.available():
        quick = ", quick run" if doc.get("quick") else ""
        if _plot.write_png(doc, CHART, f"written {doc.get('generated', '?')}{quick}"):
            chart = CHART.name
            log(f"wrote {CHART}")
    else:
        log(
            "matplotlib is not installed: the chart was skipped (pip install -r "
            "benchmarks/requirements.txt)"
        )
    DOC.write_text(render_markdown(doc, chart))
    log(f"wrote {DOC}")


def render_markdown(doc: dict[str, Any], chart: str | None = None) -> str:
    b = doc["benchmarks"]
    m = doc["machine"]
    out: list[str] = []
    w = out.append
    w("# Performance")
    w("")
    w(
        "How much the SDK costs on top of the HTTP work it does. The same requests go to "
        "the same fake server through a plain aiohttp loop (the floor), through "
        "openai-python, and through nanobanana; every figure is a ratio against the floor "
        "measured in the same process, in the same run. This page is written by "
        "`benchmarks/run_all.py` from `benchmarks/results/latest.json`; the scripts and "
        "how to run them are in `benchmarks/README.md`."
    )
    w("")
    quick = (
        " **A quick run**: few requests and repetitions, for checking the suite; the "
        "figures are indicative only."
        if doc.get("quick")
        else ""
    )
    w(
        f"Written {doc['generated']}.{quick} Machine: {m['cpu']} ({m['cpu_count']} CPUs), "
        f"{m['platform']}, Python {m['python']}, aiohttp {m['aiohttp']}, nanobanana "
        f"{m['nanobanana']} (commit {m.get('git_commit')}"
        f"{' with local changes' if m.get('nanobanana_locally_modified') else ''})."
        + (
            f" The whole run took {doc['duration_s'] / 60:.1f} minutes."
            if "duration_s" in doc
            else ""
        )
    )
    w("")
    if doc.get("failed"):
        w(
            f"**Failed in this run:** {', '.join(doc['failed'])}; the figures shown for "
            "them, if any, are from an earlier run (see their dates)."
        )
        w("")
    matrix = b.get("clients_async")
    _targets_section(w, doc["summary"], matrix)
    if matrix and matrix.get("async"):
        _targets_grid(w, matrix)
    w("## Chart")
    w("")
    if chart:
        w(
            f"![CPU milliseconds per request and requests per second by concurrency, per "
            f"payload and server latency, for the aiohttp loop, openai-python, nanobanana "
            f"generate and nanobanana batch]({chart})"
        )
        w("")
        w(
            "Medians over the repetitions, bars from min to max; both axes are "
            "logarithmic. The dashed line is the ideal throughput, concurrency / latency."
        )
    else:
        w("The chart was not drawn for this run: matplotlib is not installed.")
    w("")
    if matrix and matrix.get("async"):
        _matrix_section(w, matrix)
    _sync_section(w, b.get("clients_sync"))
    _memory_section(w, b.get("batch_memory"))
    _startup_section(w, b.get("startup"))
    _gallery_section(w, b.get("gallery_open"))
    out.extend(rate_limits_section(b.get("rate_limits")))
    out.extend(ray_scale_section(b.get("ray_scale")))
    _method_section(w, matrix)
    return "\n".join(out)


def _targets_section(
    w: Callable[[str], None], summary: list[dict[str, Any]], matrix: dict[str, Any] | None
) -> None:
    t = TARGETS
    w("## Targets")
    w("")
    w(
        "Reported as met or missed, never asserted by the tests, and evaluated when this "
        "page is written: from the medians in `benchmarks/results/latest.json`, against "
        "the limits stated here. A check is one target in one cell for one of `generate` "
        "and `batch`, on the median over the worker processes; a target is met when every "
        "one of its checks is."
    )
    w("")
    w(
        f"- **CPU per request at steady state** is checked in the async cells of "
        f"concurrency {t['from_concurrency']:g} and above: every payload, both server "
        "latencies. " + _async_base64_text(matrix)
    )
    w(
        "- **Throughput at 1 s latency** is checked against the aiohttp loop in the same "
        "worker, not against the ideal (concurrency / latency): on the 2-core machine of "
        "these figures the client and the fake server share the CPUs, and with large "
        "images at high concurrency no client comes near the ideal. The ratio to the "
        "ideal stays in the tables as information."
    )
    w(
        "- **The cells of concurrency 1** are in the tables as information, not as a "
        "target: at 1 s latency they send one request after an idle second, from a "
        "process gone cold, and measure the machine's caches more than the SDK (see "
        "Method)."
    )
    w("")
    w("| Target | Where | Measured | Status |")
    w("|---|---|---|---|")
    for row in summary:
        w(f"| {row['figure']} | {row['where']} | {row['value']} | {_status(row['met'])} |")
    w("")
    if not matrix or not matrix.get("async"):
        return
    errors = sum(
        x["errors"] + x.get("warmup_errors", 0)
        for c in matrix["async"]
        for v, x in c["variants"].items()
        if v in MINE
    )
    w(
        f"Errors, as information: {errors} in `generate` and `batch` over the "
        f"{len(matrix['async'])} cells of the async matrix (retries are off)."
    )
    w("")
    current = {k: t[k] for k in ASYNC_TARGET_KEYS}
    # Cells from before the cells kept their limits were measured under other targets.
    if any(c.get("target_limits") != current for c in matrix["async"]):
        w(
            "The async figures were measured when the targets were stated otherwise "
            "(`latest.json` keeps the limits of their run); every check on this page is "
            "evaluated from their medians against the targets above."
        )
        w("")


def _targets_grid(w: Callable[[str], None], matrix: dict[str, Any]) -> None:
    t = TARGETS
    w("### Every cell")
    w("")
    w(
        f"`generate` and `batch`, each against the aiohttp loop (CPU <= "
        f"{t['cpu_vs_floor']:.2f}x), against openai-python (CPU <= "
        f"{t['cpu_vs_openai']:.2f}x) and, at 1 s latency, on throughput (>= "
        f"{t['rps_vs_floor']:.2f}x the loop's), from concurrency "
        f"{t['from_concurrency']:g}. The cells of concurrency 1 show their ratios as "
        "information; so do the ratios to the ideal throughput (concurrency / latency) "
        "and the errors."
    )
    w("")
    w(
        "| Latency | Images | Concurrency | generate CPU / loop | batch CPU / loop"
        " | generate CPU / openai | batch CPU / openai | generate req/s / loop"
        " | batch req/s / loop | req/s / ideal: loop, generate, batch | errors |"
    )
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    not_evaluated = False
    for c, tg in evaluated_cells(matrix):
        cols = []
        for key, ratios in (
            ("cpu_vs_floor", "cpu_ratio_to_floor"),
            ("cpu_vs_openai", "cpu_ratio_to_openai"),
            ("throughput", "throughput_ratio_to_floor"),
        ):
            for v in MINE:
                check = tg.get(v, {}).get(key)
                not_evaluated = not_evaluated or bool(check and check["met"] is None)
                ratio = c.get(ratios, {}).get(v) if key != "throughput" or c["latency_s"] else None
                cols.append(_target_cell(check, ratio))
        ideal = c.get("throughput_ratio_to_ideal", {})
        cols.append(
            ", ".join(f"{ideal[v]['median']:.2f}" for v in ("aiohttp", *MINE) if v in ideal)
        )
        errors = sum(
            x["errors"] + x.get("warmup_errors", 0) for v, x in c["variants"].items() if v in MINE
        )
        info = " (information)" if c["concurrency"] < t["from_concurrency"] else ""
        w(
            f"| {c['latency_s']:g} s | {c['payload']} | {_conc(c)}{info} | "
            + " | ".join(cols)
            + f" | {errors} |"
        )
    w("")
    if not_evaluated:
        w(
            "*Not evaluated*: nanobanana decoded the images with pybase64 in that cell "
            "(figures measured before the workers kept it from pybase64, or with "
            "`clients.py --speedups`), and the loop with the standard library: that ratio "
            "is not the target's measure."
        )
        w("")


def _conc(c: dict[str, Any]) -> str:
    if c.get("concurrency_used", c["concurrency"]) != c["concurrency"]:
        return f"{c['concurrency']:,} (run at {c['concurrency_used']:,})"
    return f"{c['concurrency']:,}"


def _workers_per_cell(matrix: dict[str, Any]) -> str:
    """How many worker processes the cells ran: one count, or the counts by payload."""
    by_payload: dict[str, set[int]] = {}
    for c in matrix["async"]:
        by_payload.setdefault(c["payload"], set()).add(c["repetitions"])
    counts = {n for ns in by_payload.values() for n in ns}
    if len(counts) == 1:
        return f"{counts.pop()} worker processes"
    payloads_by_count: dict[str, list[str]] = {}
    for payload, ns in by_payload.items():
        payloads_by_count.setdefault("/".join(map(str, sorted(ns))), []).append(payload)
    parts = [f"{n} for {' and '.join(ps)} images" for n, ps in payloads_by_count.items()]
    return (
        "worker processes: "
        + ", ".join(parts)
        + " (more where the clients differ least and the machine's noise weighs most)"
    )


def _rounds_text(sizes: dict[str, Any]) -> str:
    text = f"{sizes['rounds']} interleaved round(s)"
    single = sizes.get("single_request_rounds")
    if single and single != sizes["rounds"]:
        text += f" ({single} where a round is a single request)"
    return text


def _matrix_section(w: Callable[[str], None], matrix: dict[str, Any]) -> None:
    p = matrix["params"]
    sizes = p["sizes"]
    versions = ", ".join(f"{k} {v}" for k, v in matrix.get("versions", {}).items() if v)
    w("## Async clients")
    w("")
    w(
        f"`benchmarks/clients.py`: {versions}. Per cell, {_workers_per_cell(matrix)}, "
        f"each running every client in {_rounds_text(sizes)}; "
        "N is the requests per client and round. CPU is the client process's, in "
        "milliseconds per request; throughput is requests per second of wall time; both "
        "are medians over the workers, with min-max, and each ratio to the floor (or to "
        "the ideal, concurrency / latency) is taken within a worker first. Peak RSS is the "
        "worker's while that client ran (the process holds all four clients)."
    )
    w("")
    w(_base64_note(matrix, matrix["async"]))
    if matrix.get("openai_skipped"):
        w("")
        w("openai was not installed for this run: its variants were skipped.")
    w("")
    w(_measured_on(matrix))
    w("")
    reduced = [c for c in matrix["async"] if c.get("reduced")]
    if reduced:
        # Each cell's own budget where it records one (a partial run may have used
        # another); older cells were measured with the run's.
        budgets = sorted({c.get("server_budget_mb", p.get("server_budget_mb")) for c in reduced})
        budget = " or ".join(f"{b:g}" if b is not None else "?" for b in budgets)
        w(
            "Reduced cells: the fake server (aiohttp) keeps each open connection's last "
            "answer until its next request, and the four clients' pools stay open side by "
            f"side, so the concurrency is capped to keep those answers under {budget} MB "
            "(`--server-budget-mb`):"
        )
        w("")
        for c in reduced:
            same = f"; the same work as {c['same_as']}, measured once" if c.get("same_as") else ""
            w(f"- {c['key']}: {c['reduced']}{same}.")
        w("")
    for lat in sorted({c["latency_s"] for c in matrix["async"]}):
        for payload in dict.fromkeys(c["payload"] for c in matrix["async"]):
            cells = [
                c for c in matrix["async"] if c["latency_s"] == lat and c["payload"] == payload
            ]
            if not cells:
                continue
            w(f"### {payload} images, server latency {lat:g} s")
            w("")
            ideal_col = lat > 0
            head = (
                "| Concurrency | N | Client | CPU ms/request | CPU / floor | req/s"
                " | req/s / floor |"
                + (" req/s / ideal |" if ideal_col else "")
                + " Peak RSS MB | errors |"
            )
            w(head)
            w("|" + "---|" * (head.count("|") - 1))
            for c in cells:
                for v in ASYNC_ORDER:
                    x = c["variants"].get(v)
                    if x is None:
                        continue
                    cr = c["cpu_ratio_to_floor"].get(v)
                    tr = c["throughput_ratio_to_floor"].get(v)
                    ideal = c.get("throughput_ratio_to_ideal", {}).get(v)
                    errors = x["errors"] + x.get("warmup_errors", 0)
                    w(
                        f"| {_conc(c)} | {c['requests']} | {v}"
                        f" | {_spread(x['cpu_per_request_ms'])} | {_spread(cr) if cr else '1'}"
                        f" | {_spread(x['throughput_rps'], '{:.0f}')}"
                        f" | {_spread(tr) if tr else '1'} |"
                        + (f" {_spread(ideal)} |" if ideal_col else "")
                        + f" {_spread(x['peak_rss_mb'], '{:.0f}')} | {errors} |"
                    )
            w("")


def _async_base64_text(matrix: dict[str, Any] | None) -> str:
    """How nanobanana decoded in the async matrix: what the CPU target against the loop needs."""
    how = (
        "It is measured without the `speedups` extra: each worker process of the async "
        "matrix makes pybase64 unimportable before it imports nanobanana (as if the "
        "extra were not installed), so nanobanana decodes the images with the standard "
        "library's `base64`, as the aiohttp loop and openai-python do, and its CPU "
        "against the loop is the SDK's own."
    )
    if not matrix or not matrix.get("async"):
        return how
    used = [cell_base64(c, matrix) for c in matrix["async"]]
    fast = sum(u != STDLIB for u in used)
    if not fast:
        return how + " Every cell here was measured that way."
    which = "every cell" if fast == len(used) else f"{fast} of the {len(used)} cells"
    return how + (
        f" In {which} here nanobanana decoded with pybase64 instead (figures measured "
        "before the workers kept it from pybase64, or with `clients.py --speedups`): "
        "there its CPU against the loop is shown, not evaluated."
    )


def _base64_note(bench: dict[str, Any], cells: list[dict[str, Any]]) -> str:
    """Which base64 each side decoded with: it is most of the CPU of large images."""
    pybase64 = bench.get("versions", {}).get("pybase64")
    used = {cell_base64(c, bench) for c in cells}
    if used == {STDLIB}:
        installed = (
            f" (pybase64 {pybase64} was installed, and made unimportable in the workers)"
            if pybase64
            else ""
        )
        return f"Every client decoded the images with the standard library's `base64`{installed}."
    if used == {PYBASE64}:
        return (
            f"nanobanana decoded the images with pybase64 {pybase64 or ''} (its `speedups` "
            "extra was installed); the floor and openai-python with the standard library's "
            "`base64`."
        )
    return (
        f"nanobanana decoded the images with pybase64 {pybase64 or ''} (its `speedups` "
        "extra) in some cells and with the standard library's `base64` in the others; the "
        "floor and openai-python always with the standard library's."
    )


def _sync_section(w: Callable[[str], None], sync: dict[str, Any] | None) -> None:
    if not sync or not sync.get("sync"):
        return
    first = next(iter(sync["sync"].values()))
    w("## Sync clients")
    w("")
    w(
        f"`benchmarks/clients.py`: one call after another, server latency 0, "
        f"{first['repetitions']} worker processes per payload, each running the three "
        f"clients in {first['rounds']} interleaved round(s) of N calls. The floor is a "
        "keep-alive `http.client` loop (`json.loads`, base64-decode). "
        + _base64_note(sync, list(sync["sync"].values()))
    )
    w("")
    w(_measured_on(sync))
    w("")
    w("| Images | N | Client | CPU ms/call | CPU / floor | calls/s | Peak RSS MB | errors |")
    w("|---|---|---|---|---|---|---|---|")
    for label, c in sync["sync"].items():
        for name, x in c["variants"].items():
            cr = c["cpu_ratio_to_floor"].get(name)
            w(
                f"| {label} | {c['requests']} | {name} | {_spread(x['cpu_per_request_ms'])}"
                f" | {_spread(cr) if cr else '1'}"
                f" | {_spread(x['throughput_rps'], '{:.0f}')}"
                f" | {_spread(x['peak_rss_mb'], '{:.0f}')} | {x['errors']} |"
            )
    w("")
    vs = [
        f"{label} {_spread(c['nanobanana_vs_openai_cpu'])}"
        for label, c in sync["sync"].items()
        if c.get("nanobanana_vs_openai_cpu")
    ]
    if vs:
        w(f"`nanobanana.Client` / `openai.OpenAI`, CPU per call: {'; '.join(vs)}.")
        w("")


def _memory_section(w: Callable[[str], None], mem: dict[str, Any] | None) -> None:
    if not mem:
        return
    p = mem["params"]
    w("## Memory of a long batch")
    w("")
    w(
        f"`benchmarks/batch_memory.py`: `client.batch(prompts, concurrency="
        f"{p['concurrency']}, out_dir=...)` with ~1 MB images, each run in a fresh "
        f"subprocess, {p['repetitions']} repetition(s). Peak RSS is `ru_maxrss`; "
        "steady is the median of the RSS sampled after every 1 % of the items."
    )
    w("")
    w(_measured_on(mem))
    w("")
    w("| Prompts | Peak RSS MB | Before the batch MB | Steady RSS MB | Wall s | errors |")
    w("|---|---|---|---|---|---|")
    for n, r in mem["per_prompts"].items():
        w(
            f"| {int(n):,} | {_spread(r['peak_rss_mb'], '{:.1f}')}"
            f" | {r['rss_before_batch_mb']['median']:.1f}"
            f" | {_spread(r['steady_rss_mb'], '{:.1f}')}"
            f" | {r['wall_s']['median']:.1f} | {r['errors']} |"
        )
    w("")
    w(
        f"Peak ratio largest/smallest: {_spread(mem['ratio_largest_to_smallest'])}; "
        f"steady-state ratio: {_spread(mem['steady_ratio_largest_to_smallest'])}."
    )
    w("")


def _startup_section(w: Callable[[str], None], st: dict[str, Any] | None) -> None:
    if not st:
        return
    w("## Startup")
    w("")
    w(
        f"`benchmarks/startup.py`: wall milliseconds of a fresh process, "
        f"{st['params']['repetitions']} repetitions in rotating order, median (min-max)."
    )
    w("")
    w(_measured_on(st))
    w("")
    w("| Command | Wall ms |")
    w("|---|---|")
    for name, cmd in st["params"]["commands"].items():
        w(f"| `{cmd}` | {_spread(st['wall_ms'][name], '{:.1f}')} |")
    w("")
    w(
        f"`import nanobanana` beyond the bare interpreter: "
        f"{_spread(st['import_beyond_python_ms'], '{:.1f}')} ms; "
        f"`nanobanana.AsyncClient` beyond `import aiohttp`: "
        f"{_spread(st['asyncclient_beyond_aiohttp_ms'], '{:.1f}')} ms "
        f"(timed inside the process: "
        f"{_spread(st['inprocess_asyncclient_beyond_aiohttp_ms'], '{:.1f}')} ms); "
        f"`-X importtime` for `nanobanana`: "
        f"{_spread(st['importtime_nanobanana_ms'], '{:.1f}')} ms. The import figures are "
        "information; the target is on `nanobanana --help`."
    )
    w("")


def _gallery_section(w: Callable[[str], None], g: dict[str, Any] | None) -> None:
    if not g:
        return
    w("## Gallery pages")
    w("")
    w(
        "`benchmarks/gallery_open.py`: the `index.html` that `nb.write_gallery` writes, "
        "opened from the disk (`file://`) in headless Chromium (a 1280x900 window), against "
        "an empty page opened in the same browser in the same repetition; "
        f"{g['params']['repetitions']} repetitions in rotating order, median (min-max). "
        "*Open* is from the start of the navigation to the first frame drawn after the "
        "page's load event. The page draws only the cards on screen (and two rows either "
        "side), whatever the number of items."
    )
    w("")
    w(_measured_on(g))
    w("")
    w("| Page | Open ms | vs the empty page | Size | Cards in the document | `write_gallery` s |")
    w("|---|---|---|---|---|---|")
    for name, s in g["open_ms"].items():
        ratio = g["vs_empty_page"].get(name)
        page = g["pages"].get(name, {})
        size = f"{page['page_bytes'] / 1e6:.2f} MB" if page else ""
        w(
            f"| {name} | {_spread(s, '{:.0f}')} | "
            f"{_spread(ratio, '{:.2f}x') if ratio else ''} | {size} | "
            f"{g['cards_in_document'].get(name, '')} | {page.get('write_gallery_s', '')} |"
        )
    w("")
    w(
        f"On the {g['largest']}: a search typed in is drawn in "
        f"{_spread(g['search_ms'], '{:.0f}')} ms, a jump to the middle of the grid in "
        f"{_spread(g['jump_ms'], '{:.0f}')} ms. Browser timings are wall time on a shared "
        "machine: read them against the empty page's."
    )
    w("")


def _method_section(w: Callable[[str], None], matrix: dict[str, Any] | None) -> None:
    w("## Method")
    w("")
    w(
        "- **The work.** Every client sends the same prompts to the same "
        "`nanobanana.testing.FakeServer` and does the same with each answer: parse the "
        "JSON, base64-decode every image. Images of 8 KB, 256 KB and 1.5 MB; the async "
        "clients at concurrency 1, 64, 256 and 1,000 (`asyncio.gather` under a semaphore; "
        "`batch` is `client.batch(prompts, concurrency=...)`), with the server answering "
        "at once and after 1 s; the sync clients one call after another. Retries are off "
        "in every client, so every failure is counted."
    )
    w(
        "- **The clients.** The floor is a hand-written aiohttp loop (one `ClientSession`, "
        "`json.loads`, `base64.b64decode`); openai-python is `AsyncOpenAI` / `OpenAI` with "
        "`base_url` and its default connection pool (which keeps at most 100 idle "
        "connections, for 5 s); nanobanana is `AsyncClient.generate`, `client.batch` and "
        "`Client.generate`. The sync floor is a keep-alive `http.client` loop."
    )
    w(
        "- **Base64.** Decoding the images is most of the CPU of a large answer. "
        "nanobanana decodes with pybase64 whenever it can import it (its `speedups` "
        "extra), the floor and openai-python with the standard library's `base64`. So "
        "each worker process of the async matrix makes pybase64 unimportable before "
        'anything imports nanobanana (`sys.modules["pybase64"] = None`, as if the extra '
        "were not installed): every client does the same base64 work, and nanobanana's "
        "CPU against the floor is what the SDK adds. Each worker reports what nanobanana "
        "decoded with, and each cell keeps it in `latest.json`. `clients.py --speedups` "
        "measures the matrix with pybase64 instead, as information. The sync clients "
        "decode as installed (see their section)."
    )
    w(
        "- **The server runs in a process of its own** (`benchmarks/_server.py`), a fresh "
        "one per cell, with its image cache warmed first, so the CPU measured is the "
        "client's alone."
    )
    w(
        "- **Paired, interleaved measurement.** For each cell one worker process opens "
        "every client, warms each (which opens its connections), then runs them in "
        "rounds: in round r the clients go in rotated order, each sending the same "
        "requests on its own warmed connections (a client idle longer than its pool "
        "keeps connections re-opens them first, untimed). `time.process_time()` (user + "
        "system "
        "CPU of the process, every thread) and the wall clock are read around each "
        "client's timed part and summed per client over the rounds, and each ratio to "
        "the floor is taken within the worker. The worker is repeated in fresh processes "
        "and the median over them is reported, with min-max. Every client of a ratio "
        "runs in the same process, on the same machine state, in the same rounds, so "
        "the machine's slow drifts cancel out of the ratios. Its fast noise does not: on "
        "the 2-core machine of these figures, a ratio taken over one round of 1,000 "
        "requests of 8 KB ranged from about 0.75x to 1.85x, and a worker's ratio (over "
        "its rounds) varies by about 0.1-0.15 either way. Hence several workers per cell "
        "and their median, and more of them where the clients differ least; a cell "
        "within about 0.05 of a target can come out either side of it from one run to "
        "the next."
    )
    w(
        "- **Concurrency 1 at 1 s latency** sends one request per round, from a process "
        "that has been idle since the previous one. After even a few milliseconds idle "
        "every piece of code costs several times its warm price (the floor spends about "
        "0.5-1.3 ms on a request there, against about 0.3 ms back to back), so this cell "
        "weighs how much code and data a request touches rather than how many "
        "instructions it runs: it measures the machine's caches more than the SDK, and "
        "is information, not a target. A batch there is a batch of one request: its "
        "setup is counted on that request."
    )
    w(
        "- **Throughput at 1 s latency** is a round's requests over its wall time. A "
        "round starts all its requests at once, so the answers of its first wave arrive "
        "together and wait their turn in the client; in a round of two waves that wait "
        "weighs on the whole round, where a long batch pays it once. Longer rounds "
        "(`clients.py --requests`) do not take every cell to concurrency / latency: each "
        "answer's way back (the transfer of its bytes while other answers arrive, and "
        "its handling in the client) adds to the second of latency, and the more CPU a "
        "client spends per answer, the more it adds. With the client and the server on "
        "the same two cores, every client falls short of the ideal with large images at "
        "high concurrency, the floor too: hence the target takes the floor, measured in "
        "the same rounds, as its reference."
    )
    w(
        "- **Peak RSS** of a client is the worker's peak while that client ran "
        "(Linux: reset through `/proc/self/clear_refs`, read from `VmHWM`). The four "
        "clients share the process, so it includes what the others hold; compare them "
        "within a cell. The long-batch memory is measured apart, one run per process."
    )
    if matrix:
        p = matrix["params"]
        w(
            f"- **Sizes.** At latency 0 each client sends {_sizes_text(p)} per round, at "
            "least the concurrency; at 1 s latency "
            f"{p['sizes']['waves']} wave(s) of the concurrency per round (one request at "
            "concurrency 1). The concurrency is capped where the server would otherwise "
            f"hold more than {p.get('server_budget_mb', '?'):g} MB of answers (see the "
            "reduced cells above)."
        )
    w(
        "- **Startup** is the wall time of fresh interpreters, **memory of a long batch** "
        "the peak RSS of a fresh process running it; both are described above their "
        "tables."
    )
    w("")


def _sizes_text(p: dict[str, Any]) -> str:
    return ", ".join(f"{n} requests of {label}" for label, n in p["sizes"]["requests"].items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run of everything")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated: {','.join(BENCHMARKS)}"
    )
    parser.add_argument("--payloads", default=None, help="async and sync: e.g. 8KB,256KB")
    parser.add_argument("--concurrency", default=None, help="async: e.g. 64,1000")
    parser.add_argument("--latency", default=None, help="async: server latencies, e.g. 1")
    parser.add_argument("--repetitions", default=None, help="clients: worker processes per cell")
    parser.add_argument("--rounds", default=None, help="clients: interleaved rounds per worker")
    parser.add_argument(
        "--server-budget-mb", default=None, help="clients: see clients.py --help (0: no cap)"
    )
    parser.add_argument(
        "--speedups",
        action="store_true",
        help="async: nanobanana decodes with pybase64 if installed (information: the CPU "
        "target against the loop is then not evaluated)",
    )
    parser.add_argument("--memory-prompts", default=None, help="memory: e.g. 1000,10000")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite docs/performance.md and .png from latest.json",
    )
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the docs page")
    args = parser.parse_args(argv)

    previous: dict[str, Any] = json.loads(LATEST.read_text()) if LATEST.exists() else {}
    if args.render_only:
        if not previous:
            parser.error(f"{LATEST} does not exist yet")
        write_docs(previous)
        return
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; choose from {list(BENCHMARKS)}")

    started = time.monotonic()
    known = {key for _, _, key in BENCHMARKS.values()}
    old = {k: v for k, v in previous.get("benchmarks", {}).items() if k in known}
    benchmarks: dict[str, Any] = dict(old)
    subset = any(x is not None for x in (args.payloads, args.concurrency, args.latency))
    failed: list[str] = []

    def document() -> dict[str, Any]:
        return {
            "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "ran": [n for n in names if n not in failed],
            "failed": failed,
            "duration_s": round(time.monotonic() - started, 1),
            "machine": machine_info(),
            "summary": summary_rows(benchmarks),
            "benchmarks": benchmarks,
        }

    for i, name in enumerate(names, 1):
        log(f"[{i}/{len(names)}] {name} ({time.monotonic() - started:.0f} s so far)")
        key = BENCHMARKS[name][2]
        try:
            result = run_benchmark(name, _arguments(name, args))
        except (SystemExit, OSError, ValueError) as exc:
            # The others still run; this one keeps its previous figures, if any.
            log(f"{name} failed ({exc}); its previous figures stay")
            failed.append(name)
            continue
        if subset and name == "async":
            result = merge_async(old.get(key), result)
        elif subset and name == "sync":
            result = merge_sync(old.get(key), result)
        benchmarks[key] = result
        write_json(LATEST, document())  # what has run so far is kept, whatever follows

    doc = document()
    write_json(LATEST, doc)
    log(f"wrote {LATEST}")
    if not args.no_docs:
        write_docs(doc)
    for row in doc["summary"]:
        status = "" if row["met"] is None else "met" if row["met"] else "MISSED"
        print(f"{row['figure']} ({row['where']}): {row['value']} {status}")
    log(f"done in {time.monotonic() - started:.0f} s")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


def _arguments(name: str, args: argparse.Namespace) -> list[str]:
    """The command-line arguments ``run_all.py``'s options mean for benchmark ``name``."""
    extra = ["--quick"] if args.quick else []
    options: list[tuple[str, str | None]] = []
    if name in ("async", "sync"):
        options += [
            ("--payloads", args.payloads),
            ("--repetitions", args.repetitions),
            ("--rounds", args.rounds),
            ("--server-budget-mb", args.server_budget_mb),
        ]
    if name == "async":
        options += [("--concurrency", args.concurrency), ("--latency", args.latency)]
        if args.speedups:
            extra.append("--speedups")
    if name == "memory":
        options += [("--prompts", args.memory_prompts)]
    for flag, value in options:
        if value is not None:
            extra += [flag, value]
    return extra


if __name__ == "__main__":
    sys.exit(main())
