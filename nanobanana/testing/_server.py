"""The fake AI/ML API server: its public switches and its lifecycle."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Self

from aiohttp import web

from ._app import FakeApi
from ._faults import MALFORMED_KINDS, Drop, Fail, Hang, Malformed, Slow, retry_after_value
from ._records import RecordedRequest

__all__ = ["FakeServer"]

# Long enough for a response already being written to finish; short enough that
# closing a server with requests still sleeping in `latency` is not noticeable.
_SHUTDOWN_TIMEOUT: Final = 0.25
_THREAD_NAME: Final = "nanobanana-fake-server"


class FakeServer(FakeApi):
    """A local, offline imitation of the AI/ML API's image endpoint.

    It answers ``POST /v1/images/generations`` on ``127.0.0.1`` (a free port) like the
    real API: bearer-key auth, the vendor's validation errors and error bodies, real
    PNG images (tiny, different for every prompt) in any of the documented response
    shapes, and the usage headers. Fault switches make the next requests fail, drop,
    hang, stall or come back malformed, and every request is recorded.

    It runs on the current event loop (``async with``) or on its own loop in a
    background thread (``with``), so blocking code can use it too.

    Args:
        api_key: The key the server expects as ``Authorization: Bearer <key>``;
            ``None`` accepts any bearer token.
        shape: The default response shape, one of :data:`RESPONSE_SHAPES`.
        image_size: A fixed ``(width, height)`` for every image. ``None`` derives a
            small size from ``aspect_ratio`` (64x64 for 1:1, 84x48 for 16:9, ...),
            doubled for ``resolution="2K"`` and quadrupled for ``"4K"``.
        image_bytes: Pad every PNG with a private chunk to about this many bytes
            (within 0.4% below), for payload benchmarks; ``None`` leaves them small.
        latency: Seconds to wait before every answer.
        credits_per_image: Credits reported per image (illustrative figure).
        usd_per_image: US dollars reported per image (illustrative figure).
        strict_models: Answer an unknown model id with 404, as the API does. By
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
        super().__init__(
            api_key=api_key,
            shape=shape,
            image_size=image_size,
            image_bytes=image_bytes,
            latency=latency,
            credits_per_image=credits_per_image,
            usd_per_image=usd_per_image,
            strict_models=strict_models,
            max_files=max_files,
        )
        self._host = host
        self._wanted_port = port
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None

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
        return self._port is not None

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
        if self._port is None:
            raise RuntimeError("FakeServer is not running; use it as a context manager")
        return self._port

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
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

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
        return self._recorder.snapshot()

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
        return [r for r in self._recorder.snapshot() if r.is_generation]

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
        return len({r.client_port for r in self._recorder.snapshot()})

    @property
    def pending_faults(self) -> int:
        """How many queued faults no request has consumed yet.

        Example:
            >>> from nanobanana.testing import FakeServer
            >>> server = FakeServer()
            >>> server.fail_next(n=2, status=503)
            >>> server.pending_faults
            2
        """
        return len(self._faults)

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
        self._faults.clear()
        self._download_faults.clear()
        self._recorder.clear()

    # -- fault switches ---------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        retry_after: str | float | None = None,
        retry_after_ms: int | None = None,
        body: bytes | str | Mapping[str, Any] | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``n`` generation requests with ``status``.

        Args:
            n: How many requests fail.
            status: The HTTP status (200-599).
            retry_after: A ``Retry-After`` header: seconds (number) or any string,
                e.g. an HTTP date.
            retry_after_ms: A ``retry-after-ms`` header, in milliseconds.
            body: The body to send instead of the vendor's JSON error body (whose
                message fits the status, e.g. "Too Many Requests" for 429, and whose
                ``statusCode`` is the string ``"429"`` for 429, as the docs show). A
                mapping is sent as JSON; ``str``/``bytes`` raw, e.g. a gateway's HTML.
            content_type: The ``Content-Type``; defaults to JSON for mappings and the
                default body, ``text/html`` for raw bodies.
            headers: More response headers, sent last (they override).

        Raises:
            ValueError: ``status`` or ``n`` is out of range.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url, retry=nb.RetryPolicy.no_wait()
            ... ) as client:
            ...     server.fail_next(status=503)  # the client retries and succeeds
            ...     _ = client.generate("a red kite")
            ...     print([r.outcome for r in server.generation_requests])
            ['fault:503', 'ok']
        """
        if not 200 <= status <= 599:
            raise ValueError(f"status must be 200..599, got {status}")
        extra: list[tuple[str, str]] = []
        if retry_after is not None:
            extra.append(("Retry-After", retry_after_value(retry_after)))
        if retry_after_ms is not None:
            extra.append(("retry-after-ms", str(retry_after_ms)))
        extra.extend((headers or {}).items())
        self._faults.push(Fail(status, tuple(extra), body, content_type), n)

    def drop_next(self, n: int = 1, *, reset: bool = False) -> None:
        """Close the connection of the next ``n`` generation requests without answering.

        The client typically sees ``aiohttp.ServerDisconnectedError``
        (``ClientOSError`` with ``reset=True``).

        Args:
            n: How many requests are dropped.
            reset: Abort with a TCP reset instead of a clean close.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url, retry=nb.RetryPolicy.no_wait()
            ... ) as client:
            ...     server.drop_next()  # the client retries and succeeds
            ...     _ = client.generate("a red kite")
            ...     print([r.outcome for r in server.generation_requests])
            ['dropped', 'ok']
        """
        self._faults.push(Drop(reset), n)

    def malformed_next(self, n: int = 1, kind: str = "not_json") -> None:
        """Answer the next ``n`` generation requests with a useless 200.

        Args:
            n: How many responses are malformed.
            kind: ``"not_json"`` (``text/html`` garbage), ``"bad_json"`` (garbage
                labelled ``application/json``), ``"truncated"`` (a real answer cut in
                half), ``"no_image"`` (an empty ``data`` list), ``"null_data"``
                (``data`` and ``meta`` null, as the schema allows), ``"bad_base64"``
                (``b64_json`` that does not decode), ``"html"`` (a sign-in page) or
                ``"empty"`` (no body at all).

        Raises:
            ValueError: ``kind`` is not one of those.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     server.malformed_next(kind="bad_base64")
            ...     try:
            ...         client.generate("a red kite")
            ...     except nb.ResponseError:
            ...         print(server.generation_requests[-1].outcome)
            malformed:bad_base64
        """
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {MALFORMED_KINDS}, got {kind!r}")
        self._faults.push(Malformed(kind), n)

    def hang_next(self, n: int = 1) -> None:
        """Accept the next ``n`` generation requests and never answer them.

        A hung request ends when its client disconnects (e.g. on a client timeout) or
        when the server stops, which it does not delay.

        Args:
            n: How many requests hang.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url, max_retries=0
            ... ) as client:
            ...     server.hang_next()
            ...     try:
            ...         client.generate("a red kite", timeout=0.1)
            ...     except nb.APITimeoutError:
            ...         print(server.generation_requests[-1].outcome)
            hung
        """
        self._faults.push(Hang(), n)

    def slow_next(self, n: int = 1, seconds: float = 1.0) -> None:
        """Delay the answers to the next ``n`` generation requests by ``seconds`` more.

        Args:
            n: How many requests are slow.
            seconds: Extra delay, on top of :attr:`latency`.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     server.slow_next(seconds=0.05)  # late, but it does answer
            ...     print(client.generate("a red kite").image.mime_type)
            image/png
        """
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._faults.push(Slow(float(seconds)), n)

    def fail_downloads_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next ``n`` ``/files/<id>.png`` downloads with ``status``.

        Args:
            n: How many downloads fail.
            status: The HTTP status (200-599), sent with the vendor's error body.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer(shape="images_url") as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     server.fail_downloads_next(status=410)
            ...     try:
            ...         client.generate("a red kite")
            ...     except nb.ImageDownloadError as exc:
            ...         print(exc.status)
            410
        """
        if not 200 <= status <= 599:
            raise ValueError(f"status must be 200..599, got {status}")
        self._download_faults.push(Fail(status), n)

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
        self._refuse_if_running()
        await self._open()

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
        if self._thread is not None:
            await asyncio.to_thread(self.stop)
            return
        await self._close()

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
        self._refuse_if_running()
        ready = threading.Event()
        failures: list[BaseException] = []
        thread = threading.Thread(
            target=lambda: asyncio.run(self._serve(ready, failures)),
            name=_THREAD_NAME,
            daemon=True,
        )
        thread.start()
        ready.wait()
        if failures:
            thread.join()
            raise failures[0]
        self._thread = thread

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
        thread, loop, event = self._thread, self._thread_loop, self._thread_stop
        if thread is None or loop is None or event is None:
            if self._runner is not None:
                raise RuntimeError("this FakeServer runs on an event loop; use aclose()")
            return
        loop.call_soon_threadsafe(event.set)
        thread.join()
        self._thread = self._thread_loop = self._thread_stop = None

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

    def _refuse_if_running(self) -> None:
        if self._runner is not None or self._thread is not None:
            raise RuntimeError("FakeServer is already running")

    async def _serve(self, ready: threading.Event, failures: list[BaseException]) -> None:
        try:
            await self._open()
        except BaseException as exc:
            failures.append(exc)
            ready.set()
            return
        self._thread_loop = asyncio.get_running_loop()
        self._thread_stop = stop = asyncio.Event()
        ready.set()
        try:
            await stop.wait()
        finally:
            await self._close()

    async def _open(self) -> None:
        app = self._build_app()
        # handler_cancellation: a client that gives up frees its handler at once,
        # which keeps hung and slow requests from piling up in benchmarks.
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
            handler_cancellation=True,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._wanted_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._stopping = asyncio.get_running_loop().create_future()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._base_url = self.url

    async def _close(self) -> None:
        runner, stopping = self._runner, self._stopping
        if runner is None:
            return
        if stopping is not None and not stopping.done():
            stopping.set_result(None)
        try:
            await runner.cleanup()
        finally:
            self._runner = self._stopping = self._port = None
