"""Draw ``docs/performance.svg``: every headline ratio against its baseline, in plain SVG.

One bar per figure, grouped by benchmark, drawn from the baseline (1.0) to the median
ratio, with a whisker for the min-max over the repetitions and a dashed mark at the
target; green where the target is met, red where it is missed. A figure missing from
``latest.json`` (a benchmark not run yet, an older file) is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

MET, MISSED = "#2e7d32", "#c62828"
INK, MUTED, GRID = "#1f1f1f", "#5f5f5f", "#e0e0e0"
HALO = {"stroke": "#ffffff", "stroke_width": "5", "paint_order": "stroke"}  # over grid lines
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
WIDTH, LEFT, PLOT_W = 760, 200, 440
TOP, HEAD, ROW, BAR_H = 64, 26, 22, 12


@dataclass(frozen=True)
class Bar:
    label: str
    ratio: float
    low: float | None
    high: float | None
    target: float
    higher_is_better: bool

    @property
    def met(self) -> bool:
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target


Group = tuple[str, list[Bar]]


def _spread(s: Any) -> tuple[float, float | None, float | None]:
    """``(median, min, max)`` of a statistics dict, or of a bare number."""
    if isinstance(s, dict):
        return float(s["median"]), s.get("min"), s.get("max")
    return float(s), None, None


def _cpu(b: dict[str, Any]) -> Group:
    bars = []
    for label, p in b["payloads"].items():
        for variant in ("generate", "batch"):
            if variant in p.get("ratio_to_floor", {}):
                stats = _spread(p["ratio_to_floor"][variant])
                bars.append(Bar(f"{variant}, {label}", *stats, float(p["target_ratio"]), False))
    target = bars[0].target if bars else 1.10
    return f"CPU per request / aiohttp (target \u2264 {target:.2f})", bars


def _throughput(b: dict[str, Any]) -> Group:
    ref = b.get("reference", "aiohttp")
    stats = b.get(f"batch_vs_{ref}", b["batch_vs_reference"])
    ratio, low, high = _spread(stats)
    bar = Bar(
        f"batch, concurrency {b['params']['concurrency']}",
        ratio,
        low,
        high,
        float(b["target_ratio"]),
        True,
    )
    return f"Throughput / {ref} (target \u2265 {bar.target:.2f})", [bar]


def _memory(b: dict[str, Any]) -> Group:
    counts = b["params"]["prompts"]
    stats = _spread(b["ratio_largest_to_smallest"])
    target = float(b["target_flat_ratio"])
    bar = Bar(f"peak RSS, {max(counts):,} / {min(counts):,}", *stats, target, False)
    return f"Memory of a long batch (target \u2264 {target:.2f})", [bar]


def _peers(b: dict[str, Any]) -> Group:
    target = float(b["sync_target_vs_openai"])
    bars = [
        Bar(f"sync Client, {label}", *_spread(c["nanobanana_vs_openai_cpu"]), target, False)
        for label, c in b.get("sync", {}).items()
        if c.get("nanobanana_vs_openai_cpu")
    ]
    return f"Sync CPU per call / openai-python (target \u2264 {target:.2f})", bars


def collect(doc: dict[str, Any]) -> list[Group]:
    """The groups of bars that ``doc`` (``latest.json``) has figures for."""
    benchmarks = doc.get("benchmarks", {})
    groups: list[Group] = []
    for key, make in (
        ("batch_cpu", _cpu),
        ("batch_throughput", _throughput),
        ("batch_memory", _memory),
        ("peers", _peers),
    ):
        if key not in benchmarks:
            continue
        try:
            title, bars = make(benchmarks[key])
        except (KeyError, TypeError, ValueError):
            continue  # an older or partial result: leave the figure out
        if bars:
            groups.append((title, bars))
    return groups


def _axis(values: list[float]) -> tuple[float, float, float]:
    lo, hi = min(values), max(values)
    step = 0.1 if hi - lo <= 0.6 else 0.25 if hi - lo <= 1.5 else 0.5 if hi - lo <= 4 else 1.0
    lo = math.floor((lo - step / 4) / step) * step
    return max(lo, 0.0), math.ceil((hi + step / 4) / step) * step, step


def _text(x: float, y: float, s: str, size: int = 12, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}"{extra}>{escape(s)}</text>'


def render_svg(groups: list[Group], subtitle: str = "") -> str:
    """The chart as an SVG document (a short note in place of it if there is nothing)."""
    bars = [bar for _, group in groups for bar in group]
    values = [1.0]
    for bar in bars:
        values += [bar.ratio, bar.target, *(v for v in (bar.low, bar.high) if v is not None)]
    lo, hi, step = _axis(values)

    def x(v: float) -> float:
        return LEFT + (v - lo) / (hi - lo) * PLOT_W

    plot_h = sum(HEAD + ROW * len(group) for _, group in groups)
    height = TOP + plot_h + (70 if bars else 20)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" fill="{INK}">',
        "<title>nanobanana: each figure as a ratio to its baseline</title>",
        f'<rect width="{WIDTH}" height="{height}" rx="6" fill="#ffffff" stroke="#d0d0d0"/>',
        _text(
            16,
            26,
            "Each figure as a ratio to its baseline (median; whisker: min-max)",
            15,
            font_weight="600",
        ),
    ]
    if subtitle:
        out.append(_text(16, 46, subtitle, 12, fill=MUTED))
    if not bars:
        out.append(_text(16, TOP, "No figures in benchmarks/results/latest.json yet.", 13))
        return "\n".join([*out, "</svg>", ""])
    bottom = TOP + plot_h
    ticks = [lo + i * step for i in range(round((hi - lo) / step) + 1)]
    for t in ticks:
        out.append(
            f'<line x1="{x(t):.1f}" y1="{TOP}" x2="{x(t):.1f}" y2="{bottom}" stroke="{GRID}"/>'
        )
        out.append(_text(x(t), bottom + 16, f"{t:g}x", 11, fill=MUTED, text_anchor="middle"))
    out.append(
        f'<line x1="{x(1.0):.1f}" y1="{TOP - 4}" x2="{x(1.0):.1f}" y2="{bottom}" '
        f'stroke="{INK}" stroke-width="1.5"/>'
    )
    out.append(_text(x(1.0), TOP - 8, "baseline 1.0", 11, fill=MUTED, text_anchor="middle"))
    y = float(TOP)
    for title, group in groups:
        out.append(_text(16, y + 18, title, 13, font_weight="600", **HALO))
        y += HEAD
        for bar in group:
            mid, colour = y + ROW / 2, MET if bar.met else MISSED
            x0, x1 = sorted((x(1.0), x(bar.ratio)))
            out.append(_text(LEFT - 8, mid + 4, bar.label, 12, text_anchor="end"))
            out.append(
                f'<rect x="{x0:.1f}" y="{mid - BAR_H / 2:.1f}" width="{max(x1 - x0, 1.5):.1f}" '
                f'height="{BAR_H}" fill="{colour}"/>'
            )
            if bar.low is not None and bar.high is not None:
                a, b = x(bar.low), x(bar.high)
                out.append(
                    f'<path d="M{a:.1f} {mid:.1f}H{b:.1f}M{a:.1f} {mid - 4:.1f}v8'
                    f'M{b:.1f} {mid - 4:.1f}v8" stroke="{INK}" stroke-width="1.2" fill="none"/>'
                )
            tx = x(bar.target)
            out.append(
                f'<line x1="{tx:.1f}" y1="{y:.1f}" x2="{tx:.1f}" y2="{y + ROW:.1f}" '
                f'stroke="{INK}" stroke-width="2" stroke-dasharray="3 2"/>'
            )
            right = max(x(v) for v in (bar.ratio, bar.target, 1.0, bar.high or bar.ratio))
            status = "met" if bar.met else "missed"
            out.append(
                _text(
                    right + 6,
                    mid + 4,
                    f"{bar.ratio:.3f}x {status}",
                    12,
                    fill=colour,
                    font_weight="400" if bar.met else "700",
                )
            )
            y += ROW
    ly = bottom + 44
    legend = [(MET, "target met"), (MISSED, "target missed")]
    for i, (colour, label) in enumerate(legend):
        lx = 16 + i * 130
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="14" height="12" fill="{colour}"/>')
        out.append(_text(lx + 20, ly, label, 12))
    out.append(
        f'<line x1="276" y1="{ly - 12}" x2="276" y2="{ly + 3}" stroke="{INK}" '
        'stroke-width="2" stroke-dasharray="3 2"/>'
    )
    out.append(_text(286, ly, "target", 12))
    out.append(f'<path d="M346 {ly - 4}h24M346 {ly - 8}v8M370 {ly - 8}v8" stroke="{INK}"/>')
    out.append(_text(378, ly, "min-max over the repetitions", 12))
    return "\n".join([*out, "</svg>", ""])
