"""The ``batch`` and ``demo`` commands: a file (or stdin, or sample prompts) through
the SDK's batch engine, with progress, a summary, ``--json`` records and Ctrl-C.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterable, Iterable
from pathlib import Path
from typing import Any

import anyio
import attrs

from nanobanana._batch import AsyncBatch
from nanobanana._batch_models import BatchSummary
from nanobanana._client import AsyncClient
from nanobanana._errors import NanoBananaError, ValidationError
from nanobanana._models import ImageRequest

from . import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from ._commands import Interrupt, open_client, print_json, route_logs
from ._inputs import BadLine, Defaults, FileSource, LineMap, StdinSource, detect_format, spool_stdin
from ._render import (
    Reporter,
    describe_error,
    item_record,
    make_reporter,
    summary_record,
    summary_rows,
)

__all__ = ["BatchRun", "cmd_batch", "cmd_demo"]

#: Failed items reported one by one on stderr; the rest are in the manifest.
_MAX_FAILURE_LINES = 20
_MAX_STRICT_LINES = 50
_TICK = 0.2


@attrs.define
class BatchRun:
    """One batch as the CLI runs it: the source, its line map and what to show."""

    source: Iterable[ImageRequest] | AsyncIterable[ImageRequest]
    lines: LineMap
    reporter: Reporter
    display: str
    json: bool = False
    invalid: int = 0
    failures_shown: int = 0
    summary: BatchSummary | None = None

    def bad_line(self, bad: BadLine) -> None:
        """Report an input line that was not sent (stderr, and --json)."""
        self.invalid += 1
        self.reporter.log(f"{self.display}:{bad.line}: {bad.message}")
        if self.json:
            error = {"type": "InputError", "message": bad.message}
            print_json({"type": "invalid", "line": bad.line, "error": error})

    async def run(self, client: AsyncClient, title: str, **options: Any) -> int:
        """Run the batch to its end (or Ctrl-C); show the summary; return the exit code."""
        try:
            batch = client.batch(self.source, **options)
        except ValidationError as exc:
            raise UsageError(str(exc)) from None
        fatal: NanoBananaError | None = None
        with Interrupt() as interrupt:
            self.reporter.start(title, batch.summary.total)
            try:
                with interrupt.scope:
                    fatal = await self._drain(batch)
            finally:
                self.reporter.stop(batch.summary)
        self.summary = summary = batch.summary
        rows = summary_rows(summary, invalid=self.invalid, interrupted=interrupt.hit)
        self.reporter.table(f"nanobanana {title}", rows)
        if fatal is not None:
            self.reporter.log(f"the batch stopped: {describe_error(fatal)}")
        code = self._exit_code(summary, fatal, interrupt.hit)
        if self.json:
            print_json(
                summary_record(
                    summary, invalid_lines=self.invalid, interrupted=interrupt.hit, exit_code=code
                )
            )
        return code

    async def _drain(self, batch: AsyncBatch) -> NanoBananaError | None:
        async with batch, anyio.create_task_group() as tg:
            tg.start_soon(self._tick, batch)
            try:
                async for item in batch:
                    line = self.lines.pop(item.index)
                    if self.json:
                        print_json(item_record(item, line))
                    if item.error is not None:
                        self._failure(item.index, line, item.error)
            except NanoBananaError as exc:  # 401, 403, --fail-fast: the batch stopped
                return exc
            finally:
                tg.cancel_scope.cancel()
        return None

    async def _tick(self, batch: AsyncBatch) -> None:
        while True:
            self.reporter.update(batch.summary)
            await anyio.sleep(_TICK)

    def _failure(self, index: int, line: int | None, error: NanoBananaError) -> None:
        self.failures_shown += 1
        if self.failures_shown > _MAX_FAILURE_LINES:
            return
        where = f"{self.display}:{line}: " if line is not None else ""
        self.reporter.log(f"{where}item {index} failed: {describe_error(error)}")
        if self.failures_shown == _MAX_FAILURE_LINES:
            self.reporter.log("(further failures are not shown; the manifest has them all)")

    def _exit_code(self, s: BatchSummary, fatal: NanoBananaError | None, interrupted: bool) -> int:
        if interrupted:
            return EXIT_INTERRUPTED
        unfinished = sum(
            n for why, n in s.skipped_by_reason.items() if why not in ("done", "dry_run")
        )
        if fatal is not None or s.failed or self.invalid or unfinished:
            return EXIT_FAILED
        return EXIT_OK


def _defaults(args: Any) -> Defaults:
    defaults = Defaults(
        model=args.model,
        num_images=args.num_images,
        aspect_ratio=args.aspect_ratio,
        resolution=args.resolution,
    )
    try:  # a bad flag value is a usage error, not one bad line per input line
        ImageRequest(prompt="check", **attrs.asdict(defaults))
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    return defaults


def _sniff(path: Path) -> str:
    with path.open("rb") as fh:
        for raw in fh:
            text = raw.strip().removeprefix(b"\xef\xbb\xbf")
            if text and not text.startswith(b"#"):
                return "jsonl" if text.startswith(b"{") else "txt"
    return "txt"


def _open_file(run: BatchRun, path: Path, fmt: str, defaults: Defaults, strict: bool) -> FileSource:
    if not path.exists():
        raise UsageError(f"cannot read {run.display}: no such file")
    if not path.is_file():
        raise UsageError(f"cannot read {run.display}: not a file")
    source = FileSource(path, fmt, defaults, run.display)
    bad: list[BadLine] = []
    count = source.scan(bad.append if strict else run.bad_line)
    if strict and count:
        for item in bad[:_MAX_STRICT_LINES]:
            run.reporter.log(f"{run.display}:{item.line}: {item.message}")
        if count > _MAX_STRICT_LINES:
            run.reporter.log(f"... and {count - _MAX_STRICT_LINES} more bad lines")
        lines = ", ".join(str(b.line) for b in bad[:_MAX_STRICT_LINES])
        raise UsageError(
            f"{run.display}: {count} bad line(s) ({lines}); nothing was run (--strict)"
        )
    return source


def cmd_batch(args: Any) -> int:
    """``batch INPUT -o OUT``: see the command's ``--help`` for formats and output."""
    reporter = make_reporter(args.progress, quiet=args.quiet)
    route_logs(reporter, args.verbose)
    defaults = _defaults(args)
    out = Path(args.output).expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {args.output}: exists and is not a folder")
    fmt = detect_format(args.input, args.format)
    display = "<stdin>" if args.input == "-" else args.input
    run = BatchRun(source=(), lines=LineMap(), reporter=reporter, display=display, json=args.json)
    spooled: Path | None = None
    try:
        if args.input == "-" and not (args.strict or fmt == "csv"):
            stream = StdinSource(sys.stdin.buffer, fmt, defaults, run.bad_line)
            run.source, run.lines = stream, stream.lines
        else:
            if args.input == "-":
                spooled = spool_stdin(sys.stdin.buffer)
                fmt = _sniff(spooled) if fmt == "auto" else fmt
            path = spooled or Path(args.input).expanduser()
            source = _open_file(run, path, fmt, defaults, args.strict)
            run.source, run.lines = source, source.lines
        options = {
            "concurrency": args.concurrency,
            "requests_per_minute": args.rpm,
            "out_dir": out,
            "ordered": args.ordered,
            "resume": args.resume,
            "fail_fast": args.fail_fast,
            "max_spend_usd": args.max_spend_usd,
            "dry_run": args.dry_run,
        }
        return anyio.run(_run_batch, run, args, options, backend="asyncio")
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)


