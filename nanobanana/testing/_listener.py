"""Serving the fake server's application: on the running event loop, or on a thread.

:class:`Listener` binds an aiohttp application to a host and port, either on the
event loop of its caller (``await astart()``) or on a new event loop in a daemon
thread (``start()``), and stops it without waiting on requests that never end.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Final

from aiohttp import web

__all__ = ["Listener"]

# Long enough for a response already being written to finish; short enough that
# closing a server with requests still sleeping in `latency` is not noticeable.
_SHUTDOWN_TIMEOUT: Final = 0.25
_THREAD_NAME: Final = "nanobanana-fake-server"


class Listener:
    """Serves one aiohttp application at a time on ``host:port``.

    Args:
        make_app: Builds the application, once per start.
        host: The interface to listen on.
        port: The port; 0 picks a free one.
        on_listening: Called with the base URL once the port is bound, on the
            serving loop and before any request is handled.
    """

    def __init__(
        self,
        make_app: Callable[[], web.Application],
        *,
        host: str,
        port: int,
        on_listening: Callable[[str], None],
    ) -> None:
        self._make_app = make_app
        self._host = host
        self._wanted_port = port
        self._on_listening = on_listening
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None

    @property
    def running(self) -> bool:
        """Whether the port is bound."""
        return self._port is not None

    @property
    def port(self) -> int:
        """The bound port; RuntimeError when not running."""
        if self._port is None:
            raise RuntimeError("FakeServer is not running; use it as a context manager")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port``; RuntimeError when not running."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    async def astart(self) -> None:
        """Listen on the running event loop."""
        self._refuse_if_running()
        await self._open()

    async def aclose(self) -> None:
        """Stop, whichever way it was started; nothing happens when it is not running."""
        if self._thread is not None:
            await asyncio.to_thread(self.stop)
            return
        await self._close()

    def start(self) -> None:
        """Listen on a new event loop in a daemon thread; return once listening."""
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
        """Stop serving in the thread and join it; nothing happens when it is not running."""
        thread, loop, event = self._thread, self._thread_loop, self._thread_stop
        if thread is None or loop is None or event is None:
            if self._runner is not None:
                raise RuntimeError("this FakeServer runs on an event loop; use aclose()")
            return
        loop.call_soon_threadsafe(event.set)
        thread.join()
        self._thread = self._thread_loop = self._thread_stop = None

    def _refuse_if_running(self) -> None:
        if self._runner is not None or self._thread is not None:
            raise RuntimeError("FakeServer is already running")

    async def _serve(self, ready: threading.Event, failures: list[BaseException]) -> None:
        """The thread's main coroutine: listen, report, wait for ``stop``, close."""
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
        # handler_cancellation: a client that gives up frees its handler at once,
        # which keeps hung and slow requests from piling up in benchmarks.
        runner = web.AppRunner(
            self._make_app(),
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
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._on_listening(self.url)

    async def _close(self) -> None:
        runner = self._runner
        if runner is None:
            return
        try:
            await runner.cleanup()
        finally:
            self._runner = self._port = None
