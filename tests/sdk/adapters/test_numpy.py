"""Tests for reading numpy arrays and numpy scalars as features."""

from __future__ import annotations

import numpy as np
import pytest

from otel_mlmon.adapters import UnsupportedInput, batch_size, read_features
from tests.sdk.adapters._helpers import assert_categorical, assert_numeric, column


def test_2d_float_array_default_names():
    """A 2-D float array is rows × features named f0..fN-1, numeric."""
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    table = read_features(x)
    assert table.n_rows == 2
    assert table.names == ("f0", "f1", "f2")
    assert_numeric(column(table, "f1"), [2.0, 5.0])


def test_2d_array_names_given():
    """names= (e.g. feature_names_in_) name the columns of an array, in order."""
    table = read_features(np.zeros((4, 2)), names=np.array(["age", "income"], dtype=object))
    assert table.names == ("age", "income")


def test_wrong_number_of_names_raises():
    """A names= list of the wrong length is an UnsupportedInput naming both counts."""
    with pytest.raises(UnsupportedInput, match="3 names given for 2"):
        read_features(np.zeros((4, 2)), names=["a", "b", "c"])


def test_int_array_numeric_unless_declared():
    """Integer columns are numeric, except those named in categorical=, which become labels."""
    x = np.array([[1, 10], [2, 20], [1, 30]], dtype=np.int32)
    table = read_features(x, names=["zip", "n"], categorical={"zip"})
    assert_categorical(column(table, "zip"), ["1", "2", "1"])
    assert_numeric(column(table, "n"), [10, 20, 30])


def test_float_declared_categorical_formats_integral_values_as_ints():
    """A float column declared categorical maps 1.0 → "1", keeps 0.5 as "0.5" and NaN → None."""
    x = np.array([[1.0], [np.nan], [0.5], [np.inf]])
    table = read_features(x, categorical=["f0"])
    assert_categorical(column(table, "f0"), ["1", None, "0.5", "inf"])


def test_missing_and_infinite_values_kept():
    """NaN stays NaN and ±inf stay ±inf in numeric columns."""
    x = np.array([[np.nan, np.inf], [1.0, -np.inf]])
    table = read_features(x)
    assert_numeric(column(table, "f0"), [np.nan, 1.0])
    assert_numeric(column(table, "f1"), [np.inf, -np.inf])


def test_float32_becomes_float64():
    """float32 input is widened to float64."""
    table = read_features(np.ones((3, 2), dtype=np.float32))
    assert_numeric(column(table, "f0"), [1.0, 1.0, 1.0])


def test_columns_are_read_only_views():
    """Numeric columns cannot be used to modify the caller's array."""
    x = np.arange(6, dtype=np.float64).reshape(3, 2)
    col = read_features(x).columns[0]
    with pytest.raises(ValueError):
        col.values[0] = 99.0
    assert x[0, 0] == 0.0


def test_1d_array_is_one_row():
    """A 1-D array is a single row: one column per element."""
    table = read_features(np.array([0.5, 7.0]), names=["a", "b"])
    assert table.n_rows == 1
    assert_numeric(column(table, "a"), [0.5])
    assert_numeric(column(table, "b"), [7.0])


def test_1d_object_array_row_infers_each_value():
    """A 1-D object array row reads each value by its own type."""
    table = read_features(np.array([1, "red", None, True], dtype=object))
    assert_numeric(column(table, "f0"), [1.0])
    assert_categorical(column(table, "f1"), ["red"])
    assert_numeric(column(table, "f2"), [np.nan])
    assert_categorical(column(table, "f3"), ["True"])


def test_0d_array_and_numpy_scalar():
    """A 0-D array and a numpy scalar are one value in one row."""
    assert_numeric(read_features(np.array(2.5)).columns[0], [2.5])
    table = read_features(np.int64(3), names=["k"])
    assert table.n_rows == 1
    assert_numeric(column(table, "k"), [3.0])


def test_bool_array_categorical():
    """Boolean columns are categorical "True"/"False"."""
    table = read_features(np.array([[True], [False]]))
    assert_categorical(column(table, "f0"), ["True", "False"])


def test_string_and_bytes_arrays_categorical():
    """Unicode and bytes arrays are categorical; bytes are decoded as UTF-8."""
    assert_categorical(read_features(np.array([["a"], ["b"]])).columns[0], ["a", "b"])
    assert_categorical(read_features(np.array([[b"x"], ["é".encode()]])).columns[0], ["x", "é"])


def test_object_2d_array_columns_inferred_separately():
    """Each column of a 2-D object array gets its own kind, with None/NaN as missing."""
    x = np.array([[1, "a"], [None, np.nan], [2.5, "b"]], dtype=object)
    table = read_features(x)
    assert_numeric(column(table, "f0"), [1.0, np.nan, 2.5])
    assert_categorical(column(table, "f1"), ["a", None, "b"])


