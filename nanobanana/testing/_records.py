"""What the fake server saw: one frozen record per request, kept thread-safely."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["GENERATIONS_PATH", "RecordedRequest", "Recorder"]

#: The path of the generation endpoint, relative to the server's URL.
GENERATIONS_PATH = "/v1/images/generations"


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the :class:`FakeServer` received, and what it did with it.

    Attributes:
        method: The HTTP method, e.g. ``"POST"``.
        path: The URL path, e.g. ``"/v1/images/generations"``.
        headers: The request headers; lookups ignore case
            (``record.headers["authorization"]``).
        json: The decoded JSON body, or ``None`` when the body was empty or not JSON.
        body_size: Length of the raw body in bytes.
        client_port: The client's TCP port. Requests sharing a port came over the same
            connection, which is how a test counts connections (see
            :meth:`FakeServer.distinct_connections`).
        received_at: ``time.monotonic()`` when the request arrived.
        outcome: What the server did: ``"pending"`` while it has not decided yet,
            ``"ok"``, ``"fault:<status>"`` (a queued :meth:`FakeServer.fail_next`),
            ``"dropped"``, ``"hung"``, ``"malformed:<kind>"``, the status as a string
            for an error the API itself would give (``"400"``, ``"401"``, ``"404"``),
            ``"rate_limit:429"``, ``"throttle_share:429"``, ``"outage:<status>"`` or
            ``"outage:refused"`` (the load switches), or ``"cancelled"`` when the
            client went away before a response was decided.
        status: The HTTP status sent, or ``None`` when no response was sent.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer() as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url
        ... ) as client:
        ...     _ = client.generate("a lighthouse at dawn")
        ...     record = server.generation_requests[-1]
        >>> record.json["prompt"], record.outcome
        ('a lighthouse at dawn', 'ok')
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    json: Any = attrs.field(repr=False)
    body_size: int
    client_port: int | None
    received_at: float
    outcome: str = "pending"
    status: int | None = None

    @property
    def is_generation(self) -> bool:
        """Whether this was a ``POST`` to the generation endpoint.

        Example:
            >>> import nanobanana as nb
            >>> from nanobanana.testing import FakeServer
            >>> with FakeServer() as server, nb.Client(
            ...     api_key=server.api_key, base_url=server.url
            ... ) as client:
            ...     _ = client.generate("a red kite")
            ...     print(server.requests[-1].is_generation)
            True
        """
        return self.method == "POST" and self.path == GENERATIONS_PATH


class Recorder:
    """A list of records that the server thread appends to and tests read from.

    A record is appended when its request arrives and replaced when the server settles
    what to do with it, so a test can see a request that is still hanging. ``clear``
    starts a new epoch, so a request that was in flight during a reset does not
    overwrite a newer record.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []
        self._epoch = 0

    def add(self, record: RecordedRequest) -> tuple[int, int]:
        with self._lock:
            self._items.append(record)
            return self._epoch, len(self._items) - 1

    def settle(self, token: tuple[int, int], outcome: str, status: int | None) -> None:
        epoch, index = token
        with self._lock:
            if epoch == self._epoch:
                self._items[index] = attrs.evolve(
                    self._items[index], outcome=outcome, status=status
                )

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items = []
            self._epoch += 1
