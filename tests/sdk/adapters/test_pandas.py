"""Tests for reading pandas DataFrames and Series as features."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from otel_mlmon.adapters import UnsupportedInput, batch_size, read_features
from tests.sdk.adapters._helpers import assert_categorical, assert_numeric, column

pd = pytest.importorskip("pandas")


def test_dataframe_numeric_and_string_columns():
    """A DataFrame's numeric columns are numeric and its string columns categorical, named by label."""
    df = pd.DataFrame({"x": [1.0, 2.0, np.nan], "n": [1, 2, 3], "s": ["a", None, "c"]})
    table = read_features(df)
    assert table.n_rows == 3
    assert table.names == ("x", "n", "s")
    assert_numeric(column(table, "x"), [1.0, 2.0, np.nan])
    assert_numeric(column(table, "n"), [1.0, 2.0, 3.0])
    assert_categorical(column(table, "s"), ["a", None, "c"])


def test_object_column_mixed_missing_markers():
    """An object column with None, NaN, pd.NA and pd.NaT reads them all as missing."""
    df = pd.DataFrame({"s": pd.Series(["a", None, np.nan, pd.NA, pd.NaT], dtype=object)})
    assert_categorical(read_features(df).columns[0], ["a", None, None, None, None])


def test_object_column_strings_with_nan_and_with_numbers():
    """Strings with NaN read NaN as missing; strings with real floats format those floats as labels."""
    nan_only = pd.DataFrame({"s": pd.Series(["a", np.nan, None, "b"], dtype=object)})
    assert_categorical(read_features(nan_only).columns[0], ["a", None, None, "b"])
    with_float = pd.DataFrame({"s": pd.Series(["a", np.nan, 1.5], dtype=object)})
    assert_categorical(read_features(with_float).columns[0], ["a", None, "1.5"])


def test_object_column_of_numbers_is_numeric():
    """An object column holding only numbers and missing values is numeric."""
    df = pd.DataFrame({"v": pd.Series([1, 2.5, None, pd.NA], dtype=object)})
    assert_numeric(read_features(df).columns[0], [1.0, 2.5, np.nan, np.nan])


def test_object_column_numbers_and_strings_is_categorical():
    """An object column mixing numbers and strings is categorical with numbers formatted."""
    df = pd.DataFrame({"v": pd.Series([1, "x", 2.0, 2.5, None], dtype=object)})
    assert_categorical(read_features(df).columns[0], ["1", "x", "2", "2.5", None])


def test_category_dtype_categorical_even_with_numeric_categories():
    """A category column is categorical, numeric categories formatted, missing → None."""
    df = pd.DataFrame({"c": pd.Categorical([3, None, 5]), "d": pd.Categorical(["u", "v", None])})
    table = read_features(df)
    assert_categorical(column(table, "c"), ["3", None, "5"])
    assert_categorical(column(table, "d"), ["u", "v", None])


