"""A bare aiohttp app on 127.0.0.1, for answers FakeServer cannot give."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from nanobanana.testing import make_png

ENDPOINT = "/v1/images/generations"


def png(seed: str = "x", width: int = 8, height: int = 6) -> bytes:
    return make_png(width, height, seed.encode())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on a free port; yield its base URL."""
    # handler_cancellation: a handler left hanging by a client that gave up ends with it.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
