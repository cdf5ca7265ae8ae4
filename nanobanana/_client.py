"""``AsyncClient``: the one implementation of generate, edit and batch.

The sync :class:`nanobanana.Client` runs this very code on a blocking portal. A
request goes: model resolved and checked, input images encoded, body written by
the converter, sent by the transport inside the retry loop of :mod:`._retry`, and
the response turned into an :class:`ImageResult` by :mod:`._decode`. The batch
engine sends through a :class:`_BatchSender`, which holds the batch's options.

A library logs; the application decides where records go. The ``nanobanana`` logger
has a ``NullHandler``: without it, Python's last-resort handler would print every
retry on stderr of apps that set up nothing.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import anyio
import attrs

from ._batch import (
    AsyncBatch,
    BatchInput,
    BatchLimits,
    BatchOptions,
    ProgressCallback,
    Shard,
)
from ._call_options import (
    ClientDefaults,
    RequestOptions,
    as_timeout,
    check_headers,
    request_options,
)
from ._catalog import DEFAULT_MODEL, model_info
from ._config import (
    USE_CLIENT_DEFAULT,
    Secret,
    UseClientDefault,
    check_bool,
    check_int,
    missing_key_error,
    resolve_api_key,
    resolve_base_url,
)
from ._converter import request_body
from ._decode import decode_response
from ._errors import ClientClosedError, ConfigurationError, ValidationError
from ._inputs import encode_images
from ._models import (
    ImageInput,
    ImageRequest,
    ImageResult,
    Timeout,
    check_model_params,
    merge_results,
)
from ._recording import with_records
from ._retry import AttemptHooks, RetryPolicy, SharedAttempts, batch_policy, send_with_retries
from ._transport import Transport, redact_secret, redact_url

__all__ = ["DEFAULT_TIMEOUT", "AsyncClient"]

log = logging.getLogger("nanobanana")
log.addHandler(logging.NullHandler())

_ENDPOINT = "/v1/images/generations"
#: The client's default timeout: 10 s to connect, 5 minutes in total.
DEFAULT_TIMEOUT = Timeout()
_MiB = 1024 * 1024


class AsyncClient:
    """The async client of the AI/ML API's Nano Banana image models.

    Args:
        api_key: Your AI/ML API key. Default: ``AIML_API_KEY``, else ``AIMLAPI_API_KEY``.
            A missing key is reported by the first request, not here.
        base_url: Default: ``AIML_API_BASE``, else ``https://api.aimlapi.com``. A
            trailing ``/v1`` or slash is fine.
        model: The model used when a call names none. :meth:`edit` switches to the
            family's edit model.
        timeout: Seconds for the whole request, a :class:`Timeout` (connect and
            total), or ``None`` for no limit. Default: 10 s to connect, 300 s in total.
        max_retries: Retries after the first attempt; overrides ``retry.max_retries``.
        retry: The :class:`RetryPolicy`. Default: 3 retries, full-jitter backoff.
        max_connections: Connection pool size (default 1024: a batch at concurrency
            1,000 is not throttled by it).
        default_headers: Headers sent with every request.
        max_download_bytes: Cap on each image fetched from a URL (default 64 MiB).
        max_response_bytes: Cap on a JSON response (default 512 MiB: four 4K images in
            base64 fit).
        trust_env: Use the proxies named by ``HTTPS_PROXY``, ``HTTP_PROXY``,
            ``ALL_PROXY`` and ``NO_PROXY`` (read when the connection pool is made).
        metadata: Give each image its generation record, which saving writes into
            the file (see :func:`read_metadata`). ``False``: files are written
            exactly as the API sent them.

    Example:
        >>> import anyio, nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> async def main() -> int:
        ...     async with FakeServer() as server, nb.AsyncClient(
        ...         api_key=server.api_key, base_url=server.url
        ...     ) as client:
        ...         result = await client.generate("a lighthouse at dawn", num_images=2)
        ...         return len(result.images)
        >>> anyio.run(main)
        2
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
        max_download_bytes: int = 64 * _MiB,
        max_response_bytes: int = 512 * _MiB,
        trust_env: bool = True,
        metadata: bool = True,
    ) -> None:
        self._api_key: Secret | None = resolve_api_key(api_key)
        self._base_url = resolve_base_url(base_url)
        self._url = self._base_url + _ENDPOINT
        self._url_for_logs = redact_url(self._url)
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError(f"model must be a non-empty model id, got {model!r}")
        self._model = str(model).strip()
        self._timeout = as_timeout(timeout)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, got {retry!r}")
        policy = retry if retry is not None else RetryPolicy()
        if max_retries is not None:
            policy = attrs.evolve(policy, max_retries=max_retries)
        self._retry = policy
        check_int("max_connections", max_connections, minimum=1)
        self._default_headers = check_headers(default_headers)
        self._max_download = check_int("max_download_bytes", max_download_bytes, minimum=1)
        self._max_response = check_int("max_response_bytes", max_response_bytes, minimum=1)
        check_bool("trust_env", trust_env)
        self._metadata = check_bool("metadata", metadata)
        self._transport = Transport(max_connections=max_connections, trust_env=trust_env)
        self._random = random.Random()

    def __repr__(self) -> str:
        key = "set" if self._api_key is not None else "missing"
        return (
            f"AsyncClient(base_url={self._base_url!r}, model={self._model!r}, api_key=<{key}>, "
            f"closed={self._transport.closed})"
        )

    @property
    def base_url(self) -> str:
        """The API's base URL, without ``/v1``.

        Example:
            >>> import nanobanana as nb
            >>> nb.AsyncClient(api_key="my-key", base_url="https://api.aimlapi.com/v1/").base_url
            'https://api.aimlapi.com'
        """
        return self._base_url

    @property
    def model(self) -> str:
        """The model used when a call names none.

        Example:
            >>> import nanobanana as nb
            >>> nb.AsyncClient(api_key="my-key", model=nb.Model.NANO_BANANA_PRO).model
            'google/nano-banana-pro'
        """
        return self._model

    @property
    def timeout(self) -> Timeout:
        """The client's default timeout.

        Example:
            >>> import nanobanana as nb
            >>> nb.AsyncClient(api_key="my-key", timeout=60).timeout
            Timeout(total=60.0, connect=10.0)
        """
        return self._timeout

    @property
    def retry(self) -> RetryPolicy:
        """The client's retry policy.

        Example:
            >>> import nanobanana as nb
            >>> nb.AsyncClient(api_key="my-key", max_retries=5).retry.max_retries
            5
        """
        return self._retry

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` was called.

        Example:
            >>> import anyio, nanobanana as nb
            >>> async def main() -> tuple[bool, bool]:
            ...     async with nb.AsyncClient(api_key="my-key") as client:
            ...         inside = client.is_closed
            ...     return inside, client.is_closed
            >>> anyio.run(main)
            (False, True)
        """
        return self._transport.closed

    async def __aenter__(self) -> Self:
        if self._transport.closed:
            raise ClientClosedError("the client is closed; create a new one")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent; later calls raise ClientClosedError.

        Example:
            >>> import anyio, nanobanana as nb
            >>> async def main() -> bool:
            ...     client = nb.AsyncClient(api_key="my-key")
            ...     await client.aclose()
            ...     return client.is_closed
            >>> anyio.run(main)
            True
        """
        await self._transport.aclose()

    async def generate(
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
        """Generate images from a text prompt.

        Args:
            prompt: What to draw.
            model: A model id or :class:`Model` member (default: the client's).
            num_images: 1 to 4. A model that takes no ``num_images`` (the Nano Banana
                2 family) gets that many requests of one image each, sent at once, and
                the call returns them as one result, usage summed.
            aspect_ratio: ``"16:9"``, ``"1:1"``, ... (see :data:`ASPECT_RATIOS`).
            resolution: ``"1K"``, ``"2K"`` or ``"4K"``, on models that take it.
            provider: ``"google"``, ``"fal"`` or ``"auto"``, on models that take it
                (all but the Nano Banana 2 family).
            enable_web_search: Let the model search the web (Nano Banana 2 family).
            extra_body: More JSON fields, sent as they are.
            timeout: Overrides the client's timeout for this call.
            max_retries: Overrides the retry count for this call.
            retry: Overrides the whole retry policy for this call.
            client_request_id: Sent as ``X-Client-Request-Id`` (1-128 of
                ``[A-Za-z0-9._:-]``).
            extra_headers: More headers for this call.
            metadata: Overrides the client's ``metadata`` for this call.

        Returns:
            The images with their description, usage and request id.

        Raises:
            ValidationError: an invalid argument (nothing was sent).
            APIStatusError: the API answered with an error status (after retries).
            APIConnectionError: the API could not be reached (after retries).
            ResponseError: the response could not be used.

        Example:
            >>> import anyio, nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> async def main() -> tuple[int | None, int | None]:
            ...     async with FakeServer() as server, nb.AsyncClient(
            ...         api_key=server.api_key, base_url=server.url
            ...     ) as client:
            ...         result = await client.generate("a lighthouse at dawn", aspect_ratio="16:9")
            ...         return result.image.width, result.image.height
            >>> anyio.run(main)
            (84, 48)
        """
        request = ImageRequest(
            prompt=prompt,
            model=model,
            num_images=num_images,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            provider=provider,
            enable_web_search=enable_web_search,
            extra_body=extra_body,
        )
        options = self._options(
            timeout, max_retries, retry, client_request_id, extra_headers, metadata
        )
        return await self._execute(request, options)

    async def edit(
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
        """Edit or combine images according to a prompt.

        Args:
            prompt: How to change the images.
            images: One or more images: local paths (``str`` or ``os.PathLike``), raw
                ``bytes``, or ``http(s)`` URLs. Paths and bytes are sent as base64 data
                URLs typed by their content (PNG, JPEG, WEBP, GIF).
            model: Default: the edit model of the client model's family. A generate
                model (say ``Model.NANO_BANANA_PRO``) is switched to its edit sibling.

        The other arguments are those of :meth:`generate`.

        Example:
            >>> import anyio, nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> from nanobanana.testing import make_png
            >>> async def main() -> str:
            ...     async with FakeServer() as server, nb.AsyncClient(
            ...         api_key=server.api_key, base_url=server.url
            ...     ) as client:
            ...         photo = make_png(64, 64, b"a photo")  # or a path, or an https URL
            ...         return (await client.edit("make it night", photo)).model
            >>> anyio.run(main)
            'google/gemini-2.5-flash-image-edit'
        """
        request = ImageRequest(
            prompt=prompt,
            images=images,
            model=model,
            num_images=num_images,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            provider=provider,
            enable_web_search=enable_web_search,
            extra_body=extra_body,
        )
        if not request.images:
            raise ValidationError("images", "edit needs at least one image")
        options = self._options(
            timeout, max_retries, retry, client_request_id, extra_headers, metadata
        )
        return await self._execute(request, options)

    async def send(
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
        """Send a prepared :class:`ImageRequest`: an edit when it has images.

        Example:
            >>> import anyio, nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> async def main() -> str:
            ...     async with FakeServer() as server, nb.AsyncClient(
            ...         api_key=server.api_key, base_url=server.url
            ...     ) as client:
            ...         request = nb.ImageRequest(prompt="a red kite", aspect_ratio="4:3")
            ...         return (await client.send(request)).image.mime_type
            >>> anyio.run(main)
            'image/png'
        """
        if not isinstance(request, ImageRequest):
            raise ValidationError(
                "request", f"must be an ImageRequest, got {type(request).__name__}"
            )
        options = self._options(
            timeout, max_retries, retry, client_request_id, extra_headers, metadata
        )
        return await self._execute(request, options)

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
    ) -> AsyncBatch:
        """Run many requests concurrently; iterate the result for items as they finish.

        Args:
            requests: Any iterable or async iterable of prompts (``str``) or
                :class:`ImageRequest` values. It is read lazily, one input per free
                worker, and reading stops when the batch stops or is closed.
            concurrency: Most items being worked on at once (and requests in flight).
            requests_per_minute: Optional cap on the rate of requests sent.
            out_dir: Write each image there (atomically, named from the input index
                and a slug of the prompt) and release its bytes; keep
                ``manifest.jsonl`` there, one line per finished item. A URL
                (``s3://bucket/run/``) writes to object storage (the ``s3`` extra).
            ordered: Hand items out in input order (a bounded reorder window).
            reorder_window: Most items a slow one may hold back when ``ordered``
                (default ``4 * concurrency``).
            resume: Skip inputs the manifest in ``out_dir`` records as done.
            fail_fast: Stop the batch at the first failed item.
            max_spend_usd: Start no request that could take the USD reported by the
                API past this cap; the rest are skipped with reason ``"budget"``.
            max_credits: The same, in API credits.
            dry_run: Validate every input and count requests and images; send nothing.
            progress: Called (or awaited) with a :class:`BatchSummary` after each item.
            adaptive: Lower the concurrency on 429 responses and raise it back slowly.
            timeout: Per-request timeout (default: the client's).
            max_retries: Per-request retries (default: the client's).
            retry: Per-request retry policy (default: the client's).
            shard: Send only this :class:`Shard`'s share of the inputs (the others
                are skipped with reason ``"other_shard"``), and keep the manifest as
                ``manifest-KK-of-NN.jsonl``; see "Beyond one machine" in the docs.
            metadata: Write the generation record into each image file (default:
                the client's ``metadata``).

        Returns:
            An :class:`AsyncBatch`: ``async for item in client.batch(...)``; its
            ``summary`` has the counts while it runs and at the end.

        Example:
            >>> import anyio, nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> async def main() -> list[bool]:
            ...     async with FakeServer() as server, nb.AsyncClient(
            ...         api_key=server.api_key, base_url=server.url
            ...     ) as client:
            ...         prompts = ["a red kite", "a blue boat", "a green hill"]
            ...         return [item.ok async for item in client.batch(prompts, ordered=True)]
            >>> anyio.run(main)
            [True, True, True]
        """
        options = BatchOptions(
            concurrency=concurrency,
            requests_per_minute=requests_per_minute,
            adaptive=adaptive,
            out_dir=out_dir,
            ordered=ordered,
            reorder_window=reorder_window,
            resume=resume,
            fail_fast=fail_fast,
            max_spend_usd=max_spend_usd,
            max_credits=max_credits,
            dry_run=dry_run,
            progress=progress,
            shard=shard,
        )
        return self._batch_of(requests, options, None, timeout, max_retries, retry, metadata)

    def _batch_of(
        self,
        requests: Iterable[BatchInput] | AsyncIterable[BatchInput],
        options: BatchOptions,
        limits: BatchLimits | None,
        timeout: float | Timeout | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | UseClientDefault = USE_CLIENT_DEFAULT,
        metadata: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> AsyncBatch:
        """A batch of ``options``, keeping to ``limits`` (shared with other batches) when
        given: what :meth:`batch` and the Ray Data stage run."""
        per_request = self._options(timeout, max_retries, retry, None, None, metadata)
        sender = _BatchSender(self, per_request)
        return AsyncBatch(sender, requests, options, limits)

    # -- internals -------------------------------------------------------------------

    def _options(
        self,
        timeout: float | Timeout | UseClientDefault | None,
        max_retries: int | UseClientDefault,
        retry: RetryPolicy | UseClientDefault,
        client_request_id: str | None,
        extra_headers: Mapping[str, str] | None,
        metadata: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> RequestOptions:
        defaults = ClientDefaults(self._timeout, self._retry, self._metadata)
        return request_options(
            defaults, timeout, max_retries, retry, client_request_id, extra_headers, metadata
        )

    def resolve_model(self, request: ImageRequest) -> str:
        """The model ``request`` is sent with, validated against what it accepts.

        Example:
            >>> import nanobanana as nb
            >>> client = nb.AsyncClient(api_key="my-key", model=nb.Model.NANO_BANANA_PRO)
            >>> client.resolve_model(nb.ImageRequest(prompt="make it night", images=[b"..."]))
            'google/nano-banana-pro-edit'
        """
        model = request.model or self._model
        info = model_info(model)
        if request.images and info is not None and info.edits == "no" and info.edit_model:
            model = info.edit_model
            info = model_info(model)
        if info is not None:
            if info.edits == "required" and not request.images:
                raise ValidationError(
                    "images", f"{info.id} edits images: pass at least one input image"
                )
            if request.model is None or model != request.model:
                check_model_params(request, model)
        return model

    def _headers(self, options: RequestOptions) -> dict[str, str]:
        if self._api_key is None:
            raise missing_key_error()
        headers = {**self._default_headers, **options.headers}
        headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        headers["Content-Type"] = "application/json"
        if options.client_request_id is not None:
            headers["X-Client-Request-Id"] = options.client_request_id
        return headers

    async def _execute(
        self,
        request: ImageRequest,
        options: RequestOptions,
        hooks: AttemptHooks | None = None,
        model: str | None = None,
    ) -> ImageResult:
        """Send ``request`` (to ``model``, when the caller resolved it already)."""
        if self._transport.closed:
            raise ClientClosedError("the client is closed; create a new one")
        if model is None:
            model = self.resolve_model(request)
        info = model_info(model)
        if request.num_images is not None and info is not None and not info.num_images:
            result = await self._fan_out(request, options, hooks, model)
            return await with_records(result, request, model) if options.metadata else result

        headers = self._headers(options)
        image_urls = await encode_images(request.images)
        body = json.dumps(request_body(request, model, image_urls)).encode()
        started = time.monotonic()

        response = await send_with_retries(
            lambda: self._transport.post_json(
                self._url,
                body,
                headers,
                options.timeout,
                max_bytes=self._max_response,
                client_request_id=options.client_request_id,
            ),
            options.retry,
            hooks,
            rand=self._random.random,
        )
        log.debug(
            "POST %s: HTTP %d, %d bytes after %.3f s (request id %s)",
            self._url_for_logs,
            response.status,
            len(response.body),
            time.monotonic() - started,
            response.request_id,
        )

        async def download(url: str) -> bytes:
            return await self._transport.download(
                url, options.timeout, max_bytes=self._max_download, request_id=response.request_id
            )

        result = await decode_response(
            response.body,
            response.headers,
            model=model,
            download=download,
            redact=lambda excerpt: redact_secret(excerpt, headers),
        )
        return await with_records(result, request, model) if options.metadata else result

    async def _fan_out(
        self,
        request: ImageRequest,
        options: RequestOptions,
        hooks: AttemptHooks | None,
        model: str,
    ) -> ImageResult:
        """``num_images`` requests of one image each, sent at once, as one result.

        Every request runs to its end (with its own retries); if any failed, the first
        failure is raised.
        """
        single = attrs.evolve(request, num_images=None)
        options = attrs.evolve(options, metadata=False)  # the whole call's record comes after
        shared = SharedAttempts(hooks) if hooks is not None else None
        outcomes: list[ImageResult | Exception] = []

        async def one() -> None:
            try:
                outcomes.append(await self._execute(single, options, shared, model))
            except Exception as exc:  # raised below, once every request has ended
                outcomes.append(exc)

        async with anyio.create_task_group() as group:
            for _ in range(request.num_images or 1):
                group.start_soon(one)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return merge_results([item for item in outcomes if isinstance(item, ImageResult)])


class _BatchSender:
    """What the batch engine sends through: the client, with the batch's options."""

    def __init__(self, client: AsyncClient, options: RequestOptions) -> None:
        self._client = client
        self._options = attrs.evolve(options, retry=batch_policy(options.retry))

    @property
    def policy(self) -> RetryPolicy:
        return self._options.retry

    def resolve_model(self, request: ImageRequest) -> str:
        return self._client.resolve_model(request)

    async def send(self, request: ImageRequest, model: str, hooks: AttemptHooks) -> ImageResult:
        return await self._client._execute(request, self._options, hooks, model)
