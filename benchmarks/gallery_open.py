"""Gallery pages: how long ``index.html`` takes to open in headless Chromium.

For each item count (200 and 10,000 by default) a batch folder is made (a hand-written
manifest, 40 small images shared by the items) and ``nb.write_gallery`` writes its page.
Then one headless Chromium opens, in rotating order, repetition after repetition:

* an empty page (``<!doctype html><title>empty</title>``) - the baseline: what the
  browser itself takes to open a file;
* the gallery of each item count.

A page's *open* time is from the start of the navigation to the first frame drawn
after its ``load`` event (``performance.now()`` two animation frames after it, when
the cards on screen are laid out). Reported: each page's median open time, its ratio
to the empty page's in the same repetition (median over repetitions), the page's
size, the cards the page put in the document (only those on screen: the page renders
what is visible), how long ``write_gallery`` took, and two interactions on the largest
gallery: a search typed in (to the frame drawn after it) and a jump to the middle of
the grid. Target: the largest gallery opens in at most 2 s (``TARGETS`` in
``_common.py``), reported, never asserted.

Needs ``/usr/bin/chromium`` and ``chromedriver`` (or ``CHROMIUM`` / ``CHROMEDRIVER``
in the environment) and Selenium (the dev extra).

Usage::

    python benchmarks/gallery_open.py [--quick] [--items 200,10000] [--repetitions 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import TARGETS, log, machine_info, publish, rotated, summarize

import nanobanana as nb
from nanobanana.testing import make_png

EMPTY = "<!doctype html><meta charset=utf-8><title>empty</title>"
ANIMALS = ("cat", "owl", "fox", "yak", "eel", "ibis", "lynx", "moth")
# Two animation frames after the call: the frame that shows what was asked is drawn.
DRAWN = "requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now())));"
OPENED = (
    "const done = arguments[0];"
    "requestAnimationFrame(() => requestAnimationFrame(() => done({"
    " drawn: performance.now(),"
    " cards: document.querySelectorAll('.card').length})));"
)


def record(i: int) -> dict[str, Any]:
    """Item ``i``: mostly ok, one in ten failed, one in ten skipped, labels and vars."""
    animal = ANIMALS[i % len(ANIMALS)]
    line: dict[str, Any] = {
        "index": i,
        "key": f"{i:032x}",
        "status": "ok",
        "prompt": f"a watercolor {animal} number {i} in a misty garden at dawn, soft light, "
        "wide shot, muted palette",
        "attempts": 1,
        "elapsed": 4.2,
        "id": f"item-{i}",
        "tag": "animals",
        "vars": {"animal": animal, "n": i},
        "model": "google/nano-banana",
        "parameters": {"aspect_ratio": "16:9", "num_images": 1},
    }
    if i % 10 == 3:
        line |= {"status": "failed", "error_type": "ServerError", "error": "500: overloaded"}
    elif i % 10 == 7:
        line |= {"status": "skipped", "skip_reason": "budget"}
    else:
        line |= {
            "paths": [f"{i % 40:06d}.png"],
            "usage": {"usd_spent": 0.039, "credits_used": 81900},
        }
    return line


def make_gallery(folder: Path, count: int) -> tuple[Path, float]:
    """A batch folder of ``count`` items and its page; the seconds ``write_gallery`` took."""
    folder.mkdir(parents=True)
    for n in range(40):
        (folder / f"{n:06d}.png").write_bytes(make_png(256, 144, str(n).encode()))
    with (folder / "manifest.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(count):
            fh.write(json.dumps(record(i)) + "\n")
    started = time.perf_counter()
    page = nb.write_gallery(folder)
    return page, time.perf_counter() - started


def open_browser() -> Any:
    try:
        from selenium import webdriver
    except ImportError:
        raise SystemExit("gallery_open.py needs selenium: pip install -e '.[dev]'") from None
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    driver_path = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not chromium or not driver_path:
        raise SystemExit("gallery_open.py needs chromium and chromedriver on the PATH")
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,900")
    options.binary_location = chromium
    return webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=options)


def open_page(driver: Any, page: Path) -> dict[str, Any]:
    """Open ``page``; ms from the navigation's start to the first frame after ``load``."""
    driver.get(page.as_uri())
    result: dict[str, Any] = driver.execute_async_script(OPENED)
    return result


