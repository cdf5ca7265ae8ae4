"""``AsyncClient``: the one implementation of generate and edit, with retries.

The sync :class:`nanobanana.Client` runs this very code on a blocking portal; the
batch engine calls :meth:`AsyncClient._execute` with hooks for its shared limiter.
"""

from __future__ import annotations

import binascii
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

import anyio
import attrs

from ._b64 import decode as b64decode
from ._catalog import DEFAULT_MODEL, model_info
from ._config import (
    USE_CLIENT_DEFAULT,
    Secret,
    UseClientDefault,
    check_client_request_id,
    missing_key_error,
    pick,
    resolve_api_key,
    resolve_base_url,
)
from ._converter import (
    WireImage,
    WireResponse,
    parse_body,
    request_body,
    usage_from_headers,
)
from ._errors import (
    APIConnectionError,
    APIStatusError,
    ClientClosedError,
    ConfigurationError,
    ResponseError,
    ValidationError,
)
from ._imaging import image_size, sniff_mime
from ._inputs import encode_images
from ._models import (
    GeneratedImage,
    ImageInput,
    ImageRequest,
    ImageResult,
    Timeout,
    Usage,
    fast_builder,
    prompt_request,
)
from ._models import check_model_params as _check_model_params
from ._retry import RetryPolicy, backoff_delay
from ._transport import RawResponse, Transport, redact_secret, redact_url

if TYPE_CHECKING:
    from ._batch import AsyncBatch, BatchInput, BatchOptions, ProgressCallback

__all__ = ["AsyncClient", "AttemptHooks"]

log = logging.getLogger("nanobanana")
# A library logs; the application decides where records go. Without this, Python's
# last-resort handler would print every retry on stderr of apps that set up nothing.
log.addHandler(logging.NullHandler())

# Made for every answer: the frozen classes, built through their slots.
_new_result = fast_builder(ImageResult)
_new_image = fast_builder(GeneratedImage)
_new_usage = fast_builder(Usage)

_ENDPOINT = "/v1/images/generations"
#: The client's default timeout: 10 s to connect, 5 minutes in total.
DEFAULT_TIMEOUT = Timeout()
_MiB = 1024 * 1024


class AttemptHooks(Protocol):
    """What the batch engine learns of, and decides in, each attempt of one request."""

    def ready_for_attempt(self, attempt: int) -> bool:
        """Called before attempt ``attempt`` (1 for the first) is sent: ``True`` if it
        may go now (and is counted as sent), ``False`` to await :meth:`before_attempt`."""

    async def before_attempt(self, attempt: int) -> None:
        """Waits until attempt ``attempt`` may be sent."""

    def after_attempt(self, error: BaseException | None) -> None:
        """Called with the outcome of the attempt (``None``: success), even when the
        attempt was cancelled."""

    def refuse_retry(self, error: Exception) -> str | None:
        """A reason not to retry ``error`` although the policy allows it, or ``None``."""


@attrs.frozen
class _CallOptions:
    timeout: Timeout
    retry: RetryPolicy
    client_request_id: str | None
    headers: Mapping[str, str]


# The batch classes, imported on the first batch: importing the client does not need
# them, and an import statement in batch() would go through the import system each time.
_batch_classes: tuple[type[AsyncBatch], type[BatchOptions]] | None = None


def _load_batch_classes() -> tuple[type[AsyncBatch], type[BatchOptions]]:
    global _batch_classes
    from ._batch import AsyncBatch, BatchOptions

    _batch_classes = AsyncBatch, BatchOptions
    return _batch_classes


