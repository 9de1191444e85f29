"""Adapter for pandas DataFrames and Series; pandas is imported only when such an object arrives."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from otel_mlmon.adapters._base import Column, Outputs, Table, UnsupportedInput
from otel_mlmon.adapters._convert import (
    check_unique,
    column_from_numpy,
    column_from_objects,
    column_from_value,
    describe,
    format_floats,
    resolve_names,
)
from otel_mlmon.adapters._numpy import single_output_name
from otel_mlmon.adapters._outputs import combine, is_probability, probability_column

__all__ = [
    "FrameColumns",
    "FrameSchema",
    "PandasAdapter",
    "array_column",
    "frame_schema",
    "series_column",
    "stack_frames",
]


def series_column(s: Any, name: str, categorical: bool = False, labels: bool = False) -> Column:
    """A pandas Series (or Index, or pandas array) → a column, by the same inference rule as numpy.

    ``category`` columns are categorical whatever their categories; nullable ``Int64``/``Float64``/``boolean``
    and ``string`` columns read their ``pd.NA`` as missing; tz-aware datetimes become seconds since the epoch.
    """
    arr = s.array if hasattr(s, "array") else s
    return array_column(arr, name, categorical, labels)


def array_column(arr: Any, name: str, categorical: bool = False, labels: bool = False) -> Column:
    """A pandas array (``Series.array``: numpy-backed or extension array) → a column; see series_column."""
    import pandas as pd

    dtype = arr.dtype
    if isinstance(dtype, np.dtype):
        return column_from_numpy(name, np.asarray(arr), categorical=categorical, labels=labels)
    if isinstance(dtype, pd.StringDtype):  # str or missing only: no per-value inference needed
        if dtype.storage == "pyarrow" and hasattr(arr, "__arrow_array__"):
            values = arr.__arrow_array__().to_numpy(zero_copy_only=False)  # 2-3x faster than pandas' own
        else:
            values = arr.to_numpy(dtype=object, na_value=None)
        return Column(name, values.astype(object, copy=False), "categorical")
    if isinstance(dtype, pd.CategoricalDtype):
        cats = column_from_numpy("categories", np.asarray(dtype.categories), categorical=True).values
        lookup = np.append(cats, None)  # code -1 (missing) picks the trailing None
        return Column(name, lookup[np.asarray(arr.codes)], "categorical")
    if isinstance(dtype, pd.DatetimeTZDtype):
        utc = arr.tz_convert("UTC").tz_localize(None)
        return column_from_numpy(name, np.asarray(utc), categorical=categorical, labels=labels)
    if isinstance(dtype, pd.ArrowDtype):
        from otel_mlmon.adapters._arrow import arrow_column

        return arrow_column(arr.__arrow_array__(), name, categorical=categorical, labels=labels)
    if isinstance(dtype, pd.SparseDtype):
        return column_from_numpy(name, np.asarray(arr.to_dense()), categorical=categorical, labels=labels)
    kind = dtype.kind
    if kind in "iu":  # nullable Int64 & co.
        floats = arr.to_numpy(dtype=np.float64, na_value=np.nan)
        if categorical or labels:
            return Column(name, format_floats(floats), "categorical")
        return Column(name, floats, "numeric")
    if kind == "f":  # nullable Float64
        floats = arr.to_numpy(dtype=np.float64, na_value=np.nan)
        return column_from_numpy(name, floats, categorical=categorical, labels=labels)
    # boolean, period, interval and other extension types: their Python objects.
    return column_from_objects(
        name, arr.to_numpy(dtype=object, na_value=None), categorical=categorical, labels=labels
    )


def _frame_columns(df: Any, names: list[str], categorical: Collection[str], labels: bool) -> list[Column]:
    """Every column of a DataFrame, fetched without building a Series each.

    pandas' public column access costs ~20 µs per column; ``_get_column_array`` (pandas ≥ 1.3) ~1 µs.
    """
    get = getattr(df, "_get_column_array", None)
    return [
        array_column(get(j) if get is not None else df.iloc[:, j].array, name, name in categorical, labels)
        for j, name in enumerate(names)
    ]


def _column_names(df: Any, names: Sequence[str] | None) -> list[str]:
    return _names_of_columns(df.columns, names)


def _names_of_columns(columns: Any, names: Sequence[str] | None) -> list[str]:
    import pandas as pd

    if names is not None and isinstance(columns, pd.RangeIndex) and columns.start == 0 and columns.step == 1:
        return resolve_names(names, len(columns), "f", "DataFrame columns")
    if isinstance(columns, pd.MultiIndex):
        result = [".".join(map(str, label)) for label in columns.tolist()]
    else:
        result = list(map(str, columns.tolist()))
    check_unique(result)
    return result


# -- Stacking one-row frames of one schema: the folder reads many small frames as one ---------------------------
#
# pandas' public API costs ~1 µs per column per frame to hand out a column and tens of µs to build a frame; the
# block manager hands out each block's values (one 2-D array per dtype group, one array per extension column) in
# well under a µs. These private attributes have been stable since pandas 1.x; if a future pandas drops them,
# frame_schema returns None and frames are simply read one by one.


class FrameSchema:
    """What two DataFrames must share to be stacked: the same column labels and the same block layout."""

    __slots__ = ("columns", "layout")

    def __init__(self, columns: Any, layout: tuple) -> None:
        self.columns = columns
        self.layout = layout

    def __eq__(self, other: object) -> bool:
        if type(other) is not FrameSchema:
            return NotImplemented
        return self.layout == other.layout and _same_labels(self.columns, other.columns)

    __hash__ = None  # type: ignore[assignment]


def _placement(block: Any) -> tuple[int, ...]:
    indexer = block.mgr_locs.indexer
    if isinstance(indexer, slice):
        return tuple(range(indexer.start or 0, indexer.stop, indexer.step or 1))
    return tuple(int(i) for i in indexer)


def _same_labels(a: Any, b: Any) -> bool:
    """Whether two column indexes give the same column names (all a table depends on), cheaply."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    va, vb = a._values, b._values
    pa_a, pa_b = getattr(va, "_pa_array", None), getattr(vb, "_pa_array", None)
    if pa_a is not None and pa_b is not None and type(va) is type(vb):  # arrow-backed str labels (pandas 3)
        return bool(pa_a.equals(pa_b))
    if len(a) != len(b):
        return False
    if type(a).__name__ == "RangeIndex":  # names= applies to it: compare as ranges
        return bool(a.equals(b))
    if type(va) is np.ndarray and type(vb) is np.ndarray and va.dtype == vb.dtype and va.ndim == 1:
        # Equal labels of equal types give equal names (1 == 1.0 == True, but their names differ).
        la, lb = va.tolist(), vb.tolist()
        return la == lb and list(map(type, la)) == list(map(type, lb))
    return _names_of_columns(a, None) == _names_of_columns(b, None)