def interactions(driver: Any, page: Path) -> dict[str, float]:
    """On the open ``page``: ms to a search's frame, and to a jump to the middle's."""
    driver.get(page.as_uri())
    search = driver.execute_async_script(
        "const done = arguments[0], box = document.getElementById('search');"
        "const t0 = performance.now(); box.value = 'number 4242';"
        "box.dispatchEvent(new Event('input'));"
        "requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));"
    )
    driver.execute_script(
        "const box = document.getElementById('search'); box.value = '';"
        "box.dispatchEvent(new Event('input'));"
    )
    jump = driver.execute_async_script(
        "const done = arguments[0], t0 = performance.now();"
        "window.scrollTo(0, document.documentElement.scrollHeight / 2);"
        "requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));"
    )
    return {"search_ms": search, "jump_ms": jump}


def measure(counts: list[int], repetitions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nb-gallery-bench-") as tmp:
        root = Path(tmp)
        pages = {"empty page": root / "empty.html"}
        pages["empty page"].write_text(EMPTY)
        written: dict[str, Any] = {}
        for count in counts:
            name = f"gallery, {count:,} items"
            pages[name], seconds = make_gallery(root / f"g{count}", count)
            written[name] = {
                "write_gallery_s": round(seconds, 3),
                "page_bytes": pages[name].stat().st_size,
            }
            log(f"{name}: written in {seconds:.2f} s, {written[name]['page_bytes']:,} bytes")
        driver = open_browser()
        try:
            for page in pages.values():  # warm the browser and the page cache
                open_page(driver, page)
            opened: dict[str, list[float]] = {n: [] for n in pages}
            cards: dict[str, int] = {}
            for rep in range(repetitions):
                for name in rotated(list(pages), rep):
                    result = open_page(driver, pages[name])
                    opened[name].append(result["drawn"])
                    cards[name] = result["cards"]
                log(
                    f"gallery rep {rep + 1}/{repetitions}: "
                    + ", ".join(f"{n} {v[-1]:.0f} ms" for n, v in opened.items())
                )
            largest = f"gallery, {max(counts):,} items"
            moves = [interactions(driver, pages[largest]) for _ in range(repetitions)]
        finally:
            driver.quit()
    return result_doc(counts, repetitions, opened, cards, written, moves)


def result_doc(
    counts: list[int],
    repetitions: int,
    opened: dict[str, list[float]],
    cards: dict[str, int],
    written: dict[str, Any],
    moves: list[dict[str, float]],
) -> dict[str, Any]:
    baseline = opened["empty page"]
    largest = f"gallery, {max(counts):,} items"
    largest_ms = summarize(opened[largest])["median"]
    return {
        "benchmark": "gallery_open",
        "params": {"items": counts, "repetitions": repetitions, "window": "1280x900"},
        "open_ms": {n: summarize(v) for n, v in opened.items()},
        "vs_empty_page": {
            n: summarize([a / b for a, b in zip(v, baseline, strict=True)])
            for n, v in opened.items()
            if n != "empty page"
        },
        "cards_in_document": {n: c for n, c in cards.items() if n != "empty page"},
        "pages": written,
        "largest": largest,
        "search_ms": summarize([m["search_ms"] for m in moves]),
        "jump_ms": summarize([m["jump_ms"] for m in moves]),
        "target_open_ms": TARGETS["gallery_open_ms"],
        "meets_target": {"open": largest_ms <= TARGETS["gallery_open_ms"]},
    }


def render(doc: dict[str, Any]) -> str:
    lines = [
        f"Gallery pages, ms to the first frame after load "
        f"({doc['params']['repetitions']} repetitions, medians)"
    ]
    for name, s in doc["open_ms"].items():
        ratio = doc["vs_empty_page"].get(name)
        extra = f"  {ratio['median']:.2f}x the empty page" if ratio else ""
        lines.append(f"{name:>26} {s['median']:>8.1f}  ({s['min']:.1f}-{s['max']:.1f}){extra}")
    lines.append(
        f"search typed in: {doc['search_ms']['median']:.1f} ms; "
        f"jump to the middle: {doc['jump_ms']['median']:.1f} ms ({doc['largest']})"
    )
    met = "met" if doc["meets_target"]["open"] else "MISSED"
    lines.append(f"{doc['largest']} opens in <= {doc['target_open_ms']:.0f} ms: {met}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions")
    parser.add_argument("--items", default="200,10000", help="item counts, e.g. 200,10000")
    parser.add_argument("--repetitions", type=int, default=None, help="default: 7 (quick: 3)")
    parser.add_argument("--json-out", default=None, help="write the results here")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.items.split(",") if n.strip()]
    repetitions = args.repetitions or (3 if args.quick else 7)
    info = machine_info()
    started = time.monotonic()
    publish(measure(counts, repetitions), info, started, render, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
