"""What a batch yields and reports: one :class:`BatchItem` per input, a :class:`BatchSummary`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import attrs

from .._errors import NanoBananaError
from .._models import ImageRequest, ImageResult, Usage
from .._results import money_repr

__all__ = ["BatchItem", "BatchStatus", "BatchSummary", "SkipReason"]

#: ``ok``: images made; ``failed``: a typed error; ``skipped``: not sent (see ``skip_reason``).
BatchStatus = Literal["ok", "failed", "skipped"]
#: ``done``: succeeded in an earlier run (resume); ``budget``: the spend cap was reached;
#: ``stopped``: the batch stopped (401, 403, ``fail_fast``) before the item finished;
#: ``dry_run``: valid, and not sent because of ``dry_run=True``; ``other_shard``: the
#: input is another shard's (see :class:`Shard`), and is not in this one's manifest.
SkipReason = Literal["done", "budget", "stopped", "dry_run", "other_shard"]


@attrs.frozen(kw_only=True)
class BatchItem:
    """The outcome of one input of a batch.

    Attributes:
        index: Position in the input, from 0.
        request: The request (``None`` when the input could not be made into one).
        key: The request's stable key (the SHA-256 of its canonical JSON, shortened),
            which the manifest uses to match items across runs.
        status: ``"ok"``, ``"failed"`` or ``"skipped"``.
        skip_reason: Why a skipped item was not sent.
        result: The :class:`ImageResult`; ``None`` when ``out_dir`` is set (the images
            were written to :attr:`paths` and their bytes released) or on failure.
        error: The typed error of a failed item.
        attempts: Requests sent for this item (0: never sent).
        elapsed: Seconds from the first attempt to the outcome.
        paths: Where the images were written, when ``out_dir`` is set.
        usage: Credits and USD the API reported for this item.
        request_id: The API's ``x-inference-id`` of the successful answer.
        model: The id of the model the request went to (or would have gone to);
            ``None`` when the input could not be made into a request.

    Example:
        >>> import nanobanana as nb
        >>> with nb.Client(api_key="my-key") as client:
        ...     for item in client.batch(["a red kite", "a blue boat"], dry_run=True):
        ...         print(item.index, item.status, item.skip_reason)
        0 skipped dry_run
        1 skipped dry_run
    """

    index: int
    request: ImageRequest | None
    key: str | None
    status: BatchStatus
    skip_reason: SkipReason | None = None
    result: ImageResult | None = None
    error: NanoBananaError | None = None
    attempts: int = 0
    elapsed: float = 0.0
    paths: tuple[Path, ...] = ()
    usage: Usage | None = None
    request_id: str | None = None
    model: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the item produced its images (in this run).

        Example:
            >>> import nanobanana as nb
            >>> nb.BatchItem(index=0, request=None, key=None, status="failed").ok
            False
        """
        return self.status == "ok"


@attrs.frozen(kw_only=True)
class BatchSummary:
    """Counts of a batch, as a snapshot: at the end, or while it runs (progress).

    Attributes:
        read: Inputs read so far.
        total: Number of inputs, when the input has a ``len()``.
        ok: Items that produced their images.
        failed: Items that ended with an error.
        skipped: Items not sent, by any reason.
        skipped_by_reason: ``{"done": 3, "budget": 7, ...}``.
        in_flight: Requests being sent right now.
        images: Images received.
        images_written: Images written to ``out_dir``.
        credits_used: Credits reported by the API, when it reported any.
        usd_spent: USD reported by the API, when it reported any.
        requests_sent: HTTP requests sent, retries included.
        throttled: 429 answers received.
        concurrency: Requests currently allowed in flight (lowered after 429s).
        elapsed: Wall seconds since the batch started.
        rate: Finished items per second so far.
        eta: Seconds left at the current rate, when ``total`` is known.
        planned_requests: With ``dry_run``: requests that would be sent.
        planned_images: With ``dry_run``: images those requests would make.
        stop_reason: Why the batch stopped early, if it did.
        manifest: The manifest's path, with ``out_dir``.

    Example:
        >>> import nanobanana as nb
        >>> requests = ["a red kite", nb.ImageRequest(prompt="a blue boat", num_images=2)]
        >>> with nb.Client(api_key="my-key") as client:
        ...     summary = client.batch(requests, dry_run=True).run()
        >>> summary.planned_requests, summary.planned_images, summary.skipped_by_reason
        (2, 3, {'dry_run': 2})

        A repr shows money rounded to 6 decimals; the attributes keep the exact sums:

        >>> summary = nb.BatchSummary(ok=2, usd_spent=0.1 + 0.2)
        >>> "usd_spent=0.3," in repr(summary), summary.usd_spent
        (True, 0.30000000000000004)
    """

    read: int = 0
    total: int | None = None
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    skipped_by_reason: dict[str, int] = attrs.field(factory=dict)
    in_flight: int = 0
    images: int = 0
    images_written: int = 0
    credits_used: float | None = attrs.field(default=None, repr=money_repr)
    usd_spent: float | None = attrs.field(default=None, repr=money_repr)
    requests_sent: int = 0
    throttled: int = 0
    concurrency: int = 0
    elapsed: float = 0.0
    rate: float = 0.0
    eta: float | None = None
    planned_requests: int = 0
    planned_images: int = 0
    stop_reason: str | None = None
    manifest: Path | None = None

    @property
    def done(self) -> int:
        """Items finished, whatever their status.

        Example:
            >>> import nanobanana as nb
            >>> nb.BatchSummary(ok=3, failed=1, skipped=2).done
            6
        """
        return self.ok + self.failed + self.skipped
