"""The data types every input adapter produces, and the protocol adapters implement."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

__all__ = ["Adapter", "ClassProbabilities", "Column", "Outputs", "Table", "UnsupportedInput"]

ColumnKind = Literal["numeric", "categorical", "text", "vector"]


class UnsupportedInput(TypeError):
    """An input or output object whose type or shape no adapter can read.

    The message names the type (and shape, when it has one) and what is supported instead.
    """


@dataclass(frozen=True)
class Column:
    """One feature or output: a name, its kind and one value per row.

    Attributes:
        name: the feature or output name (always a ``str``).
        values: 1-D array of length ``n_rows``. Numeric columns are ``float64`` with NaN for a missing
            value (±inf are kept); categorical columns are ``object`` arrays of ``str`` with ``None`` for a
            missing value; text columns (chat messages) are ``object`` arrays of ``str`` too; a vector column (an
            embedding output) is the ``(n_rows, d)`` float matrix itself. The array may be a read-only view of the
            caller's data: never modify it.
        kind: ``"numeric"``, ``"categorical"`` (bools, labels and every other string column, whose kind the
            summaries decide: see :mod:`otel_mlmon._kinds`), ``"text"`` (known to be free text by its structure) or
            ``"vector"`` (outputs only: an embedding matrix, see :func:`otel_mlmon.adapters.read_outputs`).
    """

    name: str
    values: np.ndarray
    kind: ColumnKind


@dataclass(frozen=True)
class Table:
    """The columns read from one input object, all of length ``n_rows``."""

    n_rows: int
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(c.name for c in self.columns)

    def numeric_matrix(self) -> tuple[tuple[str, ...], np.ndarray]:
        """The numeric columns as one ``(n_rows, k)`` float64 matrix, for sketching all columns at once.

        When the columns are equally spaced views of one array (a 2-D numpy input, a DataFrame block),
        the matrix is a read-only view of it and nothing is copied; otherwise the columns are stacked.

        Returns:
            The numeric column names, in table order, and the matrix (column ``j`` = ``names[j]``).
        """
        cols = [c for c in self.columns if c.kind == "numeric"]
        names = tuple(c.name for c in cols)
        if not cols:
            return names, np.empty((self.n_rows, 0))
        view = _strided_view([c.values for c in cols])
        if view is not None:
            return names, view
        return names, np.column_stack([c.values for c in cols])

    def take(self, rows: np.ndarray | slice) -> Table:
        """The same columns restricted to ``rows`` (integer indices or a slice), e.g. to cap a huge batch.

        Args:
            rows: row positions (``numpy`` integer array) or a ``slice``.
        """
        columns = tuple(Column(c.name, c.values[rows], c.kind) for c in self.columns)
        if columns:
            n_rows = columns[0].values.shape[0]
        else:
            n_rows = len(range(self.n_rows)[rows]) if isinstance(rows, slice) else len(rows)
        return Table(n_rows, columns)


@dataclass(frozen=True)
class ClassProbabilities:
    """A probability output's matrix as read, kept so that each class's probability can be summarised.

    Attributes:
        matrix: the ``(n_rows, k)`` float64 class probabilities (may be a view of the caller's data: never
            modify it).
        labels: the ``k`` class labels (an ``object`` array of ``str``, as the output column spells them).
        predicted: each row's predicted class, an index into ``labels`` (the argmax, or the deployed decision's
            class); -1 where the row's probabilities were incomplete (its label is missing).
    """

    matrix: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray

    def take(self, rows: np.ndarray | slice) -> ClassProbabilities:
        """The same classes restricted to ``rows`` (integer indices or a slice)."""
        return ClassProbabilities(self.matrix[rows], self.labels, self.predicted[rows])


@dataclass(frozen=True)
class Outputs:
    """What a predict call returned, read as columns.

    Attributes:
        table: one column per output, holding the predicted value or label of each row.
        confidence: output name -> the maximum class probability of each row (``float64``, NaN where a
            row's probabilities were missing); present only for outputs given as probability matrices.
        probabilities: output name -> its probability matrix, class labels and predicted classes; present only
            for outputs given as probability matrices (the summaries' ``class_probability`` reads it).
    """

    table: Table
    confidence: dict[str, np.ndarray] = field(default_factory=dict)
    probabilities: dict[str, ClassProbabilities] = field(default_factory=dict)

    def take(self, rows: np.ndarray | slice) -> Outputs:
        """The same outputs and confidences restricted to ``rows`` (integer indices or a slice)."""
        return Outputs(
            self.table.take(rows),
            {k: v[rows] for k, v in self.confidence.items()},
            {k: v.take(rows) for k, v in self.probabilities.items()},
        )


@runtime_checkable
class Adapter(Protocol):
    """Reads one kind of object (numpy, pandas, pyarrow, torch, mappings, sequences, scalars).

    ``accepts`` is called once per concrete type (the answer is cached by type), so it may be slow-ish;
    the other methods run on the hot path and must be vectorised.
    """

    def accepts(self, obj: object) -> bool:
        """Whether this adapter reads objects of ``type(obj)``."""
        ...

    def batch_size(self, obj: object) -> int | None:
        """Rows in ``obj`` without copying: a batch's length, 1 for a single row, None if unknown."""
        ...

    def read_features(self, obj: object, names: Sequence[str] | None, categorical: Collection[str]) -> Table:
        """Read ``obj`` as a feature table."""
        ...

    def read_outputs(
        self, obj: object, names: Sequence[str] | None, classes: Sequence | Mapping | None
    ) -> Outputs:
        """Read ``obj`` as the return value of a predict call."""
        ...

    def read_column(self, obj: object, name: str, categorical: bool, labels: bool) -> Column:
        """Read a 1-D ``obj`` as one column (``labels``: integers are class labels, so categorical)."""
        ...


def _strided_view(arrays: list[np.ndarray]) -> np.ndarray | None:
    """A (n, k) view over k equally spaced 1-D arrays sharing one buffer, or None when they are not."""
    first = arrays[0]
    base = first.base
    if base is None or first.dtype != np.float64:
        return None
    start = first.__array_interface__["data"][0]
    step = arrays[1].__array_interface__["data"][0] - start if len(arrays) > 1 else first.itemsize
    for j, a in enumerate(arrays):
        if (
            a.base is not base
            or a.dtype != np.float64
            or a.strides != first.strides
            or a.shape != first.shape
            or a.__array_interface__["data"][0] != start + j * step
        ):
            return None
    view = np.lib.stride_tricks.as_strided(
        first, shape=(first.shape[0], len(arrays)), strides=(first.strides[0], step)
    )
    view.flags.writeable = False
    return view
