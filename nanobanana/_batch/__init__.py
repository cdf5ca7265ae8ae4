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
* :mod:`._delivery`: handing items out, in order when asked;
* :mod:`._async_batch`: the async iterator the caller holds.
"""

from ._async_batch import AsyncBatch
from ._attempts import SharedAttempts
from ._items import BatchItem, BatchStatus, BatchSummary, SkipReason
from ._manifest import MANIFEST_NAME, image_file_name, manifest_paths, read_manifest, slugify
from ._options import BatchInput, BatchOptions, ProgressCallback, Shard
from ._sender import Sender

__all__ = [
    "MANIFEST_NAME",
    "AsyncBatch",
    "BatchInput",
    "BatchItem",
    "BatchOptions",
    "BatchStatus",
    "BatchSummary",
    "ProgressCallback",
    "Sender",
    "Shard",
    "SharedAttempts",
    "SkipReason",
    "image_file_name",
    "manifest_paths",
    "read_manifest",
    "slugify",
]
