"""The ``batch`` command: a file (or stdin) of requests through the SDK's batch engine,
with progress, a summary, ``--json`` records and Ctrl-C (see :mod:`._batch_run`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio

from nanobanana._batch import MANIFEST_NAME, check_url, is_url, manifest_segments, open_url
from nanobanana._errors import ValidationError
from nanobanana._models import ImageRequest
from nanobanana._shard import Shard

from ._batch_run import BatchRun
from ._common import open_client, route_logs
from ._estimate import Estimate
from ._exit import UsageError
from ._gallery_cmd import gallery_after_batch
from ._generate_cmd import check_folder, warn_unknown_model
from ._inputs import FileSource, LineMap, StdinSource, detect_format, sniff_format, spool_stdin
from ._lines import BadLine, Defaults
from ._make_reporter import make_reporter
from ._variations import check_variation_args, repeated, template_defaults, variations

__all__ = ["cmd_batch"]

#: Bad lines listed one by one on stderr when ``--strict`` refuses a file.
_MAX_STRICT_LINES = 50


def cmd_batch(args: Any) -> int:
    """``batch INPUT -o OUT``: see the command's ``--help`` for formats and output."""
    reporter = make_reporter(args.progress, quiet=args.quiet)
    route_logs(reporter, args.verbose)
    check_variation_args(args)
    defaults = template_defaults(args, _defaults(args))
    shard = _shard(args.shard)
    out = _output(args.output)
    if args.fake or args.dry_run:
        warn_unknown_model(args.model, reporter)
    fmt = detect_format(args.input, args.format) if args.input is not None else "none"
    display = {"-": "<stdin>", None: "--template"}.get(args.input, args.input)
    run = BatchRun(source=(), lines=LineMap(), reporter=reporter, display=display, json=args.json)
    if args.dry_run:
        # Prices come from an earlier manifest in a local folder only.
        local = out / MANIFEST_NAME if isinstance(out, Path) else None
        run.estimate = Estimate.open(args.price_per_image, local)
    elif args.price_per_image is not None:
        raise UsageError("--price-per-image prices a --dry-run: add --dry-run")
    spooled: Path | None = None
    try:
        if args.input is None:
            run.source = variations(args, defaults)
        elif args.input == "-" and not (args.strict or fmt == "csv"):
            stream = StdinSource(sys.stdin.buffer, fmt, defaults, run.bad_line)
            run.source, run.lines = stream, stream.lines
        else:
            if args.input == "-":
                spooled = spool_stdin(sys.stdin.buffer)
                fmt = sniff_format(spooled) if fmt == "auto" else fmt
            path = spooled or Path(args.input).expanduser()
            source = _open_file(run, path, fmt, defaults, args.strict)
            run.source, run.lines = source, source.lines
        run.source, run.lines = repeated(run.source, run.lines, args.repeat)
        options = _batch_options(args, out) | {"shard": shard}
        with run.interrupt:
            code: int = anyio.run(_run_batch, run, args, options, backend="asyncio")
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
    if isinstance(out, Path):  # a gallery is a local page: none for object storage
        gallery_after_batch(out, reporter, args)
    return code


def _output(output: str) -> Path | str:
    """``-o``: a folder that can take files, or an object storage URL whose package is
    installed; checked before anything is read or sent."""
    if is_url(output):
        try:
            check_url(output)
        except ValidationError as exc:
            raise UsageError(f"-o {str(exc).removeprefix('out_dir: ')}") from None
        try:  # reachable, with the credentials found
            manifest_segments(*open_url(output))
        except OSError as exc:
            raise UsageError(f"-o {exc}") from None
        return output
    out = Path(output).expanduser()
    check_folder(out, f"-o {output}")
    return out


def _batch_options(args: Any, out: Path | str) -> dict[str, Any]:
    """The options of ``client.batch()`` the command line sets."""
    return {
        "concurrency": args.concurrency,
        "requests_per_minute": args.rpm,
        "out_dir": out,
        "ordered": args.ordered,
        "resume": args.resume,
        "fail_fast": args.fail_fast,
        "max_spend_usd": args.max_spend_usd,
        "max_credits": args.max_credits,
        "dry_run": args.dry_run,
    }


async def _run_batch(run: BatchRun, args: Any, options: dict[str, Any]) -> int:
    async with open_client(args, need_key=not args.dry_run) as client:
        return await run.run(client, "batch", **options)


def _shard(text: str | None) -> Shard | None:
    """The shard that ``--shard`` names: ``K/N``, or ``auto`` (from the environment)."""
    if text is None:
        return None
    try:
        return Shard.from_env() if text.strip() == "auto" else Shard.parse(text)
    except ValidationError as exc:
        why = str(exc).removeprefix("shard: ").removeprefix("auto: ")
        raise UsageError(f"--shard {text}: {why}") from None


def _defaults(args: Any) -> Defaults:
    defaults = Defaults(
        model=args.model,
        num_images=args.num_images,
        aspect_ratio=args.aspect_ratio,
        resolution=args.resolution,
    )
    try:  # a bad flag value is a usage error, not one bad line per input line
        ImageRequest(prompt="check", **defaults.options())
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    return defaults


def _open_file(run: BatchRun, path: Path, fmt: str, defaults: Defaults, strict: bool) -> FileSource:
    """The file's source, scanned: bad lines reported, or with ``strict`` refused."""
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
