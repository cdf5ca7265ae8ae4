"""What a gallery shows, read from a batch folder's manifests.

Every manifest of the folder is read: ``manifest.jsonl``, and the
``manifest-KK-of-NN.jsonl`` of each shard of a sharded run. One request may have
several lines (it failed, then a resumed run made it): the latest line of an item wins
(by the lines' ``finished_at`` times, and for lines without one, the order of the
files, by name, and of the lines in them), and a success puts aside the earlier failures
and skips of the same request, even under another index (the input was reordered).
Two successes of one request under two indices (the same prompt twice in the input)
stay two items.

The lines are read leniently: a field of the wrong type is left out, never an error,
so a hand-edited manifest or one from another version still gives a gallery.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nanobanana._batch import read_manifest

__all__ = ["gallery_data", "latest_records"]

#: Record fields that may carry when an item started and finished (ISO 8601 or epoch).
_STARTS = ("started_at", "started", "start")
_ENDS = ("finished_at", "finished", "end")
#: User labels shown as they are, when a line carries them.
_LABELS = ("id", "tag", "model", "request_id", "error_type", "error", "skip_reason")


def latest_records(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every item of the manifests once, by the rules above, in index order.

    Example:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> folder = Path(tempfile.mkdtemp())
        >>> lines = [
        ...     {"index": 0, "key": "k1", "status": "failed", "prompt": "a kite"},
        ...     {"index": 1, "key": "k2", "status": "ok", "prompt": "a boat"},
        ...     {"index": 0, "key": "k1", "status": "ok", "prompt": "a kite"},
        ... ]
        >>> _ = (folder / "manifest.jsonl").write_text(
        ...     "".join(json.dumps(line) + "\\n" for line in lines))
        >>> [(r["prompt"], r["status"]) for r in latest_records([folder / "manifest.jsonl"])]
        [('a kite', 'ok'), ('a boat', 'ok')]
    """
    docs = [doc for path in paths for doc in read_manifest(path)]
    # Lines without a time (from older versions) count as older than every timed one.
    times = [_moment(doc, _ENDS) for doc in docs]
    chronological = sorted(range(len(docs)), key=lambda n: (times[n] is not None, times[n] or 0))
    by_key: dict[str, dict[object, dict[str, Any]]] = {}
    order: dict[tuple[str, object], int] = {}
    for doc in (docs[n] for n in chronological):
        key: str = doc["key"]
        index = doc.get("index") if _is_int(doc.get("index")) else None
        slots = by_key.setdefault(key, {})
        if doc.get("status") == "ok":
            for stale in [i for i, old in slots.items() if old.get("status") != "ok"]:
                del slots[stale]
        slots[index] = doc
        order.setdefault((key, index), len(order))
    kept = [(key, index, doc) for key, slots in by_key.items() for index, doc in slots.items()]
    kept.sort(key=lambda row: (row[1] is None, row[1] or 0, order[(row[0], row[1])]))
    return [doc for _, _, doc in kept]


def gallery_data(title: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The document the page embeds: its title, the summary and one entry per item."""
    items = [item_entry(doc) for doc in records]
    return {"title": title, "summary": summarize(records, items), "items": items}


def item_entry(doc: Mapping[str, Any]) -> dict[str, Any]:
    """One item as the page shows it: strings and numbers only, unknown fields left out.

    Example:
        >>> item_entry({"index": 3, "key": "k", "status": "failed", "prompt": "a kite",
        ...             "error": "boom", "attempts": 2, "elapsed": 1.5, "vars": {"n": 2}})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'index': 3, 'status': 'failed', 'prompt': 'a kite', 'images': [], 'error': 'boom',
         'attempts': 2, 'elapsed': 1.5, 'vars': [['n', '2']]}
    """
    status = doc.get("status")
    entry: dict[str, Any] = {
        "index": doc["index"] if _is_int(doc.get("index")) else None,
        "status": status if isinstance(status, str) and status else "unknown",
        "prompt": _text(doc.get("prompt")) or "",
        "images": _names(doc.get("paths")),
    }
    for name in _LABELS:
        value = doc.get(name)
        if name == "id" and _is_int(value):
            value = str(value)
        if _text(value) is not None:
            entry[name] = value
    for name in ("attempts", "line", "repeat"):
        if _is_int(doc.get(name)):
            entry[name] = doc[name]
    if _number(doc.get("elapsed")) is not None:
        entry["elapsed"] = doc["elapsed"]
    usage = doc.get("usage")
    if isinstance(usage, Mapping):
        for field, short in (("usd_spent", "usd"), ("credits_used", "credits")):
            if _number(usage.get(field)) is not None:
                entry[short] = usage[field]
    for name in ("vars", "parameters"):
        pairs = _pairs(doc.get(name))
        if pairs:
            entry[name] = pairs
    return entry


def summarize(records: list[dict[str, Any]], items: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by status, images, spend and time of the whole gallery.

    The wall time runs from the earliest start to the latest finish when the records
    carry those times (a line with a finish time and no start time started its
    ``elapsed`` seconds before it finished); otherwise it is the sum of the items' own
    times, and ``wall_kind`` says which (``"wall"`` or ``"sum"``).
    """
    counts: dict[str, int] = {}
    for item in items:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    starts = [t for doc in records if (t := _start(doc)) is not None]
    ends = [t for doc in records if (t := _moment(doc, _ENDS)) is not None]
    wall_kind = "wall" if starts and ends else "sum"
    if wall_kind == "wall":
        seconds = max(0.0, max(ends) - min(starts))
    else:
        seconds = sum(item.get("elapsed", 0) for item in items)
    return {
        "total": len(items),
        "counts": counts,
        "images": sum(len(item["images"]) for item in items if item["status"] == "ok"),
        "usd": _total(items, "usd"),
        "credits": _total(items, "credits"),
        "seconds": round(seconds, 3) if math.isfinite(seconds) else None,
        "wall_kind": wall_kind,
    }


def _total(items: list[dict[str, Any]], field: str) -> float | None:
    figures = [item[field] for item in items if field in item]
    if not figures:
        return None
    try:
        return math.fsum(figures)
    except OverflowError:  # no figure to show: JSON has no "Infinity"
        return None


def _start(doc: Mapping[str, Any]) -> float | None:
    """When the item started: recorded, or ``elapsed`` seconds before it finished."""
    start = _moment(doc, _STARTS)
    if start is not None:
        return start
    end, elapsed = _moment(doc, _ENDS), _number(doc.get("elapsed"))
    return end - elapsed if end is not None and elapsed is not None else None


def _moment(doc: Mapping[str, Any], names: tuple[str, ...]) -> float | None:
    """The first of ``names`` that ``doc`` holds as a time, in seconds since the epoch."""
    for name in names:
        value = doc.get(name)
        seconds = _number(value)
        if seconds is not None:
            return seconds
        if isinstance(value, str):
            try:
                moment = datetime.datetime.fromisoformat(value)
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            return moment.timestamp()
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _names(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [name for name in value if isinstance(name, str) and name]


def _pairs(value: object) -> list[list[str]]:
    """A dict as ``[name, shown value]`` pairs; strings as they are, others as JSON."""
    if not isinstance(value, Mapping):
        return []
    return [[str(name), _shown(item)] for name, item in value.items()]


def _shown(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # as JSON writes it, without the cost of json.dumps
    return json.dumps(value, ensure_ascii=False, sort_keys=True)  # a value read from JSON
