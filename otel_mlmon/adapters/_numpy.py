"""Adapter for numpy arrays and numpy scalars: 2-D batches, 1-D single rows, structured arrays."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from otel_mlmon.adapters._base import Column, Outputs, Table, UnsupportedInput
from otel_mlmon.adapters._convert import (
    column_from_numpy,
    column_from_value,
    describe,
    read_only,
    resolve_names,
)
from otel_mlmon.adapters._matrix import MatrixTable
from otel_mlmon.adapters._outputs import (
    combine,
    is_probability,
    is_vector_output,
    output_columns,
    probability_column,
    vector_column,
)

__all__ = ["NumpyAdapter", "single_output_name"]

_SUPPORTED = "numpy arrays of 0, 1 (one row) or 2 (rows × features) dimensions, or 1-D structured arrays"


def single_output_name(names: Sequence[str] | None) -> str:
    """The name of a single output: ``names[0]`` or ``"prediction"``."""
    if names is None:
        return "prediction"
    if len(names) != 1:
        raise UnsupportedInput(f"{len(names)} names given for a single output: {list(names)[:10]!r}")
    return str(names[0])


def _structured_table(a: np.ndarray, categorical: Collection[str], labels: bool) -> Table:
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise UnsupportedInput(f"{describe(a)}: structured arrays must be 0-D or 1-D")
    columns = []
    for field in a.dtype.names or ():
        values = a[field]
        if values.ndim != 1 or values.dtype.names is not None:
            raise UnsupportedInput(
                f"structured field {field!r} has sub-array or nested dtype {a.dtype.fields[field][0]}; "
                "only scalar fields are supported"
            )
        columns.append(column_from_numpy(str(field), values, categorical=field in categorical, labels=labels))
    return Table(a.shape[0], tuple(columns))


class NumpyAdapter:
    """Reads ``numpy.ndarray`` and numpy scalars (``numpy.generic``).

    Features: 2-D = rows × features, 1-D = one row, 0-D = one value; columns are named by ``names``
    (e.g. a model's ``feature_names_in_``) or ``f0 .. f{k-1}``. Structured arrays: one column per field.
    """

    def accepts(self, obj: object) -> bool:
        """Numpy arrays and numpy scalars."""
        return isinstance(obj, (np.ndarray, np.generic))

    def batch_size(self, obj: object) -> int | None:
        """``shape[0]`` of a 2-D (or structured 1-D) array, else 1."""
        shape = np.shape(obj)
        if len(shape) >= 2 or (len(shape) == 1 and obj.dtype.names is not None):  # type: ignore[attr-defined]
            return shape[0]
        return 1

    def read_features(self, obj: object, names: Sequence[str] | None, categorical: Collection[str]) -> Table:
        """Read an array as features (see the class docstring)."""
        a = np.asarray(obj)
        if a.dtype.names is not None:
            return _structured_table(a, categorical, labels=False)
        if a.ndim == 0:
            (name,) = resolve_names(names, 1, "f", "features")
            return Table(1, (column_from_numpy(name, a.reshape(1), categorical=name in categorical),))
        if a.ndim == 1:
            cols = resolve_names(names, a.shape[0], "f", "features of a 1-D row")
            if a.dtype.kind == "O":
                values = a.tolist()
                return Table(
                    1,
                    tuple(
                        column_from_value(n, v, categorical=n in categorical) for n, v in zip(cols, values)
                    ),
                )
            a = a.reshape(1, -1)
        elif a.ndim != 2:
            raise UnsupportedInput(f"{describe(a)} is not supported as features; supported: {_SUPPORTED}")
        cols = resolve_names(names, a.shape[1], "f", "feature columns")
        if a.dtype.kind in "iuf" and not (categorical and any(n in categorical for n in cols)):
            # Kept as the array: a vector column reaches its sketch without a column per dimension made and
            # re-stacked; other readers get the same float64 columns, made when first asked for.
            return MatrixTable(a, tuple(cols))
        return Table(a.shape[0], self._columns(a, cols, categorical))

    @staticmethod
    def _columns(a: np.ndarray, names: list[str], categorical: Collection[str]) -> tuple[Column, ...]:
        if a.dtype.kind in "iuf":
            floats = read_only(a if a.dtype == np.float64 else a.astype(np.float64))  # so are its slices
            return tuple(
                column_from_numpy(n, a[:, j], categorical=True)
                if n in categorical
                else Column(n, floats[:, j], "numeric")
                for j, n in enumerate(names)
            )
        return tuple(column_from_numpy(n, a[:, j], categorical=n in categorical) for j, n in enumerate(names))

    def read_outputs(
        self, obj: object, names: Sequence[str] | None, classes: Sequence | Mapping | None
    ) -> Outputs:
        """Read an array as outputs: 1-D labels/values, 2-D probabilities, an embedding matrix (one vector output)
        or one output per column."""
        a = np.asarray(obj)
        if a.dtype.names is not None:
            table = _structured_table(a, (), labels=True)
            return Outputs(table, {})
        if a.ndim == 2 and (a.shape[1] > 1 or (names is not None and len(names) > 1)):
            if is_probability(a):
                return combine([probability_column(single_output_name(names), a, classes)])
            if (names is None or len(names) == 1) and is_vector_output(a):
                return combine([vector_column(single_output_name(names), a)])
            if names is not None and len(names) == 1:  # one name for a multi-output matrix: a prefix
                cols = [f"{names[0]}_{j}" for j in range(a.shape[1])]
            else:
                cols = resolve_names(names, a.shape[1], "output_", "output columns")
            return combine([output_columns(a, "output", None, column_names=cols)])
        if a.ndim > 2:
            raise UnsupportedInput(
                f"{describe(a)} is not supported as outputs; supported: scalars, 1-D labels or values, "
                "2-D probability or multi-output matrices"
            )
        return combine([output_columns(a, single_output_name(names), classes)])

    def read_column(self, obj: object, name: str, categorical: bool, labels: bool) -> Column:
        """Read a 1-D array as one column."""
        a = np.asarray(obj)
        if a.ndim != 1 or a.dtype.names is not None:
            raise UnsupportedInput(f"column {name!r} is {describe(a)}; a column must be 1-D")
        return column_from_numpy(name, a, categorical=categorical, labels=labels)
