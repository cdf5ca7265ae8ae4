"""Run every benchmark, keep the figures in ``results/latest.json``, write the docs page.

Usage::

    python benchmarks/run_all.py --quick          # a few minutes
    python benchmarks/run_all.py                  # the full run (tens of minutes)
    python benchmarks/run_all.py --only memory --memory-prompts 1000,5000
    python benchmarks/run_all.py --render-only    # rewrite docs/performance.{md,svg} only

Each benchmark runs as its own process (``batch_cpu.py``, ``batch_throughput.py``,
``batch_memory.py``, ``peers.py``, ``startup.py``) and hands back its JSON. With
``--only``, the benchmarks not run keep their previous figures in ``latest.json`` (each
carries its own date and machine). ``peers`` needs openai (``pip install openai``) for
its openai variants and skips them without it.
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

from _chart import collect, render_svg
from _common import BENCH_DIR, RESULTS_DIR, ROOT, log, machine_info, write_json

BENCHMARKS = {
    "cpu": "batch_cpu",
    "throughput": "batch_throughput",
    "memory": "batch_memory",
    "peers": "peers",
    "startup": "startup",
}
LATEST = RESULTS_DIR / "latest.json"
DOC = ROOT / "docs" / "performance.md"
CHART = DOC.with_suffix(".svg")


def run_benchmark(name: str, args: list[str]) -> dict[str, Any]:
    script = BENCH_DIR / f"{BENCHMARKS[name]}.py"
    with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(script), *args, "--json-out", str(out)]
        log(f"running {' '.join(cmd[1:])}")
        started = time.monotonic()
        proc = subprocess.run(cmd, check=False)
        if proc.returncode != 0 or not out.exists():
            raise SystemExit(f"{script.name} failed with exit code {proc.returncode}")
        log(f"{script.name} took {time.monotonic() - started:.0f} s")
        return json.loads(out.read_text())


def summary_rows(benchmarks: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per headline figure: what, value, target, met."""
    rows: list[dict[str, Any]] = []
    cpu = benchmarks.get("batch_cpu")
    if cpu:
        for label, p in cpu["payloads"].items():
            floor = p["variants"]["aiohttp"]["cpu_per_request_ms"]["median"]
            for variant in ("generate", "batch"):
                ratio = p["ratio_to_floor"][variant]["median"]
                mine = p["variants"][variant]["cpu_per_request_ms"]["median"]
                rows.append(
                    {
                        "figure": f"CPU/request, {variant}, {label} images",
                        "value": f"{mine:.3f} ms vs {floor:.3f} ms (aiohttp)",
                        "ratio": ratio,
                        "target": f"<= {p['target_ratio']:.2f}x aiohttp",
                        "met": ratio <= p["target_ratio"],
                    }
                )
    tp = benchmarks.get("batch_throughput")
    if tp:
        v = tp["variants"]
        rows.append(
            {
                "figure": (
                    f"Throughput, batch, concurrency {tp['params']['concurrency']},"
                    f" latency {tp['params']['server_latency_s']:g} s"
                ),
                "value": (
                    f"{v['batch']['throughput_rps']['median']:.0f} req/s vs"
                    f" {v['aiohttp']['throughput_rps']['median']:.0f} (aiohttp),"
                    f" {tp['ideal_rps']:.0f} (ideal)"
                ),
                "ratio": tp["batch_vs_reference"],
                "target": f">= {tp['target_ratio']:.2f}x {tp['reference']}",
                "met": tp["batch_vs_reference"] >= tp["target_ratio"],
            }
        )
        rows.append(
            {
                "figure": "Throughput, batch, errors",
                "value": str(tp["errors"]),
                "ratio": None,
                "target": "0",
                "met": tp["errors"] == 0,
            }
        )
    mem = benchmarks.get("batch_memory")
    if mem:
        counts = mem["params"]["prompts"]
        small, large = str(min(counts)), str(max(counts))
        peak_large = mem["per_prompts"][large]["peak_rss_mb"]["median"]
        peak_small = mem["per_prompts"][small]["peak_rss_mb"]["median"]
        rows.append(
            {
                "figure": f"Peak RSS, batch of 1 MB images, {large} vs {small} prompts",
                "value": f"{peak_large:.1f} MB vs {peak_small:.1f} MB",
                "ratio": mem["ratio_largest_to_smallest"]["median"],
                "target": f"<= {mem['target_flat_ratio']:.2f}x (flat)",
                "met": mem["meets_target"]["flat"],
            }
        )
        rows.append(
            {
                "figure": f"Peak RSS at {large} prompts",
                "value": f"{peak_large:.1f} MB",
                "ratio": None,
                "target": f"< {mem['target_peak_mb']:.0f} MB",
                "met": mem["meets_target"]["under_peak"],
            }
        )
    rows += _peer_rows(benchmarks.get("peers"))
    st = benchmarks.get("startup")
    if st:
        beyond = st["asyncclient_beyond_aiohttp_ms"]["median"]
        aio = st["wall_ms"]["aiohttp"]["median"]
        client = st["wall_ms"]["nanobanana.AsyncClient"]["median"]
        rows.append(
            {
                "figure": "Startup, `nanobanana.AsyncClient` import beyond `import aiohttp`",
                "value": f"{beyond:.0f} ms ({client:.0f} ms vs {aio:.0f} ms, medians)",
                "ratio": st["asyncclient_vs_aiohttp"]["median"],
                "target": f"<= {st['target_import_beyond_aiohttp_ms']:.0f} ms",
                "met": st["meets_target"]["import"],
            }
        )
        rows.append(
            {
                "figure": "Startup, `nanobanana --help`",
                "value": f"{st['wall_ms']['nanobanana --help']['median']:.0f} ms",
                "ratio": None,
                "target": f"<= {st['target_help_ms']:.0f} ms",
                "met": st["meets_target"]["help"],
            }
        )
    return rows


