"""What every command shares: the client (or the bundled fake API), Ctrl-C, the SDK's
log records, JSON on stdout, and the check of local image paths.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from nanobanana._client import AsyncClient
from nanobanana._config import resolve_api_key
from nanobanana._errors import ConfigurationError
from nanobanana._urls import is_url

from ._exit import UsageError
from ._reporter import Reporter

__all__ = [
    "Interrupt",
    "check_local_images",
    "client_settings",
    "open_client",
    "print_json",
    "route_logs",
]


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
    """Turns the first Ctrl-C into cancelling :attr:`scope`; a second one kills as usual.

    Cancelling (rather than a ``KeyboardInterrupt`` raised anywhere) lets the batch
    close its manifest and the command print its summary before exiting with 130.
    """

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.hit = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> Interrupt:
        try:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, self._fire)
        except (NotImplementedError, RuntimeError, ValueError):
            return self  # not the main thread, or Windows: KeyboardInterrupt it is
        self._loop = loop
        return self

    def _fire(self) -> None:
        self.hit = True
        self.scope.cancel()
        self._release()

    def _release(self) -> None:
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGINT)  # restores the default handler
            self._loop = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()


def client_settings(args: Any) -> dict[str, Any]:
    """The client settings the command line gives (``--timeout``, ``--max-retries``).

    Only what was given: the client's defaults stand for the rest (a timeout of
    ``None`` would mean "no limit", not "the default").
    """
    settings: dict[str, Any] = {}
    if args.timeout is not None:
        settings["timeout"] = args.timeout
    if args.max_retries is not None:
        settings["max_retries"] = args.max_retries
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


def check_local_images(images: Iterable[Any]) -> None:
    """Refuse (exit 2) an input image path that is not a readable file; URLs pass."""
    for item in images:
        text = str(item)
        if is_url(text):
            continue
        path = Path(text).expanduser()
        if not path.is_file():
            raise UsageError(f"cannot read image {text!r}: no such file")
