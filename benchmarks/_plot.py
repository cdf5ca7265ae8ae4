"""Draw ``docs/performance.png``: CPU per request and throughput by concurrency, per client.

One column per payload; for each server latency a row of CPU milliseconds per request
and a row of requests per second; one line per client, log-scaled concurrency. Points
are medians over the repetitions, bars their min-max. A cell run at a lower concurrency
than its name (to keep the server's memory in bounds) is drawn with an open marker.

matplotlib is needed (``pip install -r benchmarks/requirements.txt``), with its Agg
backend: nothing is shown, the file is written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

STYLE = {
    "aiohttp": {"color": "#444444", "marker": "s", "label": "aiohttp loop (floor)"},
    "openai": {"color": "#1f77b4", "marker": "^", "label": "openai AsyncOpenAI"},
    "generate": {"color": "#e6a100", "marker": "o", "label": "nanobanana generate"},
    "batch": {"color": "#d62728", "marker": "D", "label": "nanobanana batch"},
}


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _series(cells: list[dict[str, Any]], variant: str, field: str) -> tuple[list, ...]:
    xs, ys, lo, hi, reduced = [], [], [], [], []
    for c in sorted(cells, key=lambda c: c["concurrency"]):
        stats = c["variants"].get(variant, {}).get(field)
        if not stats or stats.get("median") is None:
            continue
        xs.append(c["concurrency"])
        ys.append(stats["median"])
        lo.append(stats["median"] - stats["min"])
        hi.append(stats["max"] - stats["median"])
        reduced.append(bool(c.get("reduced")))
    return xs, ys, lo, hi, reduced


def _plain(y: float, _pos: object = None) -> str:
    return f"{y:g}"


def _minor_labeller(ax: Any) -> Any:
    """Label some minor ticks of a log axis that spans little, in plain numbers."""

    def label(y: float, _pos: object = None) -> str:
        lo, hi = ax.get_ylim()
        if y <= 0 or lo <= 0:
            return ""
        decades = math.log10(hi / lo)
        mantissa = round(y / 10 ** math.floor(math.log10(y)), 6)
        if (
            decades < 0.6
            or (decades < 1.6 and mantissa in (2, 3, 5))
            or (decades < 2.6 and mantissa in (2, 5))
        ):
            return f"{y:g}"
        return ""

    return label


def write_png(doc: dict[str, Any], path: Path, subtitle: str = "") -> bool:
    """Draw the async matrix of ``doc`` (``benchmarks/results/latest.json``) to ``path``.

    False, and nothing written, when there is no async matrix in ``doc``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    cells = doc.get("benchmarks", {}).get("clients_async", {}).get("async", [])
    if not cells:
        return False
    payloads = list(dict.fromkeys(c["payload"] for c in cells))
    latencies = sorted({c["latency_s"] for c in cells})
    concurrencies = sorted({c["concurrency"] for c in cells})
    rows = [(lat, field) for lat in latencies for field in ("cpu_per_request_ms", "throughput_rps")]
    fig, axes = plt.subplots(
        len(rows),
        len(payloads),
        figsize=(3.9 * len(payloads) + 0.6, 2.75 * len(rows) + 1.1),
        squeeze=False,
        layout="constrained",
    )
    for r, (lat, field) in enumerate(rows):
        for col, payload in enumerate(payloads):
            ax = axes[r][col]
            here = [c for c in cells if c["payload"] == payload and c["latency_s"] == lat]
            for variant, style in STYLE.items():
                xs, ys, lo, hi, reduced = _series(here, variant, field)
                if not xs:
                    continue
                ax.errorbar(
                    xs,
                    ys,
                    yerr=[lo, hi],
                    color=style["color"],
                    marker=style["marker"],
                    markersize=5,
                    linewidth=1.6,
                    capsize=2,
                    label=style["label"],
                )
                open_x = [x for x, red in zip(xs, reduced, strict=True) if red]
                open_y = [y for y, red in zip(ys, reduced, strict=True) if red]
                if open_x:
                    ax.plot(
                        open_x,
                        open_y,
                        linestyle="none",
                        marker=style["marker"],
                        markersize=8,
                        markerfacecolor="white",
                        markeredgecolor=style["color"],
                    )
            if field == "throughput_rps" and lat > 0:
                ideal = sorted((c["concurrency"], c["ideal_rps"]) for c in here if c["ideal_rps"])
                if ideal:
                    ax.plot(
                        [x for x, _ in ideal],
                        [y for _, y in ideal],
                        color="#2ca02c",
                        linestyle="--",
                        linewidth=1.2,
                        label="ideal: concurrency / latency",
                    )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(FixedLocator(concurrencies))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_major_formatter(FuncFormatter(_plain))
            ax.yaxis.set_minor_formatter(FuncFormatter(_minor_labeller(ax)))
            ax.set_xticklabels([f"{c:,}" for c in concurrencies])
            ax.grid(True, which="both", color="#e4e4e4", linewidth=0.7)
            ax.tick_params(labelsize=8)
            what = "CPU ms / request" if field == "cpu_per_request_ms" else "requests / s"
            ax.set_title(f"{payload} images, latency {lat:g} s", fontsize=9.5)
            if col == 0:
                ax.set_ylabel(what, fontsize=9)
            if r == len(rows) - 1:
                ax.set_xlabel("concurrency", fontsize=9)
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if any(c.get("reduced") for c in cells):
        from matplotlib.lines import Line2D

        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                markersize=8,
                markerfacecolor="white",
                markeredgecolor="#444444",
            )
        )
        labels.append("open marker: run at a lower concurrency (server memory)")
    title = "nanobanana against a plain aiohttp loop and openai-python, by concurrency"
    fig.suptitle(title + (f"\n{subtitle}" if subtitle else ""), fontsize=11)
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8.5, frameon=False)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
