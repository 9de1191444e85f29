"""Adapter for dicts: a dict of columns (name → list/array) or a dict of scalars (one row), either of which may
hold chat messages (a request body such as ``{"model": ..., "messages": [{"role", "content"}...]}``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from otel_mlmon.adapters import _registry
from otel_mlmon.adapters._base import Column, Outputs, Table, UnsupportedInput
from otel_mlmon.adapters._convert import (
    check_unique,
    column_from_value,
    describe,
    is_chat,
    is_scalar,
    message_columns,
)
from otel_mlmon.adapters._outputs import combine, split_classes

__all__ = ["MappingAdapter"]


def _unwrap(value: Any) -> Any:
    """A 0-D numpy array is a scalar."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def _is_cell(value: Any) -> bool:
    """A scalar, or one conversation of chat messages: one row's value."""
    return is_scalar(value) or (isinstance(value, (list, tuple)) and is_chat(value))


def _is_conversations(value: Any) -> bool:
    """A column of conversations: a list whose first element is a list of chat messages."""
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and isinstance(value[0], (list, tuple))
        and is_chat(value[0])
    )


def _length(value: Any) -> int:
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and shape:
        return int(shape[0])
    return len(value)


class MappingAdapter:
    """Reads ``Mapping`` objects.

    A dict whose values are all scalars is one row; a dict whose values are all 1-D sequences (lists,
    tuples, numpy arrays, pandas Series, pyarrow arrays, torch tensors) of one length is a dict of columns.
    Keys are the column names (``names=`` is ignored); nested dicts or a mix of the two shapes raise. A chat
    message list under a key (one conversation in a row, or a list of conversations in a dict of columns) is
    read as text columns ``{key}.{role}``.
    """

    def accepts(self, obj: object) -> bool:
        """Any ``collections.abc.Mapping``."""
        return isinstance(obj, Mapping)

    def batch_size(self, obj: object) -> int | None:
        """Length of the first column, 1 for a dict of scalars, None when empty."""
        assert isinstance(obj, Mapping)
        if not obj:
            return None
        first = _unwrap(next(iter(obj.values())))
        if _is_cell(first):
            return 1
        if isinstance(first, Mapping):
            return None
        try:
            return _length(first)
        except TypeError:
            return None

    @staticmethod
    def _split(obj: Mapping) -> tuple[list[str], list[Any], bool]:
        """Names, values and whether the values are scalars (a single row)."""
        names = [str(k) for k in obj]
        check_unique(names)
        values = [_unwrap(v) for v in obj.values()]
        scalar = [_is_cell(v) for v in values]
        if all(scalar):
            return names, values, True
        for n, v in zip(names, values):
            if isinstance(v, Mapping):
                raise UnsupportedInput(
                    f"dict value {n!r} is a nested {describe(v)}; supported: a dict of columns or of scalars"
                )
        if any(scalar):
            s = next(n for n, flag in zip(names, scalar) if flag)
            c = next(n for n, flag in zip(names, scalar) if not flag)
            raise UnsupportedInput(
                f"dict mixes scalar values (e.g. {s!r}) and sequences (e.g. {c!r}); give either one value "
                "per key (one row) or one sequence per key (columns of one length)"
            )
        return names, values, False

    def read_features(self, obj: object, names: Sequence[str] | None, categorical: Collection[str]) -> Table:
        """Read a dict of columns or a dict of scalars."""
        assert isinstance(obj, Mapping)
        if not obj:
            return Table(0, ())
        keys, values, single_row = self._split(obj)
        if single_row:
            cols: list[Column] = []
            for k, v in zip(keys, values):
                if is_scalar(v):
                    cols.append(column_from_value(k, v, categorical=k in categorical))
                else:
                    cols.extend(message_columns([v], prefix=k))
            check_unique([c.name for c in cols])
            return Table(1, tuple(cols))
        columns_list: list[Column] = []
        for k, v in zip(keys, values):
            if _is_conversations(v):
                columns_list.extend(message_columns(v, prefix=k))
            else:
                columns_list.append(_registry.adapter_for(v).read_column(v, k, k in categorical, False))
        columns = tuple(columns_list)
        check_unique([c.name for c in columns])
        lengths = {c.values.shape[0] for c in columns}
        if len(lengths) != 1:
            detail = ", ".join(f"{c.name}={c.values.shape[0]}" for c in columns[:10])
            raise UnsupportedInput(f"dict columns have different lengths ({detail})")
        return Table(lengths.pop(), columns)

    def read_outputs(
        self, obj: object, names: Sequence[str] | None, classes: Sequence | Mapping | None
    ) -> Outputs:
        """Each key is one output, read by the single-output rules under its key's name."""
        assert isinstance(obj, Mapping)
        if not obj:
            return Outputs(Table(0, ()), {})
        keys = [str(k) for k in obj]
        check_unique(keys)
        parts = []
        for key, value, cls in zip(keys, obj.values(), split_classes(classes, keys)):
            value = _unwrap(value)
            if isinstance(value, Mapping):
                raise UnsupportedInput(
                    f"output {key!r} is a nested {describe(value)}; give arrays or scalars"
                )
            out = _registry.adapter_for(value).read_outputs(value, [key], cls)
            parts.append((list(out.table.columns), out.confidence, out.probabilities))
        return combine(parts)

    def read_column(self, obj: object, name: str, categorical: bool, labels: bool) -> Column:
        """A dict is not a column."""
        raise UnsupportedInput(f"column {name!r} is a {describe(obj)}; a column must be a 1-D sequence")
