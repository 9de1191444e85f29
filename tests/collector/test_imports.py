"""The collector's modules import on their own and form no import cycle, lazy and TYPE_CHECKING imports included."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import otel_mlmon_collector
import pytest

PACKAGE = otel_mlmon_collector.__name__


def _modules() -> dict[str, Path]:
    """Every module of the collector package (packages as their ``__init__.py``), by dotted name."""
    root = Path(otel_mlmon_collector.__file__).parent
    found = {PACKAGE: root / "__init__.py"}
    for info in pkgutil.walk_packages([str(root)], prefix=f"{PACKAGE}."):
        relative = Path(*info.name.split(".")[1:])
        path = root / relative / "__init__.py" if info.ispkg else (root / relative).with_suffix(".py")
        found[info.name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The collector modules ``name`` imports anywhere in its source: top level, in functions, under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
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
                targets.add(submodule if submodule in modules else source)
    return {t for t in targets if t in modules and t != name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_walk_finds_the_modules_it_should() -> None:
    """The module walk sees subpackages and their modules (else the cycle check would prove nothing)."""
    modules = _modules()
    for name in (
        "config",
        "config_reader",
        "pipeline",
        "drift_engine",
        "drift_engine.processor",
        "drift.select",
    ):
        assert f"{PACKAGE}.{name}" in modules
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert f"{PACKAGE}.drift_engine" in graph[f"{PACKAGE}.config"]  # a lazy import, inside a function
    assert f"{PACKAGE}.performance" in graph[f"{PACKAGE}.config"]  # a TYPE_CHECKING import


def test_no_import_cycle() -> None:
    """No chain of imports between collector modules leads back to where it started."""
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_cycle_detection_finds_a_cycle() -> None:
    """The detector reports a cycle when there is one (a -> b -> c -> a)."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(_modules()))
def test_every_module_imports(name: str) -> None:
    """Each collector module imports on its own."""
    importlib.import_module(name)
