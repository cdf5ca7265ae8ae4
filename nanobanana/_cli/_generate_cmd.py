"""The ``generate`` and ``edit`` commands: one request, its images saved, paths printed."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import anyio
import attrs

from nanobanana._batch import slugify
from nanobanana._converter import usage_record
from nanobanana._errors import ConfigurationError, NanoBananaError, ValidationError
from nanobanana._files import atomic_write
from nanobanana._models import ImageRequest, ImageResult

from ._common import Interrupt, check_local_images, open_client, print_json, route_logs
from ._exit import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from ._make_reporter import make_reporter
from ._records import error_record
from ._reporter import Reporter
from ._text import describe_error

__all__ = ["cmd_generate", "free_path", "save_result"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


def cmd_generate(args: Any) -> int:
    """``generate`` and ``edit``: one request, its images saved, paths printed."""
    reporter = make_reporter("auto", quiet=args.quiet)
    route_logs(reporter, args.verbose)
    request = _request(args)
    check_local_images(request.images)
    started = time.monotonic()
    outcome = anyio.run(_send, args, request, reporter, backend="asyncio")
    if outcome.interrupted:
        reporter.log(f"nanobanana {args.command}: interrupted")
        return EXIT_INTERRUPTED
    result, failure = outcome.result, outcome.failure
    if result is None:
        assert failure is not None
        if args.json:
            print_json({"ok": False, "prompt": request.prompt, "error": error_record(failure)})
        print(f"nanobanana {args.command}: failed: {describe_error(failure)}", file=sys.stderr)
        return EXIT_FAILED
    paths = save_result(result, args.output, request.prompt)
    elapsed = time.monotonic() - started
    if args.json:
        print_json(_result_record(request, result, paths, elapsed))
        return EXIT_OK
    for path in paths:
        print(path)
    reporter.note(_result_note(result, elapsed))
    return EXIT_OK


def _request(args: Any) -> ImageRequest:
    """The request the arguments describe; an invalid one is a usage error."""
    try:
        return ImageRequest(
            prompt=args.prompt,
            model=args.model,
            num_images=args.num_images,
            aspect_ratio=args.aspect_ratio,
            resolution=args.resolution,
            images=tuple(getattr(args, "image", None) or ()),
        )
    except ValidationError as exc:
        raise UsageError(str(exc)) from None


@attrs.define
class _Outcome:
    """How the one request ended: a result, an error, or Ctrl-C."""

    result: ImageResult | None = None
    failure: NanoBananaError | None = None
    interrupted: bool = False


async def _send(args: Any, request: ImageRequest, reporter: Reporter) -> _Outcome:
    outcome = _Outcome()
    async with open_client(args) as client:
        with Interrupt() as interrupt, interrupt.scope:
            try:
                model = client.resolve_model(request)
                with reporter.status(f"{args.command} with {model}..."):
                    outcome.result = await client.send(request)
            except (ValidationError, ConfigurationError) as exc:
                raise UsageError(str(exc)) from None
            except NanoBananaError as exc:
                outcome.failure = exc
    outcome.interrupted = interrupt.hit
    return outcome


# -- saving -------------------------------------------------------------------------------


def free_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem.suffix``, or ``stem-2``, ``stem-3``... if that file exists already."""
    candidate = folder / f"{stem}{suffix}"
    number = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{number}{suffix}"
        number += 1
    return candidate


def save_result(result: ImageResult, output: str, prompt: str) -> list[Path]:
    """Write the images: into folder ``output`` named after the prompt (never over an
    existing file), or to the file ``output`` names (``out-1.png``... for several)."""
    out = Path(output).expanduser()
    count = len(result.images)
    paths: list[Path] = []
    try:
        if out.suffix.lower() in _IMAGE_SUFFIXES and not out.is_dir():
            out.parent.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                paths.append(
                    out if count == 1 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")
                )
        else:
            out.mkdir(parents=True, exist_ok=True)
            slug = slugify(prompt)
            for i, image in enumerate(result.images):
                stem = slug if count == 1 else f"{slug}-{i + 1}"
                paths.append(free_path(out, stem, image.suffix))
        for path, image in zip(paths, result.images, strict=True):
            atomic_write(path, image.data)
    except OSError as exc:
        raise UsageError(f"cannot write to {output!r}: {exc.strerror or exc}") from None
    return paths


# -- what is shown ------------------------------------------------------------------------


def _result_record(
    request: ImageRequest, result: ImageResult, paths: list[Path], elapsed: float
) -> dict[str, Any]:
    return {
        "ok": True,
        "prompt": request.prompt,
        "model": result.model,
        "paths": [str(p) for p in paths],
        "images": [
            {"path": str(p), "mime_type": img.mime_type, "width": img.width, "height": img.height}
            for p, img in zip(paths, result.images, strict=True)
        ],
        "request_id": result.request_id,
        "usage": usage_record(result.usage),
        "description": result.description,
        "elapsed": round(elapsed, 3),
    }


def _result_note(result: ImageResult, elapsed: float) -> str:
    count = len(result.images)
    parts = [f"{count} image{'s' if count != 1 else ''} from {result.model}"]
    if result.usage.credits_used is not None:
        parts.append(f"{result.usage.credits_used:,.0f} credits")
    if result.usage.usd_spent is not None:
        parts.append(f"${result.usage.usd_spent:,.4f}")
    if result.request_id:
        parts.append(f"request id {result.request_id}")
    parts.append(f"{elapsed:.1f} s")
    note = ", ".join(parts)
    if result.description:
        note += f"\nThe model said: {result.description}"
    return note
