"""The ``demo`` command: a dozen sample prompts through the real batch engine, offline.

The demo folder (``./nanobanana-demo`` unless ``-o``) gets the images, the manifest,
the sample prompts as ``prompts.jsonl`` (so the closing hint runs as printed) and a
``.gitignore`` of ``*`` (so it never shows up as untracked files in a git checkout).
A second run resumes: what is done is not made again.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import anyio

from nanobanana._client import AsyncClient
from nanobanana._models import ImageRequest

from ._batch_run import BatchRun
from ._common import client_settings, open_client, route_logs
from ._exit import EXIT_OK, UsageError
from ._gallery_cmd import gallery_after_batch
from ._inputs import LineMap
from ._make_reporter import make_reporter

__all__ = ["cmd_demo"]

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

#: The sample prompts, written into the demo folder for ``nanobanana batch``.
PROMPTS_NAME = "prompts.jsonl"


def cmd_demo(args: Any) -> int:
    """``demo``: a dozen sample prompts through the real batch engine, offline."""
    reporter = make_reporter(args.progress, quiet=args.quiet)
    route_logs(reporter, args.verbose)
    out = Path(args.output).expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {args.output}: exists and is not a folder")
    _prepare(out)
    requests = [ImageRequest(prompt=p, **o) for p, o in _DEMO]
    lines = LineMap()
    for i in range(len(requests)):
        lines.add(i + 1)
    run = BatchRun(source=requests, lines=lines, reporter=reporter, display="demo")
    with run.interrupt:
        code: int = anyio.run(_run_demo, run, args, out, backend="asyncio")
    gallery_after_batch(out, reporter, args)
    summary = run.summary
    if summary is not None and summary.images_written:
        print(f"{summary.images_written} images are in {out.resolve()}{os.sep}")
    elif summary is not None and summary.skipped_by_reason.get("done") == len(_DEMO):
        print(f"the images are in {out.resolve()}{os.sep} (made by an earlier run)")
        reporter.note("Every sample prompt was done already; -o NEW-FOLDER runs them afresh.")
    if code == EXIT_OK:
        prompts = shlex.quote(str(Path(args.output) / PROMPTS_NAME))
        reporter.note(
            f"Next: nanobanana batch {prompts} -o out/ --fake   (drop --fake and set "
            "AIML_API_KEY for real images)"
        )
    return code


def _prepare(out: Path) -> None:
    """The demo folder, ignored by git, with the sample prompts in it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".gitignore").write_text("# made by nanobanana demo\n*\n", encoding="utf-8")
        lines = [json.dumps({"prompt": p, **o}, ensure_ascii=False) + "\n" for p, o in _DEMO]
        (out / PROMPTS_NAME).write_text("".join(lines), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"-o {out}: {exc.strerror or exc}") from None


async def _run_demo(run: BatchRun, args: Any, out: Path) -> int:
    count = len(_DEMO)
    # A second run goes on from the first: done prompts are skipped, not made again.
    options: dict[str, Any] = {"concurrency": 4, "out_dir": out, "resume": True}
    if args.base_url:
        run.reporter.note(f"Running {count} sample prompts against {args.base_url}")
        async with open_client(args) as client:
            return await run.run(client, "demo", **options)
    from nanobanana.testing import FakeServer  # the demo's own server, in this process

    async with FakeServer(latency=0.4) as server:
        # One rate-limited response, to show the engine backing off and retrying.
        server.fail_next(1, status=429, retry_after=0.3)
        run.reporter.note(
            f"Started the bundled fake AI/ML API at {server.url} (offline, no key needed); "
            f"sending {count} sample prompts, 4 at a time, into {out}{os.sep} "
            f"(ignored by git)."
        )
        async with AsyncClient(
            api_key=server.api_key, base_url=server.url, **client_settings(args)
        ) as client:
            return await run.run(client, "demo", **options)
