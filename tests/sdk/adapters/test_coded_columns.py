"""String columns that keep their dictionary codes give sketch-for-sketch the profile of plain object strings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon.adapters import read_features
from otel_mlmon.profile import Profile
from otel_mlmon.sketch._coded import CODED_MIN_ROWS, CodedStrings
from otel_mlmon.summary import SummaryConfig
from otel_mlmon.testing import InMemoryTelemetry

pa = pytest.importorskip("pyarrow")

ROWS = 3 * CODED_MIN_ROWS


def _values(seed: int, rows: int = ROWS) -> np.ndarray:
    """Zipf-like levels, more of them than the capacity below, one longer than max_length, 10 % missing."""
    rng = np.random.default_rng(seed)
    levels = np.array([f"level_{k}" for k in range(300)] + ["x" * 300], dtype=object)
    values = levels[np.minimum(rng.zipf(1.3, rows) - 1, len(levels) - 1)]
    values[rng.random(rows) < 0.1] = None
    return values


def _chunked_dictionary(values: np.ndarray) -> pa.ChunkedArray:
    """Two chunks encoded separately: different dictionaries, in different orders."""
    half = len(values) // 2
    first = pa.array(values[:half].tolist()).dictionary_encode()
    second = pa.array(values[half:][::-1].tolist()).dictionary_encode()
    reversed_back = second.take(pa.array(np.arange(len(second))[::-1]))
    return pa.chunked_array([first, reversed_back])


def _forms(values: np.ndarray) -> dict[str, pd.Series]:
    return {
        "object": pd.Series(values, dtype=object),
        "str": pd.Series(values, dtype="str"),
        "string[pyarrow]": pd.Series(values, dtype="string[pyarrow]"),
        "string[python]": pd.Series(values, dtype="string[python]"),
        "category": pd.Series(values, dtype="category"),
        "arrow dictionary": pd.Series(pd.arrays.ArrowExtensionArray(_chunked_dictionary(values))),
    }


def _summary_json(features: object) -> str:
    config = SummaryConfig(category_capacity=64, max_length=20)
    profile = Profile.from_data(features, model="m", version="1", categorical=["c"], config=config)
    return json.dumps(profile.to_dict()["summary"], sort_keys=True)


def test_every_string_form_profiles_like_object_strings():
    """object, str, string[pyarrow], string[python], category and Arrow dictionary columns with missing values
    (past the sketch's capacity, with truncated strings) give the same profile JSON."""
    values = _values(1)
    numbers = np.arange(ROWS, dtype=np.float64)
    expected = _summary_json(pd.DataFrame({"c": pd.Series(values, dtype=object), "n": numbers}))
    for form, series in _forms(values).items():
        frame = pd.DataFrame({"c": series, "n": numbers})
        assert _summary_json(frame) == expected, form
    arrow_forms = {
        "arrow string": pa.table({"c": pa.array(values.tolist()), "n": numbers}),
        "arrow large_string": pa.table({"c": pa.array(values.tolist(), pa.large_string()), "n": numbers}),
        "arrow chunked dictionary": pa.table({"c": _chunked_dictionary(values), "n": numbers}),
    }
    for form, table in arrow_forms.items():
        assert _summary_json(table) == expected, form


def test_coded_routes_are_taken_and_read_the_same_values():
    """The long columns keep codes (the route under test), and their values are the object strings."""
    values = _values(2)
    for form, series in _forms(values).items():
        column = read_features(pd.DataFrame({"c": series})).columns[0]
        assert column.kind == "categorical"
        assert column.values.dtype == object
        assert column.values.tolist() == values.tolist(), form
        assert (type(column.values) is CodedStrings) == (form not in ("object", "string[python]")), form


def test_category_with_numeric_and_unused_categories():
    """Integer categories become their decimal strings; unused categories count nothing, as before."""
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 5, ROWS)
    numbers = np.array([10, 20, 30, 40, 50, 60])[codes]
    as_category = pd.Series(pd.Categorical(numbers, categories=[10, 20, 30, 40, 50, 60, 70]))
    expected = _summary_json(pd.DataFrame({"c": pd.Series(numbers.astype(str), dtype=object)}))
    assert _summary_json(pd.DataFrame({"c": as_category})) == expected


def test_sdk_export_is_the_same_for_coded_and_object_strings():
    """Through a decorated model, in several calls (stacked by the folder): the same exported categories."""
    values = _values(4, rows=4 * ROWS)
    exported = {}
    for form in ("object", "str", "category"):
        telemetry = InMemoryTelemetry("delta")
        predict = otel_mlmon.monitor(
            model="m", version="1", categorical=["c"], max_rows=None, trace=False, **telemetry.providers
        )(lambda batch: np.zeros(len(batch)))
        frame = pd.DataFrame({"c": pd.Series(values, dtype=form if form != "object" else object)})
        for start in range(0, len(frame), ROWS):
            predict(frame.iloc[start : start + ROWS])
        points = telemetry.points(conv.METRIC_FEATURE_CATEGORY_COUNT)
        telemetry.shutdown()
        exported[form] = sorted((sorted(p.attributes.items()), p.value) for p in points)
    assert exported["object"]
    assert exported["str"] == exported["object"]
    assert exported["category"] == exported["object"]


def test_chunked_strings_of_many_short_chunks_read_as_one_coded_column():
    """An arrow string column made of many one-value chunks (stacked small calls) reads to the same values as
    its plain reading, coded with one dictionary for all the chunks."""
    import pyarrow as pa

    from otel_mlmon.adapters._arrow import arrow_column

    values = [None if i % 5 == 0 else "xyz"[i % 3] for i in range(CODED_MIN_ROWS + 10)]
    chunked = pa.chunked_array([pa.array([v], type=pa.large_string()) for v in values])
    column = arrow_column(chunked, "s")
    assert column.kind == "categorical" and type(column.values) is CodedStrings
    assert column.values.tolist() == values
    assert sorted(column.values.categories.tolist()) == ["x", "y", "z"]
