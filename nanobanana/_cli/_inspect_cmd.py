"""The ``inspect`` command: the generation record of each image, as text or ``--json``.

The record is read from inside the file, else from its ``NAME.json`` sidecar. A file
without a record, or one that cannot be read, is said on stderr (and in its JSON
line) and makes the exit code 1; the other files are still shown.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from nanobanana._provenance import GenerationRecord, read_record, record_json

from ._common import print_json
from ._exit import EXIT_FAILED, EXIT_OK, PROG

__all__ = ["cmd_inspect", "record_lines"]


def cmd_inspect(args: Any) -> int:
    """``inspect IMAGE...``: print each image's record; 1 if any has none."""
    code = EXIT_OK
    for number, name in enumerate(args.images):
        path = Path(name)
        try:
            record, source = read_record(path)
            problem = None if record is not None else "no generation record"
        except OSError as exc:
            record, source, problem = None, None, f"cannot read it: {exc.strerror or exc}"
        if problem is not None:
            code = EXIT_FAILED
            print(f"{PROG} inspect: {path}: {problem}", file=sys.stderr)
        if args.json:
            print_json(_json_line(path, record, source, problem))
        elif record is not None:
            if number:
                print()
            print("\n".join(record_lines(path, record, source)))
    return code


def _json_line(
    path: Path, record: GenerationRecord | None, source: Path | None, problem: str | None
) -> dict[str, Any]:
    return {
        "path": str(path),
        "source": str(source) if source is not None else None,
        "record": json.loads(record_json(record)) if record is not None else None,
        "error": problem,
    }


def record_lines(path: Path, record: GenerationRecord, source: Path | None) -> list[str]:
    """The lines ``inspect`` prints for one image."""
    usage = record.usage
    cost = [
        f"${usage.usd_spent:g}" if usage.usd_spent is not None else "",
        f"{usage.credits_used:g} credits" if usage.credits_used is not None else "",
    ]
    params = ", ".join(f"{k}={_value(v)}" for k, v in record.parameters.items())
    prompt = record.prompt.replace("\n", "\n" + " " * 16)
    lines = [
        str(path),
        f"  prompt        {prompt}",
        f"  model         {record.model}",
        f"  parameters    {params or '-'}",
        f"  request id    {record.request_id or '-'}",
        f"  usage         {', '.join(c for c in cost if c) or '-'}",
    ]
    lines += [f"  input image   {digest}" for digest in record.input_images]
    created = record.created.isoformat().replace("+00:00", "Z")
    lines.append(f"  created       {created} by nanobanana {record.sdk_version}")
    if source is not None and source != path:
        lines.append(f"  read from     {source}")
    return lines


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
