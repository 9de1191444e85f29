"""Tests for reading predict return values as outputs."""

from __future__ import annotations

import numpy as np
import pytest

from otel_mlmon.adapters import UnsupportedInput, is_probability, read_outputs
from otel_mlmon.adapters._outputs import PROBABILITY_ATOL
from tests.sdk.adapters._helpers import assert_categorical, assert_numeric, column


def test_int_labels_categorical_prediction():
    """1-D integer labels are a categorical output named prediction."""
    out = read_outputs(np.array([0, 1, 1]))
    assert out.table.n_rows == 3
    assert_categorical(column(out.table, "prediction"), ["0", "1", "1"])
    assert out.confidence == {}


def test_str_labels_categorical():
    """1-D string labels are categorical."""
    assert_categorical(read_outputs(np.array(["cat", "dog"])).table.columns[0], ["cat", "dog"])


def test_float_values_numeric():
    """1-D floats (regression) are a numeric output, NaN kept as missing."""
    assert_numeric(read_outputs(np.array([0.5, np.nan, 2.0])).table.columns[0], [0.5, np.nan, 2.0])


def test_single_output_name():
    """names= with one name renames the single output."""
    assert read_outputs(np.array([1.0]), names=["price"]).table.names == ("price",)
    with pytest.raises(UnsupportedInput, match="2 names given for a single output"):
        read_outputs(np.array([1.0]), names=["a", "b"])


def test_probability_matrix_argmax_and_confidence():
    """A predict_proba matrix gives the argmax class and the row max as confidence."""
    proba = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    out = read_outputs(proba, classes=np.array(["a", "b", "c"]))
    assert_categorical(column(out.table, "prediction"), ["b", "a"])
    np.testing.assert_allclose(out.confidence["prediction"], [0.7, 0.5])


def test_probability_matrix_without_classes_uses_indices():
    """Without classes=, the predicted class is the column index."""
    out = read_outputs(np.array([[0.2, 0.8], [0.9, 0.1]], dtype=np.float32))
    assert_categorical(out.table.columns[0], ["1", "0"])
    np.testing.assert_allclose(out.confidence["prediction"], [0.8, 0.9], rtol=1e-6)


def test_probability_rows_with_nan_are_missing():
    """A probability row holding NaN gives a missing class and NaN confidence."""
    proba = np.array([[0.3, 0.7], [np.nan, np.nan], [1.0, 0.0]])
    out = read_outputs(proba, classes=[0, 1])
    assert_categorical(out.table.columns[0], ["1", None, "0"])
    np.testing.assert_array_equal(out.confidence["prediction"], [0.7, np.nan, 1.0])


def test_classes_length_mismatch_raises():
    """classes= of the wrong length is an UnsupportedInput naming both sizes."""
    with pytest.raises(UnsupportedInput, match="2 probability columns but classes= has shape"):
        read_outputs(np.array([[0.5, 0.5]]), classes=["a", "b", "c"])


def test_non_probability_matrix_is_multi_output_regression():
    """A 2-D matrix whose rows do not sum to 1 is one numeric output per column."""
    y = np.array([[1.0, 20.0], [2.0, 30.0]])
    out = read_outputs(y)
    assert out.table.names == ("output_0", "output_1")
    assert_numeric(column(out.table, "output_1"), [20.0, 30.0])
    assert out.confidence == {}
    assert read_outputs(y, names=["lo", "hi"]).table.names == ("lo", "hi")
    assert read_outputs(y, names=["q"]).table.names == ("q_0", "q_1")


def test_int_matrix_is_multi_output_labels():
    """A 2-D integer matrix (multi-output classification) is one categorical output per column."""
    out = read_outputs(np.array([[0, 1], [1, 0]]))
    assert_categorical(column(out.table, "output_0"), ["0", "1"])


def test_single_column_matrix_is_squeezed():
    """An (n, 1) matrix is one output, not a one-column multi-output."""
    assert_numeric(read_outputs(np.array([[1.5], [2.5]])).table.columns[0], [1.5, 2.5])


