"""Every exception the SDK raises, rooted at :class:`NanoBananaError`.

::

    NanoBananaError
    ├── ValidationError                  also a ValueError: bad input, caught before any I/O
    ├── ConfigurationError               missing API key, bad base URL
    ├── ClientClosedError                also a RuntimeError: the client was closed
    ├── APIConnectionError               could not talk to the API (DNS, refused, reset)
    │   └── APITimeoutError              connect or total timeout passed
    ├── APIStatusError                   the API answered with an error status
    │   ├── BadRequestError              400
    │   ├── AuthenticationError          401
    │   ├── OutOfCreditsError            403
    │   ├── NotFoundError                404
    │   ├── RequestTimeoutError          408  (retried)
    │   ├── ConflictError                409  (retried)
    │   ├── PayloadTooLargeError         413
    │   ├── UnprocessableEntityError     422
    │   ├── RateLimitError               429  (retried)
    │   └── ServerError                  5xx  (500, 502, 503, 504 retried)
    └── ResponseError                    a success answer the SDK cannot use
        └── ImageDownloadError           an image URL could not be fetched or was refused

Every error's message is safe to log: the API key never appears in one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BODY_EXCERPT_BYTES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "ImageDownloadError",
    "NanoBananaError",
    "NotFoundError",
    "OutOfCreditsError",
    "PayloadTooLargeError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseError",
    "ServerError",
    "UnprocessableEntityError",
    "ValidationError",
    "status_error",
]


class NanoBananaError(Exception):
    """Base class of every error the SDK raises.

    Example:
        >>> import nanobanana as nb
        >>> issubclass(nb.RateLimitError, nb.NanoBananaError)
        True
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(NanoBananaError, ValueError):
    """A request argument is invalid; raised before anything is sent.

    Attributes:
        field: The name of the offending argument (``"aspect_ratio"``, ``"images[1]"``...).

    Example:
        >>> import nanobanana as nb
        >>> try:
        ...     nb.ImageRequest(prompt="  ")
        ... except nb.ValidationError as exc:
        ...     print(exc.field)
        prompt
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ConfigurationError(NanoBananaError, ValueError):
    """A setting is invalid, or the client cannot send requests (for example, no API key).

    Every bad argument of :class:`AsyncClient`, :class:`Client`, :class:`RetryPolicy`
    and :class:`Timeout` raises it, naming the argument, before anything is sent. It is
    a ``ValueError`` too.

    Example:
        >>> import nanobanana as nb
        >>> try:
        ...     nb.Client(api_key="my-key", base_url="ftp://example.com")
        ... except nb.ConfigurationError as exc:
        ...     print(exc)
        base_url must start with http:// or https://, got 'ftp://example.com'
    """


class ClientClosedError(NanoBananaError, RuntimeError):
    """The client was closed; create a new one to send more requests.

    Example:
        >>> import nanobanana as nb
        >>> client = nb.Client(api_key="my-key")
        >>> client.close()
        >>> try:
        ...     client.generate("a red kite")
        ... except nb.ClientClosedError as exc:
        ...     print(exc)
        the client is closed; create a new one
    """


class APIConnectionError(NanoBananaError):
    """The API could not be reached, or the connection broke before an answer came.

    Attributes:
        client_request_id: The ``X-Client-Request-Id`` sent with the request, if any.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer() as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url, max_retries=0
        ... ) as client:
        ...     server.drop_next()  # the server closes the connection without answering
        ...     try:
        ...         client.generate("a red kite")
        ...     except nb.APIConnectionError as exc:
        ...         print(type(exc).__name__)
        APIConnectionError
    """

    def __init__(self, message: str, *, client_request_id: str | None = None) -> None:
        super().__init__(message)
        self.client_request_id = client_request_id


class APITimeoutError(APIConnectionError):
    """The connect or total timeout passed before the API answered.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer() as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url, max_retries=0
        ... ) as client:
        ...     server.hang_next()  # the server never answers
        ...     try:
        ...         client.generate("a red kite", timeout=0.1)
        ...     except nb.APITimeoutError as exc:
        ...         print(isinstance(exc, nb.APIConnectionError))
        True
    """


class APIStatusError(NanoBananaError):
    """The API answered with an error status.

    Attributes:
        status: The HTTP status code.
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

    #: The status code this class stands for (``None``: a range, see ``ServerError``).
    status_code: int | None = None

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

    status_code = 400


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

    status_code = 401


class OutOfCreditsError(APIStatusError):
    """403: the account has no credits left.

    Example:
        >>> import nanobanana as nb
        >>> nb.OutOfCreditsError.status_code, issubclass(nb.OutOfCreditsError, nb.APIStatusError)
        (403, True)
    """

    status_code = 403


class NotFoundError(APIStatusError):
    """404: wrong path, unknown or deprecated model.

    Example:
        >>> import nanobanana as nb
        >>> nb.NotFoundError.status_code, issubclass(nb.NotFoundError, nb.APIStatusError)
        (404, True)
    """

    status_code = 404


class RequestTimeoutError(APIStatusError):
    """408: the server timed the request out. Retried.

    Example:
        >>> import nanobanana as nb
        >>> nb.RequestTimeoutError.status_code
        408
        >>> nb.RetryPolicy().should_retry_status(nb.RequestTimeoutError.status_code)
        True
    """

    status_code = 408


