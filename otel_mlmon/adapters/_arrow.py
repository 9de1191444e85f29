"""Adapter for pyarrow Tables, RecordBatches and arrays; pyarrow is imported only when one arrives."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from otel_mlmon.adapters._base import Column, Outputs, Table, UnsupportedInput
from otel_mlmon.adapters._convert import (
    check_unique,
    column_from_objects,
    column_from_value,
    format_floats,
    read_only,
    resolve_names,
)
from otel_mlmon.adapters._numpy import NumpyAdapter, single_output_name
from otel_mlmon.adapters._outputs import combine, is_probability, probability_column
from otel_mlmon.adapters._strings import encoded_strings
from otel_mlmon.sketch._coded import CODED_MIN_ROWS, coded_strings

__all__ = ["ArrowAdapter", "arrow_column"]

_NUMPY = NumpyAdapter()
_UNIT_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def _numpy(arr: Any) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _floats(arr: Any) -> np.ndarray:
    """Any numeric arrow array → float64 numpy with NaN for nulls."""
    import pyarrow as pa

    return _numpy(arr.cast(pa.float64()))


def arrow_column(arr: Any, name: str, categorical: bool = False, labels: bool = False) -> Column:
    """A pyarrow Array or ChunkedArray → a column, by the same inference rule as numpy.

    Dictionary-encoded arrays are categorical (like pandas ``category``); timestamps, dates and durations
    are numeric seconds (since the epoch for timestamps and dates; times of day: since midnight). Dictionary and
    string columns of :data:`~otel_mlmon.sketch._coded.CODED_MIN_ROWS` rows or more keep their codes, so that the
    categorical sketch counts each distinct value once (the values are the same).

    Raises:
        UnsupportedInput: nested types (list, struct, map, union).
    """
    import pyarrow as pa

    t = arr.type
    types = pa.types
    if len(arr) >= CODED_MIN_ROWS:
        if types.is_dictionary(t):
            coded = _dictionary_column(arr, name, labels)
            if coded is not None:
                return coded
        elif types.is_string(t) or types.is_large_string(t):
            import pyarrow.compute as pc

            if (
                type(arr) is pa.ChunkedArray
                and arr.num_chunks > 1
                and len(arr) < arr.num_chunks * CODED_MIN_ROWS
            ):
                # Many short chunks (stacked small calls): one chunk first, since each chunk is encoded (and its
                # dictionary read) on its own; one concatenation costs far less than hundreds of dictionaries.
                arr = arr.combine_chunks()

            # Encoded in C, then one Python string per distinct value: ~4x cheaper than a str per row. The
            # extension's own encoder first (about twice as fast as dictionary_encode), pyarrow's otherwise.
            coded = encoded_strings(arr, name)
            if coded is None:
                coded = _dictionary_column(pc.dictionary_encode(arr), name, labels)
            if coded is not None:
                return coded
    return _plain_column(arr, name, categorical, labels)


def _dictionary_column(arr: Any, name: str, labels: bool) -> Column | None:
    """A dictionary-encoded array as coded category strings (see :mod:`otel_mlmon.sketch._coded`): each distinct
    dictionary read as a categorical column, the indices as codes. None if a dictionary does not read as strings.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    categories: list[Any] = []
    codes = []
    offset, previous = 0, None
    for chunk in chunks:
        dictionary = chunk.dictionary
        if previous is None or not (dictionary is previous or dictionary.equals(previous)):
            # Chunks encoded together share one dictionary; others append theirs (repeats merged by coded_strings).
            read = _plain_column(dictionary, name, True, labels)
            if read.kind != "categorical":
                return None
            offset, previous = len(categories), dictionary
            categories.extend(read.values.tolist())
        indices = chunk.indices
        if indices.null_count:
            index = pc.fill_null(indices.cast(pa.int64()), -1).to_numpy()
            codes.append(np.where(index < 0, -1, index + offset) if offset else index)
        else:
            index = indices.to_numpy()
            codes.append(index.astype(np.int64) + offset if offset else index)
    joined = codes[0] if len(codes) == 1 else np.concatenate([c.astype(np.int64, copy=False) for c in codes])
    return Column(name, coded_strings(categories, joined), "categorical")


