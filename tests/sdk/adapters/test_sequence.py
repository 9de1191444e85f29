"""Tests for reading lists (of dicts, of rows, of scalars) and scalars as features."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from otel_mlmon.adapters import UnsupportedInput, batch_size, read_features
from tests.sdk.adapters._helpers import assert_categorical, assert_numeric, column


def test_list_of_dicts_same_keys():
    """A list of dicts (JSON request body) is rows; columns in key order."""
    rows = [{"x": 1.0, "s": "a"}, {"x": 2, "s": "b"}]
    table = read_features(rows)
    assert table.n_rows == 2
    assert table.names == ("x", "s")
    assert_numeric(column(table, "x"), [1.0, 2.0])
    assert_categorical(column(table, "s"), ["a", "b"])
    assert batch_size(rows) == 2


def test_list_of_dicts_keys_differ_between_rows():
    """Keys absent from a row read as missing; columns appear in first-seen order."""
    rows = [{"a": 1}, {"b": "x", "a": 2}, {"c": True}]
    table = read_features(rows)
    assert table.names == ("a", "b", "c")
    assert_numeric(column(table, "a"), [1.0, 2.0, np.nan])
    assert_categorical(column(table, "b"), [None, "x", None])
    assert_categorical(column(table, "c"), [None, None, "True"])


def test_list_of_dicts_same_count_different_keys():
    """Rows with as many keys as the first row but other keys still read as missing, not dropped."""
    table = read_features([{"a": 1, "b": 2}, {"a": 3, "c": 4}])
    assert table.names == ("a", "b", "c")
    assert_numeric(column(table, "c"), [np.nan, 4.0])


def test_list_of_dicts_missing_markers_and_declared_categorical():
    """None and NaN in records are missing; categorical= applies by key."""
    rows = [{"zip": 501, "v": None}, {"zip": None, "v": float("nan")}]
    table = read_features(rows, categorical=["zip"])
    assert_categorical(column(table, "zip"), ["501", None])
    assert_numeric(column(table, "v"), [np.nan, np.nan])


def test_list_of_dicts_single_key_and_empty_rows():
    """One-key records and key-less records both read."""
    assert_numeric(read_features([{"a": 1}, {"a": 2}]).columns[0], [1.0, 2.0])
    table = read_features([{}, {}])
    assert table.n_rows == 2 and table.columns == ()


def test_list_of_dicts_with_non_dict_row_raises():
    """A non-dict row among dicts is an UnsupportedInput naming its type."""
    with pytest.raises(UnsupportedInput, match="list row"):
        read_features([{"a": 1}, [1]])


def test_list_of_dicts_nested_value_raises():
    """A list value inside a record is an UnsupportedInput naming the key."""
    with pytest.raises(UnsupportedInput, match="'tags' holds list"):
        read_features([{"tags": ["a", "b"]}, {"tags": ["c", "d"]}])


def test_list_of_lists_is_rows():
    """A list of lists is rows; columns inferred per position and named by names= or f0.."""
    rows = [[1, "a", True], [2.5, None, False]]
    table = read_features(rows, names=["x", "s", "b"])
    assert table.n_rows == 2
    assert_numeric(column(table, "x"), [1.0, 2.5])
    assert_categorical(column(table, "s"), ["a", None])
    assert_categorical(column(table, "b"), ["True", "False"])
    assert batch_size(rows) == 2


def test_list_of_ragged_rows_raises():
    """Rows of different lengths are an UnsupportedInput listing the lengths."""
    with pytest.raises(UnsupportedInput, match=r"different lengths \[1, 2\]"):
        read_features([[1, 2], [3]])


def test_list_of_arrays_is_rows():
    """A list of 1-D arrays stacks into rows."""
    table = read_features([np.array([1.0, 2.0]), np.array([3.0, 4.0])])
    assert_numeric(column(table, "f1"), [2.0, 4.0])


def test_list_of_scalars_is_one_row():
    """A flat list (or tuple) of scalars is one row, like a 1-D array."""
    table = read_features([0.5, "red", None])
    assert table.n_rows == 1
    assert batch_size([0.5, "red"]) == 1
    assert_numeric(column(table, "f0"), [0.5])
    assert_categorical(column(table, "f1"), ["red"])
    assert_numeric(column(table, "f2"), [np.nan])
    assert read_features((1, 2), names=["a", "b"]).names == ("a", "b")


def test_empty_list():
    """An empty list is an empty table of 0 rows."""
    assert read_features([]).n_rows == 0
    assert batch_size([]) == 0


def test_scalars_are_one_value():
    """A bare number, string, bool or datetime is one row, one column."""
    assert_numeric(read_features(3).columns[0], [3.0])
    assert_categorical(read_features("abc", names=["q"]).columns[0], ["abc"])
    assert_categorical(read_features(True).columns[0], ["True"])
    assert_numeric(read_features(dt.datetime(1970, 1, 1, 0, 0, 5)).columns[0], [5.0])
    assert_numeric(read_features(dt.timedelta(minutes=1)).columns[0], [60.0])
    assert batch_size(3) == 1


def test_none_input_is_empty():
    """None as the whole input is an empty table (nothing to record)."""
    assert read_features(None).n_rows == 0
    assert batch_size(None) is None


def test_unknown_object_raises_naming_type():
    """An object of an unknown type is an UnsupportedInput naming the type and listing supported kinds."""

    class Blob:
        pass

    with pytest.raises(UnsupportedInput, match=r"Blob.*supported: numpy arrays"):
        read_features(Blob())
    assert batch_size(Blob()) is None