def test_is_probability_rule():
    """is_probability needs floats in [0, 1] summing to 1 per row within PROBABILITY_ATOL."""
    assert is_probability(np.array([[0.25, 0.75]]))
    assert is_probability(np.array([[0.5, 0.5 + PROBABILITY_ATOL / 2]]))
    assert not is_probability(np.array([[0.5, 0.6]]))
    assert not is_probability(np.array([[1.5, -0.5]]))
    assert not is_probability(np.array([[0, 1]]))  # integers: labels, not probabilities
    assert not is_probability(np.array([[1.0]]))
    assert not is_probability(np.array([[np.nan, np.nan]]))


def test_scalar_outputs():
    """A scalar return value is one row: ints and strs labels, floats numeric."""
    assert_categorical(read_outputs(3).table.columns[0], ["3"])
    assert_categorical(read_outputs("spam").table.columns[0], ["spam"])
    assert_numeric(read_outputs(0.25).table.columns[0], [0.25])
    assert_numeric(read_outputs(np.float32(0.5)).table.columns[0], [0.5])
    assert read_outputs(None).table.n_rows == 0


def test_dict_of_outputs():
    """A dict is one output per key; a probability value gives that key a confidence."""
    out = read_outputs({"label": np.array([1, 0]), "proba": np.array([[0.2, 0.8], [0.6, 0.4]])})
    assert out.table.names == ("label", "proba")
    assert_categorical(column(out.table, "label"), ["1", "0"])
    assert_categorical(column(out.table, "proba"), ["1", "0"])
    np.testing.assert_allclose(out.confidence["proba"], [0.8, 0.6])


def test_dict_of_outputs_classes_by_name_and_2d_prefix():
    """classes= may be a dict by output name; a 2-D regression value is named key_0, key_1."""
    out = read_outputs(
        {"p": np.array([[0.9, 0.1]]), "q": np.array([[3.0, 4.0]])}, classes={"p": ["neg", "pos"]}
    )
    assert out.table.names == ("p", "q_0", "q_1")
    assert_categorical(column(out.table, "p"), ["neg"])


def test_dict_of_scalar_outputs_and_row_mismatch():
    """A dict of scalars is one row of outputs; outputs of different lengths raise."""
    assert read_outputs({"a": 1.0, "b": "x"}).table.n_rows == 1
    with pytest.raises(UnsupportedInput, match="different numbers of rows"):
        read_outputs({"a": np.zeros(2), "b": np.zeros(3)})


def test_tuple_of_arrays_is_several_outputs():
    """A tuple (or list) of arrays is output_0, output_1, ...; names= renames them."""
    labels, proba = np.array(["x", "y"]), np.array([[0.4, 0.6], [0.7, 0.3]])
    out = read_outputs((labels, proba), classes=["x", "y"])
    assert out.table.names == ("output_0", "output_1")
    assert_categorical(column(out.table, "output_1"), ["y", "x"])
    assert set(out.confidence) == {"output_1"}
    assert read_outputs([labels, labels], names=["a", "b"]).table.names == ("a", "b")


def test_list_of_probability_arrays_with_per_output_classes():
    """Multi-output predict_proba (a list of matrices) takes one classes array per output."""
    p0 = np.array([[0.9, 0.1]])
    p1 = np.array([[0.2, 0.3, 0.5]])
    out = read_outputs([p0, p1], classes=[np.array(["a", "b"]), np.array([10, 20, 30])])
    assert_categorical(column(out.table, "output_0"), ["a"])
    assert_categorical(column(out.table, "output_1"), ["30"])


def test_plain_list_of_numbers_is_one_output():
    """A plain list of numbers is one output; ints are labels, floats values."""
    assert_numeric(read_outputs([0.5, 1.5]).table.columns[0], [0.5, 1.5])
    assert_categorical(read_outputs([1, 0, None]).table.columns[0], ["1", "0", None])
    assert_numeric(read_outputs([1, 0.5]).table.columns[0], [1.0, 0.5])


