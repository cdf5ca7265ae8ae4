"""The HTTP layer: owns the aiohttp session and turns aiohttp's errors into ours.

One ``ClientSession`` per event loop, created lazily inside the running loop. When a
loop ends (``asyncio.run`` returning, a blocking portal stopping), its session is
closed on that loop by an async generator the loop finalises at shutdown, so the
same client used under two successive ``asyncio.run()`` calls neither breaks nor
leaves an unclosed session behind. Nothing is cleaned up from ``__del__``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import urllib.request
from collections.abc import AsyncGenerator, Mapping
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp
import attrs
from multidict import CIMultiDictProxy

from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    ImageDownloadError,
    ResponseError,
    status_error,
)
from ._models import Timeout
from ._retry import parse_retry_after
from ._version import __version__

__all__ = ["RawResponse", "Transport", "redact_url"]

log = logging.getLogger("nanobanana")

USER_AGENT = (
    f"nanobanana/{__version__} python/{sys.version_info.major}.{sys.version_info.minor} "
    f"aiohttp/{aiohttp.__version__}"
)
_MAX_REDIRECTS = 5
_LARGE_BODY = 1 << 20
_CHUNK = 1 << 16


@attrs.define
class RawResponse:
    """A success answer: its status, headers and whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-inference-id")


