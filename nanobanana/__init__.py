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

from ._version import __version__ as __version__

if TYPE_CHECKING:  # for type checkers: the same names as the export table below
    from ._batch import (
        AsyncBatch as AsyncBatch,
        BatchInput as BatchInput,
        BatchItem as BatchItem,
        BatchSummary as BatchSummary,
    )
    from ._catalog import (
        ASPECT_RATIOS as ASPECT_RATIOS,
        RESOLUTIONS as RESOLUTIONS,
        Model as Model,
        ModelInfo as ModelInfo,
        known_models as known_models,
        model_info as model_info,
    )
    from ._client import AsyncClient as AsyncClient
    from ._config import USE_CLIENT_DEFAULT as USE_CLIENT_DEFAULT
    from ._errors import (
        APIConnectionError as APIConnectionError,
        APIStatusError as APIStatusError,
        APITimeoutError as APITimeoutError,
        AuthenticationError as AuthenticationError,
        BadRequestError as BadRequestError,
        BatchClosedError as BatchClosedError,
        BlockingCallWarning as BlockingCallWarning,
        ClientClosedError as ClientClosedError,
        ConfigurationError as ConfigurationError,
        ConflictError as ConflictError,
        ImageDownloadError as ImageDownloadError,
        NanoBananaError as NanoBananaError,
        NotFoundError as NotFoundError,
        OutOfCreditsError as OutOfCreditsError,
        PayloadTooLargeError as PayloadTooLargeError,
        RateLimitError as RateLimitError,
        RequestTimeoutError as RequestTimeoutError,
        ResponseError as ResponseError,
        ServerError as ServerError,
        UnprocessableEntityError as UnprocessableEntityError,
        ValidationError as ValidationError,
    )
    from ._gallery import write_gallery as write_gallery
    from ._models import (
        GeneratedImage as GeneratedImage,
        ImageInput as ImageInput,
        ImageRequest as ImageRequest,
        ImageResult as ImageResult,
        Timeout as Timeout,
        Usage as Usage,
    )
    from ._prompt_files import read_prompts as read_prompts
    from ._provenance import (
        GenerationRecord as GenerationRecord,
        read_metadata as read_metadata,
    )
    from ._retry import RetryPolicy as RetryPolicy
    from ._shard import Shard as Shard
    from ._sync import Batch as Batch, Client as Client
    from ._templates import Variations as Variations, expand as expand

# The export table: every public name, and the private module it lives in. It is
# the one list: ``__all__`` is made from it, and the imports above (for type
# checkers only) are checked against it by the test suite. The names are imported
# on first use (PEP 562) so that `import nanobanana` and `nanobanana --help` stay
# fast: the HTTP stack (aiohttp) loads only when a client is actually needed.
_EXPORTS: dict[str, str] = {
    "AsyncBatch": "._batch",
    "BatchInput": "._batch",
    "BatchItem": "._batch",
    "BatchSummary": "._batch",
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
    "BatchClosedError": "._errors",
    "BlockingCallWarning": "._errors",
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
    "write_gallery": "._gallery",
    "GeneratedImage": "._models",
    "ImageInput": "._models",
    "ImageRequest": "._models",
    "ImageResult": "._models",
    "Timeout": "._models",
    "Usage": "._models",
    "read_prompts": "._prompt_files",
    "GenerationRecord": "._provenance",
    "read_metadata": "._provenance",
    "RetryPolicy": "._retry",
    "Shard": "._shard",
    "Variations": "._templates",
    "expand": "._templates",
    "Batch": "._sync",
    "Client": "._sync",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nanobanana' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
