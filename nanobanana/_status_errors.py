"""HTTP status errors: one class per status the API documents, and the builder.

Every class here derives from :class:`APIStatusError`; :func:`status_error` picks
the one that stands for a status and fills in the message found in the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

from ._error_messages import extract_message
from ._error_root import BODY_EXCERPT_BYTES, NanoBananaError

__all__ = [
    "APIStatusError",
    "StatusCode",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "NotFoundError",
    "OutOfCreditsError",
    "PayloadTooLargeError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "UnprocessableEntityError",
    "status_error",
]


class StatusCode:
    """``status_code``: the status a class stands for, and an error's own status.

    Read on a class, it is the status the class stands for (``None`` for a range,
    as on :class:`ServerError`); read on an error, it is that error's HTTP status,
    the same as ``status`` (the name openai-python uses).

    Example:
        >>> import nanobanana as nb
        >>> nb.RateLimitError.status_code, nb.ServerError.status_code
        (429, None)
        >>> nb.ServerError("Internal Server Error", status=500).status_code
        500
    """

    def __init__(self, value: int | None) -> None:
        self.value = value

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> int | None: ...

    @overload
    def __get__(self, instance: APIStatusError, owner: type[Any]) -> int: ...

    def __get__(self, instance: APIStatusError | None, owner: type[Any]) -> int | None:
        return self.value if instance is None else instance.status


class APIStatusError(NanoBananaError):
    """The API answered with an error status.

    Attributes:
        status: The HTTP status code.
        status_code: The same as ``status``. On a class, the status the class stands
            for (``nb.RateLimitError.status_code == 429``; ``None`` on
            :class:`APIStatusError` and :class:`ServerError`, which stand for several).
        message: The message extracted from the body (or the reason phrase).
        request_id: The API's ``x-inference-id`` header, when sent.
        body: The raw response body (at most 64 KiB of it).
        headers: The response headers.
        retry_after: Seconds the server asked the client to wait, if it did.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer() as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url, max_retries=0
        ... ) as client:
        ...     server.fail_next(status=404)
        ...     try:
        ...         client.generate("a red kite")
        ...     except nb.APIStatusError as exc:
        ...         print(type(exc).__name__, exc.status, exc.message)
        NotFoundError 404 Not Found
    """

    status_code = StatusCode(None)

    def __init__(
        self,
        message: str,
        *,
        status: int,
        request_id: str | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.body = body
        self.headers: Mapping[str, str] = dict(headers or {})
        self.retry_after = retry_after

    def __str__(self) -> str:
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"HTTP {self.status}: {self.message}{rid}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, message={self.message!r}, "
            f"request_id={self.request_id!r})"
        )


class BadRequestError(APIStatusError):
    """400: the API rejected the body (``Body validation error!``).

    Example:
        >>> import nanobanana as nb
        >>> nb.BadRequestError.status_code, issubclass(nb.BadRequestError, nb.APIStatusError)
        (400, True)
    """

    status_code = StatusCode(400)


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer(api_key="right-key") as server, nb.Client(
        ...     api_key="wrong-key", base_url=server.url
        ... ) as client:
        ...     try:
        ...         client.generate("a red kite")
        ...     except nb.AuthenticationError as exc:
        ...         print(exc.status, exc.message)
        401 A valid API key is required
    """

    status_code = StatusCode(401)


class OutOfCreditsError(APIStatusError):
    """403: the account has no credits left.

    Example:
        >>> import nanobanana as nb
        >>> nb.OutOfCreditsError.status_code, issubclass(nb.OutOfCreditsError, nb.APIStatusError)
        (403, True)
    """

    status_code = StatusCode(403)


class NotFoundError(APIStatusError):
    """404: wrong path, unknown or deprecated model.

    Example:
        >>> import nanobanana as nb
        >>> nb.NotFoundError.status_code, issubclass(nb.NotFoundError, nb.APIStatusError)
        (404, True)
    """

    status_code = StatusCode(404)


class RequestTimeoutError(APIStatusError):
    """408: the server timed the request out. Retried.

    Example:
        >>> import nanobanana as nb
        >>> nb.RequestTimeoutError.status_code
        408
        >>> nb.RetryPolicy().should_retry_status(nb.RequestTimeoutError.status_code)
        True
    """

    status_code = StatusCode(408)


class ConflictError(APIStatusError):
    """409: a conflicting request. Retried.

    Example:
        >>> import nanobanana as nb
        >>> nb.ConflictError.status_code
        409
        >>> nb.RetryPolicy().should_retry_status(nb.ConflictError.status_code)
        True
    """

    status_code = StatusCode(409)


class PayloadTooLargeError(APIStatusError):
    """413: the request body is too large (too many or too big input images).

    Example:
        >>> import nanobanana as nb
        >>> nb.PayloadTooLargeError.status_code
        413
        >>> issubclass(nb.PayloadTooLargeError, nb.APIStatusError)
        True
    """

    status_code = StatusCode(413)


class UnprocessableEntityError(APIStatusError):
    """422: the body parsed but could not be processed.

    Example:
        >>> import nanobanana as nb
        >>> nb.UnprocessableEntityError.status_code
        422
        >>> issubclass(nb.UnprocessableEntityError, nb.APIStatusError)
        True
    """

    status_code = StatusCode(422)


class RateLimitError(APIStatusError):
    """429: too many requests. Retried, honouring ``Retry-After``.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer() as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url, retry=nb.RetryPolicy.disabled()
        ... ) as client:
        ...     server.fail_next(status=429, retry_after=2)
        ...     try:
        ...         client.generate("a red kite")
        ...     except nb.RateLimitError as exc:
        ...         print(exc.status, exc.retry_after)
        429 2.0
    """

    status_code = StatusCode(429)


class ServerError(APIStatusError):
    """5xx: the API or a gateway failed. 500, 502, 503 and 504 are retried.

    Example:
        >>> import nanobanana as nb
        >>> nb.ServerError.status_code is None  # it stands for a range of statuses
        True
        >>> nb.ServerError("Bad Gateway", status=502).status_code  # an error's own status
        502
        >>> nb.RetryPolicy().should_retry_status(503), nb.RetryPolicy().should_retry_status(501)
        (True, False)
    """


_BY_STATUS: dict[int, type[APIStatusError]] = {
    cls.status_code: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        OutOfCreditsError,
        NotFoundError,
        RequestTimeoutError,
        ConflictError,
        PayloadTooLargeError,
        UnprocessableEntityError,
        RateLimitError,
    )
    if cls.status_code is not None
}


def status_error(
    status: int,
    body: bytes,
    *,
    reason: str | None = None,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass that stands for ``status``."""
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    else:
        cls = APIStatusError
    return cls(
        extract_message(body, reason),
        status=status,
        request_id=request_id,
        body=body[:BODY_EXCERPT_BYTES],
        headers=headers,
        retry_after=retry_after,
    )
