"""The ``--json`` records the CLI prints on stdout: plain dicts, one JSON line each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from nanobanana._batch import BatchItem, BatchSummary
from nanobanana._converter import usage_record
from nanobanana._errors import APIStatusError, ResponseError

__all__ = ["error_record", "item_record", "manifest_item_record", "summary_record"]


def error_record(error: BaseException) -> dict[str, Any]:
    """``{"type", "message", "status", "request_id"}`` of an error."""
    record: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, APIStatusError):
        record["status"] = error.status
        record["message"] = error.message
        record["request_id"] = error.request_id
    elif isinstance(error, ResponseError):
        record["request_id"] = error.request_id
    return record


def item_record(item: BatchItem, line: int | None) -> dict[str, Any]:
    """One ``--json`` line for a batch item."""
    return {
        "type": "item",
        "index": item.index,
        "line": line,
        "status": item.status,
        "skip_reason": item.skip_reason,
        "prompt": item.request.prompt if item.request is not None else None,
        "key": item.key,
        "paths": [str(p) for p in item.paths],
        "request_id": item.request_id,
        "usage": usage_record(item.usage) if item.usage is not None else None,
        "attempts": item.attempts,
        "elapsed": round(item.elapsed, 3),
        "error": error_record(item.error) if item.error is not None else None,
        "model": item.model,
        **_labels(item),
    }


def _labels(item: BatchItem) -> dict[str, Any]:
    request = item.request
    if request is None:
        return {"id": None, "tag": None, "vars": None}
    return {
        "id": request.id,
        "tag": request.tag,
        "vars": dict(request.vars) if request.vars is not None else None,
    }


def summary_record(s: BatchSummary, **extra: Any) -> dict[str, Any]:
    """The last ``--json`` line of a batch."""
    record: dict[str, Any] = {"type": "summary"}
    for field in attrs.fields(BatchSummary):
        value = getattr(s, field.name)
        record[field.name] = str(value) if field.name == "manifest" and value else value
    for name, digits in (("elapsed", 3), ("rate", 3), ("eta", 3), ("usd_spent", 6)):
        if record[name] is not None:
            record[name] = round(record[name], digits)
    record.update(extra)
    return record


def manifest_item_record(doc: dict[str, Any], line: int | None, out_dir: Path) -> dict[str, Any]:
    """The ``--json`` line of an item known from its manifest line alone: one the batch
    recorded but did not hand out (it was interrupted, or stopped by a full disk).

    The fields are those of :func:`item_record`; an error has no HTTP status here.

    Example:
        >>> doc = {"index": 4, "key": "ab12", "status": "skipped", "prompt": "a red kite",
        ...        "skip_reason": "stopped", "attempts": 1, "elapsed": 0.5}
        >>> record = manifest_item_record(doc, 7, Path("out"))
        >>> record["index"], record["line"], record["status"], record["skip_reason"]
        (4, 7, 'skipped', 'stopped')
    """
    error = None
    if doc.get("error_type") is not None:
        error = {
            "type": doc["error_type"],
            "message": doc.get("error"),
            "status": None,
            "request_id": doc.get("request_id"),
        }
    return {
        "type": "item",
        "index": doc["index"],
        "line": line,
        "status": doc.get("status"),
        "skip_reason": doc.get("skip_reason"),
        "prompt": doc.get("prompt"),
        "key": doc.get("key"),
        "paths": [str(out_dir / name) for name in doc.get("paths", [])],
        "request_id": doc.get("request_id"),
        "usage": doc.get("usage"),
        "attempts": doc.get("attempts", 0),
        "elapsed": round(doc.get("elapsed", 0.0), 3),
        "error": error,
        **{name: doc.get(name) for name in ("model", "id", "tag", "vars")},
    }
