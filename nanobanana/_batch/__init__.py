"""The batch engine: lazy fan-out, shared throttling, spend cap, manifest and resume.

Memory is O(concurrency), not O(inputs): inputs are read one at a time only when a
worker is free, a worker keeps its slot until the consumer has taken its item, and
with ``out_dir`` each image is written (atomically) and its bytes dropped at once.

The parts, each readable alone:

* :mod:`._reader`: reading the inputs (sync and async iterables, lazily);
* :mod:`._admission`: resume keys, the reorder window and the spend cap;
* :mod:`._throttle` and :mod:`._attempts`: the batch-wide flow control;
* :mod:`._engine`: the workers, stopping and closing;
* :mod:`._ledger` and :mod:`._manifest`: counts, summary, manifest and image files;
* :mod:`._remote`: the same files in object storage (``out_dir="s3://..."``);
* :mod:`._delivery`: handing items out, in order when asked;
* :mod:`._async_batch`: the async iterator the caller holds.
"""

from ._admission import Admission
from ._async_batch import AsyncBatch
from ._items import BatchItem, BatchStatus, BatchSummary, SkipReason
from ._limits import BatchLimits, LocalLimits
from ._manifest import MANIFEST_NAME, image_file_name, manifest_paths, read_manifest, slugify
from ._options import BatchInput, BatchOptions, ProgressCallback, Shard
from ._remote import (
    check_url,
    is_url,
    manifest_base,
    manifest_segments,
    object_names,
    open_url,
    read_remote_manifests,
)
from ._sender import Sender
from ._throttle import Throttle

__all__ = [
    "MANIFEST_NAME",
    "Admission",
    "AsyncBatch",
    "BatchInput",
    "BatchItem",
    "BatchLimits",
    "BatchOptions",
    "BatchStatus",
    "BatchSummary",
    "LocalLimits",
    "ProgressCallback",
    "Sender",
    "Shard",
    "SkipReason",
    "Throttle",
    "check_url",
    "image_file_name",
    "is_url",
    "manifest_base",
    "object_names",
    "manifest_paths",
    "manifest_segments",
    "open_url",
    "read_manifest",
    "read_remote_manifests",
    "slugify",
]
