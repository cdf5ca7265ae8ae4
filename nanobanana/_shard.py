"""Shards: one batch split across machines, each taking a fixed share of the inputs.

A shard takes the inputs whose request key (the SHA-256 of the request, see
``request_key``) falls to it, so the share depends on what is asked, not on where it
stands in the input or on which machine runs it: a shard that is resumed, or
rescheduled elsewhere, takes the same items again. Nothing else is shared between
shards: each has its own throttle, its own spend cap and its own manifest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import attrs

from ._errors import ValidationError

__all__ = ["MANIFEST_NAME", "WRITER_PATTERN", "Shard", "manifest_name", "writer_tag"]

#: The manifest of an unsharded batch.
MANIFEST_NAME = "manifest.jsonl"


def _check_count(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError("shard", f"count must be an int >= 1, got {value!r}")


@attrs.frozen
class Shard:
    """One share of a batch's inputs: shard ``index`` of ``count`` (``index`` from 0).

    Pass it as ``shard=`` to :meth:`AsyncClient.batch` (or :meth:`Client.batch`): the
    batch then sends only its share of the inputs and hands the others out as skipped
    with reason ``"other_shard"``. Its manifest is ``manifest-KK-of-NN.jsonl``, so
    shards writing to one folder never append to the same file, and a resume reads
    the manifests of every shard there.

    Attributes:
        index: Which shard, from ``0`` to ``count - 1`` (as Kubernetes numbers the
            pods of an Indexed Job).
        count: How many shards the batch is split into.

    Raises:
        ValidationError: ``index`` or ``count`` is out of range.

    Example:
        >>> import nanobanana as nb
        >>> shard = nb.Shard(3, 16)
        >>> shard, str(shard), shard.manifest_name
        (Shard(index=3, count=16), '3/16', 'manifest-03-of-16.jsonl')
        >>> nb.Shard(16, 16)
        Traceback (most recent call last):
        ...
        nanobanana._errors.ValidationError: shard: index must be from 0 to 15 (shards are \
numbered from 0), got 16
    """

    index: int
    count: int = attrs.field(validator=_check_count)

    def __attrs_post_init__(self) -> None:
        index = self.index
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.count:
            raise ValidationError(
                "shard",
                f"index must be from 0 to {self.count - 1} (shards are numbered from 0), "
                f"got {index!r}",
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """The shard that ``"K/N"`` names (``K`` from 0 to ``N - 1``).

        Example:
            >>> import nanobanana as nb
            >>> nb.Shard.parse("3/16")
            Shard(index=3, count=16)
            >>> nb.Shard.parse("3 of 16")
            Traceback (most recent call last):
            ...
            nanobanana._errors.ValidationError: shard: expected K/N (shard K of N, K from 0), \
got '3 of 16'
        """
        index, slash, count = text.strip().partition("/")
        if not (slash and _is_decimal(index) and _is_decimal(count)):
            raise ValidationError("shard", f"expected K/N (shard K of N, K from 0), got {text!r}")
        return cls(int(index), int(count))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Shard:
        """The shard of this process in a Kubernetes Indexed Job or a Slurm job array.

        Kubernetes: ``JOB_COMPLETION_INDEX`` (set by Kubernetes) of
        ``JOB_COMPLETIONS`` (set it in the pod's ``env`` to the Job's ``completions``).
        Slurm: ``SLURM_ARRAY_TASK_ID`` of ``SLURM_ARRAY_TASK_COUNT``, counted from
        ``SLURM_ARRAY_TASK_MIN`` in steps of ``SLURM_ARRAY_TASK_STEP``, so that
        ``--array=1-16`` and ``--array=0-30:2`` both give shards 0 to 15.

        Args:
            environ: The environment to read (default: ``os.environ``).

        Raises:
            ValidationError: Neither kind of job is in the environment, both are, or
                the variables do not name one shard.

        Example:
            >>> import nanobanana as nb
            >>> nb.Shard.from_env({"JOB_COMPLETION_INDEX": "3", "JOB_COMPLETIONS": "16"})
            Shard(index=3, count=16)
            >>> slurm = {"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "16",
            ...          "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_STEP": "1"}
            >>> nb.Shard.from_env(slurm)
            Shard(index=3, count=16)
        """
        env = os.environ if environ is None else environ
        kubernetes = "JOB_COMPLETION_INDEX" in env
        slurm = "SLURM_ARRAY_TASK_ID" in env
        if kubernetes and slurm:
            raise ValidationError(
                "shard",
                "auto: both JOB_COMPLETION_INDEX (Kubernetes) and SLURM_ARRAY_TASK_ID "
                "(Slurm) are set; name the shard as K/N",
            )
        if kubernetes:
            return _from_kubernetes(env)
        if slurm:
            return _from_slurm(env)
        raise ValidationError(
            "shard",
            "auto: neither JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) nor "
            "SLURM_ARRAY_TASK_ID (a Slurm job array) is set; name the shard as K/N",
        )

    @property
    def manifest_name(self) -> str:
        """The file name of this shard's manifest: ``manifest-03-of-16.jsonl``."""
        width = max(2, len(str(self.count)))
        return f"manifest-{self.index:0{width}d}-of-{self.count:0{width}d}.jsonl"

    @property
    def tag(self) -> str:
        """A short mark of this shard for its temporary files: ``s3of16``."""
        return f"s{self.index}of{self.count}"

    def takes(self, key: str) -> bool:
        """Whether the request of ``key`` (a hex ``request_key``) is this shard's.

        Example:
            >>> import nanobanana as nb
            >>> key = "ea60da7d9fbafe533172e2ef84e1be75"
            >>> tuple(k for k in range(4) if nb.Shard(k, 4).takes(key))
            (1,)
        """
        return int(key, 16) % self.count == self.index

    def takes_position(self, index: int) -> bool:
        """Whether the input at ``index`` is this shard's, for an input that could not be
        made into a request (and so has no key): it is reported by one shard only."""
        return index % self.count == self.index