# Extension dtypes identified by their class alone (no parameters): pandas' masked numbers and booleans.
_PLAIN_EXTENSION_DTYPES = frozenset(
    f"{kind}Dtype" for kind in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64")
) | {"Float32Dtype", "Float64Dtype", "BooleanDtype"}


def _dtype_token(values: Any, dtype: Any) -> Any:
    """A cheap stand-in for a block's dtype in comparisons (``str(dtype)`` and ``StringDtype.__eq__`` cost µs).

    numpy dtypes are singletons, compared by identity; for pandas' masked numbers the dtype class is the dtype;
    for strings the array type (storage) and missing-value marker; any other dtype is compared as itself.
    """
    if type(values) is np.ndarray:
        return dtype
    dtype_type = type(dtype)
    kind = _DTYPE_KINDS.get(dtype_type)
    if kind is None:
        name = dtype_type.__name__
        kind = _DTYPE_KINDS[dtype_type] = (
            "plain" if name in _PLAIN_EXTENSION_DTYPES else "string" if name == "StringDtype" else "other"
        )
    if kind == "plain":
        return (type(values), dtype_type)
    if kind == "string":
        fields = getattr(dtype, "__dict__", None) or {}
        if "_storage" in fields and "_na_value" in fields:  # the properties below, read without their calls
            return (type(values), dtype_type, fields["_storage"], type(fields["_na_value"]))
        return (type(values), dtype_type, dtype.storage, type(dtype.na_value))
    return dtype


