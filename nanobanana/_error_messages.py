"""The human message inside an error response, whatever its shape.

The API sends JSON with a ``message``; gateways and proxies send other JSON, HTML
pages or plain text. :func:`extract_message` finds the useful sentence in each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["extract_message"]

_TAG = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def extract_message(body: bytes, reason: str | None) -> str:
    """Pull a human message out of any error body the API or a gateway sends.

    JSON with ``message``, JSON with ``error`` (a string or an object with a
    ``message``), HTML pages (their ``<title>``, else their text) and empty bodies
    are all handled; the HTTP reason phrase is the last resort.

    Example:
        >>> extract_message(b'{"message": "Body validation error!"}', "Bad Request")
        'Body validation error!'
        >>> extract_message(b"<html><title>502 Bad Gateway</title></html>", None)
        '502 Bad Gateway'
        >>> extract_message(b"", "Not Found")
        'Not Found'
    """
    fallback = reason or "no message in the response"
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return fallback
    try:
        doc = json.loads(text)
        found = _message_from_json(doc)
    except (ValueError, RecursionError):  # not JSON, or nested past the recursion limit
        doc = found = None
    if doc is not None:
        return found[:500] if found else fallback
    if text.startswith("<"):
        return _message_from_html(text) or fallback
    return _SPACE.sub(" ", text)[:200]


def _message_from_html(text: str) -> str | None:
    title = _TITLE.search(text)
    plain = title.group(1) if title else _TAG.sub(" ", text)
    return _SPACE.sub(" ", plain).strip()[:200] or None


def _message_from_json(doc: Any) -> str | None:
    if isinstance(doc, str):
        return doc.strip() or None
    if not isinstance(doc, Mapping):
        return None
    found = _first_message(doc)
    if found is None and "error" in doc:
        found = _message_from_json(doc["error"])
    # Validators (problem+json's "validation", others' "errors") list what was wrong:
    # that is the useful part, so it goes into the message too.
    problems = _problems(doc.get("validation") or doc.get("errors"))
    if problems:
        return f"{found}: {problems}" if found else problems
    return found


def _first_message(doc: Mapping[str, Any]) -> str | None:
    for key in ("message", "detail", "error_description"):
        value = doc.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, list) and value:
            return "; ".join(str(v) for v in value)
    return None


def _problems(items: Any) -> str | None:
    if not isinstance(items, list):
        return None
    parts = []
    for item in items[:5]:
        if not isinstance(item, Mapping) or not isinstance(item.get("message"), str):
            continue
        where = item.get("location") or item.get("path") or item.get("loc")
        if isinstance(where, list):
            where = ".".join(str(w) for w in where)
        parts.append(f"{where}: {item['message']}" if where else item["message"])
    return "; ".join(parts) or None
