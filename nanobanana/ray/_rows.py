"""Rows in, rows out: a block's columns as requests, and each outcome as a row.

A row's request is made of its ``prompt`` column and of any other column named like an
:class:`~nanobanana.ImageRequest` field (``aspect_ratio``, ``num_images``, ``model``,
...); every column of the block is handed on, and the outcome columns
(:data:`OUTPUT_COLUMNS`) are added, replacing columns of the same name.

A row whose request finished before (its manifest line says ``ok`` and its images are
still in ``out_dir``, in any actor's manifest: see :class:`DoneLines`) is not sent
again: its row is made from that line, with ``resumed`` set.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .._batch import BatchItem, manifest_base, manifest_paths, object_names, open_url
from .._batch._manifest import parse_lines
from .._errors import NanoBananaError
from .._models import ImageRequest

__all__ = [
    "OUTPUT_COLUMNS",
    "REQUEST_COLUMNS",
    "Done",
    "DoneLines",
    "block_rows",
    "failed_row",
    "item_row",
    "line_row",
    "make_request",
    "output_columns",
]

#: The columns a request is made of, when the block has them.
REQUEST_COLUMNS = (
    "prompt",
    "model",
    "num_images",
    "aspect_ratio",
    "resolution",
    "provider",
    "enable_web_search",
    "images",
    "extra_body",
    "id",
    "tag",
    "vars",
)
#: The columns every output row has.
OUTPUT_COLUMNS = (
    "image_paths",
    "status",
    "skip_reason",
    "error_type",
    "error",
    "attempts",
    "usd",
    "credits",
    "request_id",
    "key",
    "resumed",
)

Row = dict[str, Any]
#: The ``ok`` manifest lines of ``out_dir`` by request key (one per earlier success).
Done = dict[str, deque[dict[str, Any]]]


def block_rows(block: Any) -> tuple[dict[str, list[Any]], int]:
    """The columns of a Ray Data block (a dict of arrays or a pandas frame) as lists of
    Python values, and the number of rows.

    Example:
        >>> block_rows({"prompt": ["a red kite", "a blue boat"]})
        ({'prompt': ['a red kite', 'a blue boat']}, 2)
    """
    if hasattr(block, "to_dict") and not isinstance(block, Mapping):
        block = block.to_dict("list")  # a pandas DataFrame
    columns = {str(name): _plain(values) for name, values in block.items()}
    count = len(next(iter(columns.values()))) if columns else 0
    return columns, count


def _plain(values: Any) -> list[Any]:
    return list(values.tolist() if hasattr(values, "tolist") else values)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def make_request(row: Mapping[str, Any]) -> ImageRequest:
    """The request of ``row`` (raises :class:`ValidationError` when it is not one).

    Example:
        >>> request = make_request({"prompt": "a red kite", "aspect_ratio": "16:9", "n": 7})
        >>> request.prompt, request.aspect_ratio
        ('a red kite', '16:9')
    """
    fields = {
        name: row[name] for name in REQUEST_COLUMNS if name in row and not _missing(row[name])
    }
    if isinstance(fields.get("images"), list):
        fields["images"] = tuple(fields["images"])
    return ImageRequest(**fields)


def _full(out_dir: str, name: str) -> str:
    if "://" in out_dir:
        return f"{out_dir.rstrip('/')}/{name}"
    return str(Path(out_dir) / name)


class DoneLines:
    """The ``ok`` lines of every manifest in ``out_dir`` whose images are all there, by
    request key, kept up to date by :meth:`refresh`, which reads only what was written
    since the last time (the new end of each manifest file, the new segments in object
    storage), so a block costs what was written since the last block, not the whole
    folder again.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.done: Done = defaultdict(deque)
        self._read_to: dict[Path, int] = {}  # a manifest file: bytes read
        self._segments: set[str] = set()  # object storage: segments read

    def refresh(self) -> Done:
        """Read what was written since the last call; the lines known now."""
        if "://" in self.out_dir:
            self._refresh_remote()
        else:
            self._refresh_local()
        return self.done

    def _refresh_local(self) -> None:
        folder = Path(self.out_dir)
        for path in manifest_paths(folder):
            start = self._read_to.get(path, 0)
            with path.open("rb") as fh:
                fh.seek(start)
                data = fh.read()
            whole = data[: data.rfind(b"\n") + 1]  # a line being written is read next time
            self._read_to[path] = start + len(whole)
            self._add(parse_lines(whole.splitlines(keepends=True)), folder_has(folder))

    def _refresh_remote(self) -> None:
        fs, root = open_url(self.out_dir)
        names = object_names(fs, root)  # none while the folder does not exist yet
        present = set(names)
        for name in names:
            if manifest_base(name) is not None and name not in self._segments:
                self._segments.add(name)
                data: bytes = fs.cat_file(f"{root}/{name}")
                self._add(parse_lines(data.splitlines(keepends=True)), present.__contains__)

    def _add(self, docs: Iterable[dict[str, Any]], exists: Callable[[str], bool]) -> None:
        for doc in docs:
            names = doc.get("paths")
            if doc.get("status") != "ok" or not isinstance(names, list):
                continue
            if all(isinstance(name, str) and exists(name) for name in names):
                self.done[doc["key"]].append(doc)


def folder_has(folder: Path) -> Callable[[str], bool]:
    """Whether ``folder`` has a file of a given name."""
    return lambda name: (folder / name).is_file()


def line_row(out_dir: str, doc: Mapping[str, Any]) -> Row:
    """The outcome of a request an earlier attempt finished, from its manifest line."""
    usage = doc.get("usage") if isinstance(doc.get("usage"), Mapping) else {}
    assert isinstance(usage, Mapping)
    return {
        "image_paths": [_full(out_dir, name) for name in doc.get("paths", [])],
        "status": "ok",
        "skip_reason": None,
        "error_type": None,
        "error": None,
        "attempts": doc.get("attempts", 0),
        "usd": usage.get("usd_spent"),
        "credits": usage.get("credits_used"),
        "request_id": doc.get("request_id"),
        "key": doc.get("key"),
        "resumed": True,
    }


def item_row(out_dir: str, item: BatchItem) -> Row:
    """The outcome of a request this actor sent."""
    usage = item.usage
    return {
        "image_paths": [_full(out_dir, path.name) for path in item.paths],
        "status": item.status,
        "skip_reason": item.skip_reason,
        "error_type": type(item.error).__name__ if item.error is not None else None,
        "error": str(item.error) if item.error is not None else None,
        "attempts": item.attempts,
        "usd": usage.usd_spent if usage is not None else None,
        "credits": usage.credits_used if usage is not None else None,
        "request_id": item.request_id,
        "key": item.key,
        "resumed": False,
    }


def failed_row(error: NanoBananaError, key: str | None = None) -> Row:
    """The outcome of a row that could not be made into a request."""
    return {
        **dict.fromkeys(OUTPUT_COLUMNS),
        "image_paths": [],
        "status": "failed",
        "error_type": type(error).__name__,
        "error": str(error),
        "attempts": 0,
        "key": key,
        "resumed": False,
    }


def output_columns(columns: dict[str, list[Any]], rows: list[Row]) -> dict[str, list[Any]]:
    """The block handed on: its columns, and the outcome columns of ``rows``."""
    out = {name: values for name, values in columns.items() if name not in OUTPUT_COLUMNS}
    for name in OUTPUT_COLUMNS:
        out[name] = [row[name] for row in rows]
    return out