def test_list_of_lists_is_a_matrix():
    """A list of lists (a JSON matrix) reads as a 2-D array: probabilities or columns."""
    out = read_outputs([[0.1, 0.9], [0.8, 0.2]])
    assert_categorical(out.table.columns[0], ["1", "0"])
    mixed = read_outputs([["a", 0.5], ["b", 0.25]])
    assert mixed.table.names == ("output_0", "output_1")
    assert_numeric(column(mixed.table, "output_1"), [0.5, 0.25])


def test_list_of_dicts_outputs():
    """A list of dicts (e.g. a pipeline's label/score records) is one output per key."""
    out = read_outputs([{"label": "POS", "score": 0.9}, {"label": "NEG", "score": 0.7}])
    assert_categorical(column(out.table, "label"), ["POS", "NEG"])
    assert_numeric(column(out.table, "score"), [0.9, 0.7])


def test_empty_and_3d_outputs():
    """An empty list is no output; a 3-D array is an UnsupportedInput naming the shape."""
    assert read_outputs([]).table.n_rows == 0
    with pytest.raises(UnsupportedInput, match=r"shape \(1, 2, 2\)"):
        read_outputs(np.zeros((1, 2, 2)))


def test_pandas_outputs():
    """Series outputs are named by the Series; probability DataFrames use their columns as classes."""
    pd = pytest.importorskip("pandas")
    assert read_outputs(pd.Series([1.0, 2.0], name="price")).table.names == ("price",)
    assert read_outputs(pd.Series([1.0]), names=["y"]).table.names == ("y",)
    assert_categorical(read_outputs(pd.Series([1, None], dtype="Int64")).table.columns[0], ["1", None])
    proba = pd.DataFrame({"no": [0.8, 0.3], "yes": [0.2, 0.7]})
    out = read_outputs(proba)
    assert_categorical(out.table.columns[0], ["no", "yes"])
    np.testing.assert_allclose(out.confidence["prediction"], [0.8, 0.7])
    assert_categorical(read_outputs(pd.Categorical(["x", None])).table.columns[0], ["x", None])
    multi = read_outputs(pd.DataFrame({"a": [1, 2], "b": [0.5, 0.7]}))
    assert_categorical(column(multi.table, "a"), ["1", "2"])
    assert_numeric(column(multi.table, "b"), [0.5, 0.7])


def test_arrow_outputs():
    """Arrow arrays are one output; tables are probabilities or one output per column."""
    pa = pytest.importorskip("pyarrow")
    assert_categorical(read_outputs(pa.array([1, None])).table.columns[0], ["1", None])
    assert_numeric(read_outputs(pa.chunked_array([[0.5], [1.5]])).table.columns[0], [0.5, 1.5])
    proba = pa.table({"a": [0.9, 0.4], "b": [0.1, 0.6]})
    assert_categorical(read_outputs(proba).table.columns[0], ["a", "b"])
    fixed = pa.FixedSizeListArray.from_arrays(pa.array([0.3, 0.7, 0.6, 0.4]), 2)
    out = read_outputs(fixed, classes=["n", "y"])
    assert_categorical(out.table.columns[0], ["y", "n"])
    multi = read_outputs(pa.table({"k": ["u", "v"], "v": [1.0, 2.0]}))
    assert multi.table.names == ("k", "v")


def test_outputs_take_restricts_rows_and_confidence():
    """Outputs.take keeps the chosen rows of every output and confidence."""
    out = read_outputs({"p": np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), "y": np.array([1.0, 2.0, 3.0])})
    part = out.take(np.array([2, 0]))
    assert part.table.n_rows == 2
    assert_categorical(column(part.table, "p"), ["0", "0"])
    assert_numeric(column(part.table, "y"), [3.0, 1.0])
    np.testing.assert_allclose(part.confidence["p"], [0.6, 0.9])
