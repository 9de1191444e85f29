"""Tests for reading pyarrow Tables, RecordBatches and arrays as features."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pytest

from otel_mlmon.adapters import UnsupportedInput, batch_size, read_features, read_outputs
from tests.sdk.adapters._helpers import assert_categorical, assert_numeric, column

pa = pytest.importorskip("pyarrow")


def test_table_types_and_nulls():
    """Arrow numeric, string, bool and null columns map to kinds, nulls → NaN/None."""
    table = pa.table(
        {
            "f": pa.array([1.5, None, 3.0]),
            "i": pa.array([1, 2, None], pa.int16()),
            "s": pa.array(["a", None, "c"]),
            "b": pa.array([True, None, False]),
            "z": pa.nulls(3),
        }
    )
    out = read_features(table)
    assert out.n_rows == 3
    assert out.names == ("f", "i", "s", "b", "z")
    assert_numeric(column(out, "f"), [1.5, np.nan, 3.0])
    assert_numeric(column(out, "i"), [1.0, 2.0, np.nan])
    assert_categorical(column(out, "s"), ["a", None, "c"])
    assert_categorical(column(out, "b"), ["True", None, "False"])
    assert_numeric(column(out, "z"), [np.nan] * 3)


def test_record_batch_and_chunked_columns():
    """A RecordBatch and a multi-chunk Table read the same values."""
    batch = pa.record_batch({"x": pa.array([1.0, 2.0]), "s": pa.array(["u", "v"])})
    chunked = pa.Table.from_batches([batch, batch])
    assert_numeric(column(read_features(batch), "x"), [1.0, 2.0])
    out = read_features(chunked)
    assert out.n_rows == 4
    assert_categorical(column(out, "s"), ["u", "v", "u", "v"])
    assert batch_size(chunked) == 4
    assert batch_size(batch) == 2


def test_declared_categorical_integer_and_float():
    """Arrow integer and float columns named in categorical= become labels (1.0 → "1")."""
    table = pa.table({"i": pa.array([7, None]), "f": pa.array([2.0, 0.5])})
    out = read_features(table, categorical={"i", "f"})
    assert_categorical(column(out, "i"), ["7", None])
    assert_categorical(column(out, "f"), ["2", "0.5"])


def test_dictionary_column_is_categorical():
    """A dictionary-encoded column is categorical, like pandas category."""
    arr = pa.array([1, 2, None, 1]).dictionary_encode()
    assert_categorical(read_features(pa.table({"d": arr})).columns[0], ["1", "2", None, "1"])


def test_temporal_columns_to_seconds():
    """Timestamps (any unit, any zone), dates, durations and times become seconds."""
    table = pa.table(
        {
            "ts": pa.array([1500, None], pa.timestamp("ms", tz="Asia/Tokyo")),
            "d32": pa.array([dt.date(1970, 1, 3), None], pa.date32()),
            "d64": pa.array([dt.date(1970, 1, 2), None], pa.date64()),
            "dur": pa.array([2_000_000, None], pa.duration("us")),
            "t": pa.array([dt.time(0, 1), None], pa.time32("s")),
        }
    )
    out = read_features(table)
    assert_numeric(column(out, "ts"), [1.5, np.nan])
    assert_numeric(column(out, "d32"), [2 * 86400.0, np.nan])
    assert_numeric(column(out, "d64"), [86400.0, np.nan])
    assert_numeric(column(out, "dur"), [2.0, np.nan])
    assert_numeric(column(out, "t"), [60.0, np.nan])


def test_decimal_and_binary_columns():
    """Decimals are numeric; binary columns are decoded categorical."""
    table = pa.table(
        {
            "dec": pa.array([decimal.Decimal("1.25"), None], pa.decimal128(5, 2)),
            "bin": pa.array([b"ab", None], pa.binary()),
        }
    )
    out = read_features(table)
    assert_numeric(column(out, "dec"), [1.25, np.nan])
    assert_categorical(column(out, "bin"), ["ab", None])


def test_nested_column_raises():
    """A list-typed column is an UnsupportedInput naming the column and type."""
    table = pa.table({"v": pa.array([[1, 2], [3]])})
    with pytest.raises(UnsupportedInput, match=r"'v'.*list<item: int64>"):
        read_features(table)


def test_struct_array_reads_like_a_table():
    """A struct array reads as rows, one column per field."""
    arr = pa.array([{"a": 1.0, "b": "x"}, {"a": None, "b": "y"}])
    out = read_features(arr)
    assert out.n_rows == 2
    assert_numeric(column(out, "a"), [1.0, np.nan])
    assert batch_size(arr) == 2


def test_plain_array_is_one_row():
    """A plain arrow array, like a 1-D numpy array, is a single row."""
    out = read_features(pa.array([1.0, None]), names=["a", "b"])
    assert out.n_rows == 1
    assert_numeric(column(out, "b"), [np.nan])
    assert batch_size(pa.array([1.0, 2.0])) == 1


def _polars_like(kind: str, data):
    """A stand-in for a polars object (polars is not a dependency): defined in a ``polars`` module, with
    ``to_arrow()`` and, for a DataFrame, ``height``."""
    cls = type(kind, (), {"__module__": "polars.dataframe.frame", "to_arrow": lambda self: data})
    obj = cls()
    if kind == "DataFrame":
        obj.height = data.num_rows
    return obj


def test_polars_frames_and_series_read_through_arrow():
    """A polars DataFrame reads like its arrow table (names, kinds, rows); a Series like its arrow array."""
    table = pa.table({"x": [1.0, None], "s": ["a", "b"]})
    frame = _polars_like("DataFrame", table)
    assert batch_size(frame) == 2
    got = read_features(frame)
    want = read_features(table)
    assert got.names == want.names == ("x", "s")
    assert [c.kind for c in got.columns] == [c.kind for c in want.columns]
    assert_numeric(column(got, "x"), [1.0, np.nan])
    series = _polars_like("Series", pa.array([0, 1, 1]))
    assert batch_size(series) == 1
    assert_categorical(read_outputs(series).table.columns[0], ["0", "1", "1"])


def test_one_row_polars_frames_stack_like_calls():
    """Consecutive one-row polars frames of one schema fold as one batch that reads like the frames one by one."""
    from otel_mlmon._stack import Stacked, stack_rows

    tables = [pa.table({"x": [float(i)], "s": ["ab"[i % 2]]}) for i in range(6)]
    groups = stack_rows([(_polars_like("DataFrame", t), None, None) for t in tables], None)
    assert len(groups) == 1 and isinstance(groups[0][0], Stacked)
    stacked = read_features(groups[0][0].features)
    assert_numeric(column(stacked, "x"), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert_categorical(column(stacked, "s"), ["a", "b", "a", "b", "a", "b"])
