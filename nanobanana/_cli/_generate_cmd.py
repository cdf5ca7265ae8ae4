"""The ``generate`` and ``edit`` commands: one request, its images saved, paths printed."""

from __future__ import annotations

import contextlib
import difflib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import attrs

from nanobanana._batch import slugify
from nanobanana._catalog import known_models, model_info
from nanobanana._converter import usage_record
from nanobanana._errors import ConfigurationError, NanoBananaError, ValidationError
from nanobanana._inputs import check_image
from nanobanana._models import ImageRequest
from nanobanana._results import GeneratedImage, ImageResult, write_image

from ._common import Interrupt, open_client, print_json, route_logs
from ._exit import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from ._make_reporter import make_reporter
from ._records import error_record
from ._reporter import Reporter
from ._text import describe_error

__all__ = [
    "OutputTarget",
    "Saved",
    "check_folder",
    "closest_model",
    "cmd_generate",
    "free_path",
    "output_target",
    "save_result",
    "warn_unknown_model",
]

#: The suffixes ``-o`` takes for a file, and the type of image each one promises.
_SUFFIX_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


def cmd_generate(args: Any) -> int:
    """``generate`` and ``edit``: one request, its images saved, paths printed."""
    reporter = make_reporter("auto", quiet=args.quiet)
    route_logs(reporter, args.verbose)
    request = _request(args)
    target = output_target(args.output)  # before sending: a paid image needs a place
    if args.fake:
        warn_unknown_model(args.model, reporter)
    started = time.monotonic()
    with Interrupt() as interrupt:
        outcome = anyio.run(_send, args, request, reporter, interrupt, backend="asyncio")
    if outcome.interrupted:
        reporter.log(f"nanobanana {args.command}: interrupted")
        return outcome.exit_code
    result, failure = outcome.result, outcome.failure
    if result is None:
        assert failure is not None
        if args.json:
            print_json({"ok": False, "prompt": request.prompt, "error": error_record(failure)})
        print(f"nanobanana {args.command}: failed: {describe_error(failure)}", file=sys.stderr)
        return EXIT_FAILED
    saved = save_result(result, target, request.prompt)
    for note in saved.notes:
        reporter.log(f"nanobanana {args.command}: {note}")
    for problem in saved.problems:
        reporter.log(f"nanobanana {args.command}: error: {problem}")
    elapsed = time.monotonic() - started
    if args.json:
        print_json(_result_record(request, result, saved, elapsed))
    else:
        for path in saved.paths:
            print(path)
        reporter.note(_result_note(result, elapsed))
    return EXIT_FAILED if saved.problems else EXIT_OK


def _request(args: Any) -> ImageRequest:
    """The request the arguments describe; an invalid one is a usage error."""
    try:
        request = ImageRequest(
            prompt=args.prompt,
            model=args.model,
            num_images=args.num_images,
            aspect_ratio=args.aspect_ratio,
            resolution=args.resolution,
            images=tuple(getattr(args, "image", None) or ()),
        )
        for image in request.images:
            check_image(image, "-i")
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    return request


def closest_model(name: str) -> str | None:
    """The known model id that ``name`` most likely means, or ``None``.

    A fragment that ends an id (``pro``, ``nano-banana-2``) names the shortest such
    id; otherwise the closest spelling, if one is close.

    Example:
        >>> closest_model("pro"), closest_model("google/nano-banan-2")
        ('google/nano-banana-pro', 'google/nano-banana-2')
        >>> closest_model("acme/painter") is None
        True
    """
    ids = [model_id for info in known_models() for model_id in info.ids]
    wanted = name.strip().lower()
    endings = [
        i for i in ids if i.lower() == wanted or i.lower().endswith(("/" + wanted, "-" + wanted))
    ]
    if endings:
        return min(endings, key=len)
    tails = {i.split("/")[-1].lower(): i for i in ids}
    close = difflib.get_close_matches(wanted.split("/")[-1], list(tails), n=1, cutoff=0.6)
    return tails[close[0]] if close else None


def warn_unknown_model(model: str | None, reporter: Reporter) -> None:
    """Warn (offline, where nothing would refuse it) about a model id the SDK does
    not know, suggesting the closest known one. Unknown ids are still sent as given."""
    if model is None or model_info(model) is not None:
        return
    guess = closest_model(model)
    hint = f"; did you mean {guess}?" if guess else " (nanobanana models lists the known ones)"
    reporter.log(f"warning: {model!r} is not a model id the SDK knows{hint}")


@attrs.define
class _Outcome:
    """How the one request ended: a result, an error, or Ctrl-C."""

    result: ImageResult | None = None
    failure: NanoBananaError | None = None
    interrupted: bool = False
    exit_code: int = EXIT_INTERRUPTED  # 130 after Ctrl-C, 143 after SIGTERM


async def _send(
    args: Any, request: ImageRequest, reporter: Reporter, interrupt: Interrupt
) -> _Outcome:
    outcome = _Outcome()
    async with open_client(args) as client:
        with interrupt.cancelling():
            try:
                model = client.resolve_model(request)
                with reporter.status(f"{args.command} with {model}..."):
                    outcome.result = await client.send(request)
            except (ValidationError, ConfigurationError) as exc:
                raise UsageError(str(exc)) from None
            except NanoBananaError as exc:
                outcome.failure = exc
    # A signal that came once the answer was in interrupted nothing: the image is saved.
    outcome.interrupted = interrupt.hit and outcome.result is None and outcome.failure is None
    outcome.exit_code = interrupt.exit_code
    return outcome


# -- where the images go ------------------------------------------------------------------


