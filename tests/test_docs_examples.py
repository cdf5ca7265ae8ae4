"""Every Python example in README.md and docs/ runs against the fake API, as a reader
would run it.

The examples read the API key and base URL from the environment, as the SDK does, so
the test points ``AIML_API_KEY`` and ``AIML_API_BASE`` at a :class:`FakeServer` and
runs each fenced ``python`` block in a fresh temporary directory. A marker in an HTML
comment on the line before a block (invisible on the site) changes what is done:

* no marker: the block is executed (as ``__main__``);
* ``<!-- docs-test: skip -->``: the block is only compiled (Ctrl-C, proxies,
  another library's code: things that cannot run offline here);
* ``<!-- docs-test: pytest -->``: the block is a test module; it is written to a file
  and run with pytest in a subprocess;
* ``<!-- docs-test: file NAME -->`` before a block of any language: the page shows the
  content of file ``NAME``, and its examples run with that file in their directory.
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

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
_MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<mode>[\w-]+)\s*-->")
_FILE_MARKER = re.compile(r"<!--\s*docs-test:\s*file\s+(?P<name>[\w.-]+)\s*-->")
_MODES = ("run", "skip", "pytest", "file")


@attrs.frozen
class Snippet:
    page: str
    line: int
    mode: str
    code: str
    #: The files the page shows (``docs-test: file``), written beside the example.
    files: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _page_name(path: Path) -> str:
    return path.relative_to(DOCS if path.is_relative_to(DOCS) else ROOT).as_posix()


def _marker_before(lines: list[str], start: int) -> str:
    """The marker comment on the last non-blank line before line ``start``, or ``""``."""
    previous = start - 1
    while previous >= 0 and not lines[previous].strip():
        previous -= 1
    return lines[previous] if previous >= 0 else ""


def _snippets(path: Path) -> list[Snippet]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Snippet] = []
    files: list[tuple[str, str]] = []
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
        before = _marker_before(lines, start)
        shown = _FILE_MARKER.search(before)
        if shown is not None:
            files.append((shown["name"], textwrap.dedent("\n".join(body)) + "\n"))
            continue
        if language not in ("python", "py"):
            continue
        marker = _MARKER.search(before)
        mode = "run" if marker is None else marker["mode"]
        code = textwrap.dedent("\n".join(body)) + "\n"
        found.append(Snippet(_page_name(path), start + 1, mode, code))
    # A file shown anywhere on the page is there for every example of the page.
    return [attrs.evolve(snippet, files=tuple(files)) for snippet in found]


PAGES = [README, *sorted(DOCS.rglob("*.md"))]
SNIPPETS = [s for page in PAGES for s in _snippets(page)]
# A pytest subprocess takes a few seconds.
_PARAMS = [
    pytest.param(s, id=s.id, marks=[pytest.mark.slow] if s.mode == "pytest" else [])
    for s in SNIPPETS
]


def test_the_docs_have_runnable_examples() -> None:
    assert sum(s.mode == "run" for s in SNIPPETS) >= 20
    unknown = [s.id for s in SNIPPETS if s.mode not in _MODES or s.mode == "file"]
    assert not unknown, f"unknown docs-test markers at {unknown}"


def test_the_readme_examples_all_run() -> None:
    """The README's examples are pasted as they are: none may be left out of the run."""
    readme = [s for s in SNIPPETS if s.page == "README.md"]
    assert len(readme) >= 3
    assert all(s.mode == "run" for s in readme), [s.id for s in readme if s.mode != "run"]


@pytest.mark.parametrize("snippet", _PARAMS)
def test_docs_example(snippet: Snippet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Illustrative blocks may use ``await`` at top level, as if typed into ``python -m asyncio``.
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if snippet.mode == "skip" else 0
    code = compile(snippet.code, f"{snippet.page}:{snippet.line}", "exec", flags=flags)
    if snippet.mode == "skip":
        return
    monkeypatch.chdir(tmp_path)
    for name, text in snippet.files:
        (tmp_path / name).write_text(text, encoding="utf-8")
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
