"""``Client``: the blocking facade. Every method runs :class:`AsyncClient` on one portal.

The portal (an event loop in a thread of its own, from ``anyio.from_thread``) starts
on first use and lives until :meth:`Client.close`, so the aiohttp connection pool is
kept across calls. A client still open when the interpreter exits is closed then.
Because the loop is in its own thread, a ``Client`` works from any thread, including
one whose own event loop is running (Jupyter).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import (
    AsyncIterable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import CancelledError
from contextlib import ExitStack
from types import TracebackType
from typing import Any, Self, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._batch import AsyncBatch, BatchInput, ProgressCallback
from ._batch_models import BatchItem, BatchSummary
from ._catalog import DEFAULT_MODEL
from ._client import DEFAULT_TIMEOUT, AsyncClient
from ._config import USE_CLIENT_DEFAULT, UseClientDefault
from ._errors import ClientClosedError
from ._models import ImageInput, ImageRequest, ImageResult, Timeout
from ._retry import RetryPolicy

__all__ = ["Batch", "Client"]

T = TypeVar("T")


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


# Clients whose portal thread is running. The thread belongs to a thread pool, which
# the interpreter joins at exit: a Client never closed would hang the exit forever.
# This hook runs before that join and closes them, cleanly, on their own loops.
_open_clients: weakref.WeakSet[Client] = weakref.WeakSet()
_exit_hook_lock = threading.Lock()
_exit_hook_registered = False


def _close_open_clients() -> None:
    for client in list(_open_clients):
        with contextlib.suppress(Exception):
            client.close()


def _register_exit_hook() -> None:
    global _exit_hook_registered
    with _exit_hook_lock:
        if _exit_hook_registered:
            return
        # threading's own exit hooks run before threads are joined; atexit's run after.
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            with contextlib.suppress(RuntimeError):  # the interpreter is already exiting
                register(_close_open_clients)
        _exit_hook_registered = True


class Client:
    """The blocking client: the methods of :class:`AsyncClient`, without ``await``.

    It takes the same arguments as :class:`AsyncClient`. It is thread-safe: many
    threads may share one ``Client`` (their calls run concurrently on its loop).
    Close it with :meth:`close` or a ``with`` block; a closed client refuses calls.

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
        )
        self._lock = threading.Lock()
        self._stack: ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

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
        self._get_loop()
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
        with self._lock:
            if self._closed:
                return
            self._closed = True
            portal, stack = self._portal, self._stack
            self._portal = self._stack = None
            self._loop = None
            _open_clients.discard(self)
        if portal is None or stack is None:
            return
        try:
            portal.call(self._async.aclose)
        finally:
            stack.close()

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        """The portal's event loop, starting the portal on first use."""
        with self._lock:
            if self._closed:
                raise ClientClosedError("the client is closed; create a new one")
            if self._portal is None:
                _register_exit_hook()
                stack = ExitStack()
                self._portal = stack.enter_context(start_blocking_portal("asyncio"))
                self._stack = stack
                self._loop = self._portal.call(_running_loop)
                _open_clients.add(self)
            assert self._loop is not None
            return self._loop

    def _run(self, func: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        loop = self._get_loop()
        # Straight onto the portal's loop: one hand-over each way. The portal's own
        # start_task_soon waits for a second round trip to spawn the task, which
        # doubles the cost of a call. Cancelling this future cancels the task.
        future = asyncio.run_coroutine_threadsafe(func(*args), loop)
        try:
            result: T = future.result()
        except BaseException as exc:
            # Ctrl-C (or any exception raised into this thread) cancels the work on the
            # portal's loop instead of leaving it running unobserved.
            if not future.done():
                future.cancel()
            if isinstance(exc, CancelledError) and self._closed:
                raise ClientClosedError("the client was closed during the call") from None
            raise
        return result

    def generate(
        self,
        prompt: str,
        *,
        model: str | None = None,
        num_images: int | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | Timeout | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | UseClientDefault = USE_CLIENT_DEFAULT,
        client_request_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
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
        return self._run(
            lambda: self._async.generate(
                prompt,
                model=model,
                num_images=num_images,
                aspect_ratio=aspect_ratio,
                resolution=resolution,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
                retry=retry,
                client_request_id=client_request_id,
                extra_headers=extra_headers,
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
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | Timeout | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | UseClientDefault = USE_CLIENT_DEFAULT,
        client_request_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
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
        return self._run(
            lambda: self._async.edit(
                prompt,
                images,
                model=model,
                num_images=num_images,
                aspect_ratio=aspect_ratio,
                resolution=resolution,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
                retry=retry,
                client_request_id=client_request_id,
                extra_headers=extra_headers,
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
        return self._run(
            lambda: self._async.send(
                request,
                timeout=timeout,
                max_retries=max_retries,
                retry=retry,
                client_request_id=client_request_id,
                extra_headers=extra_headers,
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
        try:
            while True:
                try:
                    item = self._client._run(self._batch.__anext__)
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
            self._client._run(self._batch.aclose)

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
