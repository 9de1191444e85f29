"""The ground_truth package's promised names, module conventions and docstring examples."""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest
from otel_mlmon_collector import ground_truth

MODULES = [
    "otel_mlmon_collector.ground_truth",
    "otel_mlmon_collector.ground_truth.records",
    "otel_mlmon_collector.ground_truth.store",
    "otel_mlmon_collector.ground_truth.metrics",
    "otel_mlmon_collector.ground_truth.windows",
    "otel_mlmon_collector.ground_truth.estimation",
    "otel_mlmon_collector.ground_truth.concept_drift",
    "otel_mlmon_collector.ground_truth.processor",
    "otel_mlmon_collector.ground_truth.detectors",
    "otel_mlmon_collector.ground_truth.detectors.base",
    "otel_mlmon_collector.ground_truth.detectors.adwin",
    "otel_mlmon_collector.ground_truth.detectors.page_hinkley",
    "otel_mlmon_collector.ground_truth.detectors.ddm",
]


def test_promised_names_import() -> None:
    """Every name the package promises imports from it, and __all__ is sorted (constants, classes, functions)."""
    promised = {
        "JoinStore",
        "GroundTruthProcessor",
        "PredictionRecord",
        "GroundTruthRecord",
        "JoinedRow",
        "parse_logs_request",
        "classification_metrics",
        "regression_metrics",
        "PerformanceWindows",
        "window_performance",
        "estimate_performance",
        "gap",
        "ConceptDriftMonitor",
        "ConceptDriftChange",
        "compare_with_reference",
        "ADWIN",
        "PageHinkley",
        "DDM",
    }
    assert promised <= set(ground_truth.__all__)
    kind = lambda name: (0 if name.isupper() else 1 if name[0].isupper() else 2, name)  # noqa: E731
    assert list(ground_truth.__all__) == sorted(ground_truth.__all__, key=kind)
    for name in ground_truth.__all__:
        assert getattr(ground_truth, name) is not None


@pytest.mark.parametrize("name", MODULES)
def test_module_conventions(name: str) -> None:
    """Each module has a docstring, an __all__ whose names exist, and public callables with docstrings."""
    module = importlib.import_module(name)
    assert module.__doc__ and module.__doc__.strip()
    for attr in module.__all__:
        obj = getattr(module, attr)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"{name}.{attr} has no docstring"


@pytest.mark.parametrize(
    "name", [m for m in MODULES if m.rsplit(".", 1)[-1] in {"store", "windows", "processor"}]
)
def test_doctests(name: str) -> None:
    """The examples in the store, windows and processor docstrings run as written."""
    result = doctest.testmod(importlib.import_module(name), raise_on_error=False)
    assert result.failed == 0 and result.attempted > 0
