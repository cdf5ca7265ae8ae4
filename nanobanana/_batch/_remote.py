"""A batch's folder in object storage: ``out_dir="s3://bucket/run/"`` (any fsspec URL).

Object stores have no append and no rename, so there:

* each image is written as one whole object (a PUT is all or nothing), never over
  an object that is there already;
* the manifest is written as **segments**, whole objects of the lines finished since
  the last one (``manifest-03-of-16.20261205T101500123456-1a2b3c.000001.jsonl``): one every
  :data:`SEGMENT_LINES` lines or :data:`SEGMENT_SECONDS` seconds, and one when the
  batch closes. Segment names sort in the order they were written, so reading them in
  name order reads the lines in order. A process killed outright loses the lines of
  its last unwritten segment: a resume sends those items again.

fsspec (and, for ``s3://``, s3fs) is imported only when such a URL is used: the
``s3`` extra installs both. Whatever a storage call raises reaches the batch as an
``OSError`` naming the URL (s3fs lets some of botocore's errors through, a missing
credential among them), so it stops the batch the way a full disk does.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import re
import secrets
import time
from collections import Counter
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from .._errors import ValidationError
from .._models import ImageResult
from ._items import BatchItem
from ._manifest import earlier_runs, image_file_name, item_line, parse_lines

__all__ = [
    "SEGMENT_LINES",
    "SEGMENT_SECONDS",
    "RemoteFolder",
    "SegmentWriter",
    "Storage",
    "check_url",
    "is_url",
    "manifest_base",
    "manifest_segments",
    "object_names",
    "open_url",
    "read_remote_manifests",
    "read_remote_runs",
]

#: A segment is written once this many lines are waiting...
SEGMENT_LINES = 100
#: ... or once the oldest line waiting is this many seconds old.
SEGMENT_SECONDS = 5.0
_MANIFEST = re.compile(
    r"^manifest(?:-\d+-of-\d+|-[a-z]+-[0-9a-f]+)?(?:\.\d{8}T\d{12}-[0-9a-f]+\.\d+)?\.jsonl$"
)
_SEGMENT_PART = re.compile(r"\.\d{8}T\d{12}-[0-9a-f]+\.\d+(?=\.jsonl$)")
_INSTALL = "pip install 'nanobanana[s3]'"


def is_url(out_dir: object) -> bool:
    """Whether ``out_dir`` names object storage (``scheme://...``) rather than a folder."""
    return isinstance(out_dir, str) and "://" in out_dir


def open_url(url: str) -> tuple[Any, str]:
    """The fsspec file system of ``url`` (whose calls raise only ``OSError``: see
    :class:`Storage`) and the path of the folder in it."""
    check_url(url)
    import fsspec  # an optional dependency: imported only for a URL

    with _as_os_error(url):
        fs, root = fsspec.core.url_to_fs(url)
    return Storage(fs, url), root.rstrip("/")


@contextlib.contextmanager
def _as_os_error(url: str) -> Iterator[None]:
    try:
        yield
    except OSError:
        raise
    except Exception as exc:
        raise OSError(f"{url}: {type(exc).__name__}: {exc}") from exc


class Storage:
    """An fsspec file system whose calls raise ``OSError`` for every failure.

    A storage library's own errors (botocore's ``NoCredentialsError``, say) become an
    ``OSError`` naming the URL and the original error, chained to it.
    """

    def __init__(self, fs: Any, url: str) -> None:
        self._fs = fs
        self._url = url

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._fs, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            with _as_os_error(self._url):
                return attribute(*args, **kwargs)

        return call

    def __repr__(self) -> str:
        return f"Storage({self._url!r})"


def check_url(url: str) -> None:
    """Raise :class:`ValidationError` when ``url`` cannot be written to: fsspec, or the
    package of its protocol (s3fs for ``s3://``), is not installed."""
    try:
        import fsspec
    except ImportError:
        raise ValidationError(
            "out_dir", f"{url} is object storage, which needs fsspec: {_INSTALL}"
        ) from None
    protocol = url.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        raise ValidationError(
            "out_dir", f"{protocol}:// needs a package that is not installed ({exc}): {_INSTALL}"
        ) from None
    except ValueError:
        raise ValidationError("out_dir", f"{protocol}:// is not a known storage") from None


def manifest_base(name: str) -> str | None:
    """The manifest a file belongs to (``manifest-03-of-16.jsonl`` for its segments too),
    or ``None`` for a file that is no manifest."""
    if not _MANIFEST.match(name):
        return None
    return _SEGMENT_PART.sub("", name)


def object_names(fs: Any, root: str) -> list[str]:
    """The names of the objects in ``root`` (none when it does not exist)."""
    fs.invalidate_cache(root)
    try:
        entries = fs.ls(root, detail=False)
    except FileNotFoundError:
        return []
    return sorted(str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries)


def manifest_segments(fs: Any, root: str) -> list[str]:
    """The names of the manifest segments in ``root``, in the order written."""
    return [name for name in object_names(fs, root) if manifest_base(name) is not None]


def read_remote_manifests(
    fs: Any, root: str, *, keyed: bool = True, skip: Collection[str] = ()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(manifest, line)`` for every line of every manifest segment in ``root`` but
    those named in ``skip``, in the order written; ``manifest`` is the name the
    segment belongs to. ``keyed``: as for :func:`read_manifest`."""
    for name in manifest_segments(fs, root):
        if name in skip:
            continue
        data: bytes = fs.cat_file(f"{root}/{name}")
        for doc in parse_lines(data.splitlines(keepends=True), keyed=keyed):
            yield manifest_base(name) or name, doc


def read_remote_runs(fs: Any, root: str) -> tuple[Counter[str], set[str]]:
    """What earlier runs left in ``root`` (see :func:`earlier_runs`)."""
    present = set(object_names(fs, root))
    docs = (doc for _, doc in read_remote_manifests(fs, root))
    return earlier_runs(docs, present.__contains__)


class SegmentWriter:
    """The manifest of one run in object storage, written as numbered segments."""

    def __init__(self, fs: Any, root: str, name: str) -> None:
        self._fs = fs
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%f")
        stem = name.removesuffix(".jsonl")
        self._prefix = f"{root}/{stem}.{stamp}-{secrets.token_hex(3)}"
        self._waiting: list[bytes] = []
        self._since = 0.0
        self._number = 0
        self._failed: OSError | None = None
        self.lines = 0

    def write(self, item: BatchItem) -> None:
        """Add the line of ``item``; write a segment when enough lines are waiting."""
        if self._failed is not None:
            raise self._failed
        if not self._waiting:
            self._since = time.monotonic()
        self._waiting.append(item_line(item))
        self.lines += 1
        if len(self._waiting) >= SEGMENT_LINES or (
            time.monotonic() - self._since >= SEGMENT_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        """Write the lines waiting as one segment."""
        if not self._waiting:
            return
        self._number += 1
        try:
            self._fs.pipe_file(f"{self._prefix}.{self._number:06d}.jsonl", b"".join(self._waiting))
        except OSError as exc:
            self._failed = exc
            raise
        self._waiting.clear()

    def close(self) -> None:
        self.flush()


class RemoteFolder:
    """Where a batch writes its images in object storage: whole objects, never over one
    that is there already nor under a name the manifest records."""

    def __init__(self, fs: Any, root: str, recorded_missing: set[str], prefix: str = "") -> None:
        self._fs = fs
        self._root = root
        self._taken = set(object_names(fs, root)) | recorded_missing
        self._prefix = prefix  # a writer's, so that no two writers pick one name

    def write(self, index: int, prompt: str, result: ImageResult) -> tuple[Path, ...]:
        """Write the images of one item; their names (relative to ``out_dir``).

        When one cannot be written, those of the item written before it are removed
        and the ``OSError`` is raised.
        """
        names: list[str] = []
        count = len(result.images)
        try:
            for position, image in enumerate(result.images):
                name = image_file_name(index, prompt, image.suffix, position, count)
                name = self._free(self._prefix + name)
                self._fs.pipe_file(f"{self._root}/{name}", image.data)
                names.append(name)
        except BaseException:
            for name in names:
                with contextlib.suppress(OSError):
                    self._fs.rm_file(f"{self._root}/{name}")
            raise
        return tuple(Path(name) for name in names)

    def _free(self, name: str) -> str:
        stem, dot, suffix = name.rpartition(".")
        candidate, number = name, 2
        while candidate in self._taken:
            candidate, number = f"{stem}-{number}{dot}{suffix}", number + 1
        self._taken.add(candidate)
        return candidate
