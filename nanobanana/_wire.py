"""The shapes that cross the wire or reach the disk, as attrs classes without rules.

:class:`WireResponse` and its parts are what every response shape is read into;
:class:`WireRequest` is the JSON body sent; :class:`ManifestRecord` is one line of a
batch's manifest. How each one is read or written (names, leniency, omitted fields)
is decided in ``_converter`` alone.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._results import Usage

__all__ = ["ManifestRecord", "WireImage", "WireRequest", "WireResponse", "WireUsage"]


@attrs.define
class WireImage:
    """One image entry of a response, before its bytes are decoded or fetched."""

    url: str | None = None
    b64: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None


@attrs.define
class WireUsage:
    """What a response says the request cost."""

    credits_used: float | None = None
    usd_spent: float | None = None
    tokens_used: float | None = None


@attrs.define
class WireResponse:
    """A successful response, whichever of the documented shapes it came in."""

    images: tuple[WireImage, ...]
    description: str | None = None
    usage: WireUsage = attrs.field(factory=WireUsage)


@attrs.frozen(kw_only=True)
class WireRequest:
    """The JSON body of a generation or an edit; fields left ``None`` are not sent."""

    model: str
    prompt: str
    num_images: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    provider: str | None = None
    enable_web_search: bool | None = None
    image_urls: list[str] | None = None


@attrs.frozen(kw_only=True)
class ManifestRecord:
    """One line of a batch's ``manifest.jsonl``: what became of one input.

    ``index``, ``key``, ``status``, ``prompt``, ``attempts`` and ``elapsed`` are always
    written (``key`` and ``prompt`` as ``null`` when unknown); the other fields only
    when set (not ``None``, not empty).

    Attributes:
        index: The input's position, from 0.
        key: The request's stable key (see ``request_key``), ``None`` for a bad input.
        status: ``"ok"``, ``"failed"`` or ``"skipped"``.
        prompt: The prompt, ``None`` for an input that was not a request.
        skip_reason: Why the input was skipped.
        paths: The names of the image files written, in ``out_dir``.
        error_type: The class name of the error.
        error: The error's message.
        attempts: How many times the request was sent.
        elapsed: Seconds from the first attempt to the end; written rounded to
            milliseconds (3 places) by the converter, so callers pass the raw figure.
        usage: What the request cost, written with only the figures reported.
        request_id: The API's ``x-inference-id`` of the last response.
        model: The id of the model the request was sent to (or would have been).
        parameters: The request's parameters sent besides the model, prompt and
            images: ``num_images``, ``aspect_ratio``, ``resolution``, ``provider``,
            ``enable_web_search`` and the ``extra_body`` fields, those set.
        id: The request's ``id`` label.
        tag: The request's ``tag`` label.
        vars: The template values the prompt was made from.
        line: The line of the input file the request came from.
        repeat: Which copy of a repeated request this is, when above 0.
        finished_at: When the line was written: UTC, ISO 8601, to the millisecond.
    """

    index: int
    key: str | None
    status: str
    prompt: str | None
    skip_reason: str | None = None
    paths: list[str] = attrs.field(factory=list)
    error_type: str | None = None
    error: str | None = None
    attempts: int
    elapsed: float
    usage: Usage | None = None
    request_id: str | None = None
    model: str | None = None
    parameters: dict[str, Any] | None = None
    id: str | None = None
    tag: str | None = None
    vars: dict[str, Any] | None = None
    line: int | None = None
    repeat: int | None = None
    finished_at: str | None = None
