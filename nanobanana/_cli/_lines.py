"""One line of batch input made into a request: the rules are the SDK's own.

The command line reads files of prompts with the very rules of
:func:`nanobanana.read_prompts` (:mod:`nanobanana._prompt_files`), so that a file gives
the same requests to ``nanobanana batch`` and to ``client.batch(nb.read_prompts(...))``.
This module names the parts the command line uses; reading files and streams is
:mod:`nanobanana._cli._inputs`' part.
"""

from __future__ import annotations

from nanobanana._prompt_files import (
    IMAGE_SEPARATOR,
    OPTION_KEYS,
    BadLine,
    Defaults,
    LineError,
    OnBad,
    build_request,
    csv_entries,
    parse_text_line,
)

__all__ = [
    "IMAGE_SEPARATOR",
    "OPTION_KEYS",
    "BadLine",
    "Defaults",
    "LineError",
    "OnBad",
    "build_request",
    "csv_entries",
    "parse_text_line",
]
