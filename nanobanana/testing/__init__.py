"""An offline fake of the AI/ML API's image endpoint, for tests, demos and benchmarks.

:class:`FakeServer` is a real HTTP server on ``127.0.0.1`` speaking
``POST /v1/images/generations`` like the AI/ML API does for the Nano Banana models:
bearer-key auth, the vendor's validation rules and error bodies, every documented
response shape, real (tiny) PNG images that differ per prompt, usage headers, and
fault switches for rate limits, server errors, dropped connections, hangs and
malformed responses. Point any client at :attr:`FakeServer.url`::

    import nanobanana
    from nanobanana.testing import FakeServer

    async with FakeServer() as server:
        client = nanobanana.AsyncClient(api_key=server.api_key, base_url=server.url)
        async with client:
            server.fail_next(status=429, retry_after=0)  # the first try is rate limited
            result = await client.generate("a lighthouse at dawn")
        assert [r.outcome for r in server.generation_requests] == ["fault:429", "ok"]

Blocking code uses ``with FakeServer() as server:`` instead, which runs the server
on its own event loop in a background thread.

The server runs on asyncio (aiohttp requires it).
"""

from ._faults import MALFORMED_KINDS
from ._png import make_png, png_size
from ._records import RecordedRequest
from ._responses import RESPONSE_SHAPES
from ._server import FakeServer

__all__ = [
    "MALFORMED_KINDS",
    "RESPONSE_SHAPES",
    "FakeServer",
    "RecordedRequest",
    "make_png",
    "png_size",
]
