"""The request handlers of the fake server, and the state they share.

:class:`FakeApi` responds to requests: it reads the server's settings, takes the
queued faults, records every request and keeps the images it serves.
:class:`~nanobanana.testing.FakeServer` wires it to the public switches and serves it.
Handlers run on the server's event loop; the only state the test's thread touches
concurrently (faults, recordings) sits behind locks in its own class.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any, Final

from aiohttp import web
from multidict import CIMultiDict

from nanobanana._catalog import DEFAULT_MODEL

from ._faults import (
    Drop,
    Fail,
    Fault,
    FaultQueue,
    Hang,
    Malformed,
    Slow,
    error_body,
    fail_payload,
    format_number,
)
from ._load import LoadRules
from ._records import GENERATIONS_PATH, RecordedRequest, Recorder
from ._responses import (
    FileStore,
    ImageCache,
    Usage,
    image_dimensions,
    render_malformed,
    render_success,
)
from ._settings import ServerSettings
from ._validation import ApiError, Job, validate_body

__all__ = ["FakeApi"]

_MAX_BODY: Final = 64 * 1024 * 1024
_CLIENT_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_NOT_JSON: Final = object()
_FALLBACK_JOB: Final = Job(DEFAULT_MODEL, "malformed", 1, "1:1", "1K", 0)


def _abandon(request: web.BaseRequest, *, reset: bool = False) -> web.StreamResponse:
    """Close the connection and hand aiohttp a response it will find nowhere to write."""
    transport = request.transport
    if transport is not None:
        if reset:
            transport.abort()
        else:
            transport.close()
    # aiohttp sees the closing transport when it writes this, treats it as a client
    # disconnect and sends nothing; raising instead would log an error and try a 500.
    return web.Response()


def _add_usage_headers(headers: CIMultiDict[str], usage: Usage) -> None:
    headers["x-aimlapi-credits-used"] = format_number(usage.credits)
    headers["x-aimlapi-usd-spent"] = format_number(usage.usd)


def _decode(raw: bytes) -> Any:
    if not raw:
        return _NOT_JSON
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _NOT_JSON


class FakeApi:
    """The request handlers of a fake AI/ML API, and the state they share.

    Args:
        settings: Read anew on every request, so changes apply to the next one.
        max_files: How many images to keep for ``/files/<id>.png``.

    Attributes:
        faults: Faults for the next generation requests, one taken per request.
        download_faults: Faults for the next ``/files/`` downloads.
        recorder: Every request received, and what was done with it.
        load: The standing rules (rate limit, 429 share, outage), judged first.
    """

    def __init__(self, settings: ServerSettings, *, max_files: int) -> None:
        self.faults = FaultQueue()
        self.download_faults = FaultQueue()
        self.recorder = Recorder()
        self.load = LoadRules()
        self._settings = settings
        self._images = ImageCache()
        self._files = FileStore(max_files)
        self._base_url = ""
        self._stopping = asyncio.Event()

    def serve_at(self, base_url: str) -> None:
        """Link the images of URL responses under ``base_url``, the server's URL."""
        self._base_url = base_url

    def build_app(self) -> web.Application:
        """A new aiohttp application with the handlers, ready to serve."""
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_post(GENERATIONS_PATH, self._on_generation)
        app.router.add_get("/files/{file_id}.png", self._on_file)
        app.router.add_route("*", "/{tail:.*}", self._on_other)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        # Made on the loop that serves, which may differ from one start to the next.
        self._stopping = asyncio.Event()

    async def _on_shutdown(self, app: web.Application) -> None:
        # Wakes hung and delayed requests, so stopping the server does not wait on them.
        self._stopping.set()

    async def _until_stopped(self, timeout: float | None) -> bool:
        """Wait ``timeout`` seconds (``None``: forever); True if the server is stopping."""
        try:
            async with asyncio.timeout(timeout):
                await self._stopping.wait()
        except TimeoutError:
            return False
        return True

    # -- handlers ---------------------------------------------------------------

    def _record(self, request: web.Request, body: Any, size: int) -> tuple[int, int]:
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=request.headers,
            json=None if body is _NOT_JSON else body,
            body_size=size,
            client_port=peer[1] if isinstance(peer, tuple) and len(peer) > 1 else None,
            received_at=time.monotonic(),
        )
        return self.recorder.add(record)

    def _headers(self, request: web.Request) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        headers["x-inference-id"] = str(uuid.uuid4())
        echo = request.headers.get("X-Client-Request-Id")
        if echo is not None and _CLIENT_REQUEST_ID.fullmatch(echo):
            headers["x-client-request-id"] = echo
        return headers

    def _vendor_error(
        self, request: web.Request, status: int, message: str, headers: CIMultiDict[str]
    ) -> web.Response:
        body = error_body(status, message, request.path, headers["x-inference-id"])
        headers["Content-Type"] = "application/json"
        return web.Response(status=status, body=json.dumps(body).encode(), headers=headers)

    def _usage(self, images: int) -> Usage:
        settings = self._settings
        return Usage(images, images * settings.credits_per_image, images * settings.usd_per_image)

    def _success_body(self, job: Job, usage: Usage) -> bytes:
        size = image_dimensions(job.aspect_ratio, job.resolution, self._settings.image_size)
        images = [
            self._images.get(job.prompt, index, size, self._settings.image_bytes)
            for index in range(job.num_images)
        ]
        shape = self._settings.shape
        return render_success(shape, images, job.prompt, usage, self._files, self._base_url)

    async def _on_generation(self, request: web.Request) -> web.StreamResponse:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._too_large(request)
        body = _decode(raw)
        token = self._record(request, body, len(raw))
        verdict = self.load.verdict()
        if verdict is not None:  # a limiter answers at once, before any work
            response, _ = self._respond(request, body, verdict[0])
            sent = None if isinstance(verdict[0], Drop) else response.status
            self.recorder.settle(token, verdict[1], sent)
            return response
        fault = self.faults.pop()
        hung = False
        try:
            if isinstance(fault, Hang):
                hung = True
                self.recorder.settle(token, "hung", None)
                await self._until_stopped(None)
                return _abandon(request)
            delay = self._settings.latency + (fault.seconds if isinstance(fault, Slow) else 0.0)
            if delay > 0 and await self._until_stopped(delay):
                self.recorder.settle(token, "dropped", None)
                return _abandon(request)
        except asyncio.CancelledError:
            if not hung:
                self.recorder.settle(token, "cancelled", None)
            raise
        response, outcome = self._respond(request, body, fault)
        self.recorder.settle(token, outcome, response.status if outcome != "dropped" else None)
        return response

    def _respond(
        self, request: web.Request, body: Any, fault: Fault | None
    ) -> tuple[web.StreamResponse, str]:
        """The response to a generation request, and its outcome for the record."""
        if isinstance(fault, Drop):
            return _abandon(request, reset=fault.reset), "dropped"
        headers = self._headers(request)
        if isinstance(fault, Fail):
            payload, content_type = fail_payload(fault, request.path, headers["x-inference-id"])
            headers["Content-Type"] = content_type
            headers.extend(fault.headers)
            response = web.Response(status=fault.status, body=payload, headers=headers)
            return response, f"fault:{fault.status}"
        if isinstance(fault, Malformed):
            return self._malformed(fault.kind, body, headers), f"malformed:{fault.kind}"
        return self._generate(request, body, headers)

    def _generate(
        self, request: web.Request, body: Any, headers: CIMultiDict[str]
    ) -> tuple[web.Response, str]:
        """What the API itself responds: an auth or validation error, or the images."""
        if not self._authorized(request):
            return self._vendor_error(request, 401, "A valid API key is required", headers), "401"
        try:
            if body is _NOT_JSON:
                raise ApiError(400, "Body validation error! Expected a JSON object body")
            job = validate_body(body, strict_models=self._settings.strict_models)
        except ApiError as exc:
            return self._vendor_error(request, exc.status, exc.message, headers), str(exc.status)
        usage = self._usage(job.num_images)
        payload = self._success_body(job, usage)
        _add_usage_headers(headers, usage)
        headers["Content-Type"] = "application/json"
        return web.Response(body=payload, headers=headers), "ok"

    def _too_large(self, request: web.Request) -> web.Response:
        token = self._record(request, _NOT_JSON, request.content_length or 0)
        self.recorder.settle(token, "413", 413)
        message = f"Request body larger than {_MAX_BODY} bytes"
        return self._vendor_error(request, 413, message, self._headers(request))

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        return self._settings.api_key is None or token == self._settings.api_key

    def _malformed(self, kind: str, body: Any, headers: CIMultiDict[str]) -> web.Response:
        try:
            job = validate_body(body, strict_models=False)
        except ApiError:
            job = _FALLBACK_JOB
        usage = self._usage(job.num_images)
        success = self._success_body(job, usage) if kind == "truncated" else b""
        payload, content_type = render_malformed(kind, success, usage)
        headers["Content-Type"] = content_type
        _add_usage_headers(headers, usage)
        return web.Response(body=payload, headers=headers)

    async def _on_file(self, request: web.Request) -> web.StreamResponse:
        token = self._record(request, _NOT_JSON, 0)
        headers = self._headers(request)
        fault = self.download_faults.pop()
        if isinstance(fault, Fail):
            response = self._vendor_error(request, fault.status, "Download failed", headers)
            self.recorder.settle(token, f"fault:{fault.status}", fault.status)
            return response
        image = self._files.get(request.match_info["file_id"])
        if image is None:
            self.recorder.settle(token, "404", 404)
            return self._vendor_error(request, 404, "File not found", headers)
        self.recorder.settle(token, "ok", 200)
        headers["Content-Type"] = "image/png"
        return web.Response(body=image.png, headers=headers)

    async def _on_other(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        token = self._record(request, _decode(raw), len(raw))
        self.recorder.settle(token, "404", 404)
        message = f"Cannot {request.method} {request.path}"
        return self._vendor_error(request, 404, message, self._headers(request))