def _peer_rows(peers: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Sync nanobanana / openai (with its target); async generate / openai (for information)."""
    rows: list[dict[str, Any]] = []
    if not peers or peers.get("openai_skipped"):
        return rows
    for label, c in peers.get("sync", {}).items():
        vs = c.get("nanobanana_vs_openai_cpu")
        if not vs:
            continue
        v = c["variants"]
        rows.append(
            {
                "figure": f"Sync CPU/call, `Client.generate` vs openai, {label} images",
                "value": (
                    f"{v['nanobanana']['cpu_per_request_ms']['median']:.3f} ms vs"
                    f" {v['openai']['cpu_per_request_ms']['median']:.3f} ms (openai)"
                ),
                "ratio": vs["median"],
                "target": f"<= {peers['sync_target_vs_openai']:.2f}x openai",
                "met": vs["median"] <= peers["sync_target_vs_openai"],
            }
        )
    for label, cells in peers.get("async", {}).items():
        for conc, c in cells.items():
            vs = c.get("generate_vs_openai_cpu")
            if not vs:
                continue
            v = c["variants"]
            rows.append(
                {
                    "figure": (
                        f"Async CPU/request, `generate` vs openai, {label} images,"
                        f" concurrency {conc}"
                    ),
                    "value": (
                        f"{v['generate']['cpu_per_request_ms']['median']:.3f} ms vs"
                        f" {v['openai']['cpu_per_request_ms']['median']:.3f} ms (openai)"
                    ),
                    "ratio": vs["median"],
                    "target": "(information)",
                    "met": None,
                }
            )
    return rows


# -- the docs page -------------------------------------------------------------------


def _fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}x"


def _spread(s: dict[str, Any], fmt: str = "{:.3f}") -> str:
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"


def _measured_on(bench: dict[str, Any]) -> str:
    m = bench.get("machine", {})
    local = " with local changes" if m.get("nanobanana_locally_modified") else ""
    return (
        f"Measured {m.get('date', '?')}, nanobanana commit {m.get('git_commit')}{local} "
        f"(sources {m.get('nanobanana_sources_sha256')}), load average "
        f"{', '.join(str(x) for x in m.get('loadavg', []))} at the start."
    )


def write_chart(doc: dict[str, Any], path: Path = CHART) -> bool:
    """Draw the headline ratios to ``path``; False (and nothing written) if there are none."""
    groups = collect(doc)
    if not groups:
        return False
    quick = ", quick run" if doc.get("quick") else ""
    path.write_text(
        render_svg(groups, f"Written {doc.get('generated', '?')}{quick}"), encoding="utf-8"
    )
    log(f"wrote {path}")
    return True


def write_docs(doc: dict[str, Any]) -> None:
    chart = CHART.name if write_chart(doc) else None
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
        "How much the SDK costs on top of the HTTP work it does, measured against a plain "
        "aiohttp loop on the same machine, in the same run. The scripts live in "
        "`benchmarks/` (see `benchmarks/README.md`); this page is written by "
        "`benchmarks/run_all.py` from `benchmarks/results/latest.json`."
    )
    w("")
    w("## How the figures are made")
    w("")
    w(
        "- The API is `nanobanana.testing.FakeServer`, run **in a process of its own** "
        "(`benchmarks/_server.py`), so the client's CPU is measured alone."
    )
    w(
        "- Every measurement runs in a **fresh subprocess**: CPU from "
        "`time.process_time()` around the timed loop (after a warm-up that opens the "
        "connections), peak memory from `resource.getrusage(RUSAGE_SELF).ru_maxrss`."
    )
    w(
        "- The benchmark machines are shared and noisy, so every figure is a **ratio "
        "against a baseline measured in the same run**, repeated with the variants in "
        "rotating order, and the **median** is reported (with min-max in the tables below)."
    )
    w("- Nothing here is a timed assertion in the test suite.")
    w("")
    w("## Running them")
    w("")
    w("With the development install (`pip install -e '.[dev]'`), from the repository root:")
    w("")
    w("```console")
    w("$ python benchmarks/run_all.py --quick     # a few minutes; rewrites this page")
    w("$ python benchmarks/run_all.py             # the full run")
    w("$ python benchmarks/batch_cpu.py --payloads 8KB,256KB")
    w("$ python benchmarks/batch_throughput.py --concurrency 1000 --requests 3000")
    w("$ python benchmarks/batch_memory.py --prompts 1000,10000")
    w("$ pip install openai  # for the peer comparison only; not a dependency of the SDK")
    w("$ python benchmarks/peers.py --quick")
    w("$ python benchmarks/startup.py")
    w("```")
    w("")
    w(
        "Each script prints a table and takes `--json-out FILE`; `--help` lists the "
        "options. The throughput run raises its open-file limit to the hard limit itself."
    )
    w("")
    w("## Latest figures")
    w("")
    if chart:
        w(
            f"![Each figure as a ratio to its baseline, with its target: green bars meet "
            f"it, red bars miss it]({chart})"
        )
        w("")
    quick = " (quick run: fewer requests and repetitions)" if doc.get("quick") else ""
    w(
        f"Written {doc['generated']}{quick}. Machine: {m['cpu']} ({m['cpu_count']} CPUs), "
        f"{m['platform']}, Python {m['python']}, aiohttp {m['aiohttp']}, nanobanana "
        f"{m['nanobanana']}. Each section below says which commit of the SDK it measured."
    )
    w("")
    w("| Figure | Measured | Ratio | Target | Met |")
    w("|---|---|---|---|---|")
    for row in doc["summary"]:
        met = "" if row["met"] is None else "yes" if row["met"] else "**no**"
        w(
            f"| {row['figure']} | {row['value']} | {_fmt_ratio(row['ratio'])} |"
            f" {row['target']} | {met} |"
        )
    w("")
    cpu = b.get("batch_cpu")
    if cpu:
        p = cpu["params"]
        w("### CPU per request")
        w("")
        w(
            f"`benchmarks/batch_cpu.py`: the same N requests at concurrency "
            f"{p['concurrency']}, server latency {p['server_latency_s']:g} s, "
            f"{p['repetitions']} repetitions. Client CPU milliseconds per request, "
            "median (min-max), and the ratio to the aiohttp floor taken within each "
            "repetition."
        )
        w("")
        w(_measured_on(cpu))
        w("")
        w("| Images | N | aiohttp (floor) | generate | batch | generate / floor | batch / floor |")
        w("|---|---|---|---|---|---|---|")
        for label, q in cpu["payloads"].items():
            v, r = q["variants"], q["ratio_to_floor"]
            w(
                f"| {label} | {q['requests']} | {_spread(v['aiohttp']['cpu_per_request_ms'])}"
                f" | {_spread(v['generate']['cpu_per_request_ms'])}"
                f" | {_spread(v['batch']['cpu_per_request_ms'])}"
                f" | {_spread(r['generate'])} | {_spread(r['batch'])} |"
            )
        w("")
    tp = b.get("batch_throughput")
    if tp:
        p, v = tp["params"], tp["variants"]
        w("### Throughput at high concurrency")
        w("")
        w(
            f"`benchmarks/batch_throughput.py`: {p['requests']} requests at concurrency "
            f"{p['concurrency']}, server latency {p['server_latency_s']:g} s (ideal "
            f"{tp['ideal_rps']:.0f} req/s), small images, {p['repetitions']} repetitions, "
            "timed on a warm connection pool. `generate` (the SDK's requests in the "
            "plain gather loop) separates the cost of a request from the batch engine's."
        )
        w("")
        w(_measured_on(tp))
        w("")
        w("| Variant | req/s | / ideal | / aiohttp | CPU ms/request | errors |")
        w("|---|---|---|---|---|---|")
        ideal = tp["ideal_rps"]
        for name in ("aiohttp", "generate", "batch"):
            if name not in v:
                continue
            x = v[name]
            rps = x["throughput_rps"]["median"]
            vs_plain = {
                "aiohttp": "1",
                "generate": _spread(tp["generate_vs_aiohttp"])
                if "generate_vs_aiohttp" in tp
                else "",
                "batch": _spread(tp["batch_vs_aiohttp"]),
            }[name]
            cpu_req = x.get("cpu_per_request_ms")
            w(
                f"| {name} | {_spread(x['throughput_rps'], '{:.0f}')} | {rps / ideal:.3f}"
                f" | {vs_plain} | {_spread(cpu_req) if cpu_req else ''} | {x['errors']} |"
            )
        w("")
    mem = b.get("batch_memory")
    if mem:
        p = mem["params"]
        w("### Memory of a long batch")
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
    _peers_section(w, b.get("peers"))
    _startup_section(w, b.get("startup"))
    w("## What each benchmark measures")
    w("")
    w(
        "**CPU per request** (`batch_cpu.py`). Three ways to send the same requests to the "
        "same server at the same concurrency: a hand-written aiohttp loop (one session, "
        "`asyncio.gather` under a semaphore, `json.loads`, base64-decode every image: the "
        "floor), `AsyncClient.generate` in that same loop, and `client.batch`. Payloads "
        "of 8 KB, 256 KB and 1.5 MB per image: small ones show the fixed cost per request "
        "(HTTP, parsing, the SDK's bookkeeping), large ones the cost per byte (copies, "
        "base64). Target: the SDK within 1.10x of the floor."
    )
    w("")
    w(
        "**Throughput** (`batch_throughput.py`). Many slow requests at once: the server "
        "waits 1 s before every answer, 1000 requests are in flight. The ideal is "
        "concurrency / latency; on a small machine the plain loop itself falls short of it "
        "(the server and the client share two cores), so the batch is held to 0.95x of "
        "whichever is lower, with no errors."
    )
    w("")
    w(
        "**Memory** (`batch_memory.py`). A long batch that writes 1 MB images to `out_dir` "
        "must use memory in proportion to its concurrency, not to its length: the peak "
        "RSS for 10,000 prompts should match the one for 1,000 (ratio <= 1.10) and stay "
        "under 200 MB. The peak is a maximum over bursts of answers, so a longer run can "
        "show a slightly higher peak without anything accumulating; the steady-state "
        "RSS tells the two apart."
    )
    w("")
    w(
        "**Peers** (`peers.py`). The same requests through openai-python "
        "(`AsyncOpenAI`/`OpenAI(base_url=<server>/v1).images.generate`, base64-decoding "
        "`data[].b64_json`) and through nanobanana, async at concurrency 1, 64 and 256 "
        "against the aiohttp floor, sync (one call after another) against a keep-alive "
        "`http.client` floor. Retries are off everywhere. openai is not a dependency of "
        "the SDK: `pip install openai` to include it. Target: the sync `Client.generate` "
        "at most 0.60x openai's CPU per call."
    )
    w("")
    w(
        "**Startup** (`startup.py`). Wall time of fresh interpreters: `import nanobanana` "
        "(lazy: it does not load aiohttp), `import nanobanana; nanobanana.AsyncClient` "
        "(loads aiohttp) against `import aiohttp`, and `nanobanana --help`. Targets: the "
        "client's import under 150 ms beyond aiohttp's, `--help` under 300 ms."
    )
    w("")
    return "\n".join(out)


def _peers_section(w: Callable[[str], None], peers: dict[str, Any] | None) -> None:
    if not peers:
        return
    p = peers["params"]
    w("### Peers: openai-python")
    w("")
    versions = ", ".join(f"{k} {v}" for k, v in peers.get("versions", {}).items() if v)
    w(
        f"`benchmarks/peers.py`: server latency {p['server_latency_s']:g} s, "
        f"{p['repetitions']} repetitions, {versions}. Client CPU milliseconds per "
        "request and wall throughput, median (min-max); ratios to the floor taken within "
        "each repetition."
    )
    if peers.get("openai_skipped"):
        w("")
        w("openai was not installed for this run: its variants were skipped.")
    w("")
    w(_measured_on(peers))
    w("")
    if peers.get("async"):
        w("Async (`asyncio.gather` under a semaphore; `batch` drains `client.batch`):")
        w("")
        w(
            "| Images | Concurrency | N | Variant | CPU ms/request | CPU / floor | req/s"
            " | req/s / floor | errors |"
        )
        w("|---|---|---|---|---|---|---|---|---|")
        for label, cells in peers["async"].items():
            for conc, c in cells.items():
                for name, x in c["variants"].items():
                    cr = c["cpu_ratio_to_floor"].get(name)
                    tr = c["throughput_ratio_to_floor"].get(name)
                    w(
                        f"| {label} | {conc} | {c['requests']} | {name}"
                        f" | {_spread(x['cpu_per_request_ms'])} | {_spread(cr) if cr else '1'}"
                        f" | {_spread(x['throughput_rps'], '{:.0f}')}"
                        f" | {_spread(tr) if tr else '1'} | {x['errors']} |"
                    )
        w("")
    if peers.get("sync"):
        w("Sync (one call after another; the floor is a keep-alive `http.client` loop):")
        w("")
        w("| Images | N | Variant | CPU ms/call | CPU / floor | calls/s | errors |")
        w("|---|---|---|---|---|---|---|")
        for label, c in peers["sync"].items():
            for name, x in c["variants"].items():
                cr = c["cpu_ratio_to_floor"].get(name)
                w(
                    f"| {label} | {c['requests']} | {name} | {_spread(x['cpu_per_request_ms'])}"
                    f" | {_spread(cr) if cr else '1'}"
                    f" | {_spread(x['throughput_rps'], '{:.0f}')} | {x['errors']} |"
                )
        w("")
        vs = [
            f"{label} {_spread(c['nanobanana_vs_openai_cpu'])}"
            for label, c in peers["sync"].items()
            if c.get("nanobanana_vs_openai_cpu")
        ]
        if vs:
            w(f"Sync nanobanana / openai, CPU per call: {'; '.join(vs)}.")
            w("")


def _startup_section(w: Callable[[str], None], st: dict[str, Any] | None) -> None:
    if not st:
        return
    w("### Startup")
    w("")
    w(
        f"`benchmarks/startup.py`: wall milliseconds of a fresh process, "
        f"{st['params']['repetitions']} repetitions, median (min-max)."
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
        f"{_spread(st['importtime_nanobanana_ms'], '{:.1f}')} ms."
    )
    w("")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and repetitions")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help="comma-separated: cpu,throughput,memory,peers,startup",
    )
    parser.add_argument("--memory-prompts", default=None, help="e.g. 1000,10000")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite docs/performance.md and .svg from latest.json",
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

    benchmarks: dict[str, Any] = dict(previous.get("benchmarks", {}))
    for name in names:
        extra = ["--quick"] if args.quick else []
        if name == "memory" and args.memory_prompts:
            extra += ["--prompts", args.memory_prompts]
        benchmarks[BENCHMARKS[name]] = run_benchmark(name, extra)

    doc = {
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "ran": [BENCHMARKS[n] for n in names],
        "machine": machine_info(),
        "summary": summary_rows(benchmarks),
        "benchmarks": benchmarks,
    }
    write_json(LATEST, doc)
    log(f"wrote {LATEST}")
    if not args.no_docs:
        write_docs(doc)
    for row in doc["summary"]:
        status = "" if row["met"] is None else "met" if row["met"] else "MISSED"
        print(
            f"{row['figure']}: {row['value']} {_fmt_ratio(row['ratio'])} "
            f"(target {row['target']}) {status}"
        )


if __name__ == "__main__":
    sys.exit(main())
