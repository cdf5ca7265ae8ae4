"""The command line's exit codes, and the error that ends a command with a usage message.

The bottom of the CLI: every other module of it may import this one, and this one
imports nothing.

Exit codes:
    0: everything asked for succeeded.
    1: some items (or the one request) failed, or the batch stopped early.
    2: a usage error: an unknown flag, an invalid option value, an unreadable input
       file, a missing API key. One line on stderr, never a traceback.
    130: interrupted by Ctrl-C (the batch manifest is flushed and closed first).
    143: stopped by SIGTERM, which is handled as Ctrl-C is.
"""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "PROG", "UsageError"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: The command's name, as users type it.
PROG = "nanobanana"


class UsageError(Exception):
    """A mistake in how the command was called: reported in one line, exit code 2."""
