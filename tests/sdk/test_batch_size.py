"""ml.batch.size: the hot path's fast row count agrees with the adapters' rule for every input kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from otel_mlmon._batch import rows_of
from otel_mlmon.adapters import batch_size


@pytest.mark.parametrize(
    "obj",
    [
        1.5,
        3,
        True,
        "text",
        {"a": 1.0, "b": "x"},
        {"a": None},
        {"a": [1, 2, 3]},
        {},
        [1.0, 2.0],
        [True],
        [[1.0], [2.0]],
        [{"a": 1}, {"a": 2}],
        ["a", "b"],
        [],
        np.zeros(3),
        np.zeros((5, 3)),
        pd.DataFrame({"a": [1.0]}),
        pd.DataFrame({"a": np.arange(4.0)}),
    ],
)
def test_fast_row_count_matches_the_adapters(obj):
    """rows_of (used for every call) gives batch_size's answer: 1 for a one-row frame or a scalar, n for batches."""
    assert rows_of(obj) == batch_size(obj)
