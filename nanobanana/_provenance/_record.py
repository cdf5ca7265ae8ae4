"""The generation record: what made an image, as a value, as JSON and as A1111 text.

The JSON form is what the files carry (a PNG ``iTXt`` chunk, the XMP packet, a
sidecar); it is read back leniently: a field of the wrong type is dropped, and a
document without a prompt and a model is not a record at all.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .._urls import is_data_url, is_http_url
from .._usage import Usage
from .._version import __version__

__all__ = [
    "RECORD_FORMAT",
    "GenerationRecord",
    "a1111_parameters",
    "input_digests",
    "record_from_json",
    "record_json",
]

#: The ``format`` field of the JSON form; a reader refuses other formats.
RECORD_FORMAT = "nanobanana.record/1"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@attrs.frozen(kw_only=True)
class GenerationRecord:
    """What made an image: written into every file the SDK saves, read back by
    :func:`read_metadata`.

    Attributes:
        prompt: The prompt, exactly as sent.
        model: The model id the request was sent to.
        parameters: Every other request parameter that was set (``num_images``,
            ``aspect_ratio``, ``resolution``, ``provider``, ``enable_web_search``,
            ``extra_body``).
        request_id: The API's ``x-inference-id`` for the response.
        usage: What the call that made the image cost, as the API reported it.
        input_images: For an edit: ``sha256:`` and the digest of each input image's
            bytes (an ``http(s)`` URL is recorded as it is).
        sdk_version: The version of nanobanana that wrote the record.
        created: When the response arrived (UTC, to the second).

    The API key is never part of a record.

    Example:
        >>> import nanobanana as nb
        >>> record = nb.GenerationRecord(prompt="a red kite", model="google/nano-banana")
        >>> record.prompt, record.parameters, record.usage.usd_spent
        ('a red kite', {}, None)
    """

    prompt: str
    model: str
    parameters: Mapping[str, Any] = attrs.field(factory=dict)
    request_id: str | None = None
    usage: Usage = attrs.field(factory=Usage)
    input_images: tuple[str, ...] = ()
    sdk_version: str = __version__
    created: dt.datetime = attrs.field(factory=_utc_now)


def record_json(record: GenerationRecord, indent: int | None = None) -> str:
    """The JSON form of ``record``: one line (or indented), lone surrogates escaped.

    Example:
        >>> import datetime as dt
        >>> when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        >>> record = GenerationRecord(prompt="kite", model="m", sdk_version="1.0", created=when)
        >>> print(record_json(record))
        {"format":"nanobanana.record/1","prompt":"kite","model":"m","parameters":{},"request_id":null,"usage":{},"input_images":[],"sdk_version":"1.0","created":"2026-01-02T03:04:05Z"}
    """
    usage = {
        name: value
        for name in ("credits_used", "usd_spent", "tokens_used")
        if (value := getattr(record.usage, name)) is not None
    }
    doc = {
        "format": RECORD_FORMAT,
        "prompt": record.prompt,
        "model": record.model,
        "parameters": dict(record.parameters),
        "request_id": record.request_id,
        "usage": usage,
        "input_images": list(record.input_images),
        "sdk_version": record.sdk_version,
        "created": record.created.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    }
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(doc, ensure_ascii=False, indent=indent, separators=separators)
    # A lone surrogate cannot be written as UTF-8; as a JSON escape it can.
    return _SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def record_from_json(text: str | bytes) -> GenerationRecord | None:
    """The record in ``text``, or ``None`` when it is not a record of this format.

    Example:
        >>> record_from_json('{"format": "nanobanana.record/1", "prompt": "kite", "model": "m"}')
        ... # doctest: +ELLIPSIS
        GenerationRecord(prompt='kite', model='m', parameters={}, request_id=None, ...)
        >>> record_from_json('{"prompt": "kite"}') is None
        True
    """
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested past Python's limit
        return None
    if not isinstance(doc, dict) or doc.get("format") != RECORD_FORMAT:
        return None
    prompt, model = doc.get("prompt"), doc.get("model")
    if not isinstance(prompt, str) or not isinstance(model, str):
        return None
    parameters = doc.get("parameters")
    usage = doc.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    images = doc.get("input_images")
    return GenerationRecord(
        prompt=prompt,
        model=model,
        parameters=parameters if isinstance(parameters, dict) else {},
        request_id=_text_or_none(doc.get("request_id")),
        usage=Usage(**{name: _number(usage.get(name)) for name in _USAGE_FIELDS}),
        input_images=tuple(i for i in images if isinstance(i, str))
        if isinstance(images, list)
        else (),
        sdk_version=_text_or_none(doc.get("sdk_version")) or "unknown",
        created=_when(doc.get("created")),
    )


_USAGE_FIELDS = ("credits_used", "usd_spent", "tokens_used")


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _when(value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(0, dt.UTC)


def a1111_parameters(record: GenerationRecord) -> str:
    """The ``parameters`` text of the AUTOMATIC1111 scheme: the prompt, then one line
    of ``Name: value`` pairs (values with a comma, colon or newline are JSON-quoted).

    Example:
        >>> record = GenerationRecord(
        ...     prompt="a red kite", model="google/nano-banana-pro",
        ...     parameters={"aspect_ratio": "16:9"}, request_id="req-1",
        ... )
        >>> print(a1111_parameters(record))
        a red kite
        Model: google/nano-banana-pro, Aspect ratio: "16:9", Request id: req-1
    """
    pairs = {
        "Model": record.model,
        "Aspect ratio": record.parameters.get("aspect_ratio"),
        "Resolution": record.parameters.get("resolution"),
        "Request id": record.request_id,
    }
    line = ", ".join(f"{name}: {_quote(value)}" for name, value in pairs.items() if value)
    return f"{record.prompt}\n{line}"


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ",:\n") else text


def input_digests(images: tuple[str | bytes | os.PathLike[str], ...]) -> tuple[str, ...]:
    """How a record names the input images of an edit: ``sha256:`` and the digest of
    their bytes; an ``http(s)`` URL as it is (its bytes were never here). A file that
    can no longer be read is ``unreadable``.

    Example:
        >>> input_digests((b"GIF89a", "https://example.com/cat.png"))[0][:15]
        'sha256:610f5ae4'
    """
    return tuple(_digest(item) for item in images)


def _digest(item: str | bytes | os.PathLike[str]) -> str:
    if isinstance(item, str) and is_http_url(item):
        return item
    if isinstance(item, str) and is_data_url(item):
        try:
            data = base64.b64decode(item.partition(",")[2], validate=True)
        except ValueError:
            return "unreadable"
    elif isinstance(item, bytes):
        data = item
    else:
        try:
            data = Path(os.fspath(item)).expanduser().read_bytes()
        except OSError:
            return "unreadable"
    return "sha256:" + hashlib.sha256(data).hexdigest()
