"""Writing files so that a reader never sees half of one.

The batch's ``.part`` files come from here: a killed process leaves at most a
temporary file beside the target, never a truncated image under the real name.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(target: Path, data: bytes, tag: str = "") -> None:
    """Write ``data`` to ``target`` through a temporary file and a rename.

    The file gets the usual permissions (0666 less the umask), as ``open()`` would give
    it; ``tempfile.mkstemp`` would leave it readable by its owner only.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> target = Path(tempfile.mkdtemp()) / "kite.png"
        >>> atomic_write(target, b"\\x89PNG\\r\\n\\x1a\\n")
        >>> target.read_bytes()[:4], sorted(p.name for p in target.parent.iterdir())
        (b'\\x89PNG', ['kite.png'])
    """
    # ``tag`` marks whose temporary file it is (a shard's), for cleaning up after a kill.
    mark = f"{tag}-" if tag else ""
    tmp = target.parent / f".{target.name}.{mark}{secrets.token_hex(6)}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
