"""The ``--json`` records the CLI prints on stdout: plain dicts, one JSON line each."""

from __future__ import annotations

from typing import Any

import attrs

from nanobanana._batch import BatchItem, BatchSummary
from nanobanana._converter import usage_record
from nanobanana._errors import APIStatusError, ResponseError

__all__ = ["error_record", "item_record", "summary_record"]


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
