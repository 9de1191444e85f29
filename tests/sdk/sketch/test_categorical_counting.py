"""The batch-counting routes (pandas codes and hash tables, bincount, Counter) give identical category counts."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_mlmon.sketch import _values
from otel_mlmon.sketch._values import count_values, scalar_key


def _reference(values: list) -> dict[str, int]:
    """The documented value->string rule applied one value at a time."""
    out: Counter = Counter()
    for value in values:
        key = scalar_key(value)
        if key is not None:
            out[key] += 1
    return dict(out)


def _without_pandas(monkeypatch: pytest.MonkeyPatch, values: object) -> dict[str, int]:
    monkeypatch.setattr(_values, "_pandas", lambda: None)
    try:
        return count_values(values)
    finally:
        monkeypatch.undo()


def test_pandas_categorical_columns_count_their_codes() -> None:
    """A pandas category column (Series, Categorical, CategoricalIndex) counts like its values, NaN left out."""
    rng = np.random.default_rng(1)
    raw = np.array(["red", "green", None, "blue"], dtype=object)[rng.integers(0, 4, 5000)]
    column = pd.Series(raw, dtype="category")
    expected = _reference(raw.tolist())
    assert count_values(column) == expected
    assert count_values(column.array) == expected
    assert count_values(pd.CategoricalIndex(raw)) == expected
    ints = pd.Series(pd.Categorical([1, 2, 2, 3], categories=[1, 2, 3, 4]))
    assert count_values(ints) == {"1": 1, "2": 2, "3": 1}


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.sampled_from(["a", "b", "é", ""]),
            st.integers(-3, 3),
            st.booleans(),
            st.floats(allow_nan=True, allow_infinity=True, width=32),
            st.none(),
        ),
        min_size=1,
        max_size=40,
    ),
    repeat=st.sampled_from([1, 120]),
)
def test_object_arrays_count_alike_with_and_without_pandas(values: list, repeat: int) -> None:
    """Mixed object arrays (True vs 1, 0.0 vs False, NaN, None) give the documented strings by every route."""
    array = np.array(
        values * repeat, dtype=object
    )  # 120 repeats push large batches onto the hash-table route
    expected = _reference(array.tolist())
    assert count_values(array) == expected
    assert count_values(array.tolist()) == expected
    assert count_values(pd.Series(array, dtype=object)) == expected
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _without_pandas(monkeypatch, array) == expected


@pytest.mark.parametrize(
    "array",
    [
        np.arange(-5, 5000, dtype=np.int64).repeat(2),
        np.array([0, 2**62, -(2**62), 7] * 1000, dtype=np.int64),  # too wide for bincount
        np.array([3, 2**63 + 5, 3] * 1000, dtype=np.uint64),
        np.array([1, 2, 3], dtype=np.int8),
        np.array([-128, 127, 0] * 1000, dtype=np.int8),
        np.array([2**64 - 1, 2**64 - 3] * 1000, dtype=np.uint64),
        np.array([-(2**63), -(2**63) + 2] * 1000, dtype=np.int64),
        np.array([1.0, 2.0, -0.0, np.nan, 2.5, 1e300, np.inf] * 500),
        np.array([1.0, 2.0, 2.0, 3.0] * 1000, dtype=np.float32),
    ],
)
def test_numeric_arrays_count_alike_by_every_route(array: np.ndarray) -> None:
    """Integer and float arrays count the same through bincount, hash tables and sorting, with or without pandas."""
    expected = _reference(array.tolist())
    assert count_values(array) == expected
    assert count_values(pd.Series(array)) == expected
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _without_pandas(monkeypatch, array) == expected


def test_pandas_extension_dtypes_count_their_values() -> None:
    """pandas str, nullable integer and boolean columns count their values; missing values are left out."""
    strings = pd.Series(["a", "b", None, "a"] * 1000, dtype="str")
    assert count_values(strings) == {"a": 2000, "b": 1000}
    nullable = pd.Series([1, None, 3, 3] * 1000, dtype="Int64")
    assert count_values(nullable) == {"1": 1000, "3": 2000}
    flags = pd.Series([True, None, False] * 1000, dtype="boolean")
    assert count_values(flags) == {"true": 1000, "false": 1000}
