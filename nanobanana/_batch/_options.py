"""What a batch is asked to do, checked once when it is made."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeAlias

import attrs

from .._config import check_bool, check_int, check_number, per_call_error
from .._errors import ConfigurationError, ValidationError
from .._models import ImageRequest
from .._shard import WRITER_PATTERN, Shard
from ._items import BatchSummary
from ._remote import check_url, is_url

__all__ = ["BatchInput", "BatchOptions", "ProgressCallback", "Shard"]

#: One input of a batch: a prompt, or a full request.
BatchInput: TypeAlias = str | ImageRequest
#: Called with a :class:`BatchSummary` after every finished item; may be async.
ProgressCallback: TypeAlias = Callable[[BatchSummary], Awaitable[None] | None]


Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _checked_with(check: Callable[..., Any], **bounds: Any) -> Validator:
    """A validator running a settings check, whose error is the per-call kind."""

    def validate(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and attribute.default is None:
            return  # an optional limit left unset
        try:
            check(attribute.name, value, **bounds)
        except ConfigurationError as exc:
            raise per_call_error(attribute.name, exc) from None

    return validate


def _callback(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise ValidationError(attribute.name, f"must be callable, got {value!r}")


def _shard(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, Shard):
        raise ValidationError(attribute.name, f"must be a Shard or None, got {value!r}")


def _writer(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not (isinstance(value, str) and WRITER_PATTERN.match(value)):
        raise ValidationError(
            attribute.name, f"must be a word, a dash and hex digits (ray-1a2b3c4d), got {value!r}"
        )


def _folder(value: str | os.PathLike[str] | None) -> Path | str | None:
    """``out_dir`` as given: a URL (object storage) stays a string, a path is a Path."""
    if value is None or (isinstance(value, str) and is_url(value)):
        return value
    return Path(value)


def _storage(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, str):
        check_url(value)


_count = _checked_with(check_int, minimum=1)
_flag = _checked_with(check_bool)


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

    concurrency: int = attrs.field(default=16, validator=_count)
    requests_per_minute: float | None = attrs.field(
        default=None, validator=_checked_with(check_number, positive=True)
    )
    adaptive: bool = attrs.field(default=True, validator=_flag)
    out_dir: Path | str | None = attrs.field(default=None, converter=_folder, validator=_storage)
    ordered: bool = attrs.field(default=False, validator=_flag)
    reorder_window: int | None = attrs.field(default=None, validator=_count)
    resume: bool = attrs.field(default=False, validator=_flag)
    fail_fast: bool = attrs.field(default=False, validator=_flag)
    max_spend_usd: float | None = attrs.field(default=None, validator=_checked_with(check_number))
    max_credits: float | None = attrs.field(default=None, validator=_checked_with(check_number))
    dry_run: bool = attrs.field(default=False, validator=_flag)
    progress: ProgressCallback | None = attrs.field(default=None, validator=_callback)
    shard: Shard | None = attrs.field(default=None, validator=_shard)
    #: One of several processes writing to one ``out_dir`` (the actors of a Ray Data
    #: stage): its manifest is ``manifest-<writer>.jsonl`` and its image files start
    #: with ``<writer>-``, so no two of them write one file.
    writer: str | None = attrs.field(default=None, validator=_writer)

    def __attrs_post_init__(self) -> None:
        if self.resume and self.out_dir is None:
            raise ValidationError("resume", "needs out_dir (the manifest lives there)")
        if self.writer is not None and self.shard is not None:
            raise ValidationError("writer", "a batch is either a shard or a writer, not both")

    @property
    def capped(self) -> bool:
        """Whether a spend cap is set."""
        return self.max_spend_usd is not None or self.max_credits is not None

    @property
    def window(self) -> int:
        """How far ahead of the next item to hand out an ordered batch may read."""
        return self.reorder_window or 4 * self.concurrency
