"""Helpers shared by several test modules: running the CLI, reading what a batch left."""

from __future__ import annotations

import contextlib
import json
import logging
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nanobanana.testing import FakeServer

#: The AWS settings of a test that writes to :func:`s3_server`.
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """A real S3 endpoint on 127.0.0.1 (moto's server, from the dev extra): its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def cli(
    *args: str, stdin: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m nanobanana ARGS`` as a user would, and capture what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "nanobanana", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def against(server: FakeServer) -> tuple[str, ...]:
    """The command-line flags that point the CLI at ``server``."""
    assert server.api_key is not None
    return ("--base-url", server.url, "--api-key", server.api_key)


def manifest(out: Path) -> list[dict[str, Any]]:
    """Every line of ``out/manifest.jsonl``, each of which must parse on its own."""
    text = (out / "manifest.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def assert_complete_png(path: Path) -> None:
    """The file is a whole PNG: signature, chunks with good CRCs, and IEND last."""
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), path
    pos, kind = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        (crc,) = struct.unpack(">I", data[end : end + 4])
        assert zlib.crc32(data[pos + 4 : end]) == crc, f"bad {kind!r} chunk in {path}"
        pos = end + 4
    assert kind == b"IEND", f"{path} is truncated"
    assert pos == len(data), f"{path} has trailing bytes"
