"""Which columns are vector columns (embeddings), for inputs and outputs alike: one rule, one width.

An **input** is one vector column (``vector``) when it has at least ``vector_min_width`` numeric columns without
names of their own (``f0``, ``f1`` ... or ``0``, ``1`` ...). An **output** is one when the adapters read it as an
embedding matrix (a 2-D float output at least :data:`~otel_mlmon.adapters._outputs.VECTOR_MIN_WIDTH` wide that
is not class probabilities, see docs/adapters.md) and it is also at least ``vector_min_width`` wide; a narrower
one, or any with ``vector_min_width=None``, is summarised column by column as before (``{output}_0`` ...).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from otel_mlmon.adapters import Column, Table
from otel_mlmon.adapters._convert import column_from_numpy
from otel_mlmon.adapters._matrix import MatrixTable

__all__ = ["is_vector", "output_columns", "vector_matrix"]


def is_vector(width: int | None, column: Column) -> bool:
    """Whether an output column the adapters read as a matrix (kind ``vector``) is summarised as one."""
    return width is not None and column.values.shape[1] >= width


def output_columns(column: Column) -> Iterator[Column]:
    """An embedding output not summarised as a vector: one numeric column per dimension, ``{name}_{j}``."""
    for j in range(column.values.shape[1]):
        yield column_from_numpy(f"{column.name}_{j}", column.values[:, j], labels=True)


@functools.lru_cache(maxsize=32)
def _default_names(count: int, prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(count))


def _unnamed(names: tuple[str, ...]) -> bool:
    """Column names that are positions: ``f0 … f{k-1}`` (arrays, tensors, lists of rows) or ``0 … k-1`` (a
    DataFrame without column labels)."""
    prefix = "f" if names[0] == "f0" else ""
    return names == _default_names(len(names), prefix)


def vector_matrix(width: int | None, table: Table) -> np.ndarray | None:
    """The ``(n, d)`` matrix of a wide unnamed numeric input (one vector column), else None.

    A table read from one 2-D float array (:class:`~otel_mlmon.adapters._matrix.MatrixTable`) gives that array as
    it is (its float64 columns are never made); other tables give their columns' common 2-D base or a float32
    stack. The vector sketch computes in float32 whatever it gets, so all three give the same sketch.
    """
    if isinstance(table, MatrixTable):
        if width is None or len(table.names) < width or not _unnamed(table.names):
            return None
        # int64 -> float32 may round differently from int64 -> float64 -> float32 (the columns' path): not floats.
        return table.source if table.source.dtype.kind == "f" else table.floats
    columns = table.columns
    if (
        width is not None
        and len(columns) >= width
        and all(c.kind == "numeric" for c in columns)
        and _unnamed(table.names)
    ):
        base = _common_base(columns, table.n_rows)
        if base is not None:
            return base
        matrix = np.empty((table.n_rows, len(columns)), dtype=np.float32)
        for j, c in enumerate(columns):
            matrix[:, j] = c.values
        return matrix
    return None


def _common_base(columns: list[Column], n: int) -> np.ndarray | None:
    """The 2-D array whose columns, in order, the adapters' columns are views of (a 2-D input), else None.

    The adapters read a 2-D array as its column views in order; sharing one base and the first, second and last
    columns' addresses confirm that layout without touching the other columns' data.
    """
    base = columns[0].values.base
    d = len(columns)
    if not isinstance(base, np.ndarray) or base.ndim != 2 or base.shape != (n, d):
        return None
    if any(c.values.base is not base for c in columns):
        return None
    start, step = base.ctypes.data, base.strides[1]
    for j in (0, 1, d - 1):
        if columns[j].values.ctypes.data != start + j * step:
            return None
    return base
