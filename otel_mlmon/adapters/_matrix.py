"""A feature table read from one 2-D numeric array, kept as that array: its columns are made only when asked for.

A 64 x 768 embedding batch read column by column costs 768 ``Column`` objects (and their garbage) before anything
is summarised; a :class:`MatrixTable` keeps the array, so a vector column (``otel_mlmon._vector_columns``) goes to
its sketch as the matrix it arrived as, while every other reader still sees the same float64 numeric columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from otel_mlmon.adapters._base import Column, Table

__all__ = ["MatrixTable"]


class MatrixTable(Table):
    """The numeric columns of a 2-D int, uint or float array, one per array column, in order.

    Reads exactly like ``Table(n, tuple(Column(name, float64 view of column j, "numeric")))``; the columns and the
    float64 copy are made on first access.

    Attributes:
        source: the ``(n_rows, k)`` array as given (read-only view; any layout, dtype kind ``i``, ``u`` or ``f``).
    """

    def __init__(self, source: np.ndarray, names: tuple[str, ...]) -> None:
        if source.ndim != 2 or source.dtype.kind not in "iuf" or source.shape[1] != len(names):
            raise ValueError(
                f"a MatrixTable needs a 2-D numeric array with one name per column, got {source.shape}"
            )
        view = source.view()
        view.flags.writeable = False
        object.__setattr__(self, "n_rows", int(source.shape[0]))
        object.__setattr__(self, "source", view)
        object.__setattr__(self, "_names", tuple(names))
        object.__setattr__(self, "_floats", None)
        object.__setattr__(self, "_columns", None)

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order (without making the columns)."""
        return self._names

    @property
    def floats(self) -> np.ndarray:
        """The array as float64 (read-only; the array itself when it already is float64)."""
        floats = self._floats
        if floats is None:
            floats = self.source if self.source.dtype == np.float64 else self.source.astype(np.float64)
            floats.flags.writeable = False
            object.__setattr__(self, "_floats", floats)
        return floats

    @property
    def columns(self) -> tuple[Column, ...]:  # type: ignore[override]
        columns = self._columns
        if columns is None:
            floats = self.floats
            columns = tuple(Column(n, floats[:, j], "numeric") for j, n in enumerate(self._names))
            object.__setattr__(self, "_columns", columns)
        return columns

    def numeric_matrix(self) -> tuple[tuple[str, ...], np.ndarray]:
        """Every column is numeric: the names and the float64 array (no stacking)."""
        return self._names, self.floats

    def take(self, rows: np.ndarray | slice) -> MatrixTable:
        """The same columns restricted to ``rows``, still one array."""
        return MatrixTable(self.source[rows], self._names)

    def __repr__(self) -> str:
        return f"MatrixTable(n_rows={self.n_rows}, source={self.source.dtype}{self.source.shape})"

    def __reduce__(self) -> tuple[Any, ...]:
        return MatrixTable, (np.array(self.source), self._names)
