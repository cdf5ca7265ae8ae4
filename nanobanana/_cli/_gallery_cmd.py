"""The ``gallery`` command, and the gallery that ``batch`` and ``demo`` write at their
end (unless ``--no-gallery``): ``OUT/index.html``, see :func:`nanobanana.write_gallery`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from nanobanana._batch import manifest_paths
from nanobanana._gallery import GALLERY_NAME, write_gallery

from ._exit import EXIT_FAILED, EXIT_OK, PROG, UsageError
from ._reporter import Reporter

__all__ = ["cmd_gallery", "gallery_after_batch"]


def cmd_gallery(args: Any) -> int:
    """``gallery OUT``: write ``OUT/index.html``; print its path."""
    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        raise UsageError(f"{args.folder}: no such folder")
    try:
        page = write_gallery(folder)
    except FileNotFoundError:
        raise UsageError(
            f"{args.folder}: no manifest.jsonl here; give the folder a batch wrote "
            "(nanobanana batch ... -o OUT)"
        ) from None
    except OSError as exc:
        target = folder / GALLERY_NAME
        print(f"{PROG} gallery: error: cannot write {target}: {_why(exc)}", file=sys.stderr)
        return EXIT_FAILED
    print(page)
    return EXIT_OK


def gallery_after_batch(out: Path, reporter: Reporter, args: Any) -> Path | None:
    """The gallery of the batch just run, written into ``out``; ``None`` when it is
    turned off, when there is nothing to show, or when it could not be written (a
    warning, which does not change the exit code: the batch's work is done).
    """
    if getattr(args, "no_gallery", False) or getattr(args, "dry_run", False):
        return None
    if not manifest_paths(out):
        return None
    try:
        page = write_gallery(out)
    except OSError as exc:
        reporter.log(f"warning: the gallery could not be written: {_why(exc)}")
        return None
    reporter.note(f"Gallery: {page} (open it in a browser)")
    return page


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
