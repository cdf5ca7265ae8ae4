"""The shape of the package, kept as the design says: small modules and functions,
no import cycles, no private names across modules, one export table.

Sizes are counted without docstrings (doctests live there, and they are welcome).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import nanobanana

PACKAGE = Path(nanobanana.__file__).parent
ROOT = PACKAGE.parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def docstring_lines(tree: ast.AST) -> set[int]:
    """The line numbers taken by docstrings anywhere in ``tree``."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                first = body[0]
                assert first.end_lineno is not None
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(path: Path, start: int = 1, end: int | None = None) -> int:
    """Non-blank lines of ``path`` from ``start`` to ``end``, docstrings aside."""
    text = path.read_text().splitlines()
    skip = docstring_lines(ast.parse("\n".join(text)))
    end = len(text) if end is None else end
    return sum(1 for n in range(start, end + 1) if n not in skip and text[n - 1].strip())


@pytest.mark.parametrize("path", modules(), ids=module_name)
def test_no_module_is_over_400_lines(path: Path) -> None:
    assert code_lines(path) <= MAX_MODULE_LINES


def functions(path: Path) -> Iterator[tuple[str, int, int]]:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            yield node.name, node.lineno, node.end_lineno


@pytest.mark.parametrize("path", modules(), ids=module_name)
def test_no_function_is_over_60_lines(path: Path) -> None:
    long = {
        f"{name} (line {start})": size
        for name, start, end in functions(path)
        if (size := code_lines(path, start, end)) > MAX_FUNCTION_LINES
    }
    assert long == {}


def imported_names(path: Path) -> Iterator[tuple[str, str]]:
    """``(module, name)`` for every ``from MODULE import NAME`` of the package."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source == "nanobanana" or source.startswith("nanobanana."):
                for alias in node.names:
                    yield source, alias.name


@pytest.mark.parametrize("path", modules(), ids=module_name)
def test_no_private_name_is_imported_from_another_module(path: Path) -> None:
    private = [
        f"{source}.{name}"
        for source, name in imported_names(path)
        if name.startswith("_") and not name.startswith("__")
    ]
    assert private == []


def import_graph() -> dict[str, set[str]]:
    import grimp

    graph = grimp.build_graph("nanobanana", exclude_type_checking_imports=True, cache_dir=None)
    return {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}


def test_there_are_no_import_cycles() -> None:
    graph = import_graph()
    # The package's own __init__ only re-exports (lazily); leave it out, as the
    # layers contract does.
    graph = {m: {t for t in ts if t != "nanobanana"} for m, ts in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []


# -- the export table ----------------------------------------------------------------


def type_checking_imports() -> dict[str, str]:
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names:
                    assert alias.asname == alias.name, "re-exported as itself"
                    found[alias.name] = "." + (stmt.module or "")
    return found


def documented_names() -> set[str]:
    names: set[str] = set()
    for page in (ROOT / "docs" / "reference").glob("*.md"):
        names.update(re.findall(r"^::: nanobanana\.(\w+)$", page.read_text(), re.MULTILINE))
    return names


def test_the_export_table_all_and_the_api_reference_agree() -> None:
    table: dict[str, str] = nanobanana._EXPORTS

    assert type_checking_imports() == table
    assert sorted(nanobanana.__all__) == sorted([*table, "__version__"])
    assert documented_names() - {"testing", "ray"} == set(table)
    for name in nanobanana.__all__:
        assert getattr(nanobanana, name) is not None
    assert dir(nanobanana) == sorted(nanobanana.__all__)