def _plain_column(arr: Any, name: str, categorical: bool, labels: bool) -> Column:
    """:func:`arrow_column` value by value (no codes kept)."""
    import pyarrow as pa

    t = arr.type
    types = pa.types
    if types.is_dictionary(t):
        return _plain_column(arr.cast(t.value_type), name, True, labels)
    if types.is_boolean(t):
        return column_from_objects(name, _numpy(arr).astype(object), categorical=True)
    if types.is_integer(t):
        if categorical or labels:
            return Column(name, _numpy(arr.cast(pa.string())).astype(object), "categorical")
        return Column(name, read_only(_floats(arr)), "numeric")
    if types.is_floating(t) or types.is_decimal(t):
        values = _floats(arr)
        if categorical:
            return Column(name, format_floats(values), "categorical")
        return Column(name, read_only(values), "numeric")
    if types.is_string(t) or types.is_large_string(t):  # str or None only: no per-value inference needed
        return Column(name, _numpy(arr).astype(object, copy=False), "categorical")
    if types.is_binary(t) or types.is_large_binary(t):
        return column_from_objects(name, _numpy(arr).astype(object, copy=False), categorical=categorical)
    if (hasattr(types, "is_string_view") and types.is_string_view(t)) or types.is_fixed_size_binary(t):
        return column_from_objects(name, _numpy(arr).astype(object, copy=False), categorical=categorical)
    if types.is_temporal(t):
        if categorical:
            return Column(name, _numpy(arr.cast(pa.string())).astype(object), "categorical")
        if types.is_date32(t):
            return Column(name, _floats(arr.cast(pa.int32())) * 86400.0, "numeric")
        if types.is_date64(t):
            return Column(name, _floats(arr.cast(pa.int64())) * 1e-3, "numeric")
        unit = getattr(t, "unit", None)
        if unit in _UNIT_SECONDS:
            ints = arr.cast(pa.int32() if t.bit_width == 32 else pa.int64())
            return Column(name, _floats(ints) * _UNIT_SECONDS[unit], "numeric")
    if types.is_null(t):
        if categorical or labels:
            return Column(name, np.full(len(arr), None, dtype=object), "categorical")
        return Column(name, np.full(len(arr), np.nan), "numeric")
    raise UnsupportedInput(
        f"column {name!r} has arrow type {t}, which is not supported; supported: bool, integer, float, "
        "decimal, string, binary, dictionary, timestamp, date, time, duration and null columns"
    )


def _is_table(obj: object) -> bool:
    return type(obj).__name__ in ("Table", "RecordBatch")


def _is_polars(obj: object) -> bool:
    return type(obj).__module__.startswith("polars")


def _from_polars(obj: Any) -> Any:
    """A polars DataFrame or Series → the pyarrow Table or Array it shares its buffers with (no copy for most
    dtypes): polars is read through arrow, so a column reads the same from polars, pyarrow or pandas."""
    if type(obj).__name__ in ("DataFrame", "Series") and callable(getattr(obj, "to_arrow", None)):
        return obj.to_arrow()
    raise UnsupportedInput(f"cannot read polars {type(obj).__name__}; supported polars: DataFrame, Series")


def _table_columns(obj: Any) -> tuple[list[str], list[Any]]:
    names = [str(n) for n in obj.column_names]
    check_unique(names)
    return names, [obj.column(i) for i in range(obj.num_columns)]


def _struct_as_batch(arr: Any) -> Any:
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        raise UnsupportedInput("a struct array with null rows is not supported; use a Table or RecordBatch")
    return pa.RecordBatch.from_struct_array(arr)


