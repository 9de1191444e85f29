"""Property tests: any mix of cell values reads to well-formed columns, the same in every container."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_mlmon.adapters import read_features
from otel_mlmon.adapters._convert import STRAY_SHARE

pd = pytest.importorskip("pandas")

_CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
_COLUMN = st.lists(_CELLS, min_size=1, max_size=20)
# Numbers with a few stray strings (and missing values): long enough for STRAY_SHARE to allow one.
_STRAYED = st.lists(
    st.one_of(st.floats(-1e6, 1e6), st.integers(-1000, 1000), st.none()), min_size=20, max_size=60
).flatmap(
    lambda numbers: st.lists(st.sampled_from(["n/a", "", "unknown"]), min_size=1, max_size=3).map(
        lambda strays: numbers[: len(numbers) // 2] + strays + numbers[len(numbers) // 2 :]
    )
)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _expected_kind(values: list) -> str:
    """The documented rule: numeric iff every non-missing value is a non-bool real number, or the values are such
    numbers and strings with at most STRAY_SHARE of them strings (counted as missing)."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if all(_is_number(v) for v in present):
        return "numeric"
    strays = sum(isinstance(v, str) for v in present)
    if (
        all(_is_number(v) or isinstance(v, str) for v in present)
        and strays < len(present)
        and strays <= STRAY_SHARE * len(present)
    ):
        return "numeric"
    return "categorical"


@settings(max_examples=40, deadline=None)
@given(st.lists(_COLUMN, min_size=1, max_size=4).filter(lambda cols: len({len(c) for c in cols}) == 1))
def test_any_cells_read_by_the_rule_identically_in_every_container(columns):
    """Random mixed cells follow the inference rule and read the same as records, columns and DataFrame."""
    names = [f"c{i}" for i in range(len(columns))]
    n = len(columns[0])
    by_name = dict(zip(names, columns))
    records = [{k: by_name[k][i] for k in names} for i in range(n)]
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in by_name.items()})
    tables = [read_features(records), read_features(by_name), read_features(frame)]
    for table in tables:
        assert table.n_rows == n
        assert table.names == tuple(names)
    for j, values in enumerate(columns):
        kind = _expected_kind(values)
        reference = tables[0].columns[j]
        assert reference.kind == kind
        if kind == "numeric":
            expected = np.array([np.nan if v is None or isinstance(v, str) else float(v) for v in values])
            np.testing.assert_array_equal(reference.values, expected)
        else:
            assert all(v is None or type(v) is str for v in reference.values)
            missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in values]
            assert [v is None for v in reference.values] == missing
        for other in tables[1:]:
            col = other.columns[j]
            assert col.kind == reference.kind
            if kind == "numeric":
                np.testing.assert_array_equal(col.values, reference.values)
            else:
                assert list(col.values) == list(reference.values)


@settings(max_examples=30, deadline=None)
@given(_STRAYED)
def test_numbers_with_stray_strings_read_by_the_share_rule_in_every_container(values):
    """A column of numbers with a few strings ("n/a") is numeric with the strings missing when they are at most
    STRAY_SHARE of its non-missing values (the rule profile build applies to CSV files), else categorical; the
    same as records, columns and DataFrame."""
    records = [{"x": v} for v in values]
    frame = pd.DataFrame({"x": pd.Series(values, dtype=object)})
    kind = _expected_kind(values)
    for table in (read_features(records), read_features({"x": values}), read_features(frame)):
        (col,) = table.columns
        assert col.kind == kind
        if kind == "numeric":
            expected = [np.nan if v is None or isinstance(v, str) else float(v) for v in values]
            np.testing.assert_array_equal(col.values, np.array(expected))


def test_stray_strings_in_a_numeric_column_count_as_missing_in_the_summaries():
    """Through the SDK: a batch of 40 values with 1.0, 2.5, "n/a", 3.1 ... summarises as a numeric column whose
    "n/a" values are missing; 30% strings stay categorical (profile build reads that as strings too)."""
    from otel_mlmon.summary import Summary

    values = [1.0, 2.5, "n/a", 3.1] + [float(i) for i in range(36)]
    summary = Summary()
    summary.add_features(read_features([{"x": v} for v in values]))
    column = summary.features["x"]
    assert column.kind == "numeric" and column.missing == 1 and column.count == 39
    mostly_strings = [{"y": "n/a" if i % 3 == 0 else float(i)} for i in range(40)]
    assert read_features(mostly_strings).columns[0].kind == "categorical"


def test_a_stray_string_in_a_one_row_call_counts_as_missing_in_a_numeric_column():
    """One-row calls of a numeric feature where some calls pass "n/a": those rows count as missing in the
    numeric column (count + missing = rows), not held back as a string column of their own."""
    from otel_mlmon._summarize import SummaryStream
    from otel_mlmon.summary import SummaryConfig

    stream = SummaryStream({"ml.model.name": "m"}, SummaryConfig(), max_rows=None)
    for i in range(50):
        stream.offer({"x": "n/a" if i % 10 == 3 else float(i), "y": 1.0}, None)
    summary = stream.swap()
    column = summary.features["x"]
    assert column.kind == "numeric" and column.count == 45 and column.missing == 5