def test_datetime64_to_epoch_seconds():
    """datetime64 columns become seconds since the epoch, NaT → NaN, whatever the unit."""
    x = np.array(["1970-01-02", "NaT", "2000-01-01"], dtype="datetime64[D]").reshape(3, 1)
    assert_numeric(read_features(x).columns[0], [86400.0, np.nan, 946684800.0])
    ns = np.array(["1970-01-01T00:00:01.5"], dtype="datetime64[ns]").reshape(1, 1)
    assert_numeric(read_features(ns).columns[0], [1.5])
    months = np.array(["1970-02"], dtype="datetime64[M]").reshape(1, 1)
    assert_numeric(read_features(months).columns[0], [31 * 86400.0])


def test_timedelta64_to_seconds():
    """timedelta64 columns become seconds."""
    x = np.array([[np.timedelta64(90, "m")], [np.timedelta64("NaT")]], dtype="timedelta64[m]")
    assert_numeric(read_features(x).columns[0], [5400.0, np.nan])


def test_structured_array_fields_are_columns():
    """A structured array has one column per field, typed by the field dtype."""
    x = np.array([(1.5, b"a", 3), (np.nan, b"b", 4)], dtype=[("x", "f8"), ("s", "S1"), ("n", "i4")])
    table = read_features(x, categorical=["n"])
    assert table.n_rows == 2
    assert_numeric(column(table, "x"), [1.5, np.nan])
    assert_categorical(column(table, "s"), ["a", "b"])
    assert_categorical(column(table, "n"), ["3", "4"])
    assert batch_size(x) == 2


def test_structured_subarray_field_raises():
    """A structured field holding sub-arrays is an UnsupportedInput naming the field."""
    x = np.zeros(2, dtype=[("v", "f8", (3,))])
    with pytest.raises(UnsupportedInput, match="'v'"):
        read_features(x)


def test_3d_array_raises_with_shape():
    """A 3-D array is an UnsupportedInput whose message names the shape and what is supported."""
    with pytest.raises(UnsupportedInput, match=r"shape \(2, 3, 4\).*supported"):
        read_features(np.zeros((2, 3, 4)))


def test_complex_array_raises():
    """Complex columns are an UnsupportedInput naming the dtype."""
    with pytest.raises(UnsupportedInput, match="complex128"):
        read_features(np.zeros((2, 2), dtype=complex))


def test_batch_size_arrays():
    """batch_size: rows of a 2-D array, 1 for 1-D rows and scalars."""
    assert batch_size(np.zeros((7, 3))) == 7
    assert batch_size(np.zeros(3)) == 1
    assert batch_size(np.float64(1.0)) == 1


def test_empty_batch():
    """A 0-row 2-D array reads as 0 rows with its columns."""
    table = read_features(np.zeros((0, 2)))
    assert table.n_rows == 0
    assert table.names == ("f0", "f1")
    assert_numeric(table.columns[0], [])


def test_table_take_restricts_rows():
    """Table.take keeps the chosen rows (indices or a slice) of every column."""
    table = read_features(np.arange(12, dtype=float).reshape(6, 2))
    assert_numeric(column(table.take(np.array([5, 1])), "f0"), [10.0, 2.0])
    head = table.take(slice(0, 2))
    assert head.n_rows == 2
    assert_numeric(column(head, "f1"), [1.0, 3.0])
    assert read_features(np.zeros((3, 0))).take(slice(0, 2)).n_rows == 2


def test_numeric_matrix_is_a_view_of_a_2d_array():
    """Table.numeric_matrix of a 2-D float array is a read-only view of it, columns in order."""
    x = np.arange(12, dtype=float).reshape(4, 3)
    names, m = read_features(x, names=["a", "b", "c"]).numeric_matrix()
    assert names == ("a", "b", "c")
    np.testing.assert_array_equal(m, x)
    assert np.shares_memory(m, x)
    assert not m.flags.writeable


def test_numeric_matrix_skips_categorical_and_stacks_when_needed():
    """numeric_matrix keeps only numeric columns and stacks them when they are not one buffer."""
    table = read_features({"a": [1.0, 2.0], "s": ["x", "y"], "b": [3, 4]})
    names, m = table.numeric_matrix()
    assert names == ("a", "b")
    np.testing.assert_array_equal(m, [[1.0, 3.0], [2.0, 4.0]])
    declared = read_features(np.ones((2, 3)), categorical=["f1"]).numeric_matrix()
    assert declared[0] == ("f0", "f2")
    np.testing.assert_array_equal(declared[1], np.ones((2, 2)))
    assert read_features({"s": ["x"]}).numeric_matrix()[1].shape == (1, 0)