# dtype class -> "plain" (the class is the dtype), "string" (StringDtype) or "other" (compared as itself).
_DTYPE_KINDS: dict[type, str] = {}


def frame_schema(df: Any) -> FrameSchema | None:
    """The stacking key of a DataFrame, or None when its blocks cannot be concatenated cheaply.

    Computed for every buffered one-row frame in the folder, so it reads only block attributes (no pandas
    public API) and caches per array type whether that type can be concatenated.
    """
    try:
        layout = []
        append = layout.append
        for block in df._mgr.blocks:
            values = block.values
            t = type(values)
            if t is np.ndarray:
                dtype = values.dtype
                if values.ndim != 2 or dtype.kind not in "biufcmMUSO":
                    return None
                append(dtype)
            else:
                # 2-D extension arrays (datetimes, timedeltas, periods) are backed by one 2-D ndarray per block.
                concatenable = _CONCATENABLE.get(t)
                if concatenable is None:
                    concatenable = _CONCATENABLE[t] = hasattr(t, "_concat_same_type")
                if not concatenable or values.ndim not in (1, 2):
                    return None
                dtype = getattr(values, "_dtype", None)  # what .dtype returns, without the property call
                append(_dtype_token(values, dtype if dtype is not None else values.dtype))
            indexer = block.mgr_locs.indexer
            append(indexer if type(indexer) is slice else tuple(indexer.tolist()))
        return FrameSchema(df.columns, tuple(layout))
    except (AttributeError, TypeError, ValueError):
        return None


# Array type -> whether pandas can concatenate arrays of it (``_concat_same_type``).
_CONCATENABLE: dict[type, bool] = {}


class FrameColumns:
    """Several same-schema DataFrames stacked as column arrays (what a DataFrame's columns would hold).

    Read by :class:`PandasAdapter` exactly like the DataFrame made of those rows, without building it.
    """

    __slots__ = ("arrays", "columns", "n_rows")

    def __init__(self, columns: Any, arrays: list[Any], n_rows: int) -> None:
        self.columns = columns
        self.arrays = arrays
        self.n_rows = n_rows


def stack_frames(frames: Sequence[Any]) -> FrameColumns:
    """The rows of DataFrames with equal :func:`frame_schema`, in order, as one :class:`FrameColumns`."""
    first = frames[0]
    arrays: list[Any] = [None] * len(first.columns)
    all_blocks = [f._mgr.blocks for f in frames]
    n_rows = 0
    for j, block in enumerate(all_blocks[0]):
        parts = [blocks[j].values for blocks in all_blocks]
        positions = _placement(block)
        if type(parts[0]) is np.ndarray:
            merged = np.concatenate(parts, axis=1)
        elif parts[0].ndim == 2:
            merged = type(parts[0])._concat_same_type(parts, axis=1)
        else:
            merged = None
        if merged is not None:
            n_rows = merged.shape[1]
            for i, position in enumerate(positions):
                arrays[position] = merged[i]
        else:
            arrays[positions[0]] = merged = type(parts[0])._concat_same_type(parts)
            n_rows = len(merged)
    return FrameColumns(first.columns, arrays, n_rows if arrays else sum(len(f) for f in frames))


