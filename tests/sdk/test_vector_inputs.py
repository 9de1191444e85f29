"""A 2-D numeric input stays one array (MatrixTable) up to the vector sketch: same sketch as an embedding output
and as the column-by-column reading it replaced, whatever the array's layout or dtype."""

from __future__ import annotations

import numpy as np
import pytest

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon.adapters import Column, Table, read_features, read_outputs
from otel_mlmon.adapters._matrix import MatrixTable
from otel_mlmon.sketch.vector import VectorSketch
from otel_mlmon.summary import Summary, SummaryConfig


def _embeddings(n: int = 64, d: int = 768, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def _input_sketch(X: np.ndarray) -> VectorSketch:
    summary = Summary()
    summary.add_features(read_features(X))
    assert not summary.features
    return summary.vectors[conv.VECTOR_COLUMN]


def _column_sketch(X: np.ndarray) -> VectorSketch:
    """The reading this replaced: one float64 column per dimension (copies: no common base), then stacked."""
    floats = np.asarray(X, dtype=np.float64)
    table = Table(
        len(floats), tuple(Column(f"f{j}", floats[:, j].copy(), "numeric") for j in range(X.shape[1]))
    )
    summary = Summary()
    summary.add_features(table)
    return summary.vectors[conv.VECTOR_COLUMN]


def _same(a: VectorSketch, b: VectorSketch) -> None:
    assert (
        a.to_dict() == b.to_dict()
    )  # counts, bucket counts, sums, squares, min/max and cross-products exactly


def test_the_input_and_output_paths_give_the_same_sketch():
    X = _embeddings()
    X[3, 5] = np.nan  # a row with a missing component: counted missing on both paths
    summary = Summary()
    summary.add_features(read_features(X))
    summary.add_outputs(read_outputs(X))
    assert summary.vectors[conv.VECTOR_COLUMN].count == 63
    _same(summary.vectors[conv.VECTOR_COLUMN], summary.output_vectors["prediction"])
    _same(summary.vectors[conv.VECTOR_COLUMN], _column_sketch(X))


@pytest.mark.parametrize(
    "layout",
    ["fortran", "strided columns", "strided rows", "float64", "float16", "int32", "int64 beyond 2**53"],
)
def test_any_layout_or_dtype_gives_the_sketch_of_its_values(layout):
    """Fortran order, strided views and other dtypes: the same sketch as the column path, and as the C-ordered
    copy (float dtypes), on the input and the output path."""
    X = _embeddings(64, 1536, seed=1)
    source = {
        "fortran": np.asfortranarray(X[:, :768]),
        "strided columns": X[:, ::2],
        "strided rows": _embeddings(128, 768, seed=2)[::2],
        "float64": X[:, :768].astype(np.float64) * 1e3,
        "float16": X[:, :768].astype(np.float16),
        "int32": (X[:, :768] * 1e6).astype(np.int32),
        "int64 beyond 2**53": (X[:, :768].astype(np.float64) * 2.0**60).astype(np.int64) | 1,
    }[layout]
    assert isinstance(read_features(source), MatrixTable)
    sketch = _input_sketch(source)
    _same(sketch, _column_sketch(source))
    if source.dtype.kind == "f":
        _same(sketch, _input_sketch(np.ascontiguousarray(source)))
        outputs = Summary()
        outputs.add_outputs(read_outputs(source))
        _same(sketch, outputs.output_vectors["prediction"])


def test_a_matrix_table_reads_like_its_columns():
    """Names, float64 columns (read-only views), row selection and the numeric matrix, as a Table of columns."""
    X = np.arange(12, dtype=np.int32).reshape(4, 3)
    table = read_features(X, names=["a", "b", "c"])
    assert isinstance(table, MatrixTable) and table.names == ("a", "b", "c") and table.n_rows == 4
    assert [c.name for c in table.columns] == ["a", "b", "c"]
    assert all(c.kind == "numeric" and c.values.dtype == np.float64 for c in table.columns)
    np.testing.assert_array_equal(table.columns[1].values, [1.0, 4.0, 7.0, 10.0])
    with pytest.raises(ValueError):
        table.columns[0].values[0] = 5.0
    taken = table.take(np.array([0, 2]))
    assert isinstance(taken, MatrixTable)
    np.testing.assert_array_equal(taken.columns[2].values, [2.0, 8.0])
    names, matrix = table.numeric_matrix()
    assert names == ("a", "b", "c") and matrix.dtype == np.float64 and matrix.shape == (4, 3)
    # Declared categorical columns are read as labels, column by column as before.
    assert not isinstance(read_features(X, names=["a", "b", "c"], categorical=["b"]), MatrixTable)


def test_calls_held_and_stacked_by_the_sdk_give_the_sketch_of_all_their_rows(telemetry):
    """Small calls stacked and held by the folder (one array per read, concatenated as arrays) and a large call
    sampled to max_rows: every row counted, the sketch that of the same rows summarised at once."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        return X[:, 0] > 0

    batches = [_embeddings(n, seed=n) for n in (1, 1, 5, 64, 3)]
    for X in batches:
        predict(X)
    data = telemetry.collect()
    (norm,) = telemetry.points(
        conv.METRIC_FEATURE_DISTRIBUTION, {conv.ATTR_FEATURE_NAME: "vector.norm"}, data
    )
    expected = _input_sketch(np.concatenate(batches)).histograms()["norm"]
    assert norm.count == expected.count == 74
    assert norm.sum == pytest.approx(expected.sum, rel=1e-9)
    assert (norm.min, norm.max) == (expected.min, expected.max)


def _column_summary(config: SummaryConfig, tables: list[Table]) -> dict:
    summary = Summary(config)
    for table in tables:
        summary.add_features(Table(table.n_rows, tuple(table.columns)))  # a plain Table: column by column
    return summary.to_dict()


def test_a_narrow_array_is_sketched_in_one_sweep_with_the_summary_of_its_columns():
    """A 2-D array narrower than vector_min_width: its columns in one update_columns sweep, the same summary as
    column by column (NaN and inf counted, columns beyond max_columns dropped, a column first seen as strings
    keeping its kind, a column declared text read as text)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 12)) * rng.lognormal(size=12)
    X[::7, 2], X[5, 3], X[:, 4] = np.nan, -np.inf, 0.0
    config = SummaryConfig(max_columns=10)
    summary = Summary(config)
    summary.add_features(read_features([{"f1": "x"}] * 40))  # f1 decided categorical before the array comes
    tables = [read_features(X), read_features(X[:17])]
    for table in tables:
        assert isinstance(table, MatrixTable)
        summary.add_features(table)
    expected = Summary(SummaryConfig(max_columns=10))
    expected.add_features(read_features([{"f1": "x"}] * 40))
    for table in tables:
        expected.add_features(Table(table.n_rows, tuple(table.columns)))
    assert summary.to_dict() == expected.to_dict()
    assert summary.features["f2"].missing == 429 + 3 and summary.features["f3"].infinite == 2
    assert summary.features["f1"].kind == "categorical" and summary.features["f1"].missing == 3017
    assert "f11" not in summary.features
    declared = SummaryConfig(text=["f0"])
    texts = Summary(declared)
    texts.add_features(read_features(X[:50]))
    assert texts.to_dict() == _column_summary(SummaryConfig(text=["f0"]), [read_features(X[:50])])
