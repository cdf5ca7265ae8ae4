"""The batch's record on disk: ``manifest.jsonl``, and the image files it names.

One JSON line is appended and flushed per finished item, so a batch killed at any
moment leaves a manifest whose every complete line is true. A line cut short by a
kill is ignored on reading. Resuming trusts only ``ok`` lines, matched by the
request's stable key (not by its position), so a reordered or edited input file
still resumes correctly. A shard of a batch writes its own manifest
(``manifest-03-of-16.jsonl``); a resume reads every ``manifest*.jsonl`` of the folder.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from .._converter import ManifestRecord, manifest_line, sent_parameters
from .._models import ImageRequest
from .._provenance import sidecar_path
from .._results import ImageResult, write_image
from .._shard import MANIFEST_NAME
from ._items import BatchItem

__all__ = [
    "MANIFEST_NAME",
    "ImageFolder",
    "ManifestWriter",
    "clean_partial_files",
    "earlier_runs",
    "image_file_name",
    "item_line",
    "manifest_paths",
    "parse_lines",
    "read_earlier_runs",
    "read_manifest",
    "slugify",
]

_SLUG_LEN = 40  # characters
_SLUG_BYTES = 100  # UTF-8 bytes: file names are limited to 255 bytes on most systems


def slugify(text: str, max_len: int = _SLUG_LEN) -> str:
    """A short, file-system-safe slug of a prompt: lower-case words joined by dashes.

    Letters and digits of every script are kept (normalised to NFKC); everything
    else (spaces, punctuation, path separators, control characters) becomes a dash.
    The slug never starts with a dot or a dash, and is at most ``max_len``
    characters and 100 bytes of UTF-8. A prompt with nothing to keep gives ``image``.

    Example:
        >>> slugify("A lighthouse at dawn, 16:9 -- oil painting!")
        'a-lighthouse-at-dawn-16-9-oil-painting'
        >>> slugify("../../etc/passwd")
        'etc-passwd'
        >>> slugify("東京の夜景"), slugify("Café au lait"), slugify("Кот в сапогах")
        ('東京の夜景', 'café-au-lait', 'кот-в-сапогах')
        >>> slugify("!!!")
        'image'
    """
    kept: list[str] = []
    for char in unicodedata.normalize("NFKC", text).lower():
        kind = unicodedata.category(char)[0]
        # A mark (an accent, a vowel sign) is kept on a letter or digit, never alone.
        follows = bool(kept) and kept[-1] != " "
        keep = kind in "LN" or (kind == "M" and follows and not _is_variation_selector(char))
        kept.append(char if keep else " ")
    slug = "-".join("".join(kept).split())
    if len(slug) > max_len:
        slug = _cut(slug, max_len, len)
    if len(slug.encode()) > _SLUG_BYTES:
        slug = _cut(slug, _SLUG_BYTES, lambda part: len(part.encode()))
    return slug.strip("-") or "image"


def _is_variation_selector(char: str) -> bool:
    return unicodedata.name(char, "").startswith("VARIATION SELECTOR")


def _cut(slug: str, limit: int, size: Callable[[str], int]) -> str:
    """``slug`` cut to ``limit`` (as ``size`` measures it), at a dash if there is one."""
    end = len(slug)
    while size(slug[:end]) > limit:
        end -= 1
    head = slug[:end]
    return head.rsplit("-", 1)[0] if "-" in head.strip("-") else head


def image_file_name(index: int, prompt: str, suffix: str, position: int, count: int) -> str:
    """``000042-a-lighthouse-at-dawn.png``; ``-2``, ``-3``... when a request made several."""
    extra = f"-{position + 1}" if count > 1 else ""
    return f"{index:06d}-{slugify(prompt)}{extra}{suffix}"


#: A temporary file of another writer is left alone until it is this old (seconds): it
#: may be a live shard's image being written. Writing one takes seconds at most.
STALE_PARTIAL_SECONDS = 30 * 60
_PARTIAL_TAG = re.compile(r"\.(s\d+of\d+|w[a-z0-9]+)-[0-9a-f]+\.part$")


def clean_partial_files(directory: Path, tag: str = "") -> int:
    """Remove temporary files a killed batch left behind; return how many.

    Those of this writer (whose files are marked ``tag``: a shard's, see
    :func:`writer_tag`, or none for an unsharded batch) go at once; those of another
    writer only once they are :data:`STALE_PARTIAL_SECONDS` old, so a live shard's
    image is never removed.
    """
    removed = 0
    if not directory.is_dir():
        return 0
    own = tag or None
    stale_before = time.time() - STALE_PARTIAL_SECONDS
    for entry in directory.iterdir():
        if not (entry.name.startswith(".") and entry.name.endswith(".part")):
            continue
        match = _PARTIAL_TAG.search(entry.name)
        try:
            if not entry.is_file():
                continue
            if (match[1] if match else None) != own and entry.stat().st_mtime > stale_before:
                continue  # another writer's, and maybe being written right now
            entry.unlink()
        except FileNotFoundError:
            continue  # renamed into place, or removed, meanwhile
        removed += 1
    return removed


def manifest_paths(out_dir: Path) -> list[Path]:
    """Every manifest in ``out_dir``: ``manifest.jsonl`` and those of shards, sorted."""
    if not out_dir.is_dir():
        return []
    return sorted(path for path in out_dir.glob("manifest*.jsonl") if path.is_file())


def read_manifest(path: Path, *, keyed: bool = True) -> Iterator[dict[str, Any]]:
    """Every complete, parseable line of a manifest, in order; torn lines are skipped.

    With ``keyed`` (the default), only the lines of requests (those with a key);
    without, those of inputs that were no request too."""
    if not path.exists():
        return
    with path.open("rb") as fh:
        yield from parse_lines(fh, keyed=keyed)


def parse_lines(lines: Iterable[bytes], *, keyed: bool = True) -> Iterator[dict[str, Any]]:
    """The manifest lines of ``lines`` (see :func:`read_manifest`)."""
    for raw in lines:
        if not raw.endswith(b"\n"):
            continue  # the last line of a killed run
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        if isinstance(doc, dict) and (isinstance(doc.get("key"), str) or not keyed):
            yield doc


def read_earlier_runs(out_dir: Path) -> tuple[collections.Counter[str], set[str]]:
    """What earlier runs left in ``out_dir``, as its manifests (of every shard) tell.

    Returns how many times each request key finished ``ok`` with every image it
    names still in ``out_dir`` (an ``ok`` whose files are gone is not done), and the
    file names the manifest records that are missing (never to be given to another
    image, so that no two lines name one file).
    """
    docs = (doc for path in manifest_paths(out_dir) for doc in read_manifest(path))
    return earlier_runs(docs, lambda name: (out_dir / name).is_file())


def earlier_runs(
    docs: Iterable[dict[str, Any]], present: Callable[[str], bool]
) -> tuple[collections.Counter[str], set[str]]:
    """What the manifest lines ``docs`` tell, with ``present`` telling whether a file
    is there (see :func:`read_earlier_runs`)."""
    done: collections.Counter[str] = collections.Counter()
    gone: set[str] = set()
    for doc in docs:
        names = doc.get("paths", [])
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            continue  # not a line this package wrote
        missing = {name for name in names if not present(name)}
        gone |= missing
        if doc.get("status") == "ok" and not missing:
            done[doc["key"]] += 1
    return done, gone


class ManifestWriter:
    """Appends one line per finished item, each written through at once.

    A line that could not be written whole (a full disk) may be left torn; nothing
    more is appended after it, so no complete line is glued to it. The next run
    ends the torn line before appending, and reading skips it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None
        self._failed: OSError | None = None
        self.lines = 0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("ab", buffering=0)
        try:
            # A line torn by a kill must not glue itself to the next run's first line.
            if fh.tell() > 0:
                with self.path.open("rb") as check:
                    check.seek(-1, os.SEEK_END)
                    if check.read(1) != b"\n":
                        _write_all(fh, b"\n")
        except BaseException:
            fh.close()
            raise
        self._fh = fh

    def write(self, item: BatchItem) -> None:
        """Append the line of ``item``; raise the ``OSError`` if it cannot be written."""
        if self._fh is None:
            raise RuntimeError("the manifest is not open")
        if self._failed is not None:
            raise self._failed
        data = item_line(item)
        try:
            _write_all(self._fh, data)
        except OSError as exc:
            self._failed = exc
            raise
        self.lines += 1

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()


