"""Every name the drift engine modules promise in __all__ can be imported."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "otel_mlmon_collector.windows",
    "otel_mlmon_collector.references",
    "otel_mlmon_collector.drift_engine",
    "otel_mlmon_collector.drift_engine.config",
    "otel_mlmon_collector.drift_engine.records",
    "otel_mlmon_collector.drift_engine.sources",
    "otel_mlmon_collector.drift_engine.columns",
    "otel_mlmon_collector.drift_engine.encoding",
    "otel_mlmon_collector.drift_engine.processor",
    "otel_mlmon_collector.findings",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_import(name: str) -> None:
    """Each module's __all__ lists no duplicates and every listed name exists."""
    module = importlib.import_module(name)
    assert len(set(module.__all__)) == len(module.__all__)
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr}"