@attrs.frozen
class OutputTarget:
    """Where ``-o`` puts the images: into a folder, named after the prompt, or to a file."""

    path: Path
    is_folder: bool


def output_target(output: str) -> OutputTarget:
    """Read ``-o``: a folder (an existing one, a name ending in ``/``, a name without a
    suffix) or an image file (``.png``, ``.jpg``, ``.jpeg``, ``.webp``, ``.gif``).

    Any other suffix is refused, as is a place where no file can be created: a usage
    error, raised before anything is sent.
    """
    path = Path(output).expanduser()
    if output.endswith(("/", os.sep)) or os.path.isdir(path):
        target = OutputTarget(path, is_folder=True)
    elif path.suffix.lower() in _SUFFIX_TYPES:
        target = OutputTarget(path, is_folder=False)
    elif path.suffix:
        raise UsageError(
            f"-o {output}: {path.suffix} is not a suffix the images can take; name a .png, "
            ".jpg, .jpeg, .webp or .gif file, or a folder (end it with / to be sure)"
        )
    else:
        target = OutputTarget(path, is_folder=True)
    check_folder(target.path if target.is_folder else target.path.parent, f"-o {output}")
    return target


def check_folder(folder: Path, what: str) -> None:
    """Refuse (a usage error) a ``folder`` that could not take files: a file stands
    where it or one of its parents should be, or no file can be created there."""
    existing = folder
    while not os.path.exists(existing) and existing != existing.parent:
        existing = existing.parent
    if not os.path.isdir(existing):
        raise UsageError(f"{what}: {existing} is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".nanobanana-", suffix=".probe"):
            pass
    except OSError as exc:
        raise UsageError(
            f"{what}: cannot create files in {existing}: {exc.strerror or exc}"
        ) from None


def free_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem.suffix``, or ``stem-2``, ``stem-3``... if that file exists already."""
    candidate = folder / f"{stem}{suffix}"
    number = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{number}{suffix}"
        number += 1
    return candidate


@attrs.define
class Saved:
    """What :func:`save_result` wrote, and what to tell about it.

    Attributes:
        written: Each image saved, with its path (an image that could be saved nowhere
            is missing).
        notes: Names changed so that the suffix tells the truth about the bytes.
        problems: Writes that failed, and where the image went instead.
    """

    written: list[tuple[Path, GeneratedImage]] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)
    problems: list[str] = attrs.Factory(list)

    @property
    def paths(self) -> list[Path]:
        """The paths written, in the order of the images."""
        return [path for path, _ in self.written]


def save_result(result: ImageResult, target: OutputTarget, prompt: str) -> Saved:
    """Write the images: into a folder named after the prompt (never over an existing
    file), or to the file named (``kite-1.png``... for several).

    A file name whose suffix would lie about the bytes gets the true suffix instead.
    A write that fails (the images are paid for) saves the image in the working
    folder, or else the temporary one, and says where, with the request id.
    """
    saved = Saved()
    if target.is_folder:
        paths = _folder_paths(result, target.path, slugify(prompt))
    else:
        paths = _file_paths(result, target.path, saved.notes)
    for path, image in zip(paths, result.images, strict=True):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_image(path, image)
            saved.written.append((path, image))
        except OSError as exc:
            _save_elsewhere(saved, image, path, exc, result.request_id)
    return saved


def _folder_paths(result: ImageResult, folder: Path, slug: str) -> list[Path]:
    count = len(result.images)
    return [
        free_path(folder, slug if count == 1 else f"{slug}-{i + 1}", image.suffix)
        for i, image in enumerate(result.images)
    ]


def _file_paths(result: ImageResult, out: Path, notes: list[str]) -> list[Path]:
    count = len(result.images)
    paths: list[Path] = []
    for i, image in enumerate(result.images):
        path = out if count == 1 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")
        if _SUFFIX_TYPES[out.suffix.lower()] != image.mime_type:
            named = path
            path = free_path(path.parent, path.stem, image.suffix)
            kind = image.mime_type.removeprefix("image/").upper()
            notes.append(f"the image is {kind}, so it is saved as {path}, not {named}")
        paths.append(path)
    return paths


def _save_elsewhere(
    saved: Saved, image: GeneratedImage, failed: Path, exc: OSError, request_id: str | None
) -> None:
    """Save a paid image that could not be written where asked: in the working folder,
    else the temporary one; record where (or that it could be saved nowhere)."""
    reason = f"cannot write {failed}: {exc.strerror or exc}"
    request = f" (request id {request_id})" if request_id else ""
    for folder in _fallback_folders():
        path = free_path(folder, failed.stem, image.suffix)
        try:
            write_image(path, image)
        except OSError:
            continue
        saved.written.append((path, image))
        saved.problems.append(f"{reason}; the image was saved to {path} instead{request}")
        return
    saved.problems.append(
        f"{reason}; nor could it be saved in the working or the temporary folder{request}"
    )


def _fallback_folders() -> list[Path]:
    """The working folder (if there still is one), then the temporary folder."""
    folders: list[Path] = []
    with contextlib.suppress(OSError):
        folders.append(Path.cwd())
    folders.append(Path(tempfile.gettempdir()))
    return folders


# -- what is shown ------------------------------------------------------------------------


def _result_record(
    request: ImageRequest, result: ImageResult, saved: Saved, elapsed: float
) -> dict[str, Any]:
    return {
        "ok": True,
        "prompt": request.prompt,
        "model": result.model,
        "paths": [str(p) for p in saved.paths],
        "images": [
            {"path": str(p), "mime_type": img.mime_type, "width": img.width, "height": img.height}
            for p, img in saved.written
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
