"""The fake AI/ML API server: its address, its recordings and its lifecycle.

:class:`FakeServer` puts the parts together: it inherits its settings
(``_settings.py``) and its fault switches (``_switches.py``); the request handlers
(``_app.py``) read both, and a listener (``_listener.py``) serves the handlers on the
running event loop or on a thread of its own.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from ._app import FakeApi
from ._listener import Listener
from ._load import LoadSwitches
from ._records import RecordedRequest
from ._settings import ServerSettings
from ._switches import FaultSwitches

__all__ = ["FakeServer"]


class FakeServer(ServerSettings, FaultSwitches, LoadSwitches):
    """A local, offline imitation of the AI/ML API's image endpoint.

    It responds to ``POST /v1/images/generations`` on ``127.0.0.1`` (a free port) like the
    real API: bearer-key auth, the vendor's validation errors and error bodies, real
    PNG images (tiny, different for every prompt) in any of the documented response
    shapes, and the usage headers. Fault switches make the next requests fail, drop,
    hang, stall or come back malformed; load switches set a standing rate limit, a
    share of 429s or an outage; and every request is recorded.

    It runs on the current event loop (``async with``) or on its own loop in a
    background thread (``with``), so blocking code can use it too.

    Args:
        api_key: The key the server expects as ``Authorization: Bearer <key>``;
            ``None`` accepts any bearer token.
        shape: The default response shape, one of :data:`RESPONSE_SHAPES`.
        image_size: A fixed ``(width, height)`` for every image. ``None`` derives a
            small size from ``aspect_ratio`` (64x64 for 1:1, 84x48 for 16:9, ...),
            doubled for ``resolution="2K"`` and quadrupled for ``"4K"``.
        image_bytes: Pad every PNG with a private chunk to this many bytes, for
            payload benchmarks; ``None`` leaves them small (as does a size below
            the unpadded file's).
        latency: Seconds to wait before every response.
        credits_per_image: Credits reported per image (illustrative figure).
        usd_per_image: US dollars reported per image (illustrative figure).
        strict_models: Respond to an unknown model id with 404, as the API does. By
            default unknown ids are served like generate models, which suits testing
            a client's forward compatibility.
        host: The interface to listen on.
        port: The port; 0 picks a free one.
        max_files: How many images the server keeps for ``/files/<id>.png``.

    Attributes:
        api_key: The expected bearer key (``None``: any). Like ``image_size``,
            ``image_bytes``, ``credits_per_image``, ``usd_per_image``,
            ``strict_models``, :attr:`shape` and :attr:`latency`, it can be changed
            while the server runs.

    Example:
        With the SDK's client (any HTTP client works, pointed at :attr:`url`)::

            async with FakeServer() as server:
                client = nanobanana.AsyncClient(api_key=server.api_key, base_url=server.url)
                async with client:
                    server.fail_next(status=429, retry_after=0)
                    result = await client.generate("a lighthouse at dawn")
                assert len(server.generation_requests) == 2  # the 429, then the retry

        From blocking code, the server runs in a background thread::

            with FakeServer(shape="images_url") as server:
                urllib.request.urlopen(...)  # a request to server.url + "/v1/images/generations"
    """

    def __init__(
        self,
        *,
        api_key: str | None = "test-key",
        shape: str = "data_b64",
        image_size: tuple[int, int] | None = None,
        image_bytes: int | None = None,
        latency: float = 0.0,
        credits_per_image: float = 81_900,
        usd_per_image: float = 0.039,
        strict_models: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        max_files: int = 1024,
    ) -> None:
        ServerSettings.__init__(
            self,
            api_key=api_key,
            shape=shape,
            image_size=image_size,
            image_bytes=image_bytes,
            latency=latency,
            credits_per_image=credits_per_image,
            usd_per_image=usd_per_image,
            strict_models=strict_models,
        )
        self._api = FakeApi(self, max_files=max_files)
        FaultSwitches.__init__(self, self._api.faults, self._api.download_faults)
        LoadSwitches.__init__(self, self._api.load)
        self._listener = Listener(
            self._api.build_app, host=host, port=port, on_listening=self._api.serve_at
        )

    # -- address ----------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server is listening.

        Example:
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server:
            ...     print(server.running)
            True
            >>> server.running
            False
        """
        return self._listener.running

    @property
    def port(self) -> int:
        """The TCP port the server listens on.

        Raises:
            RuntimeError: The server is not running.

        Example:
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server:
            ...     print(server.url.endswith(f":{server.port}"))
            True
        """
        return self._listener.port

    @property
    def url(self) -> str:
        """The base URL to give a client, e.g. ``http://127.0.0.1:54321`` (no ``/v1``).

        Raises:
            RuntimeError: The server is not running.

        Example:
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server:
            ...     print(server.url.startswith("http://127.0.0.1:"))
            True
        """
        return self._listener.url

    # -- recording --------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received since creation or :meth:`reset`, oldest first.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     _ = client.generate("a red kite")
            ...     print([(r.method, r.path, r.status) for r in server.requests])
            [('POST', '/v1/images/generations', 200)]
        """
        return self._api.recorder.snapshot()

    @property
    def generation_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST /v1/images/generations`` requests only.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     _ = client.generate("a red kite", aspect_ratio="16:9")
            ...     print([r.json["aspect_ratio"] for r in server.generation_requests])
            ['16:9']
        """
        return [r for r in self._api.recorder.snapshot() if r.is_generation]

    def distinct_connections(self) -> int:
        """Count the TCP connections the recorded requests came over.

        Returns:
            The number of distinct client ports among :attr:`requests`; a client that
            reuses its connections shows far fewer than it sent requests.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     for prompt in ["a red kite", "a blue boat", "a green hill"]:
            ...         _ = client.generate(prompt)
            ...     print(len(server.requests), server.distinct_connections())
            3 1
        """
        return len({r.client_port for r in self._api.recorder.snapshot()})

    def reset(self) -> None:
        """Forget queued faults (generation and download) and recorded requests.

        Example:
            >>> from nanobanana.testing import FakeServer
            >>> server = FakeServer()
            >>> server.hang_next(3)
            >>> server.reset()
            >>> server.pending_faults, server.requests
            (0, [])
        """
        self._api.faults.clear()
        self._api.download_faults.clear()
        self._api.recorder.clear()

    # -- lifecycle --------------------------------------------------------------

    async def astart(self) -> None:
        """Start listening on the running event loop.

        Raises:
            RuntimeError: The server is already running.
            OSError: The port cannot be bound.

        Example:
            >>> import anyio
            >>> from nanobanana.testing import FakeServer
            >>> async def main() -> bool:
            ...     server = FakeServer()
            ...     await server.astart()  # or: async with FakeServer() as server
            ...     try:
            ...         return server.running
            ...     finally:
            ...         await server.aclose()
            >>> anyio.run(main)
            True
        """
        await self._listener.astart()

    async def aclose(self) -> None:
        """Stop the server, ending hung requests; safe to call twice.

        A server started with :meth:`start` is stopped from a worker thread.

        Example:
            >>> import anyio
            >>> from nanobanana.testing import FakeServer
            >>> async def main() -> bool:
            ...     server = FakeServer()
            ...     await server.astart()
            ...     await server.aclose()
            ...     return server.running
            >>> anyio.run(main)
            False
        """
        await self._listener.aclose()

    def start(self) -> None:
        """Start listening on a new event loop in a daemon thread; return once listening.

        Raises:
            RuntimeError: The server is already running.
            OSError: The port cannot be bound.

        Example:
            >>> from nanobanana.testing import FakeServer
            >>> server = FakeServer()
            >>> server.start()  # or: with FakeServer() as server
            >>> server.running
            True
            >>> server.stop()
        """
        self._listener.start()

    def stop(self) -> None:
        """Stop a server started with :meth:`start` and join its thread; safe to call twice.

        Raises:
            RuntimeError: The server was started with :meth:`astart` (use :meth:`aclose`).

        Example:
            >>> from nanobanana.testing import FakeServer
            >>> server = FakeServer()
            >>> server.start()
            >>> server.stop()
            >>> server.running
            False
        """
        self._listener.stop()

    async def __aenter__(self) -> Self:
        await self.astart()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.running else "not running"
        return (
            f"<FakeServer {where} shape={self.shape!r} requests={len(self.requests)}"
            f" pending_faults={self.pending_faults}>"
        )
