"""Every exception the SDK raises, rooted at :class:`NanoBananaError`.

::

    NanoBananaError
    ├── ValidationError                  also a ValueError: bad input, caught before any I/O
    ├── ConfigurationError               also a ValueError: a bad setting, missing API key
    ├── ClientClosedError                also a RuntimeError: the client was closed
    ├── BatchClosedError                 also a RuntimeError: a sync batch iterated again
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
    └── ResponseError                    a success response the SDK cannot use
        └── ImageDownloadError           an image URL could not be fetched or was refused

Every error's message is safe to log: the API key never appears in one. Every error
pickles and deep-copies with its attributes.

One warning, :class:`BlockingCallWarning` (a ``RuntimeWarning``), says that the sync
client was called where it blocks a running event loop.

Every class is importable from here. The root lives in ``_error_root``, the HTTP
status classes (and :func:`status_error`) in ``_status_errors``, the reading of an
error body in ``_error_messages``; the others below.
"""

from __future__ import annotations

from ._error_root import BODY_EXCERPT_BYTES, NanoBananaError
from ._status_errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    OutOfCreditsError,
    PayloadTooLargeError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    UnprocessableEntityError,
    status_error,
)

__all__ = [
    "BODY_EXCERPT_BYTES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BatchClosedError",
    "BlockingCallWarning",
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


class BatchClosedError(NanoBananaError, RuntimeError):
    """A sync batch was iterated after it had run (or been closed): a batch runs once.

    Its :attr:`~nanobanana.Batch.summary` stays readable; to send the requests again,
    call ``client.batch(...)`` again.

    Example:
        >>> import nanobanana as nb
        >>> with nb.Client(api_key="my-key") as client:
        ...     batch = client.batch(["a red kite"], dry_run=True)
        ...     print(len(list(batch)))
        ...     try:
        ...         list(batch)
        ...     except nb.BatchClosedError as exc:
        ...         print(type(exc).__name__, isinstance(exc, RuntimeError))
        1
        BatchClosedError True
    """


class BlockingCallWarning(RuntimeWarning):
    """The sync :class:`~nanobanana.Client` was called from a thread whose event loop is
    running (inside ``async def``): the call blocks that loop until it returns.

    Use :class:`~nanobanana.AsyncClient` and ``await`` there. Warned once per client;
    filter it like any warning (``warnings.simplefilter("ignore", BlockingCallWarning)``).

    Example:
        >>> import nanobanana as nb
        >>> issubclass(nb.BlockingCallWarning, RuntimeWarning)
        True
    """


class APIConnectionError(NanoBananaError):
    """The API could not be reached, or the connection broke before a response came.

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


class ResponseError(NanoBananaError):
    """A success response the SDK cannot use: not JSON, truncated, no image, bad base64.

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
        the response could not be read: the image list is empty @ $.data
    """

    def __init__(self, message: str, *, request_id: str | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.request_id = request_id
        self.body = body


class ImageDownloadError(ResponseError):
    """An image URL in the response could not be fetched, was too large, or was refused.

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
