"""nanobanana: Google's Nano Banana image models on the AI/ML API, from Python.

One async core (:class:`AsyncClient`), a blocking facade over it (:class:`Client`),
and an offline fake of the API for tests and demos (:mod:`nanobanana.testing`).

Example:
    >>> import nanobanana as nb
    >>> nb.Model.NANO_BANANA_PRO.value
    'google/nano-banana-pro'
"""

from ._batch import AsyncBatch
from ._batch_models import BatchItem, BatchSummary
from ._catalog import ASPECT_RATIOS, RESOLUTIONS, Model, ModelInfo, known_models, model_info
from ._client import AsyncClient
from ._config import USE_CLIENT_DEFAULT
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    ConflictError,
    ImageDownloadError,
    NanoBananaError,
    NotFoundError,
    OutOfCreditsError,
    PayloadTooLargeError,
    RateLimitError,
    RequestTimeoutError,
    ResponseError,
    ServerError,
    UnprocessableEntityError,
    ValidationError,
)
from ._models import GeneratedImage, ImageInput, ImageRequest, ImageResult, Timeout, Usage
from ._retry import RetryPolicy
from ._sync import Batch, Client
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ASPECT_RATIOS",
    "AsyncBatch",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "BatchItem",
    "BatchSummary",
    "Client",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "GeneratedImage",
    "ImageDownloadError",
    "ImageInput",
    "ImageRequest",
    "ImageResult",
    "Model",
    "ModelInfo",
    "NanoBananaError",
    "NotFoundError",
    "OutOfCreditsError",
    "PayloadTooLargeError",
    "RESOLUTIONS",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseError",
    "RetryPolicy",
    "ServerError",
    "Timeout",
    "USE_CLIENT_DEFAULT",
    "UnprocessableEntityError",
    "Usage",
    "ValidationError",
    "__version__",
    "known_models",
    "model_info",
]
