"""The summary's fast paths give what the slow ones gave: non-finite counts from a finite sum, column copies
without the dictionary round trip, the count lists of profile files checked in C."""

from __future__ import annotations

import enum

import numpy as np
import pytest

from otel_mlmon.sketch import CategoricalSketch, ExponentialHistogram
from otel_mlmon.sketch._fields import side_in
from otel_mlmon.sketch.columns import nonfinite, nonfinite_columns
from otel_mlmon.summary import ColumnSummary, Summary, SummaryConfig


def _slow(values: np.ndarray) -> tuple[int, int]:
    return int(np.isnan(values).sum()), int(np.isinf(values).sum())


_BIG = np.finfo(np.float64).max


@pytest.mark.parametrize(
    "values",
    [
        np.array([]),
        np.array([1.0, 2.0, 3.0]),
        np.array([1.0, np.nan, 3.0, np.nan]),
        np.array([np.inf, 1.0, -np.inf, -np.inf]),
        np.array([np.inf, -np.inf]),  # the sum is NaN
        np.array([np.nan, np.inf, 0.0]),
        np.array([_BIG, _BIG, -1.0]),  # finite values whose sum overflows
        np.array([-_BIG, -_BIG]),
        np.array([3e38, 3e38, np.nan], dtype=np.float32),
        np.arange(10, dtype=np.int64),
        np.array([np.nan]),
    ],
)
def test_nonfinite_counts_equal_counting_each(values: np.ndarray) -> None:
    assert nonfinite(values) == _slow(values)


def test_nonfinite_columns_equal_counting_each() -> None:
    rng = np.random.default_rng(1)
    clean = rng.normal(size=(1000, 6))
    assert nonfinite_columns(clean) == ([0] * 6, [0] * 6)
    dirty = clean.copy()
    dirty[rng.integers(0, 1000, 50), 1] = np.nan
    dirty[rng.integers(0, 1000, 7), 3] = np.inf
    dirty[:2, 4] = [np.inf, -np.inf]
    dirty[:2, 5] = [_BIG, _BIG]
    nan, inf = nonfinite_columns(dirty)
    assert nan == np.isnan(dirty).sum(axis=0).tolist()
    assert inf == np.isinf(dirty).sum(axis=0).tolist()
    assert nonfinite_columns(np.empty((0, 3))) == ([0] * 3, [0] * 3)


def test_column_summary_update_counts_missing_and_infinite() -> None:
    column = SummaryConfig().new_column("numeric")
    column.update(np.array([1.0, np.nan, np.inf, -np.inf, 2.0]))
    column.update(np.array([_BIG, _BIG]))
    column.update(np.array([]))
    assert (column.missing, column.infinite, column.count) == (1, 2, 4)


def _numeric_column() -> ColumnSummary:
    hist = ExponentialHistogram(max_size=20)
    hist.update(np.random.default_rng(2).lognormal(size=5000) * np.array([1.0, -1.0] * 2500))
    hist.update(np.zeros(3))
    return ColumnSummary("numeric", numeric=hist, missing=4, infinite=2)


def _categorical_columns() -> list[ColumnSummary]:
    rng = np.random.default_rng(3)
    levels = np.array([f"level-{i}" + "x" * (200 if i == 7 else 0) for i in range(40)], dtype=object)
    exact = CategoricalSketch(max_length=16)
    exact.update(levels[rng.integers(0, 40, 2000)])
    overflowed = CategoricalSketch(max_categories=8)  # slack and an error bound
    for _ in range(5):
        overflowed.update(levels[rng.zipf(1.3, 500) % 40])
    salted = CategoricalSketch(hash_salt="pepper")
    salted.update(["a", "b", "a", None, 3, 2.5, True])
    return [
        ColumnSummary("categorical", categorical=exact, missing=5),
        ColumnSummary("categorical", categorical=overflowed),
        ColumnSummary("categorical", categorical=salted, missing=1),
        ColumnSummary("categorical", categorical=CategoricalSketch()),
    ]


@pytest.mark.parametrize(
    "column",
    [_numeric_column(), ColumnSummary("numeric", numeric=ExponentialHistogram()), *_categorical_columns()],
)
def test_copy_equals_the_dictionary_round_trip(column: ColumnSummary) -> None:
    before = column.to_dict()
    slow = ColumnSummary.from_dict(column.to_dict())
    fast = column.copy()
    assert fast.to_dict() == slow.to_dict() == before
    if column.categorical is not None:
        assert fast.categorical == slow.categorical
        assert list(fast.categorical._counts) == list(slow.categorical._counts)  # same order: top()
        assert fast.categorical._slack == slow.categorical._slack
        assert fast.categorical._salt_key is None and slow.categorical._salt_key is None
        fast.categorical.merge(column.categorical)  # independent of the original
    else:
        assert fast.numeric == slow.numeric
        fast.numeric.update(np.array([1e9, -1e9, 0.5]))
    fast.missing += 1
    assert column.to_dict() == before


def test_merge_into_an_empty_summary_copies_as_before() -> None:
    config = SummaryConfig()
    source = Summary(config)
    source.features = {"n": _numeric_column(), **{f"c{i}": c for i, c in enumerate(_categorical_columns())}}
    source.rows = 5000
    merged = Summary(config)
    merged.merge(source)
    expected = {name: ColumnSummary.from_dict(c.to_dict()).to_dict() for name, c in source.features.items()}
    assert {name: c.to_dict() for name, c in merged.features.items()} == expected
    assert all(merged.features[name] is not source.features[name] for name in source.features)
    again = Summary(config)
    again.merge(merged)
    again.merge(source)  # merging into copies leaves the sources alone
    assert {name: c.to_dict() for name, c in merged.features.items()} == expected


class _Small(enum.IntEnum):
    ONE = 1


def test_count_lists_keep_their_rule() -> None:
    assert side_in({"positive": {"offset": 2, "counts": [1, 5, 1]}}, "positive", 160)[0] == 2
    assert side_in({"positive": {"offset": 0, "counts": [_Small.ONE]}}, "positive", 160)[1].tolist() == [1]
    for bad in ([1, True], [1.0], ["1"], [1, None]):
        with pytest.raises(ValueError, match="list of integers"):
            side_in({"positive": {"offset": 0, "counts": bad}}, "positive", 160)
