"""Adapter for lists and tuples: lists of dicts (JSON bodies), lists of rows, lists of texts, chat-style message
lists, and single rows of scalars."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from itertools import chain
from operator import itemgetter, methodcaller
from typing import Any

import numpy as np

from otel_mlmon.adapters import _registry
from otel_mlmon.adapters._base import Column, Outputs, Table, UnsupportedInput
from otel_mlmon.adapters._convert import (
    check_unique,
    column_from_objects,
    column_from_value,
    is_chat,
    is_scalar,
    is_texts,
    message_columns,
    resolve_names,
)
from otel_mlmon.adapters._numpy import NumpyAdapter, single_output_name
from otel_mlmon.adapters._outputs import VECTOR_MIN_WIDTH, combine, is_vector_output, split_classes

__all__ = ["SequenceAdapter", "read_messages", "read_records"]

_NUMPY = NumpyAdapter()


def _objects(values: Any, n: int) -> np.ndarray:
    """Any iterable of n cell values → a 1-D object array (never descending into nested lists)."""
    return np.fromiter(values, dtype=object, count=n)


def read_records(rows: Sequence[Any], categorical: Collection[str], labels: bool) -> Table:
    """A list of dicts → a table; keys missing from a row read as missing values.

    Columns appear in the order their keys are first seen.
    """
    n = len(rows)
    types = set(map(type, rows))
    bad = next((t for t in types if not issubclass(t, Mapping)), None)
    if bad is not None:
        raise UnsupportedInput(f"a list of dicts holds a {bad.__qualname__} row; every row must be a dict")
    keys = list(rows[0])
    k = len(keys)
    values: list[np.ndarray] | None = None
    if sum(map(len, rows)) == n * k:  # every row has k keys: if all hold the first row's keys, same set
        try:
            if k == 0:
                values = []
            elif k == 1:
                values = [_objects(map(itemgetter(keys[0]), rows), n)]
            else:  # one pass over the rows, then transpose: ~3x faster than one pass per key
                values = [_objects(col, n) for col in zip(*map(itemgetter(*keys), rows))]
        except KeyError:
            values = None
    if values is None:
        keys = list(dict.fromkeys(chain.from_iterable(rows)))
        values = [_objects(map(methodcaller("get", key), rows), n) for key in keys]
    names = [str(key) for key in keys]
    check_unique(names)
    columns = tuple(
        column_from_objects(name, v, categorical=name in categorical, labels=labels)
        for name, v in zip(names, values)
    )
    return Table(n, columns)


def read_messages(conversations: Sequence[Any]) -> Table:
    """Chat conversations (each a list of ``{"role", "content"}`` messages) → one text column per role, one row
    per conversation (see :func:`~otel_mlmon.adapters._convert.message_columns`)."""
    for conversation in conversations:
        if not isinstance(conversation, (list, tuple)) or (conversation and not is_chat(conversation)):
            raise UnsupportedInput(
                f"a batch of chat conversations holds a {type(conversation).__qualname__}; every conversation "
                "must be a list of {'role': ..., 'content': ...} messages"
            )
    return Table(len(conversations), message_columns(conversations))


def _is_row(value: Any) -> bool:
    """Lists, tuples and 1-D arrays of any library (numpy, torch, ...) are rows of a batch."""
    return isinstance(value, (list, tuple, np.ndarray)) or (
        not is_scalar(value) and not isinstance(value, Mapping) and hasattr(value, "shape")
    )


def _as_numpy(value: Any) -> np.ndarray:
    if type(value).__module__.startswith("torch"):
        from otel_mlmon.adapters._torch import tensor_to_numpy

        return tensor_to_numpy(value)
    return np.asarray(value)


def _vector_rows(obj: list) -> np.ndarray | None:
    """A list of 1-D float arrays or tensors of one width of at least ``VECTOR_MIN_WIDTH``, stacked: the rows of
    one embedding matrix (what an embedder returns per text); None for anything else (several outputs)."""
    first = obj[0]
    shape = getattr(first, "shape", None)
    if isinstance(first, (list, tuple, Mapping)) or shape is None or len(shape) != 1:
        return None
    if int(shape[0]) < VECTOR_MIN_WIDTH or any(getattr(v, "shape", None) != shape for v in obj):
        return None
    rows = [_as_numpy(v) for v in obj]
    if any(r.ndim != 1 or r.dtype.kind != "f" for r in rows):
        return None
    matrix = np.stack(rows)
    return matrix if is_vector_output(matrix) else None


def _read_rows(
    rows: Sequence[Any], names: Sequence[str] | None, categorical: Collection[str], labels: bool
) -> Table:
    """A list of equal-length rows → column names and object columns."""
    lengths = set(map(len, rows))
    if len(lengths) != 1:
        raise UnsupportedInput(f"a list of rows has rows of different lengths {sorted(lengths)[:10]}")
    k = lengths.pop()
    n = len(rows)
    cols = resolve_names(names, k, "output_" if labels else "f", "columns")
    return Table(
        n,
        tuple(
            column_from_objects(name, _objects(values, n), categorical=name in categorical, labels=labels)
            for name, values in zip(cols, zip(*rows))
        ),
    )


class SequenceAdapter:
    """Reads lists and tuples.

    Features: a list of dicts is rows keyed by column name (keys may differ between rows: missing), except a
    chat-style list of ``{"role", "content"}`` messages, which is one conversation (one row of text columns
    ``messages.{role}``; a list of such lists is a batch of conversations); a list of lists/tuples/arrays is rows
    (named by ``names`` or ``f0..``); a list of strings (None allowed) is a batch of texts, one column ``f0``
    (or the one name in ``names``); any other list of scalars is one row.
    Outputs: a tuple, or a list of arrays, is several outputs ``output_0, output_1, ...``; a list of
    scalars is one output; a list of lists is a 2-D matrix; a list of dicts is one output per key.
    """

    def accepts(self, obj: object) -> bool:
        """Lists and tuples."""
        return isinstance(obj, (list, tuple))

    def batch_size(self, obj: object) -> int | None:
        """len() for a list of dicts or rows, 1 for a list of scalars."""
        assert isinstance(obj, (list, tuple))
        if not obj:
            return 0
        first = obj[0]
        if isinstance(first, Mapping):
            return 1 if is_chat(obj) else len(obj)
        return len(obj) if _is_row(first) or is_texts(obj) else 1

    def read_features(self, obj: object, names: Sequence[str] | None, categorical: Collection[str]) -> Table:
        """Read records, rows or a single row."""
        assert isinstance(obj, (list, tuple))
        if not obj:
            return Table(0, ())
        first = obj[0]
        if isinstance(first, Mapping):
            if is_chat(obj):
                return read_messages([obj])
            return read_records(obj, categorical, labels=False)
        if isinstance(first, (list, tuple)) and first and is_chat(first):
            return read_messages(obj)
        if is_texts(obj) and (names is None or len(names) == 1):
            (name,) = resolve_names(names, 1, "f", "features of a batch of texts")
            return Table(len(obj), (column_from_objects(name, _objects(obj, len(obj))),))
        if _is_row(first) and not isinstance(first, (list, tuple)):
            try:
                stacked = np.stack([_as_numpy(row) for row in obj])
            except (ValueError, TypeError) as exc:
                raise UnsupportedInput(f"a list of arrays that do not stack into rows: {exc}") from exc
            return _NUMPY.read_features(stacked, names, categorical)
        if _is_row(first):
            return _read_rows(obj, names, categorical, labels=False)
        cols = resolve_names(names, len(obj), "f", "features of a single row")
        return Table(
            1, tuple(column_from_value(n, v, categorical=n in categorical) for n, v in zip(cols, obj))
        )

    def read_outputs(
        self, obj: object, names: Sequence[str] | None, classes: Sequence | Mapping | None
    ) -> Outputs:
        """Read several outputs, one output of scalars, a matrix or records."""
        assert isinstance(obj, (list, tuple))
        if not obj:
            return Outputs(Table(0, ()), {})
        first = obj[0]
        rows = _vector_rows(obj) if isinstance(obj, list) else None
        if rows is not None:  # one embedding per row (e.g. a list of 1-D tensors): one vector output
            return _NUMPY.read_outputs(rows, names, classes)
        if isinstance(obj, tuple) or not (is_scalar(first) or isinstance(first, (list, tuple, Mapping))):
            keys = resolve_names(names, len(obj), "output_", "outputs")
            parts = []
            for key, value, cls in zip(keys, obj, split_classes(classes, keys)):
                out = _registry.adapter_for(value).read_outputs(value, [key], cls)
                parts.append((list(out.table.columns), out.confidence, out.probabilities))
            return combine(parts)
        if isinstance(first, Mapping):
            return Outputs(read_records(obj, (), labels=True), {})
        if isinstance(first, (list, tuple)):
            try:
                matrix = np.asarray(obj)
            except ValueError:
                matrix = None
            if matrix is not None and matrix.ndim == 2 and matrix.dtype.kind in "iufb":
                return _NUMPY.read_outputs(matrix, names, classes)
            table = _read_rows(obj, names, (), labels=True)
            return Outputs(table, {})
        name = single_output_name(names)
        return combine([([column_from_objects(name, _objects(obj, len(obj)), labels=True)], {})])

    def read_column(self, obj: object, name: str, categorical: bool, labels: bool) -> Column:
        """A list/tuple of scalars as one column."""
        assert isinstance(obj, (list, tuple))
        return column_from_objects(name, _objects(obj, len(obj)), categorical=categorical, labels=labels)
