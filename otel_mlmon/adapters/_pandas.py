"""Adapter for pandas DataFrames and Series; pandas is imported only when such an object arrives."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from otel_mlmon._parallel import map_columns
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
from otel_mlmon.adapters._frame_run import FrameColumns, names_of_columns
from otel_mlmon.adapters._numpy import single_output_name
from otel_mlmon.adapters._outputs import combine, is_probability, probability_column
from otel_mlmon.sketch._coded import CODED_MIN_ROWS, coded_strings

__all__ = [
    "PandasAdapter",
    "array_column",
    "series_column",
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
            if len(arr) >= CODED_MIN_ROWS:  # encoded in C, codes kept for the sketch (adapters/_arrow.py)
                from otel_mlmon.adapters._arrow import arrow_column

                return arrow_column(arr.__arrow_array__(), name, categorical=True, labels=labels)
            values = arr.__arrow_array__().to_numpy(zero_copy_only=False)  # 2-3x faster than pandas' own
        else:
            values = arr.to_numpy(dtype=object, na_value=None)
        return Column(name, values.astype(object, copy=False), "categorical")
    if isinstance(dtype, pd.CategoricalDtype):
        return _category_column(arr, name)
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


def _category_column(arr: Any, name: str) -> Column:
    """A pandas ``category`` array: its categories read as labels, then one per row by code (-1: missing).

    Long columns keep the codes (:mod:`otel_mlmon.sketch._coded`), so the sketch counts each category once.
    """
    cats = column_from_numpy("categories", np.asarray(arr.dtype.categories), categorical=True).values
    codes = np.asarray(arr.codes)
    if len(codes) >= CODED_MIN_ROWS:
        return Column(name, coded_strings(cats, codes), "categorical")
    lookup = np.append(cats, None)  # code -1 (missing) picks the trailing None
    return Column(name, lookup[codes], "categorical")


def _frame_columns(df: Any, names: list[str], categorical: Collection[str], labels: bool) -> list[Column]:
    """Every column of a DataFrame, fetched without building a Series each.

    pandas' public column access costs ~20 µs per column; ``_get_column_array`` (pandas ≥ 1.3) ~1 µs.
    """
    get = getattr(df, "_get_column_array", None)
    arrays = [get(j) if get is not None else df.iloc[:, j].array for j in range(len(names))]
    return _array_columns(arrays, names, categorical, labels, len(df))


def _array_columns(
    arrays: Sequence[Any], names: Sequence[str], categorical: Collection[str], labels: bool, rows: int
) -> list[Column]:
    """:func:`array_column` of each array; long string columns (encoded in C) on several threads at once."""
    items = list(zip(arrays, names))
    # Only columns of extension dtypes (strings above all) cost more than a view: they set the work's size.
    costly = sum(not isinstance(a.dtype, np.dtype) for a in arrays)
    work = rows * costly if costly >= 2 else 0
    return map_columns(
        lambda item: array_column(item[0], item[1], item[1] in categorical, labels), items, work
    )


def _column_names(df: Any, names: Sequence[str] | None) -> list[str]:
    return names_of_columns(df.columns, names)


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
            cols = names_of_columns(obj.columns, names)
            return Table(obj.n_rows, tuple(_array_columns(obj.arrays, cols, categorical, False, obj.n_rows)))
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
