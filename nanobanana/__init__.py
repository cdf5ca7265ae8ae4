"""nanobanana: Google's Nano Banana image models on the AI/ML API, from Python.

One async core (:class:`AsyncClient`), a blocking facade over it (:class:`Client`),
and an offline fake of the API for tests and demos (:mod:`nanobanana.testing`).

Example:
    >>> import nanobanana as nb
    >>> nb.Model.NANO_BANANA_PRO.value
    'google/nano-banana-pro'
    >>> "16:9" in nb.ASPECT_RATIOS, nb.RESOLUTIONS
    (True, ('1K', '2K', '4K'))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._batch import AsyncBatch, BatchInput
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

# Public names and the private module each lives in. They are imported on first
# use (PEP 562) so that `import nanobanana` and `nanobanana --help` stay fast: the
# HTTP stack (aiohttp) loads only when a client is actually needed.
_LAZY: dict[str, str] = {
    "AsyncBatch": "._batch",
    "BatchInput": "._batch",
    "BatchItem": "._batch_models",
    "BatchSummary": "._batch_models",
    "ASPECT_RATIOS": "._catalog",
    "RESOLUTIONS": "._catalog",
    "Model": "._catalog",
    "ModelInfo": "._catalog",
    "known_models": "._catalog",
    "model_info": "._catalog",
    "AsyncClient": "._client",
    "USE_CLIENT_DEFAULT": "._config",
    "APIConnectionError": "._errors",
    "APIStatusError": "._errors",
    "APITimeoutError": "._errors",
    "AuthenticationError": "._errors",
    "BadRequestError": "._errors",
    "ClientClosedError": "._errors",
    "ConfigurationError": "._errors",
    "ConflictError": "._errors",
    "ImageDownloadError": "._errors",
    "NanoBananaError": "._errors",
    "NotFoundError": "._errors",
    "OutOfCreditsError": "._errors",
    "PayloadTooLargeError": "._errors",
    "RateLimitError": "._errors",
    "RequestTimeoutError": "._errors",
    "ResponseError": "._errors",
    "ServerError": "._errors",
    "UnprocessableEntityError": "._errors",
    "ValidationError": "._errors",
    "GeneratedImage": "._models",
    "ImageInput": "._models",
    "ImageRequest": "._models",
    "ImageResult": "._models",
    "Timeout": "._models",
    "Usage": "._models",
    "RetryPolicy": "._retry",
    "Batch": "._sync",
    "Client": "._sync",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nanobanana' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    "BatchInput",
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
