"""Assertions shared by the adapter tests."""

from __future__ import annotations

import numpy as np

from otel_mlmon.adapters import Column, Table

__all__ = ["assert_categorical", "assert_numeric", "column"]


def column(table: Table, name: str) -> Column:
    """The column called ``name`` (fails when absent)."""
    matches = [c for c in table.columns if c.name == name]
    assert len(matches) == 1, f"{name!r} not exactly once in {table.names}"
    return matches[0]


def assert_numeric(col: Column, expected: list[float]) -> None:
    """The column is numeric float64 and equals ``expected`` (NaN == NaN)."""
    assert col.kind == "numeric", col
    assert col.values.dtype == np.float64
    assert col.values.ndim == 1
    np.testing.assert_array_equal(col.values, np.array(expected, dtype=np.float64))


def assert_categorical(col: Column, expected: list[str | None]) -> None:
    """The column is categorical, an object array of str/None equal to ``expected``."""
    assert col.kind == "categorical", col
    assert col.values.dtype == object
    assert col.values.ndim == 1
    assert all(v is None or type(v) is str for v in col.values), list(col.values)
    assert list(col.values) == expected
