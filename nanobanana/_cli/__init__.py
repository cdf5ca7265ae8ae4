"""The ``nanobanana`` command line: :func:`main`, the console script's entry point.

The modules of the command line import one another in one direction only, from the
bottom up:

* :mod:`._exit`: the exit codes and :class:`UsageError`;
* :mod:`._parser`: the arguments (the standard library only, so that ``nanobanana
  --help`` prints at once);
* :mod:`._text`, :mod:`._records`: what is shown on stderr, and the ``--json`` records;
* :mod:`._reporter` (the interface), :mod:`._plain` and :mod:`._rich` (the two kinds),
  :mod:`._make_reporter` (which one a command gets);
* :mod:`._common`: what every command shares (the client, Ctrl-C, logging, JSON out);
* :mod:`._lines`, :mod:`._inputs`: batch input files and stdin;
* the commands: :mod:`._generate_cmd` (generate, edit), :mod:`._models_cmd`,
  :mod:`._batch_run` with :mod:`._batch_cmd` and :mod:`._demo_cmd`, :mod:`._status_cmd`,
  :mod:`._inspect_cmd`, :mod:`._gallery_cmd`;
* :mod:`._dispatch`: runs the command the arguments name.

This module imports the parser only; the commands (and with them aiohttp, rich and
the client) are imported from :mod:`._dispatch` once a command runs.

The exit codes are listed in :mod:`._exit`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._exit import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PROG, UsageError
from ._parser import build_parser

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "console",
    "main",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (see the module docstring).

    For callers in the same process (a test, a notebook): the SIGINT and SIGTERM
    handlers a command installs are put back when it returns.
    """
    return _main(argv, restore_signals=True)


def console() -> NoReturn:
    """The ``nanobanana`` console script and ``python -m nanobanana``: :func:`main`, then exit.

    After a Ctrl-C (or SIGTERM) the command's handler stays in place until the process
    has gone, so that a second one ends the program at once even while the interpreter
    shuts down: Python waits there for every thread to finish, and its own handler
    cannot interrupt that wait.
    """
    sys.exit(_main(None, restore_signals=False))


def _main(argv: Sequence[str] | None, *, restore_signals: bool) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: a command is required (see {PROG} --help)", file=sys.stderr)
        return EXIT_USAGE
    # Commands route the SDK's log records to the terminal; an in-process caller (a
    # test, a notebook) gets its logger back as it was.
    logger = logging.getLogger("nanobanana")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        from ._dispatch import run  # here, not above: it loads the SDK and aiohttp

        return run(args, restore_signals=restore_signals)
    except UsageError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, as Unix tools do.
        _silence_stdout()
        return EXIT_FAILED
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])  # through setLevel: it clears the level cache
        logger.propagate = saved[2]


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
