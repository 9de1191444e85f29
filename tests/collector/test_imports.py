"""Each of the collector's modules imports on its own (tests/test_module_graph.py checks the import graph)."""

from __future__ import annotations

import importlib
import pkgutil

import otel_mlmon_collector
import pytest

MODULES = sorted(
    [
        otel_mlmon_collector.__name__,
        *(
            m.name
            for m in pkgutil.walk_packages(otel_mlmon_collector.__path__, f"{otel_mlmon_collector.__name__}.")
        ),
    ]
)


def test_the_walk_finds_nested_modules() -> None:
    """The walk reaches subpackages' modules (else the import test would prove little)."""
    assert "otel_mlmon_collector.drift._psi" in MODULES
    assert len(MODULES) > 40


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports(name: str) -> None:
    """Each collector module imports on its own."""
    importlib.import_module(name)