def item_line(item: BatchItem) -> bytes:
    """The manifest line of ``item``: one line of JSON, ending with a newline."""
    record = manifest_line(_record(item))
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    try:
        return line.encode()
    except UnicodeEncodeError:  # a lone surrogate in a prompt: JSON escapes it
        return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def _write_all(fh: IO[bytes], data: bytes) -> None:
    """Write all of ``data`` to the unbuffered ``fh`` (a write may take only part)."""
    view = memoryview(data)
    while view:
        written = fh.write(view)
        if not written:
            raise OSError(f"no byte of the line could be written to {fh.name!r}")
        view = view[written:]


def _record(item: BatchItem) -> ManifestRecord:
    error, request = item.error, item.request
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
        model=item.model,
        **(_labels(request) if request is not None else {}),
        finished_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
    )


def _labels(request: ImageRequest) -> dict[str, Any]:
    """What a manifest line records of a request besides its prompt."""
    return {
        "parameters": sent_parameters(request),
        "id": request.id,
        "tag": request.tag,
        "vars": dict(request.vars) if request.vars is not None else None,
        "line": request.line,
        "repeat": request.repeat or None,
    }


class ImageFolder:
    """Where a batch writes its images: never over a file that is there already, nor
    under a name the manifest records, so no run overwrites an image of another.

    A taken name gets ``-2``, ``-3``... before its suffix, as ``nanobanana generate``
    does.
    """

    def __init__(
        self, path: Path, recorded_missing: set[str], tag: str = "", prefix: str = ""
    ) -> None:
        self.path = path
        self._retired = recorded_missing
        self._tag = tag  # marks the temporary files of a shard
        self._prefix = prefix  # a writer's, so that no two writers pick one name

    def write(self, index: int, prompt: str, result: ImageResult) -> tuple[Path, ...]:
        """Write the images of one item (each atomically); their paths.

        When one cannot be written, those of the item written before it are removed
        (the item did not succeed) and the ``OSError`` is raised.
        """
        paths: list[Path] = []
        count = len(result.images)
        try:
            for position, image in enumerate(result.images):
                name = self._prefix + image_file_name(index, prompt, image.suffix, position, count)
                target = self._free(name[: -len(image.suffix)], image.suffix)
                write_image(target, image, self._tag)
                paths.append(target)
        except BaseException:
            for path in paths:
                with contextlib.suppress(OSError):
                    path.unlink()
                    sidecar_path(path).unlink(missing_ok=True)
            raise
        return tuple(paths)

    def _free(self, stem: str, suffix: str) -> Path:
        candidate, number = f"{stem}{suffix}", 2
        while candidate in self._retired or (self.path / candidate).exists():
            candidate, number = f"{stem}-{number}{suffix}", number + 1
        return self.path / candidate
