"""``Client``: the blocking facade. Every method runs :class:`AsyncClient` on one portal.

The portal (an anyio ``BlockingPortal`` into an event loop running in a daemon thread
of its own) starts on first use and lives until :meth:`Client.close`, so the aiohttp
connection pool is kept across calls. A client still open when the interpreter exits
is closed then. Because the loop is in its own thread, a ``Client`` works from any
thread, including one whose own event loop is running (Jupyter); there it blocks that
loop while it waits, so the first such call warns (:class:`BlockingCallWarning`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import warnings
from collections.abc import (
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from ._batch import AsyncBatch, BatchInput, BatchItem, BatchSummary, ProgressCallback
from ._catalog import DEFAULT_MODEL
from ._client import DEFAULT_TIMEOUT, AsyncClient
from ._config import USE_CLIENT_DEFAULT, UseClientDefault
from ._errors import BatchClosedError, BlockingCallWarning, ClientClosedError
from ._models import ImageInput, ImageRequest, ImageResult, Timeout
from ._retry import RetryPolicy
from ._shard import Shard

__all__ = ["Batch", "Client"]

T = TypeVar("T")


def _start_portal() -> tuple[BlockingPortal, threading.Thread]:
    """Start an event loop in a new thread; return the portal into it, and the thread.

    The thread is a daemon (and so are the worker threads its loop starts), so a client
    never closed does not keep the interpreter from exiting.
    """
    started: Future[BlockingPortal] = Future()

    async def serve() -> None:
        async with BlockingPortal() as portal:
            started.set_result(portal)
            await portal.sleep_until_stopped()

    def run() -> None:
        try:
            anyio.run(serve, backend="asyncio")  # aiohttp runs on asyncio only
        except BaseException as exc:
            if started.done():
                raise
            started.set_exception(exc)

    thread = threading.Thread(target=run, name="nanobanana-client-loop", daemon=True)
    thread.start()
    return started.result(), thread


class Client:
    """The blocking client: the methods of :class:`AsyncClient`, without ``await``.

    It takes the same arguments as :class:`AsyncClient`. It is thread-safe: many
    threads may share one ``Client`` (their calls run concurrently on its loop).
    Close it with :meth:`close` or a ``with`` block; a closed client refuses calls.

    Called inside ``async def`` (from a thread whose event loop is running), a call
    works but blocks that loop until it returns: the first such call of a client
    warns with :class:`BlockingCallWarning`, pointing to :class:`AsyncClient`.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer() as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url
        ... ) as client:
        ...     result = client.generate("a lighthouse at dawn", aspect_ratio="16:9")
        ...     print(result.image.mime_type)
        image/png
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        model: str = DEFAULT_MODEL,
        timeout: float | Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 1024,
        default_headers: Mapping[str, str] | None = None,
        max_download_bytes: int = 64 * 1024 * 1024,
        max_response_bytes: int = 512 * 1024 * 1024,
        trust_env: bool = True,
        metadata: bool = True,
    ) -> None:
        self._async = AsyncClient(
            api_key,
            base_url=base_url,
            model=model,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            max_connections=max_connections,
            default_headers=default_headers,
            max_download_bytes=max_download_bytes,
            max_response_bytes=max_response_bytes,
            trust_env=trust_env,
            metadata=metadata,
        )
        self._lock = threading.Lock()
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._warned_blocking = False

    def __repr__(self) -> str:
        return "Client" + repr(self._async)[len("AsyncClient") :]

    @property
    def async_client(self) -> AsyncClient:
        """The :class:`AsyncClient` this client runs (on its own loop: do not await it
        from another one).

        Example:
            >>> import nanobanana as nb
            >>> with nb.Client(api_key="my-key", max_retries=5) as client:
            ...     print(client.async_client.retry.max_retries)
            5
        """
        return self._async

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`close` was called.

        Example:
            >>> import nanobanana as nb
            >>> with nb.Client(api_key="my-key") as client:
            ...     print(client.is_closed)
            False
            >>> client.is_closed
            True
        """
        return self._closed

    def __enter__(self) -> Self:
        with self._lock:
            self._running_portal()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool and stop the portal thread. Idempotent.

        Example:
            >>> import nanobanana as nb
            >>> client = nb.Client(api_key="my-key")
            >>> client.close()
            >>> client.is_closed
            True
        """
        portal, thread = self._mark_closed()
        if portal is None or thread is None:
            return
        try:
            portal.call(self._async.aclose)
        finally:
            portal.call(portal.stop, True)  # cancels the calls other threads still wait on
            thread.join()

    def _close_at_exit(self) -> None:
        """Close the pool of a client still open when the interpreter exits.

        atexit hooks run while daemon threads are still alive, so the pool is closed on
        the client's own loop. The loop itself is left to end with the interpreter:
        stopping it waits for the loop's worker threads (a slow DNS lookup, say) and
        needs a new thread, which some Python versions refuse during shutdown.
        """
        portal, _ = self._mark_closed()
        if portal is not None:
            with contextlib.suppress(Exception):
                portal.call(self._async.aclose)

    def _mark_closed(self) -> tuple[BlockingPortal | None, threading.Thread | None]:
        """Refuse new calls; return the portal and its thread if this call closed them."""
        with self._lock:
            portal, thread = self._portal, self._thread
            self._portal = self._thread = None
            self._closed = True
        atexit.unregister(self._close_at_exit)
        return portal, thread

    def _running_portal(self) -> BlockingPortal:
        """The portal, started on first use. The caller holds ``self._lock``."""
        if self._closed:
            raise ClientClosedError("the client is closed; create a new one")
        if self._portal is None:
            self._portal, self._thread = _start_portal()
            atexit.register(self._close_at_exit)
        return self._portal

    def _call(self, func: Callable[[], Awaitable[T]]) -> T:
        """Run ``func()`` on the portal's loop and wait for its result."""
        self._warn_if_blocking_a_loop()
        with self._lock:  # so that close() cannot stop the portal before the task starts
            future = self._running_portal().start_task_soon(func)
        try:
            return future.result()
        except BaseException as exc:
            # Ctrl-C (or any exception raised into this thread while it waits) cancels
            # the work on the portal's loop instead of leaving it running unobserved.
            future.cancel()
            if self._closed and isinstance(exc, Exception):
                raise ClientClosedError("the client was closed during the call") from None
            raise

    def _warn_if_blocking_a_loop(self) -> None:
        """Warn, once, when called from a thread whose event loop is running."""
        if self._warned_blocking:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop running in this thread: nothing is blocked
        self._warned_blocking = True
        warnings.warn(
            "the sync nanobanana.Client was called inside a running event loop, which "
            "it blocks until the call returns; use nanobanana.AsyncClient and await it",
            BlockingCallWarning,
            stacklevel=4,  # the caller of generate(), edit(), send(), or of the batch loop
        )

    def generate(
        self,
        prompt: str,
        *,
        model: str | None = None,
        num_images: int | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        provider: str | None = None,
        enable_web_search: bool | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | Timeout | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | UseClientDefault = USE_CLIENT_DEFAULT,
        client_request_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        metadata: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> ImageResult:
        """Generate images from a text prompt. See :meth:`AsyncClient.generate`.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     result = client.generate("a lighthouse at dawn", num_images=2)
            ...     print(len(result.images), result.image.mime_type)
            2 image/png
        """
        return self._call(
            lambda: self._async.generate(
                prompt,
                model=model,
                num_images=num_images,
                aspect_ratio=aspect_ratio,
                resolution=resolution,
                provider=provider,
                enable_web_search=enable_web_search,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
                retry=retry,
                client_request_id=client_request_id,
                extra_headers=extra_headers,
                metadata=metadata,
            )
        )

    def edit(
        self,
        prompt: str,
        images: Sequence[ImageInput] | ImageInput,
        *,
        model: str | None = None,
        num_images: int | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        provider: str | None = None,
        enable_web_search: bool | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | Timeout | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | UseClientDefault = USE_CLIENT_DEFAULT,
        client_request_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        metadata: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> ImageResult:
        """Edit or combine images according to a prompt. See :meth:`AsyncClient.edit`.

        Example:
            >>> from nanobanana.testing import make_png
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     photo = make_png(64, 64, b"a photo")  # or a path, or an https URL
            ...     print(client.edit("make it night", photo).model)
            google/gemini-2.5-flash-image-edit
        """
        return self._call(
            lambda: self._async.edit(
                prompt,
                images,
                model=model,
                num_images=num_images,
                aspect_ratio=aspect_ratio,
                resolution=resolution,
                provider=provider,
                enable_web_search=enable_web_search,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
                retry=retry,
                client_request_id=client_request_id,
                extra_headers=extra_headers,
                metadata=metadata,
            )
        )

    def resolve_model(self, request: ImageRequest) -> str:
        """The model ``request`` is sent with. See :meth:`AsyncClient.resolve_model`.

        Example:
            >>> import nanobanana as nb
            >>> with nb.Client(api_key="my-key") as client:
            ...     print(client.resolve_model(nb.ImageRequest(prompt="a red kite")))
            google/gemini-2.5-flash-image
        """
        return self._async.resolve_model(request)

    def send(
        self,
        request: ImageRequest,
        *,
        timeout: float | Timeout | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | UseClientDefault = USE_CLIENT_DEFAULT,
        client_request_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        metadata: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> ImageResult:
        """Send a prepared :class:`ImageRequest`. See :meth:`AsyncClient.send`.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     request = nb.ImageRequest(prompt="a red kite", aspect_ratio="4:3")
            ...     print(client.send(request).image.mime_type)
            image/png
        """
        return self._call(
            lambda: self._async.send(
                request,
                timeout=timeout,
                max_retries=max_retries,
                retry=retry,
                client_request_id=client_request_id,
                extra_headers=extra_headers,
                metadata=metadata,
            )
        )

    def batch(
        self,
        requests: Iterable[BatchInput] | AsyncIterable[BatchInput],
        *,
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        out_dir: str | os.PathLike[str] | None = None,
        ordered: bool = False,
        reorder_window: int | None = None,
        resume: bool = False,
        fail_fast: bool = False,
        max_spend_usd: float | None = None,
        max_credits: float | None = None,
        dry_run: bool = False,
        progress: ProgressCallback | None = None,
        adaptive: bool = True,
        timeout: float | Timeout | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | UseClientDefault = USE_CLIENT_DEFAULT,
        shard: Shard | None = None,
        metadata: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Batch:
        """Run many requests concurrently; iterate with a plain ``for`` loop.

        See :meth:`AsyncClient.batch` for the arguments. The work runs on the client's
        loop; ``break``, an exception in the loop body or Ctrl-C cancels what is in
        flight and leaves the manifest consistent, and the client stays usable.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     for item in client.batch(["a red kite", "a blue boat"], ordered=True):
            ...         print(item.index, item.ok)
            0 True
            1 True
        """
        async_batch = self._async.batch(
            requests,
            concurrency=concurrency,
            requests_per_minute=requests_per_minute,
            out_dir=out_dir,
            ordered=ordered,
            reorder_window=reorder_window,
            resume=resume,
            fail_fast=fail_fast,
            max_spend_usd=max_spend_usd,
            max_credits=max_credits,
            dry_run=dry_run,
            progress=progress,
            adaptive=adaptive,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            shard=shard,
            metadata=metadata,
        )
        return Batch(self, async_batch)


class Batch:
    """A running batch of a sync :class:`Client`; iterate it for :class:`BatchItem` values.

    Use it in a ``with`` block, or just loop over it: leaving the loop early (``break``,
    an exception, Ctrl-C) closes it too.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> inputs = ["a red kite", nb.ImageRequest(prompt="a blue boat", aspect_ratio="16:9")]
        >>> with FakeServer() as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url
        ... ) as client, client.batch(inputs) as batch:
        ...     print(sorted(item.index for item in batch), batch.summary.ok)
        [0, 1] 2
    """

    def __init__(self, client: Client, async_batch: AsyncBatch) -> None:
        self._client = client
        self._batch = async_batch
        self._closed = False
        self._iterated = False

    def __repr__(self) -> str:
        return repr(self._batch)[len("Async") :]

    @property
    def summary(self) -> BatchSummary:
        """Counts so far (final once the loop has ended).

        Example:
            >>> import nanobanana as nb
            >>> with nb.Client(api_key="my-key") as client:
            ...     batch = client.batch(["a red kite", "a blue boat"], dry_run=True)
            ...     print(batch.summary.done, batch.run().done)
            0 2
        """
        return self._batch.summary

    def __iter__(self) -> Iterator[BatchItem]:
        """The items, as they finish. A batch runs once: iterating it again (or after
        :meth:`close`) raises :class:`BatchClosedError`."""
        if self._iterated or self._closed:
            raise BatchClosedError(
                "this batch has run already (a batch runs once; its summary stays "
                "readable): call client.batch() again to send the requests again"
            )
        self._iterated = True
        return self._items()

    def _items(self) -> Iterator[BatchItem]:
        try:
            while True:
                try:
                    item = self._client._call(self._batch.__anext__)
                except StopAsyncIteration:
                    return
                yield item
        finally:
            self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Cancel what is in flight and close the manifest. Idempotent.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     batch = client.batch(["a red kite", "a blue boat", "a green hill"])
            ...     print(next(iter(batch)).ok)
            ...     batch.close()  # the rest is cancelled; the client stays usable
            True
        """
        if self._closed:
            return
        self._closed = True
        if not self._client.is_closed:
            self._client._call(self._batch.aclose)

    def run(self) -> BatchSummary:
        """Drain the batch without looking at items; return the final summary.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     summary = client.batch(["a red kite", "a blue boat"]).run()
            >>> summary.ok, summary.images
            (2, 2)
        """
        for _ in self:
            pass
        return self.summary
