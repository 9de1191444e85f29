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

__all__ = ["PandasAdapter", "series_column"]


def series_column(s: Any, name: str, categorical: bool = False, labels: bool = False) -> Column:
    """A pandas Series → a column, by the same inference rule as numpy.

    ``category`` columns are categorical whatever their categories; nullable ``Int64``/``Float64``/``boolean``
    and ``string`` columns read their ``pd.NA`` as missing; tz-aware datetimes become seconds since the epoch.
    """
    import pandas as pd

    dtype = s.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":
            return column_from_objects(
                name, s.to_numpy(dtype=object, na_value=None), categorical=categorical, labels=labels
            )
        return column_from_numpy(name, s.to_numpy(), categorical=categorical, labels=labels)
    if isinstance(dtype, pd.StringDtype):  # str or missing only: no per-value inference needed
        arr = s.array
        if dtype.storage == "pyarrow" and hasattr(arr, "__arrow_array__"):
            values = arr.__arrow_array__().to_numpy(zero_copy_only=False)  # 2-3x faster than pandas' own
        else:
            values = s.to_numpy(dtype=object, na_value=None)
        return Column(name, values.astype(object, copy=False), "categorical")
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        labels_ = column_from_numpy("categories", np.asarray(cats), categorical=True).values
        lookup = np.append(labels_, None)  # code -1 (missing) picks the trailing None
        return Column(name, lookup[s.cat.codes.to_numpy()], "categorical")
    if isinstance(dtype, pd.DatetimeTZDtype):
        return column_from_numpy(
            name, s.to_numpy(dtype=f"datetime64[{dtype.unit}]"), categorical=categorical, labels=labels
        )
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        from otel_mlmon.adapters._arrow import arrow_column

        return arrow_column(pa.array(s.array), name, categorical=categorical, labels=labels)
    if isinstance(dtype, pd.SparseDtype):
        return series_column(s.sparse.to_dense(), name, categorical, labels)
    kind = dtype.kind
    if kind in "iu":  # nullable Int64 & co.
        floats = s.to_numpy(dtype=np.float64, na_value=np.nan)
        if categorical or labels:
            return Column(name, format_floats(floats), "categorical")
        return Column(name, floats, "numeric")
    if kind == "f":  # nullable Float64
        return column_from_numpy(
            name, s.to_numpy(dtype=np.float64, na_value=np.nan), categorical=categorical, labels=labels
        )
    # boolean, string, period, interval and other extension types: their Python objects.
    return column_from_objects(
        name, s.to_numpy(dtype=object, na_value=None), categorical=categorical, labels=labels
    )


def _frame_columns(df: Any, names: list[str], categorical: Collection[str], labels: bool) -> list[Column]:
    """Every column of a DataFrame, fetching numpy-backed columns without building a Series each.

    pandas' public column access costs ~20 µs per column; ``_get_column_array`` (pandas ≥ 1.3) ~1 µs.
    """
    import pandas as pd

    get = getattr(df, "_get_column_array", None)
    columns = []
    for j, name in enumerate(names):
        arr = get(j) if get is not None else df.iloc[:, j].array
        declared = name in categorical
        if isinstance(arr, np.ndarray):
            columns.append(column_from_numpy(name, arr, categorical=declared, labels=labels))
        else:
            s = pd.Series(arr, copy=False) if get is not None else df.iloc[:, j]
            columns.append(series_column(s, name, categorical=declared, labels=labels))
    return columns


def _column_names(df: Any, names: Sequence[str] | None) -> list[str]:
    import pandas as pd

    columns = df.columns
    if names is not None and isinstance(columns, pd.RangeIndex) and columns.start == 0 and columns.step == 1:
        return resolve_names(names, len(columns), "f", "DataFrame columns")
    if isinstance(columns, pd.MultiIndex):
        result = [".".join(map(str, label)) for label in columns.tolist()]
    else:
        result = list(map(str, columns.tolist()))
    check_unique(result)
    return result


class PandasAdapter:
    """Reads ``pandas.DataFrame`` and ``pandas.Series`` (plus ``Index``/``Categorical`` as columns).

    A DataFrame is rows × columns, named by its column labels (``names=`` applies only when the columns
    are the default 0..k-1 labels); a MultiIndex label is joined with ``.``. A Series, as features, is
    **one row** keyed by its index (what ``df.iloc[i]`` gives); as outputs, one value per row.
    """

    def accepts(self, obj: object) -> bool:
        """Objects defined in pandas (checked by module name, without importing pandas)."""
        return type(obj).__module__.startswith("pandas")

    def batch_size(self, obj: object) -> int | None:
        """``len`` of a DataFrame, 1 for a Series, None for other pandas objects."""
        name = type(obj).__name__
        if name == "DataFrame":
            return len(obj)  # type: ignore[arg-type]
        if name == "Series":
            return 1
        return None

    def read_features(self, obj: object, names: Sequence[str] | None, categorical: Collection[str]) -> Table:
        """Read a DataFrame (rows) or a Series (one row keyed by index)."""
        import pandas as pd

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
        """Read a Series, Index, Categorical or extension array as one column."""
        import pandas as pd

        if isinstance(obj, pd.DataFrame):
            raise UnsupportedInput(f"column {name!r} is a DataFrame; a column must be 1-D")
        s = obj if isinstance(obj, pd.Series) else pd.Series(obj, copy=False)
        return series_column(s, name, categorical=categorical, labels=labels)
