"""Property tests: any mix of cell values reads to well-formed columns, the same in every container."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_mlmon.adapters import read_features

pd = pytest.importorskip("pandas")

_CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
_COLUMN = st.lists(_CELLS, min_size=1, max_size=20)


def _expected_kind(values: list) -> str:
    """The documented rule: numeric iff every non-missing value is a non-bool real number."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
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
            expected = np.array([np.nan if v is None else float(v) for v in values])
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
