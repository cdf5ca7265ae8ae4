"""Run the bundled fake API in a process of its own, so the client's CPU is measured alone.

As a script::

    python benchmarks/_server.py --latency 1 --image-bytes 8192 --port-file /tmp/url.txt

starts :class:`nanobanana.testing.FakeServer` on 127.0.0.1 (a free port), writes its
base URL to the port file (atomically, once it listens) and serves until it gets
SIGTERM or SIGINT. From Python, :func:`fake_server` does all of that and stops it::

    with fake_server(latency=1.0, image_bytes=8192) as server:
        print(server.url, server.api_key)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from _common import API_KEY, DISTINCT_PROMPTS, prompts, raise_nofile_limit

_STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class ServerHandle:
    """A fake server running in a child process."""

    url: str
    api_key: str
    pid: int


@contextlib.contextmanager
def fake_server(
    *,
    latency: float = 0.0,
    image_bytes: int | None = None,
    shape: str = "data_b64",
    api_key: str = API_KEY,
) -> Iterator[ServerHandle]:
    """Start the fake server in a child process; stop it (SIGTERM, then SIGKILL) on exit."""
    with tempfile.TemporaryDirectory(prefix="nb-bench-server-") as tmp:
        port_file = Path(tmp) / "url"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--latency",
            str(latency),
            "--shape",
            shape,
            "--api-key",
            api_key,
            "--port-file",
            str(port_file),
        ]
        if image_bytes is not None:
            cmd += ["--image-bytes", str(image_bytes)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + _STARTUP_TIMEOUT
            while not port_file.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"the fake server exited with {proc.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError("the fake server did not start in time")
                time.sleep(0.02)
            url = port_file.read_text().strip()
            yield ServerHandle(url=url, api_key=api_key, pid=proc.pid)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def warm_server(server: ServerHandle, distinct: int = DISTINCT_PROMPTS) -> None:
    """Ask once for every distinct benchmark prompt, so the server's image cache is hot.

    The server makes (and caches) each image the first time a prompt is asked for; a
    measurement should not pay for that. The requests are sent from a child process:
    a worker started later inherits its parent's peak RSS in ``ru_maxrss`` (Linux
    carries the high-water mark across fork and exec), so the parent stays small.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--warm-url", server.url]
    cmd += ["--api-key", server.api_key, "--distinct", str(distinct)]
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)


async def _warm(url: str, api_key: str, distinct: int) -> None:
    import nanobanana as nb

    async with nb.AsyncClient(api_key=api_key, base_url=url) as client:
        async for item in client.batch(prompts(distinct, distinct), concurrency=16):
            if not item.ok:
                raise RuntimeError(f"warming the fake server failed: {item.error}")


async def _serve(args: argparse.Namespace) -> None:
    from nanobanana.testing import FakeServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = FakeServer(
        api_key=args.api_key,
        latency=args.latency,
        image_bytes=args.image_bytes,
        shape=args.shape,
        port=args.port,
    )
    async with server:
        port_file = Path(args.port_file)
        tmp = port_file.with_name(port_file.name + ".tmp")
        tmp.write_text(server.url + "\n")
        os.replace(tmp, port_file)
        # The server records every request; forget them now and then so its memory
        # stays flat through long runs.
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=args.reset_every)
            server.reset()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--image-bytes", type=int, default=None, help="pad each PNG to about this size"
    )
    parser.add_argument("--shape", default="data_b64", help="response shape (default data_b64)")
    parser.add_argument("--api-key", default=API_KEY, help="the bearer key the server expects")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--port-file", help="write the server's URL here")
    parser.add_argument(
        "--reset-every", type=float, default=5.0, help="seconds between forgetting records"
    )
    parser.add_argument("--warm-url", help="instead of serving, warm the server at this URL")
    parser.add_argument("--distinct", type=int, default=DISTINCT_PROMPTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warm_url:
        asyncio.run(_warm(args.warm_url, args.api_key, args.distinct))
        return
    if not args.port_file:
        parser.error("--port-file is required")
    raise_nofile_limit()
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
