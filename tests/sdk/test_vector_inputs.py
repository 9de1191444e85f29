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
from otel_mlmon.summary import Summary


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
