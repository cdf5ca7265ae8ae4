"""Giving each image of a result the record of the call that made it.

The client calls :func:`with_records` once per call, after the response (and after
the fan-out of a model that takes no ``num_images``, so that the record shows the
call as the user made it). The API key is not part of a request, so never of a record.
"""

from __future__ import annotations

import anyio.to_thread
import attrs

from ._models import ImageRequest, ImageResult
from ._provenance import GenerationRecord, input_digests

__all__ = ["with_records"]

_OWN_FIELDS = ("prompt", "model", "images")


async def with_records(result: ImageResult, request: ImageRequest, model: str) -> ImageResult:
    """``result`` with a :class:`GenerationRecord` on each of its images.

    Input images are hashed in a worker thread: a path is read again from disk.
    """
    digests: tuple[str, ...] = ()
    if request.images:
        digests = await anyio.to_thread.run_sync(input_digests, request.images)
    parameters = {k: v for k, v in request.to_dict().items() if k not in _OWN_FIELDS}
    record = GenerationRecord(
        prompt=request.prompt,
        model=model,
        parameters=parameters,
        request_id=result.request_id,
        usage=result.usage,
        input_images=digests,
    )
    images = tuple(attrs.evolve(image, record=record) for image in result.images)
    return attrs.evolve(result, images=images)