async def _run_batch(run: BatchRun, args: Any, options: dict[str, Any]) -> int:
    async with open_client(args, need_key=not args.dry_run) as client:
        return await run.run(client, "batch", **options)


# -- demo ---------------------------------------------------------------------------------

_DEMO: tuple[tuple[str, dict[str, Any]], ...] = (
    ("a lighthouse at dawn, oil painting", {"aspect_ratio": "16:9"}),
    ("a racoon eating ice-cream on a park bench", {}),
    ("a paper boat on a rainy street, macro photo", {"aspect_ratio": "4:3"}),
    ("isometric cozy library with a cat", {"num_images": 2}),
    ("a banana-shaped spaceship over Saturn", {"aspect_ratio": "21:9"}),
    ("watercolor map of an imaginary island", {"aspect_ratio": "3:2"}),
    ("a neon-lit ramen stall at midnight", {"aspect_ratio": "9:16"}),
    ("a knitted dinosaur toy, studio light", {}),
    ("a mountain cabin under the northern lights", {"aspect_ratio": "16:9"}),
    ("pixel-art robot watering plants", {"num_images": 2}),
    ("a vintage travel poster for the Moon", {"aspect_ratio": "2:3"}),
    ("a bowl of fruit in the style of a mosaic", {"aspect_ratio": "1:1"}),
)


def cmd_demo(args: Any) -> int:
    """``demo``: a dozen sample prompts through the real batch engine, offline."""
    reporter = make_reporter(args.progress, quiet=args.quiet)
    route_logs(reporter, args.verbose)
    out = Path(args.output).expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {args.output}: exists and is not a folder")
    requests = [ImageRequest(prompt=p, **o) for p, o in _DEMO]
    lines = LineMap()
    for i in range(len(requests)):
        lines.add(i + 1)
    run = BatchRun(source=requests, lines=lines, reporter=reporter, display="demo")
    code: int = anyio.run(_run_demo, run, args, out, backend="asyncio")
    if run.summary is not None and run.summary.images_written:
        written = run.summary.images_written
        print(f"{written} images are in {out.resolve()}{os.sep}")
    if code == EXIT_OK:
        reporter.note(
            "Next: nanobanana batch prompts.txt -o out/ --fake   (drop --fake and set "
            "AIML_API_KEY for real images)"
        )
    return code


async def _run_demo(run: BatchRun, args: Any, out: Path) -> int:
    count = len(_DEMO)
    options: dict[str, Any] = {"concurrency": 4, "out_dir": out}
    if args.base_url:
        run.reporter.note(f"Running {count} sample prompts against {args.base_url}")
        async with open_client(args) as client:
            return await run.run(client, "demo", **options)
    from nanobanana.testing import FakeServer

    async with FakeServer(latency=0.4) as server:
        # One rate-limited answer, to show the engine backing off and retrying.
        server.fail_next(1, status=429, retry_after=0.3)
        run.reporter.note(
            f"Started the bundled fake AI/ML API at {server.url} (offline, no key needed); "
            f"sending {count} sample prompts, 4 at a time."
        )
        async with AsyncClient(api_key=server.api_key, base_url=server.url) as client:
            return await run.run(client, "demo", **options)
