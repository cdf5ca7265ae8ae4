"""The commands that send one request (generate, edit) or none (models), and what
every command shares: the client (or the bundled fake API), Ctrl-C, logging.

The batch and demo commands live in :mod:`nanobanana._cli._batch_cmd`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import attrs

from nanobanana._client import AsyncClient
from nanobanana._config import resolve_api_key
from nanobanana._errors import ConfigurationError, NanoBananaError, ValidationError
from nanobanana._manifest import slugify
from nanobanana._models import ImageRequest, ImageResult, atomic_write

from . import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from ._render import Reporter, describe_error, error_record, make_reporter, usage_record

__all__ = ["Interrupt", "open_client", "print_json", "route_logs", "run"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


def run(args: Any) -> int:
    """Run the command that ``args`` (from :func:`nanobanana._cli.build_parser`) names.

    Each command checks its arguments and inputs first, then runs its network part
    in one event loop (``anyio.run``, asyncio backend: aiohttp needs it).
    """
    if args.command == "models":
        return cmd_models(args)
    if args.command == "batch":
        from ._batch_cmd import cmd_batch

        return cmd_batch(args)
    if args.command == "demo":
        from ._batch_cmd import cmd_demo

        return cmd_demo(args)
    return cmd_generate(args)


# -- shared -------------------------------------------------------------------------------


def print_json(record: Any) -> None:
    """One JSON document on stdout, on one line, flushed (readers may stream it)."""
    sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


class _ToReporter(logging.Handler):
    def __init__(self, reporter: Reporter) -> None:
        super().__init__()
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        self.reporter.log(f"{record.levelname.lower()}: {record.getMessage()}")


def route_logs(reporter: Reporter, verbose: bool) -> None:
    """Send the SDK's log records through ``reporter``: retries with -v, errors always."""
    logger = logging.getLogger("nanobanana")
    logger.handlers[:] = [_ToReporter(reporter)]
    logger.setLevel(logging.INFO if verbose else logging.ERROR)
    logger.propagate = False


class Interrupt:
    """Turns the first Ctrl-C into cancelling :attr:`scope`; a second one kills as usual.

    Cancelling (rather than a ``KeyboardInterrupt`` raised anywhere) lets the batch
    close its manifest and the command print its summary before exiting with 130.
    """

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.hit = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> Interrupt:
        try:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, self._fire)
        except (NotImplementedError, RuntimeError, ValueError):
            return self  # not the main thread, or Windows: KeyboardInterrupt it is
        self._loop = loop
        return self

    def _fire(self) -> None:
        self.hit = True
        self.scope.cancel()
        self._release()

    def _release(self) -> None:
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGINT)  # restores the default handler
            self._loop = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()


def _client_options(args: Any) -> dict[str, Any]:
    # Only what was given: the client's defaults stand for the rest (a timeout of
    # None would mean "no limit", not "the default").
    options: dict[str, Any] = {}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.max_retries is not None:
        options["max_retries"] = args.max_retries
    return options


@asynccontextmanager
async def open_client(args: Any, *, need_key: bool = True) -> AsyncIterator[AsyncClient]:
    """The client the command line asks for: ``--fake``, or the real API."""
    if args.fake:
        if args.base_url:
            raise UsageError("--fake runs the bundled fake API: leave out --base-url")
        from nanobanana.testing import FakeServer

        async with (
            FakeServer() as server,
            AsyncClient(
                api_key=server.api_key, base_url=server.url, **_client_options(args)
            ) as client,
        ):
            yield client
        return
    try:
        if need_key and resolve_api_key(args.api_key) is None:
            raise UsageError(
                "no API key: pass --api-key or set AIML_API_KEY (or AIMLAPI_API_KEY); "
                "or try --fake to run offline"
            )
        client = AsyncClient(api_key=args.api_key, base_url=args.base_url, **_client_options(args))
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    async with client:
        yield client


def check_local_images(images: tuple[Any, ...]) -> None:
    """Refuse (exit 2) an input image path that is not a readable file."""
    for item in images:
        text = str(item)
        if text[:8].lower().startswith(("http://", "https://", "data:")):
            continue
        path = Path(text).expanduser()
        if not path.is_file():
            raise UsageError(f"cannot read image {text!r}: no such file")


# -- generate and edit ------------------------------------------------------------------


def _free_path(folder: Path, stem: str, suffix: str) -> Path:
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
                paths.append(_free_path(out, stem, image.suffix))
        for path, image in zip(paths, result.images, strict=True):
            atomic_write(path, image.data)
    except OSError as exc:
        raise UsageError(f"cannot write to {output!r}: {exc.strerror or exc}") from None
    return paths


@attrs.define
class _Outcome:
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


def cmd_generate(args: Any) -> int:
    """``generate`` and ``edit``: one request, its images saved, paths printed."""
    reporter = make_reporter("auto", quiet=args.quiet)
    route_logs(reporter, args.verbose)
    images = tuple(getattr(args, "image", None) or ())
    try:
        request = ImageRequest(
            prompt=args.prompt,
            model=args.model,
            num_images=args.num_images,
            aspect_ratio=args.aspect_ratio,
            resolution=args.resolution,
            images=images,
        )
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
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


# -- models -------------------------------------------------------------------------------


def cmd_models(args: Any) -> int:
    """``models``: the catalog, as text blocks or ``--json``."""
    from nanobanana._catalog import known_models

    models = known_models()
    if args.json:
        print_json([{**attrs.asdict(m), "ids": list(m.ids)} for m in models])
        return EXIT_OK
    blocks = []
    for m in models:
        edits = {"no": "no (text to image)", "required": "yes (input images required)"}.get(
            m.edits, "optional (generates and edits)"
        )
        if m.edit_model and m.edit_model != m.id:
            edits += f"; edit model: {m.edit_model}"
        lines = [
            f"{m.id}  {m.name}",
            f"  aliases        {', '.join(m.aliases) or '-'}",
            f"  edits          {edits}",
            f"  aspect_ratio   {' '.join(m.aspect_ratios)}",
            f"  resolution     {' '.join(m.resolutions) or '- (not taken)'}",
            f"  num_images     {'1-4' if m.num_images else '- (one image per request)'}",
        ]
        if m.max_input_images is not None:
            lines.append(f"  input images   up to {m.max_input_images}")
        lines.append(
            f"  web search     {'yes (extra_body enable_web_search)' if m.web_search else 'no'}"
        )
        blocks.append("\n".join(lines))
    print("\n\n".join(blocks))
    print("\nOther model ids are sent as given (-m acme/new-model).")
    return EXIT_OK
