"""The ``status`` command: every manifest of a batch's folder (``manifest.jsonl`` and one
per shard) merged into one summary, with a line per manifest.

A request is counted once, by its key (an input that was no request, by its index),
with its best outcome in any manifest: ``ok`` over ``failed`` over ``skipped``, and
the later line between two of a kind. So a request that failed and then succeeded on
a resume is ``ok``; identical requests count as one. Images and spend add up every
line, as every run made and paid for them. What is still to do is known only by shard:
a shard of ``N`` that has no manifest has not started.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from nanobanana._batch import manifest_paths, read_manifest

from ._common import print_json
from ._exit import EXIT_FAILED, EXIT_OK, UsageError

__all__ = ["Status", "cmd_status", "read_status"]

_RANK = {"ok": 3, "failed": 2, "skipped": 1}
_SHARD_FILE = re.compile(r"^manifest-(?P<index>\d+)-of-(?P<count>\d+)\.jsonl$")
#: Failed requests listed one by one in the text output (``--json`` has them all).
_MAX_FAILURES = 10


@attrs.define
class Tally:
    """Counts of requests by outcome, and what their lines made and cost."""

    requests: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    skipped_by_reason: Counter[str] = attrs.Factory(Counter)
    images: int = 0
    credits_used: float | None = None
    usd_spent: float | None = None

    def count_outcome(self, doc: dict[str, Any]) -> None:
        """Count one request by its (final) line."""
        self.requests += 1
        status = doc["status"]
        if status == "ok":
            self.ok += 1
        elif status == "failed":
            self.failed += 1
        else:
            self.skipped += 1
            self.skipped_by_reason[str(doc.get("skip_reason"))] += 1

    def add_line(self, doc: dict[str, Any]) -> None:
        """Add the images and spend of one line."""
        paths = doc.get("paths")
        if doc["status"] == "ok" and isinstance(paths, list):
            self.images += len(paths)
        usage = doc.get("usage")
        if isinstance(usage, dict):
            self.credits_used = _plus(self.credits_used, usage.get("credits_used"))
            self.usd_spent = _plus(self.usd_spent, usage.get("usd_spent"))

    def record(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "skipped_by_reason": dict(sorted(self.skipped_by_reason.items())),
            "images": self.images,
            "credits_used": self.credits_used,
            "usd_spent": round(self.usd_spent, 6) if self.usd_spent is not None else None,
        }


@attrs.define
class ManifestFile:
    """One manifest of the folder: its name, its shard, and the requests it has."""

    name: str
    shard: tuple[int, int] | None
    lines: int = 0
    tally: Tally = attrs.Factory(Tally)

    @property
    def shard_text(self) -> str:
        return "-" if self.shard is None else f"{self.shard[0]}/{self.shard[1]}"


@attrs.define
class Status:
    """What the manifests of ``out_dir`` tell, merged."""

    out_dir: Path
    files: list[ManifestFile]
    total: Tally
    #: The final lines of the requests that failed, with the manifest each is in.
    failures: list[tuple[str, dict[str, Any]]]
    #: For each split seen (``N`` of ``manifest-KK-of-NN.jsonl``): the shards with no
    #: manifest, which have not started.
    missing: dict[int, list[int]]

    @property
    def exit_code(self) -> int:
        """0 when every request is ok and every shard has a manifest; else 1."""
        unfinished = self.total.failed or self.total.skipped
        if unfinished or any(self.missing.values()):
            return EXIT_FAILED
        return EXIT_OK


def read_status(out_dir: Path) -> Status:
    """Read and merge every manifest of ``out_dir``; a usage error if there is none."""
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: no such folder")
    paths = manifest_paths(out_dir)
    if not paths:
        raise UsageError(
            f"{out_dir}: no manifest (manifest.jsonl or manifest-KK-of-NN.jsonl) in it"
        )
    files = [ManifestFile(path.name, _shard_of(path.name)) for path in paths]
    best: dict[str, tuple[int, dict[str, Any], ManifestFile]] = {}
    seen_in: list[set[str]] = []
    total = Tally()
    for path, file in zip(paths, files, strict=True):
        seen: set[str] = set()
        for doc in read_manifest(path, keyed=False):
            if doc.get("status") not in _RANK:
                continue  # not a line this package wrote
            file.lines += 1
            file.tally.add_line(doc)
            total.add_line(doc)
            identity = doc["key"] if isinstance(doc.get("key"), str) else f"#{doc.get('index')}"
            seen.add(identity)
            rank = _RANK[doc["status"]]
            if identity not in best or rank >= best[identity][0]:
                best[identity] = (rank, doc, file)
        seen_in.append(seen)
    for file, seen in zip(files, seen_in, strict=True):
        for identity in seen:
            file.tally.count_outcome(best[identity][1])
    failures = []
    for _, doc, file in best.values():
        total.count_outcome(doc)
        if doc["status"] == "failed":
            failures.append((file.name, doc))
    return Status(out_dir, files, total, failures, _missing_shards(files))


def cmd_status(args: Any) -> int:
    """``status OUT_DIR``: the merged summary on stdout (or ``--json``); its exit code."""
    status = read_status(Path(args.out_dir).expanduser())
    if args.json:
        print_json(status_record(status))
    else:
        print(status_text(status))
    return status.exit_code


def status_record(status: Status) -> dict[str, Any]:
    """The ``--json`` document of ``status``."""
    return {
        "type": "status",
        "out_dir": str(status.out_dir),
        **status.total.record(),
        "manifests": [
            {
                "name": f.name,
                "shard": None if f.shard is None else f.shard_text,
                "lines": f.lines,
                **f.tally.record(),
            }
            for f in status.files
        ],
        "missing_shards": [
            {"count": n, "missing": missing} for n, missing in status.missing.items()
        ],
        "failures": [
            {
                "manifest": name,
                "index": doc.get("index"),
                "key": doc.get("key"),
                "prompt": doc.get("prompt"),
                "error_type": doc.get("error_type"),
                "error": doc.get("error"),
            }
            for name, doc in status.failures
        ],
        "exit_code": status.exit_code,
    }


def status_text(status: Status) -> str:
    """The text report of ``status``: the totals, a line per manifest, the failures."""
    total = status.total
    rows = [
        ("Manifests", str(len(status.files))),
        ("Requests", str(total.requests)),
        ("OK", str(total.ok)),
        ("Failed", str(total.failed)),
    ]
    if total.skipped:
        why = ", ".join(f"{n} {r}" for r, n in sorted(total.skipped_by_reason.items()))
        rows.append(("Skipped", f"{total.skipped} ({why})"))
    rows.append(("Images", str(total.images)))
    spent = _spent(total)
    if spent:
        rows.append(("Spent", spent))
    rows += [("Shards", _shards_row(n, missing)) for n, missing in status.missing.items()]
    lines = [f"nanobanana status {status.out_dir}"]
    lines += [f"  {label:<13}  {value}" for label, value in rows]
    lines += ["", *_manifest_table(status.files)]
    if status.failures:
        shown = status.failures[:_MAX_FAILURES]
        lines += ["", f"Failed ({len(shown)} of {len(status.failures)} shown):"]
        lines += [f"  {_failure(name, doc)}" for name, doc in shown]
    return "\n".join(lines)


def _manifest_table(files: list[ManifestFile]) -> list[str]:
    width = max(len("manifest"), *(len(f.name) for f in files))
    head = f"  {'manifest':<{width}}  {'shard':>7}  {'ok':>6}  {'failed':>6}  {'skipped':>7}"
    lines = [head + f"  {'images':>6}  spent"]
    for f in files:
        t = f.tally
        lines.append(
            f"  {f.name:<{width}}  {f.shard_text:>7}  {t.ok:>6}  {t.failed:>6}  {t.skipped:>7}"
            f"  {t.images:>6}  {_spent(t) or '-'}"
        )
    return lines


def _shards_row(n: int, missing: list[int]) -> str:
    found = f"{n - len(missing)} of {n} have a manifest"
    if not missing:
        return found
    return f"{found}; not started: {', '.join(map(str, missing))} (their requests are pending)"


def _failure(name: str, doc: dict[str, Any]) -> str:
    prompt = doc.get("prompt")
    if not isinstance(prompt, str):
        shown = "-"
    else:
        shown = repr(prompt if len(prompt) <= 60 else prompt[:57] + "...")
    error = f"{doc.get('error_type') or 'error'}: {doc.get('error') or '?'}"
    return f"{name}: item {doc.get('index')} {shown}: {error}"


def _spent(t: Tally) -> str:
    parts = []
    if t.credits_used is not None:
        parts.append(f"{t.credits_used:,.0f} credits")
    if t.usd_spent is not None:
        parts.append(f"${t.usd_spent:,.4f}")
    return ", ".join(parts)


def _shard_of(name: str) -> tuple[int, int] | None:
    match = _SHARD_FILE.match(name)
    if match is None:
        return None
    index, total = int(match["index"]), int(match["count"])
    return (index, total) if 0 <= index < total else None


def _missing_shards(files: list[ManifestFile]) -> dict[int, list[int]]:
    present: dict[int, set[int]] = {}
    for f in files:
        if f.shard is not None:
            present.setdefault(f.shard[1], set()).add(f.shard[0])
    return {n: [k for k in range(n) if k not in ks] for n, ks in sorted(present.items())}


def _plus(total: float | None, value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (total or 0.0) + value
    return total