class ConflictError(APIStatusError):
    """409: a conflicting request. Retried.

    Example:
        >>> import nanobanana as nb
        >>> nb.ConflictError.status_code
        409
        >>> nb.RetryPolicy().should_retry_status(nb.ConflictError.status_code)
        True
    """

    status_code = 409


class PayloadTooLargeError(APIStatusError):
    """413: the request body is too large (too many or too big input images).

    Example:
        >>> import nanobanana as nb
        >>> nb.PayloadTooLargeError.status_code
        413
        >>> issubclass(nb.PayloadTooLargeError, nb.APIStatusError)
        True
    """

    status_code = 413


class UnprocessableEntityError(APIStatusError):
    """422: the body parsed but could not be processed.

    Example:
        >>> import nanobanana as nb
        >>> nb.UnprocessableEntityError.status_code
        422
        >>> issubclass(nb.UnprocessableEntityError, nb.APIStatusError)
        True
    """

    status_code = 422


class RateLimitError(APIStatusError):
    """429: too many requests. Retried, honouring ``Retry-After``.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer() as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url, max_retries=0
        ... ) as client:
        ...     server.fail_next(status=429, retry_after=2)
        ...     try:
        ...         client.generate("a red kite")
        ...     except nb.RateLimitError as exc:
        ...         print(exc.status, exc.retry_after)
        429 2.0
    """

    status_code = 429


class ServerError(APIStatusError):
    """5xx: the API or a gateway failed. 500, 502, 503 and 504 are retried.

    Example:
        >>> import nanobanana as nb
        >>> nb.ServerError.status_code is None  # it stands for a range of statuses
        True
        >>> nb.RetryPolicy().should_retry_status(503), nb.RetryPolicy().should_retry_status(501)
        (True, False)
    """


class ResponseError(NanoBananaError):
    """A success answer the SDK cannot use: not JSON, truncated, no image, bad base64.

    Attributes:
        request_id: The API's ``x-inference-id`` header, when sent.
        body: The start of the raw body (at most 64 KiB), for diagnosis.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer() as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url, max_retries=0
        ... ) as client:
        ...     server.malformed_next(kind="no_image")
        ...     try:
        ...         client.generate("a red kite")
        ...     except nb.ResponseError as exc:
        ...         print(exc)
        the answer has an empty image list
    """

    def __init__(self, message: str, *, request_id: str | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.request_id = request_id
        self.body = body


class ImageDownloadError(ResponseError):
    """An image URL in the answer could not be fetched, was too large, or was refused.

    Attributes:
        url: The URL (query string removed, as it may carry a signature).
        status: The HTTP status of the download, when one was received.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer(shape="images_url") as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url
        ... ) as client:
        ...     server.fail_downloads_next(status=404)  # the API answers with a dead link
        ...     try:
        ...         client.generate("a red kite")
        ...     except nb.ImageDownloadError as exc:
        ...         print(exc.status, isinstance(exc, nb.ResponseError))
        404 True
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.url = url
        self.status = status


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

#: How much of a response body an error keeps, for diagnosis.
BODY_EXCERPT_BYTES = 64 * 1024
_TAG = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def _message_from_json(doc: Any) -> str | None:
    if isinstance(doc, str):
        return doc.strip() or None
    if not isinstance(doc, Mapping):
        return None
    found: str | None = None
    for key in ("message", "detail", "error_description"):
        value = doc.get(key)
        if isinstance(value, str) and value.strip():
            found = value.strip()
            break
        if isinstance(value, list) and value:
            found = "; ".join(str(v) for v in value)
            break
    if found is None and "error" in doc:
        found = _message_from_json(doc["error"])
    # Validators (problem+json's "validation", others' "errors") list what was wrong:
    # that is the useful part, so it goes into the message too.
    problems = _problems(doc.get("validation") or doc.get("errors"))
    if problems:
        return f"{found}: {problems}" if found else problems
    return found


def _problems(items: Any) -> str | None:
    if not isinstance(items, list):
        return None
    parts = []
    for item in items[:5]:
        if not isinstance(item, Mapping) or not isinstance(item.get("message"), str):
            continue
        where = item.get("location") or item.get("path") or item.get("loc")
        if isinstance(where, list):
            where = ".".join(str(w) for w in where)
        parts.append(f"{where}: {item['message']}" if where else item["message"])
    return "; ".join(parts) or None


def extract_message(body: bytes, reason: str | None) -> str:
    """Pull a human message out of any error body the API or a gateway sends.

    JSON with ``message``, JSON with ``error`` (a string or an object with a
    ``message``), HTML pages (their ``<title>``, else their text) and empty bodies
    are all handled; the HTTP reason phrase is the last resort.
    """
    text = body.decode("utf-8", "replace").strip()
    if text:
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if doc is not None:
            found = _message_from_json(doc)
            if found:
                return found[:500]
        elif text.startswith("<"):
            title = _TITLE.search(text)
            plain = title.group(1) if title else _TAG.sub(" ", text)
            plain = _SPACE.sub(" ", plain).strip()
            if plain:
                return plain[:200]
        else:
            return _SPACE.sub(" ", text)[:200]
    return reason or "no message in the response"


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
