"""The batch's record on disk: ``manifest.jsonl``, and the image files it names.

One JSON line is appended and flushed per finished item, so a batch killed at any
moment leaves a manifest whose every complete line is true. A line cut short by a
kill is ignored on reading. Resuming trusts only ``ok`` lines, matched by the
request's stable key (not by its position), so a reordered or edited input file
still resumes correctly.
"""

from __future__ import annotations

import collections
import json
import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .._converter import ManifestRecord, manifest_line
from .._models import ImageResult, atomic_write
from ._items import BatchItem

__all__ = [
    "MANIFEST_NAME",
    "ManifestWriter",
    "clean_partial_files",
    "image_file_name",
    "read_manifest",
    "slugify",
    "succeeded_keys",
    "write_images",
]

MANIFEST_NAME = "manifest.jsonl"
_SLUG_LEN = 40
_NON_WORD = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_len: int = _SLUG_LEN) -> str:
    """A short, file-system-safe slug of a prompt: lower-case ASCII words and dashes.

    Example:
        >>> slugify("A lighthouse at dawn, 16:9 -- oil painting!")
        'a-lighthouse-at-dawn-16-9-oil-painting'
        >>> slugify("../../etc/passwd")
        'etc-passwd'
        >>> slugify("東京")
        'image'
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NON_WORD.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rsplit("-", 1)[0] or slug[:max_len]
    return slug.strip("-") or "image"


def image_file_name(index: int, prompt: str, suffix: str, position: int, count: int) -> str:
    """``000042-a-lighthouse-at-dawn.png``; ``-2``, ``-3``... when a request made several."""
    extra = f"-{position + 1}" if count > 1 else ""
    return f"{index:06d}-{slugify(prompt)}{extra}{suffix}"


def clean_partial_files(directory: Path) -> int:
    """Remove temporary files a killed batch left behind; return how many."""
    removed = 0
    if not directory.is_dir():
        return 0
    for entry in directory.iterdir():
        if entry.name.startswith(".") and entry.name.endswith(".part") and entry.is_file():
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def read_manifest(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete, parseable line of a manifest, in order; torn lines are skipped."""
    if not path.exists():
        return
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                continue  # the last line of a killed run
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            if isinstance(doc, dict) and isinstance(doc.get("key"), str):
                yield doc


def succeeded_keys(path: Path) -> collections.Counter[str]:
    """How many times each request key finished ``ok`` in the manifest at ``path``."""
    counts: collections.Counter[str] = collections.Counter()
    for doc in read_manifest(path):
        if doc.get("status") == "ok":
            counts[doc["key"]] += 1
    return counts


class ManifestWriter:
    """Appends one flushed line per finished item."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None
        self.lines = 0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("ab")
        # A line torn by a kill must not glue itself to the next run's first line.
        if fh.tell() > 0:
            with self.path.open("rb") as check:
                check.seek(-1, os.SEEK_END)
                if check.read(1) != b"\n":
                    fh.write(b"\n")
        self._fh = fh

    def write(self, item: BatchItem) -> None:
        """Append the line of ``item`` and flush it."""
        if self._fh is None:
            raise RuntimeError("the manifest is not open")
        record = manifest_line(_record(item))
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            data = line.encode()
        except UnicodeEncodeError:  # a lone surrogate in a prompt: JSON escapes it
            data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        self._fh.write(data)
        self._fh.flush()
        self.lines += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _record(item: BatchItem) -> ManifestRecord:
    error = item.error
    return ManifestRecord(
        index=item.index,
        key=item.key,
        status=item.status,
        prompt=item.request.prompt if item.request is not None else None,
        skip_reason=item.skip_reason,
        paths=[path.name for path in item.paths],
        error_type=type(error).__name__ if error is not None else None,
        error=str(error) if error is not None else None,
        attempts=item.attempts,
        elapsed=item.elapsed,
        usage=item.usage,
        request_id=item.request_id,
    )


def write_images(out_dir: Path, index: int, prompt: str, result: ImageResult) -> tuple[Path, ...]:
    """Write the images of one item into ``out_dir`` (each atomically); their paths."""
    paths = []
    count = len(result.images)
    for position, image in enumerate(result.images):
        target = out_dir / image_file_name(index, prompt, image.suffix, position, count)
        atomic_write(target, image.data)
        paths.append(target)
    return tuple(paths)
