"""Telemetry names come from otel_mlmon/conventions.py: no ``ml.*`` / ``gen_ai.*`` / ``otel_mlmon.*`` literal elsewhere.

The check walks the source with ``ast`` and looks at string constants only (docstrings and comments may name the
conventions freely). Its scope, ``CLEANED``, is every module of the SDK, of the collector and of the collector's
deployment generators; ``bench/`` and ``examples/`` are left out on purpose, since they play the user who spells
the names by hand.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import otel_mlmon
from otel_mlmon import conventions as conv

REPO = Path(otel_mlmon.__file__).resolve().parents[1]
DOCS = REPO / "docs" / "semantic-conventions.md"
#: Prefixes of telemetry names that belong in conventions.py.
PREFIXES = ("ml.", "gen_ai.")
#: The project's own prefix: a dotted lower-case literal under it is a telemetry name unless it names a module.
OWN_PREFIX = "otel_mlmon."
#: Globs (relative to the repository) of the modules that must spell no telemetry name themselves.
CLEANED = [
    "otel_mlmon/**/*.py",
    "collector/otel_mlmon_collector/**/*.py",
    "collector/deploy/**/*.py",
]
#: The one module allowed to spell them.
CONVENTIONS = REPO / "otel_mlmon" / "conventions.py"


def cleaned_modules() -> list[Path]:
    """The source files in scope, each glob required to match something (a rename must not empty the scope)."""
    files: set[Path] = set()
    for pattern in CLEANED:
        matched = sorted(REPO.glob(pattern))
        assert matched, f"{pattern} matches no module"
        files.update(matched)
    files.discard(CONVENTIONS)
    return sorted(files)


def _is_module_name(text: str) -> bool:
    """Whether ``text`` names a module or package of the repository (a logger name, an import path)."""
    path = REPO.joinpath(*text.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _is_telemetry_name(text: str) -> bool:
    """Whether a string constant looks like a telemetry name that conventions.py should spell."""
    if text.startswith(PREFIXES):
        return True
    return (
        text.startswith(OWN_PREFIX)
        and re.fullmatch(r"[a-z0-9_.]+", text) is not None
        and not _is_module_name(text)
    )


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
            and _is_telemetry_name(node.value)
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
    return {"ml.model.name": x, "other": f"gen_ai.{x}", "ok": "model.ml.", "mod": "otel_mlmon.cli"}
log("otel_mlmon.sdk.faults", "otel_mlmon.configure() failed")
'''
    assert sorted(telemetry_literals(source)) == [
        (6, "gen_ai."),
        (6, "ml.model.name"),
        (7, "otel_mlmon.sdk.faults"),
    ]


def test_the_scope_is_the_whole_tree() -> None:
    """Both packages and the deployment generators are in scope, subpackages included, conventions.py excluded."""
    scope = {path.relative_to(REPO).as_posix() for path in cleaned_modules()}
    for expected in (
        "otel_mlmon/cli.py",
        "otel_mlmon/sketch/exponential.py",
        "collector/otel_mlmon_collector/_demo_view.py",
        "collector/otel_mlmon_collector/drift/_psi.py",
        "collector/deploy/dashboards/drift.py",
    ):
        assert any(name.endswith(expected.rpartition("/")[2]) for name in scope), expected
    assert "otel_mlmon/conventions.py" not in scope


@pytest.mark.parametrize("path", cleaned_modules(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_telemetry_name_literals(path: Path) -> None:
    """The module takes every telemetry name from otel_mlmon.conventions instead of spelling it."""
    found = [
        f"{path.relative_to(REPO)}:{line}: {text!r}" for line, text in telemetry_literals(path.read_text())
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