def _as_timeout(value: float | Timeout | None) -> Timeout:
    if isinstance(value, Timeout):
        return value
    if value is None:
        return Timeout(total=None, connect=None)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError("timeout", f"must be seconds or a Timeout, got {value!r}")
    return Timeout(total=float(value))


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
        max_response_bytes: Cap on a JSON answer (default 512 MiB: four 4K images in
            base64 fit).
        trust_env: Use the proxies named by ``HTTPS_PROXY``, ``HTTP_PROXY``,
            ``ALL_PROXY`` and ``NO_PROXY`` (read when the connection pool is made).

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
    ) -> None:
        self._api_key: Secret | None = resolve_api_key(api_key)
        self._base_url = resolve_base_url(base_url)
        self._url = self._base_url + _ENDPOINT
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError(f"model must be a non-empty model id, got {model!r}")
        self._model = str(model).strip()
        self._timeout = _as_timeout(timeout)
        policy = retry if retry is not None else RetryPolicy()
        if max_retries is not None:
            policy = attrs.evolve(policy, max_retries=max_retries)
        self._retry = policy
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ConfigurationError(f"max_connections must be an int, got {max_connections!r}")
        if max_connections < 1:
            raise ConfigurationError(f"max_connections must be at least 1, got {max_connections}")
        self._default_headers = dict(default_headers or {})
        self._max_download = max_download_bytes
        self._max_response = max_response_bytes
        self._transport = Transport(max_connections=max_connections, trust_env=trust_env)
        # Most calls use the client's settings: build those options and headers once.
        self._default_options = _CallOptions(
            timeout=self._timeout, retry=self._retry, client_request_id=None, headers={}
        )
        self._default_request_headers: dict[str, str] | None = None
        self._prompt_model: str | None = None  # see _model_for_prompt
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
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | Timeout | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | UseClientDefault = USE_CLIENT_DEFAULT,
        client_request_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ImageResult:
        """Generate images from a text prompt.

        Args:
            prompt: What to draw.
            model: A model id or :class:`Model` member (default: the client's).
            num_images: 1 to 4 (models of the Nano Banana 2 family take none).
            aspect_ratio: ``"16:9"``, ``"1:1"``, ... (see :data:`ASPECT_RATIOS`).
            resolution: ``"1K"``, ``"2K"`` or ``"4K"``, on models that take it.
            extra_body: More JSON fields, sent as they are.
            timeout: Overrides the client's timeout for this call.
            max_retries: Overrides the retry count for this call.
            retry: Overrides the whole retry policy for this call.
            client_request_id: Sent as ``X-Client-Request-Id`` (1-128 of
                ``[A-Za-z0-9._:-]``).
            extra_headers: More headers for this call.

        Returns:
            The images with their description, usage and request id.

        Raises:
            ValidationError: an invalid argument (nothing was sent).
            APIStatusError: the API answered with an error status (after retries).
            APIConnectionError: the API could not be reached (after retries).
            ResponseError: the answer could not be used.

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
        if (
            model is None
            and num_images is None
            and aspect_ratio is None
            and resolution is None
            and extra_body is None
        ):
            request = prompt_request(prompt)
            resolved: str | None = self._model_for_prompt(request)
        else:
            request = ImageRequest(
                prompt=prompt,
                model=model,
                num_images=num_images,
                aspect_ratio=aspect_ratio,
                resolution=resolution,
                extra_body=extra_body,
            )
            resolved = None
        opts = self._options(timeout, max_retries, retry, client_request_id, extra_headers)
        return await self._execute(request, opts, None, resolved)

    async def edit(
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
            extra_body=extra_body,
        )
        if not request.images:
            raise ValidationError("images", "edit needs at least one image")
        opts = self._options(timeout, max_retries, retry, client_request_id, extra_headers)
        return await self._execute(request, opts)

    async def send(
        self,
        request: ImageRequest,
        *,
        timeout: float | Timeout | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | UseClientDefault = USE_CLIENT_DEFAULT,
        client_request_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
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
        opts = self._options(timeout, max_retries, retry, client_request_id, extra_headers)
        return await self._execute(request, opts)

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
                ``manifest.jsonl`` there, one line per finished item.
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
            adaptive: Lower the concurrency on 429 answers and raise it back slowly.
            timeout: Per-request timeout (default: the client's).
            max_retries: Per-request retries (default: the client's).
            retry: Per-request retry policy (default: the client's).

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
        batch_class, options_class = _batch_classes or _load_batch_classes()
        options = options_class(
            concurrency=concurrency,
            requests_per_minute=requests_per_minute,
            adaptive=adaptive,
            out_dir=Path(out_dir) if out_dir is not None else None,
            ordered=ordered,
            reorder_window=reorder_window,
            resume=resume,
            fail_fast=fail_fast,
            max_spend_usd=max_spend_usd,
            max_credits=max_credits,
            dry_run=dry_run,
            progress=progress,
        )
        call = self._options(timeout, max_retries, retry, None, None)
        return batch_class(self, requests, options, call)

    # -- internals -------------------------------------------------------------------

    def _options(
        self,
        timeout: float | Timeout | UseClientDefault | None,
        max_retries: int | UseClientDefault,
        retry: RetryPolicy | UseClientDefault,
        client_request_id: str | None,
        extra_headers: Mapping[str, str] | None,
    ) -> _CallOptions:
        if (
            timeout is USE_CLIENT_DEFAULT
            and max_retries is USE_CLIENT_DEFAULT
            and retry is USE_CLIENT_DEFAULT
            and client_request_id is None
            and not extra_headers
        ):
            return self._default_options
        policy = pick(retry, self._retry)
        if not isinstance(max_retries, UseClientDefault):
            policy = attrs.evolve(policy, max_retries=max_retries)
        return _CallOptions(
            timeout=self._timeout
            if isinstance(timeout, UseClientDefault)
            else _as_timeout(timeout),
            retry=policy,
            client_request_id=check_client_request_id(client_request_id),
            headers=dict(extra_headers or {}),
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
                _check_model_params(request, model)
        return model

    def _model_for_prompt(self, request: ImageRequest) -> str:
        """:meth:`resolve_model` of a request made by ``prompt_request`` (a prompt and
        nothing else): that depends on the client's model alone, so it is worked out
        once. A model that needs input images raises every time."""
        model = self._prompt_model
        if model is None:
            model = self._prompt_model = self.resolve_model(request)
        return model

    def _headers(self, opts: _CallOptions) -> dict[str, str]:
        if self._api_key is None:
            raise missing_key_error()
        if opts is self._default_options and self._default_request_headers is not None:
            return self._default_request_headers  # aiohttp copies, never changes it
        headers = {**self._default_headers, **opts.headers}
        headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        headers["Content-Type"] = "application/json"
        if opts.client_request_id is not None:
            headers["X-Client-Request-Id"] = opts.client_request_id
        if opts is self._default_options:
            self._default_request_headers = headers
        return headers

    async def _execute(
        self,
        request: ImageRequest,
        opts: _CallOptions,
        hooks: AttemptHooks | None = None,
        model: str | None = None,
    ) -> ImageResult:
        """Send ``request``; ``model``, when the caller resolved it already, is trusted."""
        if self._transport.closed:
            raise ClientClosedError("the client is closed; create a new one")
        if model is None:
            model = self.resolve_model(request)
        headers = self._headers(opts)
        image_urls = await encode_images(request.images) if request.images else None
        body = json.dumps(request_body(request, model, image_urls)).encode()
        raw = await self._send_with_retries(body, headers, opts, hooks)
        request_id = raw.request_id
        try:
            wire = parse_body(raw.body, request_id=request_id)
            # Images inline (the usual answer) are decoded here, with no coroutine.
            images = _inline_images(wire.images, request_id)
            if images is None:  # some are to be downloaded
                images = await self._images(wire, opts.timeout, request_id)
        except ResponseError as exc:
            # The start of the answer, for diagnosis, without the key should it echo it.
            exc.body = redact_secret(exc.body or raw.body[:65536], headers)
            raise
        return _new_result(
            images=images,
            model=model,
            description=wire.description,
            usage=_merge_usage(wire, raw.headers),
            request_id=request_id,
        )

    async def _send_with_retries(
        self,
        body: bytes,
        headers: Mapping[str, str],
        opts: _CallOptions,
        hooks: AttemptHooks | None,
    ) -> RawResponse:
        policy = opts.retry
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            if hooks is not None and not hooks.ready_for_attempt(attempt):
                await hooks.before_attempt(attempt)
            try:
                raw = await self._transport.post_json(
                    self._url,
                    body,
                    headers,
                    opts.timeout,
                    max_bytes=self._max_response,
                    client_request_id=opts.client_request_id,
                )
            except (APIStatusError, APIConnectionError) as exc:
                if hooks is not None:
                    hooks.after_attempt(exc)
                wait = self._retry_wait(exc, attempt, policy, started, hooks)
                reason = (
                    f"HTTP {exc.status}" if isinstance(exc, APIStatusError) else type(exc).__name__
                )
                log.info(
                    "retrying after %s (attempt %d of %d), waiting %.3f s",
                    reason,
                    attempt,
                    policy.max_retries + 1,
                    wait,
                    extra={"attempt": attempt, "reason": reason, "wait": wait},
                )
                await anyio.sleep(wait)
                continue
            except BaseException as exc:
                if hooks is not None:
                    hooks.after_attempt(exc)
                raise
            if hooks is not None:
                hooks.after_attempt(None)
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "POST %s: HTTP %d, %d bytes after %.3f s (attempt %d, request id %s)",
                    redact_url(self._url),
                    raw.status,
                    len(raw.body),
                    time.monotonic() - started,
                    attempt,
                    raw.request_id,
                )
            return raw

    def _retry_wait(
        self,
        exc: APIStatusError | APIConnectionError,
        attempt: int,
        policy: RetryPolicy,
        started: float,
        hooks: AttemptHooks | None,
    ) -> float:
        """How long to wait before retrying ``exc``; re-raises it when no retry is due."""
        if isinstance(exc, APIStatusError):
            retryable = policy.should_retry_status(exc.status)
        else:
            retryable = policy.retry_connection_errors
        if not retryable or attempt > policy.max_retries:
            raise exc
        if hooks is not None:
            refusal = hooks.refuse_retry(exc)
            if refusal is not None:
                exc.message = f"{exc.message} (not retried: {refusal})"
                raise exc
        asked = exc.retry_after if isinstance(exc, APIStatusError) else None
        if asked is not None:
            if asked > policy.max_retry_after:
                exc.message = (
                    f"{exc.message} (the server asked to wait {asked:g} s, more than "
                    f"max_retry_after={policy.max_retry_after:g} s; not retried)"
                )
                raise exc
            wait = asked
        else:
            wait = backoff_delay(policy, attempt, self._random.random())
        if time.monotonic() - started + wait > policy.max_total:
            exc.message = (
                f"{exc.message} (retries stopped: max_total={policy.max_total:g} s reached)"
            )
            raise exc
        return wait

    async def _images(
        self, wire: WireResponse, timeout: Timeout, request_id: str | None
    ) -> tuple[GeneratedImage, ...]:
        if sum(1 for w in wire.images if w.b64 is None) <= 1:
            return tuple([await self._materialise(i, timeout, request_id) for i in wire.images])
        # Several downloads: fetch them at the same time.
        fetched: list[GeneratedImage | None] = [None] * len(wire.images)

        async def fetch(i: int, item: WireImage) -> None:
            fetched[i] = await self._materialise(item, timeout, request_id)

        try:
            async with anyio.create_task_group() as tg:
                for i, item in enumerate(wire.images):
                    tg.start_soon(fetch, i, item)
        except* ResponseError as group:  # the error itself, not a group of one
            raise group.exceptions[0] from None
        return tuple(img for img in fetched if img is not None)

    async def _materialise(
        self, item: WireImage, timeout: Timeout, request_id: str | None
    ) -> GeneratedImage:
        if item.b64 is not None:
            data = _decode_b64(item.b64, request_id)
        elif item.url is not None:
            data = await self._transport.download(
                item.url, timeout, max_bytes=self._max_download, request_id=request_id
            )
        else:
            raise ResponseError(
                "an image entry has neither base64 data nor a URL", request_id=request_id
            )
        return _to_image(data, item, request_id)


def _inline_images(
    images: tuple[WireImage, ...], request_id: str | None
) -> tuple[GeneratedImage, ...] | None:
    """The images of an answer that carries them all inline (the usual case), decoded
    without a coroutine per image; ``None`` when one of them is to be downloaded."""
    texts: list[str] = []
    for item in images:
        if item.b64 is None:
            return None
        texts.append(item.b64)
    return tuple(
        [
            _to_image(_decode_b64(text, request_id), item, request_id)
            for text, item in zip(texts, images, strict=True)
        ]
    )


def _to_image(data: bytes, item: WireImage, request_id: str | None) -> GeneratedImage:
    mime = sniff_mime(data)
    if mime is None:
        raise ResponseError(
            f"an image in the answer is not a PNG, JPEG, WEBP or GIF ({len(data)} bytes)",
            request_id=request_id,
        )
    width, height = item.width, item.height
    if width is None or height is None:
        size = image_size(data, mime)
        if size is not None:
            width, height = size
    return _new_image(data=data, mime_type=mime, url=item.url, width=width, height=height)


def _decode_b64(text: str, request_id: str | None) -> bytes:
    if text.startswith("data:"):
        _, sep, text = text.partition(",")
        if not sep:
            raise ResponseError("a data URL in the answer has no payload", request_id=request_id)
    try:
        data = b64decode(text)
    except (binascii.Error, ValueError):
        raise ResponseError("an image's base64 data is invalid", request_id=request_id) from None
    if not data:
        raise ResponseError("an image's base64 data is empty", request_id=request_id)
    return data


def _merge_usage(wire: WireResponse, headers: Mapping[str, str]) -> Usage:
    body = wire.usage
    if body.credits_used is not None and body.usd_spent is not None:
        return _new_usage(
            credits_used=body.credits_used, usd_spent=body.usd_spent, tokens_used=body.tokens_used
        )
    head = usage_from_headers(headers)
    return _new_usage(
        credits_used=body.credits_used if body.credits_used is not None else head.credits_used,
        usd_spent=body.usd_spent if body.usd_spent is not None else head.usd_spent,
        tokens_used=body.tokens_used,
    )