class ArrowAdapter:
    """Reads ``pyarrow.Table``, ``pyarrow.RecordBatch``, ``pyarrow.Array`` and ``pyarrow.ChunkedArray``, and
    polars ``DataFrame``/``Series`` through the arrow data they hold.

    Tables and record batches: one column per field (``names=`` is ignored). A struct array reads like a
    table. Any other array, as features, is one row (like a 1-D numpy array); as outputs, one value per row.
    A polars DataFrame reads like its arrow Table, a polars Series like its arrow array.
    """

    def accepts(self, obj: object) -> bool:
        """Objects defined in pyarrow or polars (checked by module name, without importing either)."""
        module = type(obj).__module__
        return module.startswith("pyarrow") or module.startswith("polars")

    def batch_size(self, obj: object) -> int | None:
        """``num_rows`` of tables, ``len`` of struct arrays, 1 for other arrays; polars: height / 1."""
        if _is_polars(obj):
            name = type(obj).__name__
            return int(obj.height) if name == "DataFrame" else 1 if name == "Series" else None  # type: ignore[attr-defined]
        if _is_table(obj):
            return int(obj.num_rows)  # type: ignore[attr-defined]
        t = getattr(obj, "type", None)
        if t is None:
            return None
        return len(obj) if str(t).startswith("struct<") else 1  # type: ignore[arg-type]

    def read_features(self, obj: object, names: Sequence[str] | None, categorical: Collection[str]) -> Table:
        """Read a table, record batch or struct array as rows; another array as one row."""
        import pyarrow as pa

        if _is_polars(obj):
            obj = _from_polars(obj)
        if isinstance(obj, (pa.Array, pa.ChunkedArray)):
            if pa.types.is_struct(obj.type):
                obj = _struct_as_batch(obj)
            else:
                values = obj.to_pylist()
                cols = resolve_names(names, len(values), "f", "features of a single row")
                return Table(
                    1,
                    tuple(
                        column_from_value(n, v, categorical=n in categorical) for n, v in zip(cols, values)
                    ),
                )
        if not _is_table(obj):
            raise UnsupportedInput(f"cannot read pyarrow {type(obj).__name__} as features")
        col_names, arrays = _table_columns(obj)
        return Table(
            int(obj.num_rows),  # type: ignore[attr-defined]
            tuple(arrow_column(a, n, categorical=n in categorical) for n, a in zip(col_names, arrays)),
        )

    def read_outputs(
        self, obj: object, names: Sequence[str] | None, classes: Sequence | Mapping | None
    ) -> Outputs:
        """Read an array as one output (a fixed-size list array as a matrix) or a table as one per column."""
        import pyarrow as pa

        if _is_polars(obj):
            obj = _from_polars(obj)
        if isinstance(obj, (pa.Array, pa.ChunkedArray)):
            t = obj.type
            if pa.types.is_struct(t):
                obj = _struct_as_batch(obj)
            elif pa.types.is_fixed_size_list(t):
                if obj.null_count:
                    raise UnsupportedInput("a fixed-size list output with null rows is not supported")
                if isinstance(obj, pa.ChunkedArray):
                    obj = obj.combine_chunks()
                matrix = _numpy(obj.flatten()).reshape(len(obj), t.list_size)
                return _NUMPY.read_outputs(matrix, names, classes)
            else:
                name = single_output_name(names)
                return combine([([arrow_column(obj, name, labels=True)], {})])
        if not _is_table(obj):
            raise UnsupportedInput(f"cannot read pyarrow {type(obj).__name__} as outputs")
        col_names, arrays = _table_columns(obj)
        if len(arrays) >= 2 and all(pa.types.is_floating(a.type) for a in arrays):
            matrix = np.column_stack([_floats(a) for a in arrays])
            if is_probability(matrix):
                cls = col_names if classes is None else classes
                return combine([probability_column(single_output_name(names), matrix, cls)])
        return combine([([arrow_column(a, n, labels=True) for n, a in zip(col_names, arrays)], {})])

    def read_column(self, obj: object, name: str, categorical: bool, labels: bool) -> Column:
        """Read a pyarrow Array or ChunkedArray (or a polars Series) as one column."""
        import pyarrow as pa

        if _is_polars(obj):
            obj = _from_polars(obj)
        if not isinstance(obj, (pa.Array, pa.ChunkedArray)):
            raise UnsupportedInput(f"column {name!r} is a pyarrow {type(obj).__name__}; a column must be 1-D")
        return arrow_column(obj, name, categorical=categorical, labels=labels)
