"""The fault switches of the fake server: each queues faults for its next requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._faults import (
    MALFORMED_KINDS,
    Drop,
    Fail,
    FaultQueue,
    Hang,
    Malformed,
    Slow,
    retry_after_value,
)

__all__ = ["FaultSwitches"]


def _check_status(status: int) -> None:
    if not 200 <= status <= 599:
        raise ValueError(f"status must be 200..599, got {status}")


class FaultSwitches:
    """The switches that make a :class:`FakeServer`'s next requests go wrong.

    Each switch queues a fault for the next ``n`` requests, first in, first out; the
    server takes one per request and serves the requests beyond them normally.

    Args:
        generations: The queue of faults for generation requests.
        downloads: The queue of faults for ``/files/`` downloads.
    """

    def __init__(self, generations: FaultQueue, downloads: FaultQueue) -> None:
        self._generation_faults = generations
        self._download_faults = downloads

    @property
    def pending_faults(self) -> int:
        """How many faults queued for generation requests none has taken yet.

        Faults queued with :meth:`fail_downloads_next` are not counted.

        Example:
            >>> from nanobanana.testing import FakeServer
            >>> server = FakeServer()
            >>> server.fail_next(n=2, status=503)
            >>> server.pending_faults
            2
        """
        return len(self._generation_faults)

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        retry_after: str | float | None = None,
        retry_after_ms: int | None = None,
        body: bytes | str | Mapping[str, Any] | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Respond to the next ``n`` generation requests with ``status``.

        Args:
            n: How many requests fail.
            status: The HTTP status (200-599).
            retry_after: A ``Retry-After`` header: seconds (number) or any string,
                e.g. an HTTP date.
            retry_after_ms: A ``retry-after-ms`` header, in milliseconds.
            body: The body to send instead of the vendor's JSON error body (whose
                message fits the status, e.g. "Too Many Requests" for 429, and whose
                ``statusCode`` is the string ``"429"`` for 429, as the docs show). A
                mapping is sent as JSON; ``str``/``bytes`` raw, e.g. a gateway's HTML.
            content_type: The ``Content-Type``; defaults to JSON for mappings and the
                default body, ``text/html`` for raw bodies.
            headers: More response headers, sent last (they override).

        Raises:
            ValueError: ``status`` or ``n`` is out of range.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url, retry=nb.RetryPolicy.no_wait()
            ... ) as client:
            ...     server.fail_next(status=503)  # the client retries and succeeds
            ...     _ = client.generate("a red kite")
            ...     print([r.outcome for r in server.generation_requests])
            ['fault:503', 'ok']
        """
        _check_status(status)
        extra: list[tuple[str, str]] = []
        if retry_after is not None:
            extra.append(("Retry-After", retry_after_value(retry_after)))
        if retry_after_ms is not None:
            extra.append(("retry-after-ms", str(retry_after_ms)))
        extra.extend((headers or {}).items())
        self._generation_faults.push(Fail(status, tuple(extra), body, content_type), n)

    def drop_next(self, n: int = 1, *, reset: bool = False) -> None:
        """Close the connection of the next ``n`` generation requests without a response.

        The client typically sees ``aiohttp.ServerDisconnectedError``
        (``ClientOSError`` with ``reset=True``).

        Args:
            n: How many requests are dropped.
            reset: Abort with a TCP reset instead of a clean close.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url, retry=nb.RetryPolicy.no_wait()
            ... ) as client:
            ...     server.drop_next()  # the client retries and succeeds
            ...     _ = client.generate("a red kite")
            ...     print([r.outcome for r in server.generation_requests])
            ['dropped', 'ok']
        """
        self._generation_faults.push(Drop(reset), n)

    def malformed_next(self, n: int = 1, kind: str = "not_json") -> None:
        """Respond to the next ``n`` generation requests with a useless 200.

        Args:
            n: How many responses are malformed.
            kind: ``"not_json"`` (``text/html`` garbage), ``"bad_json"`` (garbage
                labelled ``application/json``), ``"truncated"`` (a real response cut in
                half), ``"no_image"`` (an empty ``data`` list), ``"null_data"``
                (``data`` and ``meta`` null, as the schema allows), ``"bad_base64"``
                (``b64_json`` that does not decode), ``"html"`` (a sign-in page) or
                ``"empty"`` (no body at all).

        Raises:
            ValueError: ``kind`` is not one of those.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     server.malformed_next(kind="bad_base64")
            ...     try:
            ...         client.generate("a red kite")
            ...     except nb.ResponseError:
            ...         print(server.generation_requests[-1].outcome)
            malformed:bad_base64
        """
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {MALFORMED_KINDS}, got {kind!r}")
        self._generation_faults.push(Malformed(kind), n)

    def hang_next(self, n: int = 1) -> None:
        """Accept the next ``n`` generation requests and never respond to them.

        A hung request ends when its client disconnects (e.g. on a client timeout) or
        when the server stops, which it does not delay.

        Args:
            n: How many requests hang.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url, max_retries=0
            ... ) as client:
            ...     server.hang_next()
            ...     try:
            ...         client.generate("a red kite", timeout=0.1)
            ...     except nb.APITimeoutError:
            ...         print(server.generation_requests[-1].outcome)
            hung
        """
        self._generation_faults.push(Hang(), n)

    def slow_next(self, n: int = 1, seconds: float = 1.0) -> None:
        """Delay the responses to the next ``n`` generation requests by ``seconds`` more.

        Args:
            n: How many requests are slow.
            seconds: Extra delay, on top of :attr:`latency`.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     server.slow_next(seconds=0.05)  # late, but it does respond
            ...     print(client.generate("a red kite").image.mime_type)
            image/png
        """
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._generation_faults.push(Slow(float(seconds)), n)

    def fail_downloads_next(self, n: int = 1, status: int = 500) -> None:
        """Respond to the next ``n`` ``/files/<id>.png`` downloads with ``status``.

        Args:
            n: How many downloads fail.
            status: The HTTP status (200-599), sent with the vendor's error body.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer(shape="images_url") as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     server.fail_downloads_next(status=410)
            ...     try:
            ...         client.generate("a red kite")
            ...     except nb.ImageDownloadError as exc:
            ...         print(exc.status)
            410
        """
        _check_status(status)
        self._download_faults.push(Fail(status), n)