def redact_url(url: str) -> str:
    """``url`` without its query string and credentials, which may carry secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


async def _close_with_loop(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    # The loop's shutdown_asyncgens() finalises this generator, closing the session on
    # the loop it belongs to even when the user never called aclose().
    try:
        yield
    finally:
        await session.close()


class Transport:
    """Sends requests through a pooled session that belongs to the running loop."""

    def __init__(self, *, max_connections: int, trust_env: bool) -> None:
        self._max_connections = max_connections
        self._trust_env = trust_env
        self._proxies: dict[str, str] = {}
        self._proxy_cache: dict[tuple[str, str], str | None] = {}
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finaliser: AsyncGenerator[None, None] | None = None
        self._lock: asyncio.Lock | None = None
        # aiohttp's form of the last timeout used: nearly every request has the same.
        self._last_timeout: tuple[Timeout, aiohttp.ClientTimeout] | None = None
        self.closed = False

    async def session(self) -> aiohttp.ClientSession:
        """The session of the running loop, made on first use."""
        if self.closed:
            raise ClientClosedError("the client is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._session is not None and self._loop is loop and not self._session.closed:
            return self._session
        if self._loop is not loop:
            self._forget_other_loop(loop)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._session is None or self._session.closed:
                self._session = self._new_session()
                self._loop = loop
                self._finaliser = _close_with_loop(self._session)
                await self._finaliser.asend(None)
        return self._session

    def _forget_other_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        old = self._loop
        if old is not None and old.is_running():
            raise RuntimeError(
                "this AsyncClient is in use on another running event loop; "
                "use one AsyncClient per loop, or the thread-safe nanobanana.Client"
            )
        # The old loop has ended; its shutdown closed the old session already.
        self._session = None
        self._finaliser = None
        self._lock = None
        self._loop = loop

    def _client_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        """``timeout`` as aiohttp takes it, made again only when ``timeout`` changes."""
        last = self._last_timeout
        if last is None or last[0] is not timeout:
            converted = aiohttp.ClientTimeout(total=timeout.total, sock_connect=timeout.connect)
            last = self._last_timeout = (timeout, converted)
        return last[1]

    def proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``NO_PROXY``...)."""
        if not self._proxies:
            return None
        parts = urlsplit(url)
        key = (parts.scheme.lower(), parts.hostname or "")
        if key not in self._proxy_cache:
            scheme, host = key
            proxy = self._proxies.get(scheme) or self._proxies.get("all")
            if proxy is not None and _bypassed(host, self._proxies.get("no", "")):
                proxy = None
            self._proxy_cache[key] = proxy
        return self._proxy_cache[key]

    def _new_session(self) -> aiohttp.ClientSession:
        if self._trust_env:
            self._proxies = urllib.request.getproxies_environment()
            self._proxy_cache.clear()
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300
        )
        return aiohttp.ClientSession(
            connector=connector,
            # Proxies are read from the environment here, once per session: aiohttp's own
            # trust_env re-reads them (and .netrc) in a worker thread on every request.
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        """Close the session of the running loop; later calls raise ClientClosedError."""
        self.closed = True
        session, finaliser = self._session, self._finaliser
        self._session = self._finaliser = None
        if session is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - aclose is always awaited in a loop
            running = None
        if self._loop is running:
            await session.close()
            if finaliser is not None:
                await finaliser.aclose()
        elif self._loop is not None and self._loop.is_running():
            # Owned by a loop in another thread: close it there.
            fut = asyncio.run_coroutine_threadsafe(session.close(), self._loop)
            await asyncio.wrap_future(fut)

    async def post_json(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: Timeout,
        *,
        max_bytes: int,
        client_request_id: str | None,
    ) -> RawResponse:
        """POST ``body``; return a 2xx answer or raise a status or connection error."""
        session = self._session
        if session is None or session.closed or self._loop is not asyncio.get_running_loop():
            session = await self.session()
        try:
            # aiohttp warns about (and stalls the loop on) large bytes bodies; a file-like
            # body is streamed in chunks. Small bodies stay bytes: that path is cheaper.
            data = io.BytesIO(body) if len(body) > _LARGE_BODY else body
            async with session.post(
                url,
                data=data,
                headers=headers,
                timeout=self._client_timeout(timeout),
                proxy=self.proxy_for(url),
            ) as resp:
                length = resp.content_length
                if (
                    length is not None
                    and length <= max_bytes
                    and "Content-Encoding" not in resp.headers
                ):
                    payload = await resp.read()  # a plain body of a known, allowed size
                else:
                    payload = await _read_capped(resp, max_bytes)
                resp_headers = resp.headers  # case-insensitive already: no copy
                if resp.status >= 400:
                    raise status_error(
                        resp.status,
                        redact_secret(payload, headers),
                        reason=resp.reason,
                        headers=_lower(resp_headers),
                        request_id=resp_headers.get("x-inference-id"),
                        retry_after=parse_retry_after(resp_headers),
                    )
                return RawResponse(resp.status, resp_headers, payload)
        except (APIStatusError, ResponseError):
            raise
        except TimeoutError:
            raise APITimeoutError(
                f"no complete answer from {redact_url(url)} within {_describe(timeout)}",
                client_request_id=client_request_id,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise APIConnectionError(
                f"connection to {redact_url(url)} failed: {_describe_exc(exc)}",
                client_request_id=client_request_id,
            ) from None

    async def download(
        self, url: str, timeout: Timeout, *, max_bytes: int, request_id: str | None
    ) -> bytes:
        """GET an image URL; only ``http(s)``, redirects checked by hand, size capped."""
        session = await self.session()
        current = url
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                _check_scheme(current, url, request_id)
                async with session.get(
                    current,
                    timeout=self._client_timeout(timeout),
                    allow_redirects=False,
                    proxy=self.proxy_for(current),
                ) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        location = resp.headers.get("Location")
                        if not location:
                            raise ImageDownloadError(
                                "redirect without a Location header",
                                url=redact_url(url),
                                status=resp.status,
                                request_id=request_id,
                            )
                        current = urljoin(current, location)
                        continue
                    if resp.status >= 400:
                        raise ImageDownloadError(
                            f"image download answered HTTP {resp.status}",
                            url=redact_url(url),
                            status=resp.status,
                            request_id=request_id,
                        )
                    try:
                        return await _read_capped(resp, max_bytes)
                    except ResponseError as exc:
                        raise ImageDownloadError(
                            exc.message, url=redact_url(url), request_id=request_id
                        ) from None
            raise ImageDownloadError(
                f"more than {_MAX_REDIRECTS} redirects", url=redact_url(url), request_id=request_id
            )
        except ImageDownloadError:
            raise
        except TimeoutError:
            raise ImageDownloadError(
                f"image download did not finish within {_describe(timeout)}",
                url=redact_url(url),
                request_id=request_id,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ImageDownloadError(
                f"image download failed: {_describe_exc(exc)}",
                url=redact_url(url),
                request_id=request_id,
            ) from None


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (``"*"``, or host names and ``.suffixes``) exempts ``host``."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.replace(" ", "").lower().split(","):
        entry = entry.split(":", 1)[0].lstrip(".")  # host[:port]; a leading dot is a suffix
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def redact_secret(body: bytes, headers: Mapping[str, str]) -> bytes:
    """``body`` with the request's bearer key blanked out, should a server echo it."""
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer ") and len(auth) > 7:
        return body.replace(auth[7:].encode(), b"**********")
    return body


def _check_scheme(current: str, original: str, request_id: str | None) -> None:
    scheme = urlsplit(current).scheme.lower()
    if scheme not in ("http", "https"):
        where = "" if current == original else " (after a redirect)"
        what = f"with scheme {scheme!r}" if scheme else "without a scheme"
        raise ImageDownloadError(
            f"refusing to fetch an image URL {what}{where}; only http and https are allowed",
            url=redact_url(original),
            request_id=request_id,
        )


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    length = resp.content_length
    if length is not None and length > max_bytes:
        raise ResponseError(
            f"the answer is {length} bytes, more than the {max_bytes}-byte cap",
            request_id=resp.headers.get("x-inference-id"),
        )
    # Content-Length counts the bytes on the wire: a compressed body (a gzip bomb) can
    # inflate far past it, so only an uncompressed one is read whole.
    if length is not None and resp.headers.get("Content-Encoding", "identity") == "identity":
        return await resp.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise ResponseError(
                f"the answer passed the {max_bytes}-byte cap and was cut off",
                request_id=resp.headers.get("x-inference-id"),
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _lower(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _describe(timeout: Timeout) -> str:
    parts = []
    if timeout.connect is not None:
        parts.append(f"connect {timeout.connect:g} s")
    if timeout.total is not None:
        parts.append(f"total {timeout.total:g} s")
    return ", ".join(parts) or "no limit"


def _describe_exc(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
