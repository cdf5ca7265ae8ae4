"""The batch's books: what finished how, what it cost, and the manifest on disk.

Every item read gets exactly one :meth:`Ledger.record` (ok, failed, or skipped with
its reason), which counts it and writes its manifest line. The summary is made from
these counts, the throttle's and the reader's.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

from .._models import ImageResult
from .._shard import Shard, manifest_name, writer_tag
from ._items import BatchItem, BatchSummary
from ._manifest import (
    ImageFolder,
    ManifestWriter,
    clean_partial_files,
    read_earlier_runs,
)
from ._reader import InputReader
from ._remote import RemoteFolder, SegmentWriter, open_url, read_remote_runs
from ._throttle import Throttle

__all__ = ["Ledger"]

log = logging.getLogger("nanobanana")


class Ledger:
    """Counts and manifest of one batch.

    Attributes:
        statuses: Finished items by status (``ok``, ``failed``, ``skipped``).
        skip_reasons: Skipped items by reason.
        images: Images received.
        images_written: Images written to ``out_dir``.
        usd: USD reported by the API, if any was.
        credits: Credits reported by the API, if any were.
        planned_requests: Requests a dry run would send.
        planned_images: Images those requests would make.
        stop_reason: Why the batch stopped early, if it did.
        folder: Where the images go, once open with an ``out_dir``.
    """

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.skip_reasons: Counter[str] = Counter()
        self.images = 0
        self.images_written = 0
        self.usd: float | None = None
        self.credits: float | None = None
        self.planned_requests = 0
        self.planned_images = 0
        self.stop_reason: str | None = None
        self.started = time.monotonic()
        self.ended: float | None = None
        self._manifest: ManifestWriter | SegmentWriter | None = None
        self.folder: ImageFolder | RemoteFolder | None = None

    def open(
        self,
        out_dir: Path | str | None,
        *,
        resume: bool,
        dry_run: bool,
        shard: Shard | None = None,
        writer: str | None = None,
    ) -> Counter[str]:
        """Prepare ``out_dir`` and open its manifest (the ``shard``'s or the
        ``writer``'s own, if one is given); return the keys done before (with
        ``resume``: finished ok in any manifest there, their images still there), each
        with how many times. Raises the ``OSError`` when ``out_dir`` cannot be prepared."""
        if out_dir is None:
            return Counter()
        name = manifest_name(shard, writer)
        prefix = f"{writer}-" if writer is not None else ""
        if isinstance(out_dir, str):
            return self._open_remote(
                out_dir, resume=resume, dry_run=dry_run, name=name, prefix=prefix
            )
        done, gone = read_earlier_runs(out_dir)
        if not resume:
            done = Counter()
        if dry_run:
            return done  # a dry run reads the manifest, to count what a resume would send
        out_dir.mkdir(parents=True, exist_ok=True)
        tag = writer_tag(shard, writer)
        removed = clean_partial_files(out_dir, tag)
        if removed:
            log.info(
                "removed %d partial file(s) left in %s by an interrupted run", removed, out_dir
            )
        self._manifest = ManifestWriter(out_dir / name)
        self._manifest.open()
        self.folder = ImageFolder(out_dir, gone, tag, prefix)
        return done

    def _open_remote(
        self, url: str, *, resume: bool, dry_run: bool, name: str, prefix: str
    ) -> Counter[str]:
        """:meth:`open` for object storage (see :mod:`._remote`)."""
        fs, root = open_url(url)
        done, gone = read_remote_runs(fs, root)
        if not resume:
            done = Counter()
        if not dry_run:
            self._manifest = SegmentWriter(fs, root, name)
            self.folder = RemoteFolder(fs, root, gone, prefix)
        return done

    def close(self) -> None:
        """Close the manifest and stop the clock."""
        self.ended = time.monotonic()
        if self._manifest is not None:
            self._manifest.close()

    def record(self, item: BatchItem) -> None:
        """Count one finished item and write its manifest line."""
        self.statuses[item.status] += 1
        if item.skip_reason is not None:
            self.skip_reasons[item.skip_reason] += 1
        # Done before: its line is there already; another shard's: not this one's.
        if self._manifest is not None and item.skip_reason not in ("done", "other_shard"):
            self._manifest.write(item)

    def account(self, result: ImageResult, written: int) -> None:
        """Add what one successful request made and cost."""
        self.images += len(result.images)
        self.images_written += written
        usage = result.usage
        if usage.usd_spent is not None:
            self.usd = (self.usd or 0.0) + usage.usd_spent
        if usage.credits_used is not None:
            self.credits = (self.credits or 0.0) + usage.credits_used

    def plan(self, images: int) -> None:
        """Count one request a dry run would send."""
        self.planned_requests += 1
        self.planned_images += images

    def note_stop(self, reason: str) -> None:
        """Keep the first reason the batch stopped (or stopped sending)."""
        self.stop_reason = self.stop_reason or reason

    def summary(self, reader: InputReader, throttle: Throttle) -> BatchSummary:
        """A snapshot of the counts."""
        elapsed = (self.ended or time.monotonic()) - self.started
        finished = sum(self.statuses.values())
        rate = finished / elapsed if elapsed > 0 else 0.0
        eta = None
        if reader.total is not None and rate > 0 and self.ended is None:
            eta = max(reader.total - finished, 0) / rate
        return BatchSummary(
            read=reader.read,
            total=reader.total,
            ok=self.statuses["ok"],
            failed=self.statuses["failed"],
            skipped=self.statuses["skipped"],
            skipped_by_reason=dict(self.skip_reasons),
            in_flight=throttle.in_flight,
            images=self.images,
            images_written=self.images_written,
            credits_used=self.credits,
            usd_spent=self.usd,
            requests_sent=throttle.sent,
            throttled=throttle.throttled,
            concurrency=throttle.limit.allowed,
            send_rate=throttle.send_rate.rate,
            paused=throttle.outage.paused,
            time_paused=throttle.outage.time_paused(),
            next_probe=throttle.outage.next_probe_in(),
            elapsed=elapsed,
            rate=rate,
            eta=eta,
            planned_requests=self.planned_requests,
            planned_images=self.planned_images,
            stop_reason=self.stop_reason,
            manifest=self._manifest.path if isinstance(self._manifest, ManifestWriter) else None,
        )
