"""The import graph of both packages: no cycle (lazy and TYPE_CHECKING imports included), one direction, small modules.

The graph is built from the source with ``ast``, so an import inside a function or under ``if TYPE_CHECKING:``
counts like any other: a cycle that only a lazy import keeps from failing at start-up is still a cycle.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import otel_mlmon_collector
import pytest

import otel_mlmon

PACKAGES = (otel_mlmon, otel_mlmon_collector)
#: Most lines a module may have (STYLE.md: "no module over ~600 lines").
MAX_LINES = 600


def modules() -> dict[str, Path]:
    """Every module of both packages (a package as its ``__init__.py``), by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        root = Path(package.__file__).parent
        found[package.__name__] = root / "__init__.py"
        for info in pkgutil.walk_packages([str(root)], prefix=f"{package.__name__}."):
            relative = Path(*info.name.split(".")[1:])
            path = root / relative / "__init__.py" if info.ispkg else (root / relative).with_suffix(".py")
            if path.exists():  # not a compiled extension (sketch/_flatkernel: C source, no Python imports)
                found[info.name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path], source: str | None = None) -> set[str]:
    """The modules of ``known`` that ``name`` imports anywhere in its source (``path``'s text unless given)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    text = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # ``from pkg import module`` imports the module itself
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in known else source)
    return {t for t in targets if t in known and t != name}


def graph() -> dict[str, set[str]]:
    """Module → the modules of both packages it imports."""
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_sees_subpackages_lazy_and_type_checking_imports() -> None:
    """The walk reaches nested modules of both packages, and in-function and TYPE_CHECKING imports are edges."""
    edges = graph()
    for name in ("otel_mlmon.sketch.exponential", "otel_mlmon.adapters", "otel_mlmon_collector.drift._psi"):
        assert name in edges, name
    source = """
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from .b import B
def f():
    from . import c
"""
    known = {"p": Path("p/__init__.py"), "p.a": Path("p/a.py"), "p.b": Path("p/b.py"), "p.c": Path("p/c.py")}
    assert imports("p.a", known["p.a"], known, source) == {"p.b", "p.c"}


def test_cycle_detection_finds_a_cycle() -> None:
    """The detector reports a cycle when there is one (a -> b -> c -> a), and none in a chain."""
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    """No chain of imports between modules of the SDK and the collector leads back to where it started."""
    found = cycle(graph())
    assert found is None, " -> ".join(found or [])


def test_the_sdk_never_imports_the_collector() -> None:
    """Imports go one way: the collector builds on the SDK's sketches and conventions, never the reverse."""
    wrong = {
        (name, target)
        for name, targets in graph().items()
        if name.split(".")[0] == "otel_mlmon"
        for target in targets
        if target.split(".")[0] == "otel_mlmon_collector"
    }
    assert not wrong, sorted(wrong)


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_size(name: str) -> None:
    """No module is over MAX_LINES lines: a longer one holds a second concept and should be split."""
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (at most {MAX_LINES})"