#: The name of one of several processes writing to one folder, each taking whatever
#: inputs come to it (the actors of a Ray Data stage): a word, a dash, hex digits.
WRITER_PATTERN = re.compile(r"^[a-z]+-[0-9a-f]{4,32}$")


def manifest_name(shard: Shard | None, writer: str | None = None) -> str:
    """The manifest's file name for ``shard`` (``manifest.jsonl`` when unsharded), or
    for ``writer``: ``manifest-ray-1a2b3c4d.jsonl``.

    Example:
        >>> manifest_name(None), manifest_name(Shard(1, 4)), manifest_name(None, "ray-1a2b3c4d")
        ('manifest.jsonl', 'manifest-01-of-04.jsonl', 'manifest-ray-1a2b3c4d.jsonl')
    """
    if writer is not None:
        return f"manifest-{writer}.jsonl"
    return MANIFEST_NAME if shard is None else shard.manifest_name


def writer_tag(shard: Shard | None, writer: str | None = None) -> str:
    """The mark of the temporary files of ``shard`` or ``writer`` (none when neither).

    Example:
        >>> writer_tag(None), writer_tag(Shard(3, 16)), writer_tag(None, "ray-1a2b3c4d")
        ('', 's3of16', 'wray1a2b3c4d')
    """
    if writer is not None:
        return "w" + writer.replace("-", "")
    return shard.tag if shard is not None else ""


def _is_decimal(text: str) -> bool:
    return text.isascii() and text.isdecimal()


def _integer(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    text = env.get(name)
    if text is None:
        if default is None:
            raise ValidationError("shard", f"auto: {name} is not set")
        return default
    if not _is_decimal(text.strip()):
        raise ValidationError("shard", f"auto: {name} must be a whole number, got {text!r}")
    return int(text)


def _from_kubernetes(env: Mapping[str, str]) -> Shard:
    index = _integer(env, "JOB_COMPLETION_INDEX")
    if "JOB_COMPLETIONS" not in env:
        raise ValidationError(
            "shard",
            "auto: JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not; set it in the "
            "pod's env to the Job's completions",
        )
    count = _integer(env, "JOB_COMPLETIONS")
    return _shard_of(index, count, f"JOB_COMPLETION_INDEX={index} of JOB_COMPLETIONS={count}")


def _from_slurm(env: Mapping[str, str]) -> Shard:
    task = _integer(env, "SLURM_ARRAY_TASK_ID")
    count = _integer(env, "SLURM_ARRAY_TASK_COUNT")
    first = _integer(env, "SLURM_ARRAY_TASK_MIN", default=0)
    step = _integer(env, "SLURM_ARRAY_TASK_STEP", default=1) or 1
    last = _integer(env, "SLURM_ARRAY_TASK_MAX", default=first + (count - 1) * step)
    offset = task - first
    if offset % step or last != first + (count - 1) * step:
        raise ValidationError(
            "shard",
            f"auto: the Slurm array (tasks {first} to {last} in steps of {step}, "
            f"{count} tasks) is not an evenly spaced range; name the shard as K/N",
        )
    where = f"SLURM_ARRAY_TASK_ID={task} (array from {first} in steps of {step}, {count} tasks)"
    return _shard_of(offset // step, count, where)


def _shard_of(index: int, count: int, where: str) -> Shard:
    try:
        return Shard(index, count)
    except ValidationError as exc:
        raise ValidationError("shard", f"auto: {where} names no shard: {exc}") from None
