"""What every command shares: the client (or the bundled fake API), Ctrl-C, the SDK's
log records, JSON on stdout, and the check of local image paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import FrameType, TracebackType
from typing import Any

import anyio

from nanobanana._client import AsyncClient
from nanobanana._config import resolve_api_key
from nanobanana._errors import ConfigurationError
from nanobanana._retry import RetryPolicy

from ._exit import EXIT_INTERRUPTED, PROG, UsageError
from ._reporter import Reporter

__all__ = [
    "Interrupt",
    "client_settings",
    "open_client",
    "print_json",
    "route_logs",
    "signals_restored",
]

#: The signals that stop a command as Ctrl-C does, with the exit code of each.
_STOP_SIGNALS = {"SIGINT": EXIT_INTERRUPTED, "SIGTERM": 128 + 15}


def print_json(record: Any) -> None:
    """One JSON document on stdout, on one line, flushed (readers may stream it)."""
    sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


class _ToReporter(logging.Handler):
    """A logging handler that hands each record to a :class:`Reporter`, as one line."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__()
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        self.reporter.log(f"{record.levelname.lower()}: {record.getMessage()}")


def route_logs(reporter: Reporter, verbose: bool) -> None:
    """Send the SDK's log records through ``reporter``: retries with -v, errors always."""
    logger = logging.getLogger("nanobanana")
    logger.handlers[:] = [_ToReporter(reporter)]
    logger.setLevel(logging.INFO if verbose else logging.ERROR)
    logger.propagate = False


class Interrupt:
    """Turns the first Ctrl-C (SIGINT) or SIGTERM into cancelling the command's work; a second
    one ends the program at once.

    Installed around the command's event loop (``with interrupt: anyio.run(...)``), so
    that from the loop's first step to its last no signal is left to asyncio, which
    would raise ``KeyboardInterrupt`` wherever the loop happens to be. Inside the loop,
    :meth:`cancelling` marks the work that a first signal cancels: the batch closes its
    manifest and the command prints its summary before exiting with 130 (143 after
    SIGTERM). A first signal that comes before that work begins cancels it as it begins;
    one that comes after it ended cancels nothing. From the first signal on,
    until the command returns (see :func:`signals_restored`), a second one exits at once
    with that code, whatever the program is doing: nothing waits for a thread or the
    event loop to wind down.
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._scope: anyio.CancelScope | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._saved: dict[int, Any] = {}

    @property
    def hit(self) -> bool:
        """Whether a signal came."""
        return self.signal_name is not None

    @property
    def exit_code(self) -> int:
        """130 after Ctrl-C, 143 after SIGTERM (128 plus the signal's number)."""
        return _STOP_SIGNALS.get(self.signal_name or "SIGINT", EXIT_INTERRUPTED)

    def __enter__(self) -> Interrupt:
        try:
            for name in _STOP_SIGNALS:
                signum = getattr(signal, name)
                self._saved[signum] = signal.signal(signum, self._on_signal)
        except (ValueError, OSError):
            pass  # not the main thread: KeyboardInterrupt it is
        return self

    @contextmanager
    def cancelling(self) -> Iterator[None]:
        """Run the block in :attr:`scope`, cancelled by a first signal (call it inside
        the event loop)."""
        self._scope = scope = anyio.CancelScope()
        self._loop = asyncio.get_running_loop()
        if self.hit:
            scope.cancel()  # the signal came before the work began
        try:
            with scope:
                yield
        finally:
            self._loop = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is not None:
            _exit_now(self.exit_code)
        self.signal_name = signal.Signals(signum).name
        if self._loop is not None and self._scope is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._scope.cancel)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.hit:  # after a signal, a second one still ends the program at once
            for signum, handler in self._saved.items():
                signal.signal(signum, handler)
        self._saved.clear()


def _exit_now(code: int) -> None:
    """End the process at once: no thread, event loop or ``finally`` is waited for."""
    with contextlib.suppress(Exception):  # stdout may be mid-write: keep what is whole
        sys.stdout.flush()
    with contextlib.suppress(OSError):
        os.write(2, f"{PROG}: interrupted\n".encode())
    os._exit(code)


@contextmanager
def signals_restored() -> Iterator[None]:
    """Put back the SIGINT and SIGTERM handlers a command found, once it returns."""
    saved: dict[int, Any] = {}
    with contextlib.suppress(ValueError, OSError):  # not the main thread: nothing to do
        for name in _STOP_SIGNALS:
            signum = getattr(signal, name)
            saved[signum] = signal.getsignal(signum)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, handler)


def client_settings(args: Any) -> dict[str, Any]:
    """The client settings the command line gives (``--timeout``, ``--max-retries``,
    ``--max-throttled-wait``, ``--max-outage``, ``--no-metadata``).

    Only what was given: the client's defaults stand for the rest (a timeout of
    ``None`` would mean "no limit", not "the default").
    """
    settings: dict[str, Any] = {}
    if args.timeout is not None:
        settings["timeout"] = args.timeout
    if args.max_retries is not None:
        settings["max_retries"] = args.max_retries
    patience: dict[str, Any] = {}
    for name in ("max_throttled_wait", "max_outage"):
        if getattr(args, name, None) is not None:
            patience[name] = getattr(args, name)
    if patience:
        settings["retry"] = RetryPolicy(**patience)
    if getattr(args, "no_metadata", False):
        settings["metadata"] = False
    return settings


@asynccontextmanager
async def open_client(args: Any, *, need_key: bool = True) -> AsyncIterator[AsyncClient]:
    """The client the command line asks for: ``--fake``, or the real API."""
    if args.fake:
        if args.base_url:
            raise UsageError("--fake runs the bundled fake API: leave out --base-url")
        from nanobanana.testing import FakeServer  # only --fake needs the server

        async with (
            FakeServer() as server,
            AsyncClient(
                api_key=server.api_key, base_url=server.url, **client_settings(args)
            ) as client,
        ):
            yield client
        return
    try:
        if need_key and resolve_api_key(args.api_key) is None:
            raise UsageError(
                "no API key: pass --api-key or set AIML_API_KEY (or AIMLAPI_API_KEY); "
                "or try --fake to run offline"
            )
        client = AsyncClient(api_key=args.api_key, base_url=args.base_url, **client_settings(args))
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    async with client:
        yield client
