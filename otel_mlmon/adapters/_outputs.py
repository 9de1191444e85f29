"""The rules that turn return values into output columns: labels, regression values, probabilities, embeddings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from otel_mlmon.adapters._base import ClassProbabilities, Column, Outputs, Table, UnsupportedInput
from otel_mlmon.adapters._convert import (
    check_unique,
    column_from_numpy,
    column_from_objects,
    describe,
)

__all__ = [
    "PROBABILITY_ATOL",
    "VECTOR_MIN_WIDTH",
    "combine",
    "is_probability",
    "is_vector_output",
    "output_columns",
    "probability_column",
    "split_classes",
    "vector_column",
]

#: Largest |row sum − 1| for a float matrix to count as class probabilities (float32 softmax is ~1e-6).
PROBABILITY_ATOL = 1e-3
_RANGE_ATOL = 1e-6
#: A 2-D float output at least this wide that is not a probability matrix (and has no per-column names) is one
#: vector column (an embedding): the same width as ``SummaryConfig(vector_min_width=64)`` for inputs.
VECTOR_MIN_WIDTH = 64

#: One output's columns and confidences, and for a probability matrix its classes (:func:`probability_column`).
Part = (
    tuple[list[Column], dict[str, np.ndarray]]
    | tuple[list[Column], dict[str, np.ndarray], dict[str, ClassProbabilities]]
)


def is_probability(m: np.ndarray) -> bool:
    """Whether a 2-D array is a probability matrix: float, ≥2 columns, values in [0, 1], rows sum to 1.

    Rows holding NaN or ±inf are ignored; at least one complete row is needed.
    """
    if m.ndim != 2 or m.dtype.kind != "f" or m.shape[1] < 2 or m.shape[0] == 0:
        return False
    complete = np.isfinite(m).all(axis=1)
    if not complete.all():
        if not complete.any():
            return False
        m = m[complete]
    if m.min() < -_RANGE_ATOL or m.max() > 1 + _RANGE_ATOL:
        return False
    return bool(np.abs(m.sum(axis=1) - 1.0).max() <= PROBABILITY_ATOL)


def is_vector_output(m: np.ndarray) -> bool:
    """Whether a 2-D output is an embedding matrix: float, at least :data:`VECTOR_MIN_WIDTH` columns, and not
    class probabilities (softmax outputs of many classes stay probabilities)."""
    return m.ndim == 2 and m.dtype.kind == "f" and m.shape[1] >= VECTOR_MIN_WIDTH and not is_probability(m)


def vector_column(name: str, m: np.ndarray) -> Part:
    """An embedding matrix → one ``vector`` column holding the ``(n, d)`` matrix itself (summarised by a vector
    sketch, never column by column and never as prediction records)."""
    return [Column(name, m, "vector")], {}


def _class_labels(classes: Sequence | np.ndarray | None, k: int, name: str) -> np.ndarray:
    if classes is None:
        return np.arange(k).astype(str).astype(object)
    arr = np.asarray(classes) if not isinstance(classes, np.ndarray) else classes
    if arr.ndim != 1 or arr.shape[0] != k:
        raise UnsupportedInput(
            f"output {name!r}: {k} probability columns but classes= has shape {arr.shape}; "
            "give one class per column (e.g. the estimator's classes_)"
        )
    return column_from_numpy("classes", arr, categorical=True).values


def probability_column(name: str, m: np.ndarray, classes: Sequence | np.ndarray | None) -> Part:
    """A probability matrix → the argmax class per row (categorical), the max probability, and the matrix with its
    classes (the argmax kept, so that nothing downstream computes it again)."""
    m = np.asarray(m, dtype=np.float64)
    labels = _class_labels(classes, m.shape[1], name)
    complete = np.isfinite(m).all(axis=1)
    if complete.all():
        idx = m.argmax(axis=1)
        return (
            [Column(name, labels[idx], "categorical")],
            {name: m.max(axis=1)},
            {name: ClassProbabilities(m, labels, idx)},
        )
    filled = np.where(complete[:, None], m, -np.inf)
    idx = filled.argmax(axis=1)
    values = labels[idx]
    values[~complete] = None
    confidence = filled.max(axis=1)
    confidence[~complete] = np.nan
    idx[~complete] = -1
    return (
        [Column(name, values, "categorical")],
        {name: confidence},
        {name: ClassProbabilities(m, labels, idx)},
    )


def output_columns(
    a: np.ndarray,
    name: str,
    classes: Sequence | np.ndarray | None,
    column_names: Sequence[str] | None = None,
) -> Part:
    """One output given as a numpy array (0-D, 1-D or 2-D) → its columns and confidences.

    Args:
        a: the output values.
        name: the output name (a 2-D non-probability output gets ``name_0``, ``name_1``, ...).
        classes: class labels for the columns of a probability matrix.
        column_names: names for the columns of a 2-D output, instead of ``name_j``.
    """
    if a.dtype.names is not None:
        raise UnsupportedInput(
            f"output {name!r}: structured arrays are only supported as the whole return value"
        )
    if a.ndim == 0:
        return [column_from_numpy(name, a.reshape(1), labels=True)], {}
    if a.ndim == 1:
        return [column_from_numpy(name, a, labels=True)], {}
    if a.ndim == 2:
        if a.shape[1] == 1 and column_names is None:
            return [column_from_numpy(name, a[:, 0], labels=True)], {}
        if column_names is None and is_probability(a):
            return probability_column(name, a, classes)
        if column_names is None and is_vector_output(a):
            return vector_column(name, a)
        names = list(column_names) if column_names is not None else [f"{name}_{j}" for j in range(a.shape[1])]
        if len(names) != a.shape[1]:
            raise UnsupportedInput(
                f"{len(names)} names given for {a.shape[1]} output columns: {names[:10]!r}"
            )
        if a.dtype.kind == "O":
            return [column_from_objects(n, a[:, j], labels=True) for j, n in enumerate(names)], {}
        return [column_from_numpy(n, a[:, j], labels=True) for j, n in enumerate(names)], {}
    raise UnsupportedInput(
        f"output {name!r} is {describe(a)}; supported outputs are scalars, 1-D labels or values, and 2-D "
        "probability or multi-output matrices"
    )


def split_classes(classes: Sequence | Mapping | np.ndarray | None, keys: Sequence[str]) -> list[Any]:
    """Per-output classes: a mapping by output name, a list of class arrays (one per output), or shared."""
    if classes is None:
        return [None] * len(keys)
    if isinstance(classes, Mapping):
        return [classes.get(k) for k in keys]
    if (
        len(keys) > 1
        and not isinstance(classes, np.ndarray)
        and len(classes) == len(keys)
        and all(np.ndim(c) == 1 for c in classes)
    ):
        return list(classes)
    return [classes] * len(keys)


def combine(parts: Sequence[Part], n_rows: int | None = None) -> Outputs:
    """Join the columns of several outputs, checking they have one row count and distinct names."""
    columns: list[Column] = []
    confidence: dict[str, np.ndarray] = {}
    probabilities: dict[str, ClassProbabilities] = {}
    for cols, conf, *probs in parts:
        columns.extend(cols)
        confidence.update(conf)
        if probs:
            probabilities.update(probs[0])
    check_unique([c.name for c in columns])
    lengths = {c.values.shape[0] for c in columns}
    if len(lengths) > 1:
        detail = ", ".join(f"{c.name}={c.values.shape[0]}" for c in columns[:10])
        raise UnsupportedInput(f"outputs have different numbers of rows ({detail})")
    if lengths:
        n_rows = lengths.pop()
    return Outputs(Table(n_rows or 0, tuple(columns)), confidence, probabilities)
