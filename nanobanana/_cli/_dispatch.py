"""Runs the command that the parsed arguments name: the top of the command line.

Imported by :func:`nanobanana._cli.main` only once a command runs, so that ``--help``
never loads the SDK.
"""

from __future__ import annotations

from typing import Any

from ._batch_cmd import cmd_batch
from ._common import signals_restored
from ._demo_cmd import cmd_demo
from ._gallery_cmd import cmd_gallery
from ._generate_cmd import cmd_generate
from ._inspect_cmd import cmd_inspect
from ._models_cmd import cmd_models
from ._status_cmd import cmd_status

__all__ = ["run"]


def run(args: Any, *, restore_signals: bool = True) -> int:
    """Run the command that ``args`` (from :func:`~nanobanana._cli._parser.build_parser`)
    names; return its exit code.

    Each command checks its arguments and inputs first, then runs its network part
    in one event loop (``anyio.run``, asyncio backend: aiohttp needs it). Ctrl-C and
    SIGTERM are handled while it runs (see :class:`~nanobanana._cli._common.Interrupt`);
    the handlers found are put back when it returns (with ``restore_signals``; the
    console script leaves a signalled command's handler in place until the process
    exits, so that a second signal always ends it at once).
    """
    if not restore_signals:
        return _run(args)
    with signals_restored():
        return _run(args)


def _run(args: Any) -> int:
    if args.command == "models":
        return cmd_models(args)
    if args.command == "batch":
        return cmd_batch(args)
    if args.command == "demo":
        return cmd_demo(args)
    if args.command == "status":
        return cmd_status(args)
    if args.command == "inspect":
        return cmd_inspect(args)
    if args.command == "gallery":
        return cmd_gallery(args)
    return cmd_generate(args)  # generate and edit
