"""A Griffe extension for the API reference: reST markup in docstrings, as Markdown.

The package's docstrings are Google style, with a few reStructuredText habits in
them: ``:class:`AsyncClient``` roles and ``text::`` before a literal block. Python's
``help()`` shows them fine; Markdown would show them verbatim. This extension rewrites
them while the docs are built (the source files are not touched):

* a role whose target is a documented public object becomes a cross-reference,
  ``[`AsyncClient`][nanobanana.AsyncClient]``; any other role becomes plain code, so
  a role can never produce a broken link (and ``mkdocs build --strict`` stays green);
* ``::`` at the end of a line becomes ``:``, and a line holding only ``::`` goes (the
  indented block below it is already a Markdown code block);
* an attribute without a docstring takes the ``#:`` comment lines right above it
  (Sphinx's convention, used for the package's constants) as its docstring.

Loaded by ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|attr|data|mod|exc|obj|const):"
    r"`(?P<tilde>~?)(?P<target>[\w.]+)(?P<call>\(\))?`"
)
_LITERAL_BLOCK = re.compile(r"(?<=\S)::$", re.MULTILINE)
_LONE_LITERAL_MARK = re.compile(r"^[ \t]*::[ \t]*\n", re.MULTILINE)

# Public namespaces whose ``__all__`` names are rendered in docs/reference/.
_NAMESPACES = ("nanobanana.testing", "nanobanana")
_NOT_RENDERED = {"__version__"}


class RstRoles(griffe.Extension):
    """Turn reST roles into cross-references or code, and ``::`` into ``:``."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Griffe 2 calls this once the package is loaded."""
        self._rewrite_package(pkg)

    def on_package_loaded(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Griffe 1 calls this instead (the rewrite is idempotent if both are called)."""
        self._rewrite_package(pkg)

    def _rewrite_package(self, pkg: griffe.Module) -> None:
        if pkg.path != "nanobanana":
            return
        self._public: dict[str, griffe.Object | griffe.Alias] = {}
        self._linkable: set[str] = {"nanobanana"}
        for obj in _walk(pkg):
            if obj.is_attribute and obj.docstring is None:
                comment = _comment_docstring(obj)
                if comment:
                    obj.docstring = griffe.Docstring(comment, parent=obj)
        self._collect(pkg)
        for obj in _walk(pkg):
            if obj.docstring is not None and obj.docstring.value:
                obj.docstring.value = self._rewrite(obj.docstring.value, obj)

    # -- what can be linked ---------------------------------------------------------

    def _collect(self, pkg: griffe.Module) -> None:
        for namespace in _NAMESPACES:
            module = pkg if namespace == "nanobanana" else pkg[namespace.split(".", 1)[1]]
            self._linkable.add(namespace)
            names = _all_names(module)
            for name in names:
                if name in _NOT_RENDERED or name not in module.members:
                    continue
                path = f"{namespace}.{name}"
                try:
                    target = module.members[name]
                    if isinstance(target, griffe.Alias):
                        target = target.final_target
                except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                    continue
                self._public.setdefault(path, target)
                self._linkable.add(path)
                if target.is_class:
                    for member_name, member in _members(target):
                        if member_name.startswith("_"):
                            continue
                        if member.docstring is not None and member.docstring.value.strip():
                            self._linkable.add(f"{path}.{member_name}")

    def _public_path_of(self, obj: griffe.Object | griffe.Alias) -> str | None:
        for path, target in self._public.items():
            if target is obj or target.path == obj.path:
                return path
        return None

    # -- rewriting ------------------------------------------------------------------

    def _rewrite(self, text: str, context: griffe.Object | griffe.Alias) -> str:
        def replace(match: re.Match[str]) -> str:
            target = match["target"]
            shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
            if match["call"] or match["role"] in ("meth", "func"):
                shown += "()"
            path = self._resolve(target, context)
            if path is None:
                return f"`{shown}`"
            return f"[`{shown}`][{path}]"

        text = _ROLE.sub(replace, text)
        return _LITERAL_BLOCK.sub(":", _LONE_LITERAL_MARK.sub("", text))

    def _resolve(self, target: str, context: griffe.Object | griffe.Alias) -> str | None:
        candidates = []
        if target.startswith("nanobanana"):
            candidates.append(target)
        else:
            for namespace in _NAMESPACES:
                candidates.append(f"{namespace}.{target}")
            owner = context if context.is_class else context.parent
            while owner is not None and not owner.is_class and not owner.is_module:
                owner = owner.parent
            if owner is not None and owner.is_class:
                public = self._public_path_of(owner)
                if public is not None:
                    candidates.insert(0, f"{public}.{target}")
        for candidate in candidates:
            if candidate in self._linkable:
                return candidate
        return None


def _comment_docstring(obj: griffe.Object) -> str:
    """The ``#:`` lines right above ``obj``'s definition, without the markers."""
    if obj.lineno is None or obj.filepath is None:
        return ""
    try:
        lines = obj.lines_collection[obj.filepath]  # type: ignore[index]
    except KeyError:
        return ""
    found: list[str] = []
    index = obj.lineno - 2  # lineno counts from 1; start on the line above
    while index >= 0 and lines[index].strip().startswith("#:"):
        found.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return "\n".join(found)


def _all_names(module: griffe.Module) -> list[str]:
    exports = module.exports
    if exports is None:
        return [name for name in module.members if not name.startswith("_")]
    return [str(name) for name in exports]


def _members(cls: Any) -> list[tuple[str, Any]]:
    try:
        return list(cls.all_members.items())
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return list(cls.members.items())


def _walk(obj: griffe.Object) -> Any:
    yield obj
    for member in obj.members.values():
        if isinstance(member, griffe.Alias):
            continue
        yield from _walk(member)
