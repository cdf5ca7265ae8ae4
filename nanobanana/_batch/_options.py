"""What a batch is asked to do, checked once when it is made."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeAlias

import attrs

from .._errors import ValidationError
from .._models import ImageRequest
from ._items import BatchSummary

__all__ = ["BatchInput", "BatchOptions", "ProgressCallback"]

#: One input of a batch: a prompt, or a full request.
BatchInput: TypeAlias = str | ImageRequest
#: Called with a :class:`BatchSummary` after every finished item; may be async.
ProgressCallback: TypeAlias = Callable[[BatchSummary], Awaitable[None] | None]


def _count(minimum: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and attribute.default is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValidationError(attribute.name, f"must be an int >= {minimum}, got {value!r}")

    return check


def _amount(*, positive: bool) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
            or (positive and value == 0)
        ):
            bound = "> 0" if positive else ">= 0"
            raise ValidationError(attribute.name, f"must be a number {bound}, got {value!r}")

    return check


def _flag(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ValidationError(attribute.name, f"must be True or False, got {value!r}")


def _callback(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise ValidationError(attribute.name, f"must be callable, got {value!r}")


@attrs.frozen(kw_only=True)
class BatchOptions:
    """Everything a batch was asked to do (see :meth:`AsyncClient.batch`).

    Each argument is checked when the batch is made: a bad one raises
    :class:`ValidationError` naming it, before anything is read or sent.

    Example:
        >>> BatchOptions(concurrency=0)
        Traceback (most recent call last):
        ...
        nanobanana._errors.ValidationError: concurrency: must be an int >= 1, got 0
    """

    concurrency: int = attrs.field(default=16, validator=_count(1))
    requests_per_minute: float | None = attrs.field(default=None, validator=_amount(positive=True))
    adaptive: bool = attrs.field(default=True, validator=_flag)
    out_dir: Path | None = None
    ordered: bool = attrs.field(default=False, validator=_flag)
    reorder_window: int | None = attrs.field(default=None, validator=_count(1))
    resume: bool = attrs.field(default=False, validator=_flag)
    fail_fast: bool = attrs.field(default=False, validator=_flag)
    max_spend_usd: float | None = attrs.field(default=None, validator=_amount(positive=False))
    max_credits: float | None = attrs.field(default=None, validator=_amount(positive=False))
    dry_run: bool = attrs.field(default=False, validator=_flag)
    progress: ProgressCallback | None = attrs.field(default=None, validator=_callback)

    def __attrs_post_init__(self) -> None:
        if self.resume and self.out_dir is None:
            raise ValidationError("resume", "needs out_dir (the manifest lives there)")

    @property
    def capped(self) -> bool:
        """Whether a spend cap is set."""
        return self.max_spend_usd is not None or self.max_credits is not None

    @property
    def window(self) -> int:
        """How far ahead of the next item to hand out an ordered batch may read."""
        return self.reorder_window or 4 * self.concurrency