def test_nullable_extension_dtypes():
    """Nullable Int64/Float64/boolean/string columns read pd.NA as missing with the usual kinds."""
    df = pd.DataFrame(
        {
            "i": pd.array([1, None, 3], dtype="Int64"),
            "f": pd.array([0.5, None, 1.5], dtype="Float64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "s": pd.array(["x", None, "z"], dtype="string"),
        }
    )
    table = read_features(df, categorical=["i"])
    assert_categorical(column(table, "i"), ["1", None, "3"])
    assert_numeric(column(table, "f"), [0.5, np.nan, 1.5])
    assert_categorical(column(table, "b"), ["True", None, "False"])
    assert_categorical(column(table, "s"), ["x", None, "z"])


def test_nullable_int_numeric_when_not_declared():
    """An undeclared nullable Int64 column is numeric with NaN for pd.NA."""
    df = pd.DataFrame({"i": pd.array([1, None], dtype="Int64")})
    assert_numeric(read_features(df).columns[0], [1.0, np.nan])


def test_bool_dtype_categorical():
    """A numpy bool column is categorical."""
    assert_categorical(read_features(pd.DataFrame({"b": [True, False]})).columns[0], ["True", "False"])


def test_datetimes_naive_and_tz_aware_to_epoch_seconds():
    """Naive (taken as UTC) and tz-aware datetime columns become epoch seconds; NaT → NaN."""
    naive = pd.to_datetime(["1970-01-01 00:01:00", None])
    aware = pd.to_datetime(["1970-01-01 01:00:00+01:00", None], utc=True).tz_convert("Europe/Paris")
    df = pd.DataFrame({"naive": naive, "aware": aware, "td": pd.to_timedelta(["1h", None])})
    table = read_features(df)
    assert_numeric(column(table, "naive"), [60.0, np.nan])
    assert_numeric(column(table, "aware"), [0.0, np.nan])
    assert_numeric(column(table, "td"), [3600.0, np.nan])


def test_object_column_of_python_datetimes():
    """An object column of datetime/date objects becomes epoch seconds (aware ones converted to UTC)."""
    utc_plus_2 = dt.timezone(dt.timedelta(hours=2))
    values = [dt.datetime(1970, 1, 1, 2, tzinfo=utc_plus_2), dt.date(1970, 1, 2), None]
    df = pd.DataFrame({"t": pd.Series(values, dtype=object)})
    assert_numeric(read_features(df).columns[0], [0.0, 86400.0, np.nan])


def test_declared_categorical_numeric_column():
    """A numeric DataFrame column named in categorical= becomes labels."""
    df = pd.DataFrame({"code": [10, 20, 10], "x": [0.1, 0.2, 0.3]})
    table = read_features(df, categorical=("code",))
    assert_categorical(column(table, "code"), ["10", "20", "10"])
    assert column(table, "x").kind == "numeric"


def test_names_ignored_for_labelled_columns_but_used_for_range_columns():
    """names= do not rename labelled DataFrame columns, but name the default 0..k-1 columns."""
    labelled = pd.DataFrame({"a": [1.0], "b": [2.0]})
    assert read_features(labelled, names=["x", "y"]).names == ("a", "b")
    unlabelled = pd.DataFrame(np.zeros((2, 2)))
    assert read_features(unlabelled).names == ("0", "1")
    assert read_features(unlabelled, names=["x", "y"]).names == ("x", "y")


def test_multiindex_columns_joined():
    """MultiIndex column labels are joined with dots."""
    df = pd.DataFrame(np.zeros((1, 2)), columns=pd.MultiIndex.from_tuples([("a", 1), ("a", 2)]))
    assert read_features(df).names == ("a.1", "a.2")


def test_duplicate_column_names_raise():
    """Duplicate DataFrame column labels are an UnsupportedInput naming the label."""
    df = pd.DataFrame(np.zeros((1, 2)), columns=["a", "a"])
    with pytest.raises(UnsupportedInput, match="'a' occurs more than once"):
        read_features(df)


def test_series_is_one_row_keyed_by_index():
    """A Series (e.g. df.iloc[i]) is one row whose columns are its index labels."""
    df = pd.DataFrame({"x": [1.5, 2.5], "s": ["a", "b"]})
    row = df.iloc[1]
    table = read_features(row)
    assert table.n_rows == 1
    assert_numeric(column(table, "x"), [2.5])
    assert_categorical(column(table, "s"), ["b"])
    assert batch_size(row) == 1


def test_series_row_with_default_index_takes_names():
    """A Series row with the default 0..k-1 index is named by names=, like a 1-D array."""
    table = read_features(pd.Series([1.0, 2.0]), names=["a", "b"])
    assert table.names == ("a", "b")
    assert read_features(pd.Series([1.0, 2.0])).names == ("0", "1")


def test_series_row_missing_values():
    """Missing values in a Series row read as NaN (numbers) and None (strings)."""
    table = read_features(pd.Series({"x": np.nan, "s": None, "t": pd.NaT}, dtype=object))
    assert_numeric(column(table, "x"), [np.nan])
    assert_numeric(column(table, "s"), [np.nan])
    assert_numeric(column(table, "t"), [np.nan])


def test_dataframe_batch_size_and_empty():
    """batch_size of a DataFrame is its length; an empty one reads as 0 rows."""
    df = pd.DataFrame({"x": pd.Series([], dtype=float)})
    assert batch_size(pd.DataFrame({"x": range(5)})) == 5
    table = read_features(df)
    assert table.n_rows == 0
    assert_numeric(table.columns[0], [])


def test_nested_values_in_object_column_raise():
    """An object column holding lists is an UnsupportedInput naming the column."""
    df = pd.DataFrame({"emb": [[1, 2], [3, 4]]})
    with pytest.raises(UnsupportedInput, match="'emb' holds list"):
        read_features(df)


def test_arrow_backed_columns():
    """pyarrow-backed pandas columns read like their arrow types."""
    pytest.importorskip("pyarrow")
    df = pd.DataFrame(
        {
            "i": pd.array([1, None], dtype="int64[pyarrow]"),
            "s": pd.array(["a", None], dtype="string[pyarrow]"),
        }
    )
    table = read_features(df)
    assert_numeric(column(table, "i"), [1.0, np.nan])
    assert_categorical(column(table, "s"), ["a", None])


def test_other_pandas_objects_raise():
    """A pandas Index as the whole input is an UnsupportedInput naming what is supported."""
    with pytest.raises(UnsupportedInput, match="DataFrame, Series"):
        read_features(pd.Index([1, 2]))
