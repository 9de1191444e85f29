"""Telemetry names come from otel_mlmon/conventions.py: no ``ml.*`` / ``gen_ai.*`` string literal in the collector.

The check walks the collector package's source with ``ast`` and looks at string constants only (docstrings and
comments may name the conventions freely). Its scope is the modules already cleaned, ``CLEANED``; extend that
list as more modules move their names into ``conventions.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import otel_mlmon_collector
import pytest

from otel_mlmon import conventions as conv

PACKAGE = Path(otel_mlmon_collector.__file__).parent
DOCS = Path(__file__).resolve().parents[2] / "docs" / "semantic-conventions.md"
#: Prefixes of telemetry names that belong in conventions.py.
PREFIXES = ("ml.", "gen_ai.")
#: Globs (relative to the collector package) of the modules that must spell no telemetry name themselves.
CLEANED = [
    "ground_truth/**/*.py",
    "performance.py",
]


def cleaned_modules() -> list[Path]:
    """The source files in scope, each glob required to match something (a rename must not empty the scope)."""
    files: set[Path] = set()
    for pattern in CLEANED:
        matched = sorted(PACKAGE.glob(pattern))
        assert matched, f"{pattern} matches no module of {PACKAGE.name}"
        files.update(matched)
    return sorted(files)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the constant nodes that are module, class or function docstrings."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def telemetry_literals(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every string constant outside docstrings that starts like a telemetry name."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and node.value.startswith(PREFIXES)
        ):
            yield node.lineno, node.value


def conventions_used(source: str) -> set[str]:
    """Names of the ``conv.X`` constants a module reads (``from otel_mlmon import conventions as conv``)."""
    return {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "conv"
    }


def test_the_checker_sees_literals_but_not_docstrings_or_comments() -> None:
    """A name spelled in code is reported, in a dict key or an f-string; docstrings and comments are not."""
    source = '''
"""Module about ml.model.name."""
def f(x):
    """Emits ml.performance.accuracy."""
    # ml.window.start is read here
    return {"ml.model.name": x, "other": f"gen_ai.{x}", "ok": "model.ml."}
'''
    assert sorted(telemetry_literals(source)) == [(6, "gen_ai."), (6, "ml.model.name")]


@pytest.mark.parametrize("path", cleaned_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_telemetry_name_literals(path: Path) -> None:
    """The module takes every ml.* / gen_ai.* name from otel_mlmon.conventions instead of spelling it."""
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {text!r}" for line, text in telemetry_literals(path.read_text())
    ]
    assert not found, "use a constant of otel_mlmon/conventions.py for:\n" + "\n".join(found)


def test_names_used_are_documented() -> None:
    """Every conventions constant the cleaned modules emit or read is listed in docs/semantic-conventions.md."""
    docs = DOCS.read_text()
    used = set().union(*(conventions_used(path.read_text()) for path in cleaned_modules()))
    assert used, "the cleaned modules read no conventions constant: is the scope right?"
    for name in sorted(used):
        assert name in conv.__all__, f"conv.{name} is not in otel_mlmon.conventions.__all__"
        value = getattr(conv, name)
        if isinstance(value, str) and value.startswith((*PREFIXES, "otel_mlmon.")):
            # A prefix (``ml.performance.``) is documented by any name it starts; a name by itself, in backticks.
            spelled = f"`{value}" if value.endswith(".") else f"`{value}`"
            assert spelled in docs, f"conv.{name} = {value!r} is missing from {DOCS.name}"
