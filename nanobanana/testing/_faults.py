"""Fault switches of the fake server, and the vendor's error bodies.

Faults are values queued from the test's thread and consumed, one per request, by the
server's thread; the queue is the only shared state and is guarded by a lock.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import attrs

__all__ = [
    "MALFORMED_KINDS",
    "Drop",
    "Fail",
    "Fault",
    "FaultQueue",
    "Hang",
    "Malformed",
    "Slow",
    "default_message",
    "error_body",
    "fail_payload",
    "format_number",
    "retry_after_value",
]

#: Kinds accepted by :meth:`FakeServer.malformed_next`.
MALFORMED_KINDS: tuple[str, ...] = (
    "not_json",
    "bad_json",
    "truncated",
    "no_image",
    "null_data",
    "bad_base64",
    "html",
    "empty",
)

_MESSAGES: dict[int, str] = {
    400: "Body validation error!",
    401: "A valid API key is required",
    403: "You have run out of credits. Top up your balance to continue.",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal server error",
    502: "Bad Gateway",
    503: "Service Unavailable: the model is under maintenance",
    504: "Gateway Timeout: the generation took too long",
}

JsonBody = Mapping[str, Any]


@attrs.frozen
class Fail:
    """Respond with ``status`` instead of generating."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | str | JsonBody | None = None
    content_type: str | None = None


@attrs.frozen
class Drop:
    """Close the connection without a response (``reset``: with a TCP RST)."""

    reset: bool = False


@attrs.frozen
class Hang:
    """Never respond; give up only when the client leaves or the server stops."""


@attrs.frozen
class Malformed:
    """Respond 200 with a body a client cannot use (one of :data:`MALFORMED_KINDS`)."""

    kind: str


@attrs.frozen
class Slow:
    """Respond normally, ``seconds`` later than usual."""

    seconds: float


Fault = Fail | Drop | Hang | Malformed | Slow


class FaultQueue:
    """A FIFO of faults shared between the test's thread and the server's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[Fault] = deque()

    def push(self, fault: Fault, count: int) -> None:
        """Queue ``fault`` for the next ``count`` requests, after those already queued."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"n must be a non-negative integer, got {count!r}")
        with self._lock:
            self._items.extend([fault] * count)

    def pop(self) -> Fault | None:
        """The oldest queued fault, taken off the queue; ``None`` when it is empty."""
        with self._lock:
            return self._items.popleft() if self._items else None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def default_message(status: int) -> str:
    """The message the vendor's error body carries for ``status``."""
    if status in _MESSAGES:
        return _MESSAGES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_body(
    status: int, message: str, path: str, request_id: str, *, status_code: int | str | None = None
) -> dict[str, Any]:
    """The vendor's error body, with its five fields."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "message": message,
        "path": path,
        "requestId": request_id,
        "statusCode": status if status_code is None else status_code,
        "timestamp": now,
    }


def fail_payload(fault: Fail, path: str, request_id: str) -> tuple[bytes, str]:
    """The body and content type of a queued failure."""
    body = fault.body
    if body is None:
        # The docs show rate-limit bodies with statusCode as a string; clients must cope.
        code: int | str = str(fault.status) if fault.status == 429 else fault.status
        body = error_body(
            fault.status, default_message(fault.status), path, request_id, status_code=code
        )
    if isinstance(body, Mapping):
        return json.dumps(body).encode(), fault.content_type or "application/json"
    raw = body.encode() if isinstance(body, str) else bytes(body)
    return raw, fault.content_type or "text/html; charset=utf-8"


def format_number(value: float) -> str:
    """Render a usage figure for a header: ``3`` rather than ``3.0``, else shortest float."""
    if float(value).is_integer():
        return str(int(value))
    return repr(round(float(value), 10))


def retry_after_value(value: str | float) -> str:
    """Render a ``Retry-After`` value: strings as given (HTTP dates), numbers as seconds."""
    if isinstance(value, str):
        return value
    return format_number(value)
