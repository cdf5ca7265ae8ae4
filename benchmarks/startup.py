"""Startup cost: a cold ``import nanobanana`` and ``nanobanana --help``, in fresh interpreters.

Wall time of fresh processes, the commands rotating from one repetition to the next,
medians kept:

* ``python -c pass``                                   - the interpreter alone;
* ``python -c "import aiohttp"``                       - the floor for the async client;
* ``python -c "import nanobanana"``                    - lazy: does not load aiohttp;
* ``python -c "import nanobanana; nanobanana.AsyncClient"`` - loads the client and aiohttp;
* ``nanobanana --help``                                - the command line's entry point.

Also the cumulative import time ``python -X importtime`` reports for the top-level
``nanobanana`` module. Target: ``nanobanana --help`` at most 300 ms (``TARGETS`` in
``_common.py``); the import figures are information.

Usage::

    python benchmarks/startup.py [--repetitions 10]
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT, TARGETS, log, machine_info, publish, rotated, summarize


def cli_command() -> list[str]:
    """The ``nanobanana`` console script next to this interpreter, else ``-m nanobanana``."""
    script = Path(sys.executable).parent / "nanobanana"
    if script.exists():
        return [str(script)]
    found = shutil.which("nanobanana")
    return [found] if found else [sys.executable, "-m", "nanobanana"]


def commands() -> dict[str, list[str]]:
    py = sys.executable
    return {
        "python": [py, "-c", "pass"],
        "aiohttp": [py, "-c", "import aiohttp"],
        "nanobanana": [py, "-c", "import nanobanana"],
        "nanobanana.AsyncClient": [py, "-c", "import nanobanana; nanobanana.AsyncClient"],
        "nanobanana --help": [*cli_command(), "--help"],
    }


def _display(cmd: list[str]) -> str:
    """``cmd`` as a shell line, with ``python`` and ``nanobanana`` instead of their paths."""
    name = Path(cmd[0]).name
    return shlex.join(["python" if name.startswith("python") else name, *cmd[1:]])


def wall_ms(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return 1000 * (time.perf_counter() - t0)


def importtime_ms(module: str = "nanobanana", code: str = "import nanobanana") -> float:
    """Cumulative microseconds ``-X importtime`` reports for ``module``, in ms."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000
    raise RuntimeError(f"no import time for {module}")


INPROC = {
    "aiohttp": "import aiohttp",
    "nanobanana": "import nanobanana",
    "nanobanana.AsyncClient": "import nanobanana; nanobanana.AsyncClient",
}


def inprocess_ms(code: str) -> float:
    """``code`` timed inside a fresh interpreter (without the interpreter's own start)."""
    timed = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    proc = subprocess.run(
        [sys.executable, "-c", timed], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return 1000 * float(proc.stdout.strip().splitlines()[-1])


def measure(repetitions: int) -> dict[str, Any]:
    cmds = commands()
    names = list(cmds)
    for cmd in cmds.values():  # warm the page cache and the .pyc files
        wall_ms(cmd)
    times: dict[str, list[float]] = {n: [] for n in names}
    beyond_aiohttp: list[float] = []
    beyond_python: list[float] = []
    for rep in range(repetitions):
        this = {n: wall_ms(cmds[n]) for n in rotated(names, rep)}
        for n, v in this.items():
            times[n].append(v)
        beyond_aiohttp.append(this["nanobanana.AsyncClient"] - this["aiohttp"])
        beyond_python.append(this["nanobanana"] - this["python"])
        log(
            f"startup rep {rep + 1}/{repetitions}: "
            + ", ".join(f"{n} {this[n]:.0f} ms" for n in names)
        )
    imp = [importtime_ms() for _ in range(repetitions)]
    inproc: dict[str, list[float]] = {n: [] for n in INPROC}
    for rep in range(repetitions):
        for n in rotated(list(INPROC), rep):
            inproc[n].append(inprocess_ms(INPROC[n]))
    help_ms = statistics.median(times["nanobanana --help"])
    return {
        "benchmark": "startup",
        "params": {
            "repetitions": repetitions,
            "commands": {n: _display(c) for n, c in cmds.items()},
        },
        "wall_ms": {n: summarize(v) for n, v in times.items()},
        "import_beyond_python_ms": summarize(beyond_python),
        "asyncclient_beyond_aiohttp_ms": summarize(beyond_aiohttp),
        "asyncclient_vs_aiohttp": summarize(
            [a / b for a, b in zip(times["nanobanana.AsyncClient"], times["aiohttp"], strict=True)]
        ),
        "importtime_nanobanana_ms": summarize(imp),
        "inprocess_ms": {n: summarize(v) for n, v in inproc.items()},
        "inprocess_asyncclient_beyond_aiohttp_ms": summarize(
            [
                a - b
                for a, b in zip(inproc["nanobanana.AsyncClient"], inproc["aiohttp"], strict=True)
            ]
        ),
        "target_help_ms": TARGETS["help_ms"],
        "meets_target": {"help": help_ms <= TARGETS["help_ms"]},
    }


def render(doc: dict[str, Any]) -> str:
    lines = [
        f"Startup, wall ms of a fresh process ({doc['params']['repetitions']} repetitions, medians)"
    ]
    for n, s in doc["wall_ms"].items():
        lines.append(f"{n:>24} {s['median']:>8.1f}  ({s['min']:.1f}-{s['max']:.1f})")
    m = doc["meets_target"]
    lines.append(
        f"import nanobanana beyond python: {doc['import_beyond_python_ms']['median']:.1f} ms"
    )
    lines.append(f"-X importtime nanobanana: {doc['importtime_nanobanana_ms']['median']:.1f} ms")
    lines.append(
        "timed in process: "
        + ", ".join(f"{n} {s['median']:.1f} ms" for n, s in doc["inprocess_ms"].items())
        + f"; AsyncClient beyond aiohttp "
        f"{doc['inprocess_asyncclient_beyond_aiohttp_ms']['median']:.1f} ms"
    )
    lines.append(
        f"AsyncClient beyond aiohttp: {doc['asyncclient_beyond_aiohttp_ms']['median']:.1f} ms"
    )
    lines.append(
        f"nanobanana --help: {doc['wall_ms']['nanobanana --help']['median']:.1f} ms"
        f" (target <= {doc['target_help_ms']:.0f}) {'met' if m['help'] else 'MISSED'}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="same as the default (it is short)")
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--json-out", default=None, help="write the results here")
    args = parser.parse_args(argv)
    info = machine_info()
    started = time.monotonic()
    publish(measure(args.repetitions), info, started, render, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
