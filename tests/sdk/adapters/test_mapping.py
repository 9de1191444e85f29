"""Tests for reading dicts (of columns or of scalars) as features."""

from __future__ import annotations

import datetime as dt
import decimal
import enum

import numpy as np
import pytest

from otel_mlmon.adapters import UnsupportedInput, batch_size, read_features
from tests.sdk.adapters._helpers import assert_categorical, assert_numeric, column


def test_dict_of_lists_is_columns():
    """A dict of equal-length lists is a table, one column per key, kinds inferred."""
    table = read_features({"x": [1, 2.5, None], "s": ["a", "b", None], "b": [True, False, None]})
    assert table.n_rows == 3
    assert_numeric(column(table, "x"), [1.0, 2.5, np.nan])
    assert_categorical(column(table, "s"), ["a", "b", None])
    assert_categorical(column(table, "b"), ["True", "False", None])


def test_dict_of_arrays_and_mixed_sequence_kinds():
    """A dict may mix numpy arrays, tuples and lists as its columns."""
    table = read_features({"a": np.array([1.0, np.nan]), "t": ("u", "v"), "n": np.array([3, 4])})
    assert_numeric(column(table, "a"), [1.0, np.nan])
    assert_categorical(column(table, "t"), ["u", "v"])
    assert_numeric(column(table, "n"), [3.0, 4.0])
    assert batch_size({"a": np.zeros(5)}) == 5


def test_dict_of_pandas_and_arrow_columns():
    """Series and arrow arrays work as dict columns."""
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    table = read_features({"p": pd.Series([1.0, None]), "q": pa.array(["x", None])})
    assert_numeric(column(table, "p"), [1.0, np.nan])
    assert_categorical(column(table, "q"), ["x", None])


def test_dict_columns_of_different_lengths_raise():
    """Columns of different lengths are an UnsupportedInput listing the lengths."""
    with pytest.raises(UnsupportedInput, match="a=2, b=3"):
        read_features({"a": [1, 2], "b": [1, 2, 3]})


def test_dict_of_scalars_is_one_row():
    """A dict of scalars (a JSON object) is one row."""
    row = {"age": 42, "city": "Oslo", "score": None, "vip": False, "amount": decimal.Decimal("9.5")}
    table = read_features(row)
    assert table.n_rows == 1
    assert batch_size(row) == 1
    assert_numeric(column(table, "age"), [42.0])
    assert_categorical(column(table, "city"), ["Oslo"])
    assert_numeric(column(table, "score"), [np.nan])
    assert_categorical(column(table, "vip"), ["False"])
    assert_numeric(column(table, "amount"), [9.5])


def test_dict_of_scalars_declared_categorical_and_nan():
    """In a one-row dict, categorical= turns a number into a label and NaN into None."""
    table = read_features({"zip": 1234, "code": float("nan")}, categorical=["zip", "code"])
    assert_categorical(column(table, "zip"), ["1234"])
    assert_categorical(column(table, "code"), [None])


def test_numpy_scalars_and_0d_arrays_in_a_row():
    """numpy scalars and 0-D arrays are scalars in a one-row dict."""
    table = read_features({"a": np.float32(1.5), "b": np.array(2), "c": np.str_("z")})
    assert_numeric(column(table, "a"), [1.5])
    assert_numeric(column(table, "b"), [2.0])
    assert_categorical(column(table, "c"), ["z"])


def test_other_objects_are_categorical_by_str():
    """Cell objects of other types (e.g. enums) are categorical through str()."""

    class Color(enum.Enum):
        RED = 1

    assert_categorical(read_features({"c": [Color.RED, None]}).columns[0], ["Color.RED", None])


def test_mixed_scalars_and_sequences_raise():
    """A dict mixing scalars and sequences is an UnsupportedInput naming one of each."""
    with pytest.raises(UnsupportedInput, match=r"'a'.*'b'"):
        read_features({"a": 1, "b": [1, 2]})


def test_nested_dict_raises():
    """A nested dict value is an UnsupportedInput naming the key."""
    with pytest.raises(UnsupportedInput, match="'meta' is a nested"):
        read_features({"x": [1], "meta": {"k": 1}})


def test_non_string_keys_become_names():
    """Non-string keys are turned into str names; clashes raise."""
    assert read_features({1: [0.5], 2: [0.25]}).names == ("1", "2")
    with pytest.raises(UnsupportedInput, match="more than once"):
        read_features({1: [0.5], "1": [0.25]})


def test_empty_dict():
    """An empty dict is an empty table with unknown batch size."""
    table = read_features({})
    assert table.n_rows == 0 and table.columns == ()
    assert batch_size({}) is None


def test_2d_array_value_raises():
    """A 2-D array as a dict column is an UnsupportedInput naming the column."""
    with pytest.raises(UnsupportedInput, match="'img'"):
        read_features({"img": np.zeros((2, 3))})


def test_time_objects_in_dict_columns():
    """numpy datetime64 scalars (NaT included), timedeltas and pandas NaT in lists become seconds."""
    pd = pytest.importorskip("pandas")
    table = read_features(
        {
            "t": [np.datetime64("NaT"), np.datetime64("1970-01-01T00:00:10")],
            "d": [dt.timedelta(seconds=3), pd.NaT],
        }
    )
    assert_numeric(column(table, "t"), [np.nan, 10.0])
    assert_numeric(column(table, "d"), [3.0, np.nan])
