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
from ._urls import is_http_url
from ._version import __version__

__all__ = ["RawResponse", "Transport", "redact_secret", "redact_url"]

USER_AGENT = (
    f"nanobanana/{__version__} python/{sys.version_info.major}.{sys.version_info.minor} "
    f"aiohttp/{aiohttp.__version__}"
)
_MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 1 << 16
_STREAM_ABOVE = 1 << 20  # bytes of a request body


@attrs.define
class RawResponse:
    """A successful response: its status, headers and whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def request_id(self) -> str | None:
        """The ``x-inference-id`` header the API gives every response, if present."""
        return self.headers.get("x-inference-id")


def redact_url(url: str) -> str:
    """``url`` without its query string and credentials, which may carry secrets.

    Example:
        >>> redact_url("https://user:pw@cdn.example.com:8443/a.png?token=s3cret")
        'https://cdn.example.com:8443/a.png'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def redact_secret(body: bytes, headers: Mapping[str, str]) -> bytes:
    """``body`` with the request's bearer key blanked out, should a server echo it.

    Example:
        >>> redact_secret(b'{"key": "sk-1"}', {"Authorization": "Bearer sk-1"})
        b'{"key": "**********"}'
    """
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer ") and len(auth) > 7:
        return body.replace(auth[7:].encode(), b"**********")
    return body


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
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finaliser: AsyncGenerator[None, None] | None = None
        self._lock: asyncio.Lock | None = None
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

    def proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``NO_PROXY``...)."""
        parts = urlsplit(url)
        proxy = self._proxies.get(parts.scheme.lower()) or self._proxies.get("all")
        if proxy is None or _bypassed(parts.hostname or "", self._proxies.get("no", "")):
            return None
        return proxy

    def _new_session(self) -> aiohttp.ClientSession:
        if self._trust_env:
            self._proxies = urllib.request.getproxies_environment()
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
        """POST ``body``; return a 2xx response or raise a status or connection error."""
        session = await self.session()
        try:
            async with session.post(
                url,
                data=_request_data(body),
                headers=headers,
                timeout=_client_timeout(timeout),
                proxy=self.proxy_for(url),
            ) as resp:
                payload = await _read_capped(resp, max_bytes)
                if resp.status >= 400:
                    raise status_error(
                        resp.status,
                        redact_secret(payload, headers),
                        reason=resp.reason,
                        headers=_lower(resp.headers),
                        request_id=resp.headers.get("x-inference-id"),
                        retry_after=parse_retry_after(resp.headers),
                    )
                return RawResponse(resp.status, resp.headers, payload)
        except (APIStatusError, ResponseError):
            raise
        except TimeoutError:
            raise APITimeoutError(
                f"no complete response from {redact_url(url)} within {_describe(timeout)}",
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
        """GET an image URL: ``http(s)`` only, every redirect checked, size capped.

        Example:
            A URL that does not start with ``http://`` or ``https://`` is refused
            before any connection is made:

            >>> import anyio
            >>> from nanobanana import ImageDownloadError, Timeout
            >>> async def fetch(url: str) -> str:
            ...     transport = Transport(max_connections=1, trust_env=False)
            ...     try:
            ...         await transport.download(url, Timeout(), max_bytes=1024, request_id=None)
            ...     except ImageDownloadError as exc:
            ...         return exc.message
            ...     finally:
            ...         await transport.aclose()
            ...     return "fetched"
            >>> print(anyio.run(fetch, "file:///etc/passwd"))
            refusing to fetch an image URL with scheme 'file'; only http and https are allowed
            >>> print(anyio.run(fetch, "http:/example.com/a.png"))  # doctest: +ELLIPSIS
            refusing to fetch an image URL that does not start with http://; only http...
        """
        session = await self.session()
        try:
            return await self._follow(session, url, _client_timeout(timeout), max_bytes, request_id)
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

    async def _follow(
        self,
        session: aiohttp.ClientSession,
        url: str,
        timeout: aiohttp.ClientTimeout,
        max_bytes: int,
        request_id: str | None,
    ) -> bytes:
        """Fetch ``url``, following redirects by hand so each target's scheme is checked."""

        def failure(message: str, status: int | None = None) -> ImageDownloadError:
            return ImageDownloadError(
                message, url=redact_url(url), status=status, request_id=request_id
            )

        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            if not is_http_url(current):
                where = "" if current == url else " (after a redirect)"
                raise failure(
                    f"refusing to fetch an image URL {_scheme_problem(current)}{where}; "
                    "only http and https are allowed"
                )
            async with session.get(
                current, timeout=timeout, allow_redirects=False, proxy=self.proxy_for(current)
            ) as resp:
                if resp.status in _REDIRECTS:
                    location = resp.headers.get("Location")
                    if not location:
                        raise failure("redirect without a Location header", resp.status)
                    current = urljoin(current, location)
                    continue
                if resp.status >= 400:
                    raise failure(f"image download failed with HTTP {resp.status}", resp.status)
                try:
                    return await _read_capped(resp, max_bytes)
                except ResponseError as exc:
                    raise failure(exc.message) from None
        raise failure(f"more than {_MAX_REDIRECTS} redirects")


def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=timeout.total, sock_connect=timeout.connect)


def _request_data(body: bytes) -> bytes | io.BytesIO:
    """What aiohttp is given to send: a body over 1 MiB (an edit's input images) as a
    stream, which aiohttp writes in 64 KiB pieces; it warns about such a body given as
    bytes, written in one go while the event loop waits. A smaller one, as bytes, is
    written with the headers, without a stream's extra writes."""
    return io.BytesIO(body) if len(body) > _STREAM_ABOVE else body


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (``"*"``, or host names and ``.suffixes``) exempts ``host``."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.replace(" ", "").lower().split(","):
        entry = entry.split(":", 1)[0].lstrip(".")  # host[:port]; a leading dot is a suffix
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def _scheme_problem(url: str) -> str:
    """What is wrong with the start of ``url``, which is not ``http://`` or ``https://``."""
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        return "without a scheme"
    if scheme in ("http", "https"):
        return f"that does not start with {scheme}://"
    return f"with scheme {scheme!r}"


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole body of ``resp``; a ResponseError once it passes ``max_bytes``."""
    length = resp.content_length
    if length is not None and length > max_bytes:
        raise ResponseError(
            f"the response is {length} bytes, more than the {max_bytes}-byte cap",
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
                f"the response passed the {max_bytes}-byte cap and was cut off",
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
