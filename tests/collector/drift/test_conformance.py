"""A conformance suite every registered drift method passes, and the doctest examples of the drift package."""

from __future__ import annotations

import doctest
import importlib
import math
import pkgutil

import numpy as np
import otel_mlmon_collector.drift as drift_pkg
import pytest
from otel_mlmon_collector.drift import (
    METHODS,
    Binned,
    CategoricalCounts,
    DriftMethod,
    DriftResult,
    MissingCounts,
    NullMethod,
    VectorColumn,
    VocabularyColumn,
    build_method,
)

ALL = [(kind, name) for kind, names in METHODS.items() for name in names]


def _texts(rng: np.random.Generator, n: int, prefix: str) -> list[str]:
    words = np.array([f"{prefix}{i}" for i in range(300)])
    return [" ".join(rng.choice(words, 12)) for _ in range(n)]


def _same(kind: str, rng: np.random.Generator) -> tuple[object, object]:
    if kind == "vocabulary":
        return VocabularyColumn.from_texts(_texts(rng, 3000, "w")), VocabularyColumn.from_texts(
            _texts(rng, 500, "w")
        )
    if kind == "vector":
        return VectorColumn.from_values(rng.normal(size=(5000, 96))), VectorColumn.from_values(
            rng.normal(size=(1000, 96))
        )
    if kind == "numeric":
        return Binned.from_values(rng.normal(5, 1, 5000), rng.normal(5, 1, 5000)), None
    if kind == "categorical":
        return CategoricalCounts({"a": 2500, "b": 1500, "c": 1000}), CategoricalCounts(
            {"a": 500, "b": 300, "c": 200}
        )
    return MissingCounts(5000, missing=100), MissingCounts(5000, missing=100)


def _shifted(kind: str, rng: np.random.Generator) -> tuple[object, object]:
    if kind == "vocabulary":
        return VocabularyColumn.from_texts(_texts(rng, 3000, "w")), VocabularyColumn.from_texts(
            _texts(rng, 500, "v")
        )
    if kind == "vector":
        return VectorColumn.from_values(rng.normal(size=(5000, 96))), VectorColumn.from_values(
            rng.normal(1.0, 2.0, size=(1000, 96))
        )
    if kind == "numeric":
        return Binned.from_values(rng.normal(5, 1, 5000), rng.uniform(8, 12, 5000)), None
    if kind == "categorical":
        return CategoricalCounts({"a": 2500, "b": 1500, "c": 1000}), CategoricalCounts({"b": 100, "z": 900})
    return MissingCounts(5000, missing=100), MissingCounts(5000, missing=2500)


@pytest.mark.parametrize(("kind", "name"), ALL)
def test_every_method_follows_the_protocol_and_reports_its_sample_sizes(kind, name) -> None:
    """Each method is a DriftMethod with its name and kind, and its result carries n and a float score."""
    method = build_method(kind, name)
    assert isinstance(method, DriftMethod) and method.name == name and method.kind == kind
    rng = np.random.default_rng(0)
    result = method.compare(*_same(kind, rng))
    assert isinstance(result, DriftResult) and result.method == name
    assert result.n_reference > 0 and result.n_current > 0 and math.isfinite(result.score)
    assert result.threshold == method.threshold


@pytest.mark.parametrize(("kind", "name"), ALL)
def test_every_method_is_quiet_on_same_data_and_fires_on_gross_change(kind, name) -> None:
    """No method fires when both sides match; every method fires on a gross change of its kind of data."""
    rng = np.random.default_rng(1)
    method = build_method(kind, name)
    assert not method.compare(*_same(kind, rng)).detected
    assert method.compare(*_shifted(kind, rng)).detected


@pytest.mark.parametrize(("kind", "name"), ALL)
def test_every_method_rejects_negative_thresholds(kind, name) -> None:
    """A negative threshold is a ValueError at construction that names the parameter."""
    with pytest.raises(ValueError, match="threshold"):
        build_method(kind, name, threshold=-1.0)


@pytest.mark.parametrize("kind", ["numeric", "categorical", "missing", "vector"])
def test_null_method_never_fires(kind) -> None:
    """The null method reports score 0 and no drift, even on a gross change."""
    method = NullMethod(kind=kind)
    result = method.compare(*_shifted(kind, np.random.default_rng(2)))
    assert isinstance(method, DriftMethod) and result.score == 0.0 and not result.detected


MODULES = sorted(m.name for m in pkgutil.iter_modules(drift_pkg.__path__))


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module) -> None:
    """The seeded examples in each drift module's docstrings produce the output they show."""
    mod = importlib.import_module(f"otel_mlmon_collector.drift.{module}")
    failures, _ = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
    assert mod.__doc__ and hasattr(mod, "__all__")


def test_public_api_exports_every_promised_name() -> None:
    """Every name in the package's __all__ is importable from it."""
    for name in drift_pkg.__all__:
        assert hasattr(drift_pkg, name), name