class PandasAdapter:
    """Reads ``pandas.DataFrame`` and ``pandas.Series`` (plus ``Index``/``Categorical`` as columns).

    A DataFrame is rows × columns, named by its column labels (``names=`` applies only when the columns
    are the default 0..k-1 labels); a MultiIndex label is joined with ``.``. A Series, as features, is
    **one row** keyed by its index (what ``df.iloc[i]`` gives); as outputs, one value per row.
    """

    def accepts(self, obj: object) -> bool:
        """Objects defined in pandas (checked by module name, without importing pandas)."""
        return type(obj).__module__.startswith("pandas") or type(obj) is FrameColumns

    def batch_size(self, obj: object) -> int | None:
        """``len`` of a DataFrame, 1 for a Series, None for other pandas objects."""
        if type(obj) is FrameColumns:
            return obj.n_rows
        name = type(obj).__name__
        if name == "DataFrame":
            return len(obj)  # type: ignore[arg-type]
        if name == "Series":
            return 1
        return None

    def read_features(self, obj: object, names: Sequence[str] | None, categorical: Collection[str]) -> Table:
        """Read a DataFrame (rows) or a Series (one row keyed by index)."""
        import pandas as pd

        if type(obj) is FrameColumns:
            cols = _names_of_columns(obj.columns, names)
            return Table(
                obj.n_rows,
                tuple(array_column(a, n, n in categorical, False) for a, n in zip(obj.arrays, cols)),
            )
        if isinstance(obj, pd.DataFrame):
            cols = _column_names(obj, names)
            return Table(len(obj), tuple(_frame_columns(obj, cols, categorical, labels=False)))
        if isinstance(obj, pd.Series):
            index = obj.index
            if (
                names is not None
                and isinstance(index, pd.RangeIndex)
                and index.start == 0
                and index.step == 1
            ):
                keys = resolve_names(names, len(index), "f", "values of a Series row")
            else:
                keys = [str(k) for k in index]
                check_unique(keys)
            values = obj.tolist()
            return Table(
                1, tuple(column_from_value(k, v, categorical=k in categorical) for k, v in zip(keys, values))
            )
        raise UnsupportedInput(
            f"cannot read {describe(obj)} as features; supported pandas: DataFrame, Series"
        )

    def read_outputs(
        self, obj: object, names: Sequence[str] | None, classes: Sequence | Mapping | None
    ) -> Outputs:
        """A Series is one output (named by ``names``, else its name, else ``prediction``); a DataFrame is
        a probability matrix (classes = column labels) or one output per column."""
        import pandas as pd

        if isinstance(obj, pd.Series):
            name = str(obj.name) if names is None and obj.name is not None else single_output_name(names)
            return combine([([series_column(obj, name, labels=True)], {})])
        if isinstance(obj, pd.DataFrame):
            cols = _column_names(obj, names)
            if obj.shape[1] >= 2 and all(
                isinstance(d, np.dtype) and d.kind == "f" for d in obj.dtypes.tolist()
            ):
                matrix = obj.to_numpy(dtype=np.float64)
                if is_probability(matrix):
                    cls = cols if classes is None else classes
                    name = single_output_name(names if names is not None and len(names) == 1 else None)
                    return combine([probability_column(name, matrix, cls)])
            return combine([(_frame_columns(obj, cols, (), labels=True), {})])
        if getattr(obj, "ndim", None) == 1:  # Index, Categorical, extension arrays
            return combine([([self.read_column(obj, single_output_name(names), False, True)], {})])
        raise UnsupportedInput(
            f"cannot read {describe(obj)} as outputs; supported pandas: DataFrame, Series, 1-D arrays"
        )

    def read_column(self, obj: object, name: str, categorical: bool, labels: bool) -> Column:
        """Read a Series, Index, Categorical or other 1-D pandas array as one column."""
        if getattr(obj, "ndim", None) != 1:
            raise UnsupportedInput(f"column {name!r} is {describe(obj)}; a column must be 1-D")
        return series_column(obj, name, categorical=categorical, labels=labels)
