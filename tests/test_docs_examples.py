"""Every Python example in docs/ runs against the fake API, as a reader would run it.

The examples read the API key and base URL from the environment, as the SDK does, so
the test points ``AIML_API_KEY`` and ``AIML_API_BASE`` at a :class:`FakeServer` and
runs each fenced ``python`` block in a fresh temporary directory. A marker in an HTML
comment on the line before a block (invisible on the site) changes what is done:

* no marker: the block is executed (as ``__main__``);
* ``<!-- docs-test: skip -->``: the block is only compiled (Ctrl-C, proxies,
  another library's code: things that cannot run offline here);
* ``<!-- docs-test: pytest -->``: the block is a test module; it is written to a file
  and run with pytest in a subprocess.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import attrs
import pytest

from nanobanana.testing import FakeServer

DOCS = Path(__file__).resolve().parent.parent / "docs"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
_MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<mode>[\w-]+)\s*-->")
_MODES = ("run", "skip", "pytest")


@attrs.frozen
class Snippet:
    page: str
    line: int
    mode: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _snippets(path: Path) -> list[Snippet]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Snippet] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence = match["indent"], match["fence"]
        language = match["info"].split()[0].strip("{}.") if match["info"].strip() else ""
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines):
            closing = lines[i].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if language not in ("python", "py"):
            continue
        mode = "run"
        previous = start - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        if previous >= 0:
            marker = _MARKER.search(lines[previous])
            if marker is not None:
                mode = marker["mode"]
        page = path.relative_to(DOCS).as_posix()
        found.append(Snippet(page, start + 1, mode, textwrap.dedent("\n".join(body)) + "\n"))
    return found


SNIPPETS = [s for page in sorted(DOCS.rglob("*.md")) for s in _snippets(page)]
# A pytest subprocess takes a few seconds.
_PARAMS = [
    pytest.param(s, id=s.id, marks=[pytest.mark.slow] if s.mode == "pytest" else [])
    for s in SNIPPETS
]


def test_the_docs_have_runnable_examples() -> None:
    assert sum(s.mode == "run" for s in SNIPPETS) >= 20
    unknown = [s.id for s in SNIPPETS if s.mode not in _MODES]
    assert not unknown, f"unknown docs-test markers at {unknown}"


@pytest.mark.parametrize("snippet", _PARAMS)
def test_docs_example(snippet: Snippet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Illustrative blocks may use ``await`` at top level, as if typed into ``python -m asyncio``.
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if snippet.mode == "skip" else 0
    code = compile(snippet.code, f"docs/{snippet.page}:{snippet.line}", "exec", flags=flags)
    if snippet.mode == "skip":
        return
    monkeypatch.chdir(tmp_path)
    if snippet.mode == "pytest":
        _run_as_test_module(snippet, tmp_path)
        return
    threads_before = set(threading.enumerate())
    with FakeServer() as server:
        monkeypatch.setenv("AIML_API_KEY", server.api_key or "test-key")
        monkeypatch.setenv("AIML_API_BASE", server.url)
        exec(code, {"__name__": "__main__"})
    # A Client left open keeps its loop thread alive, and the reader's process waits for
    # it at exit (daemon or not: concurrent.futures joins its threads). Worker threads
    # of a finished loop may take a moment to end, so give them time.
    deadline = time.monotonic() + 5
    started = set(threading.enumerate()) - threads_before
    for thread in started:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    leaked = [t for t in started if t.is_alive()]
    assert not leaked, f"the example left threads running: {leaked}"


def _run_as_test_module(snippet: Snippet, tmp_path: Path) -> None:
    stem = re.sub(r"\W", "_", f"test_{snippet.page.removesuffix('.md')}_{snippet.line}")
    (tmp_path / f"{stem}.py").write_text(snippet.code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIML_API", "AIMLAPI"))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "."],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_errors_page_shows_the_exception_tree_of_the_code() -> None:
    import nanobanana._errors

    doc = nanobanana._errors.__doc__ or ""
    tree = textwrap.dedent(doc.split("::", 1)[1].split("\n\n", 2)[1])
    assert tree.startswith("NanoBananaError")
    assert tree in (DOCS / "errors.md").read_text(encoding="utf-8")


def test_the_models_page_lists_every_model_of_the_catalog() -> None:
    import nanobanana as nb

    page = (DOCS / "models.md").read_text(encoding="utf-8")
    for info in nb.known_models():
        for model_id in (*info.ids, *([info.edit_model] if info.edit_model else [])):
            assert f"`{model_id}`" in page, model_id
    for name in nb.Model.__members__:
        assert f"`{name}`" in page, name
