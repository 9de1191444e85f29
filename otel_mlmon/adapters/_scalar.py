"""Adapter for a single value (number, bool, str, bytes, datetime, Decimal): one row, one column."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from otel_mlmon.adapters._base import Column, Outputs, Table, UnsupportedInput
from otel_mlmon.adapters._convert import column_from_value, describe, is_known_value, resolve_names
from otel_mlmon.adapters._numpy import single_output_name

__all__ = ["ScalarAdapter"]


class ScalarAdapter:
    """Reads one value as a one-row table; ``None`` reads as an empty table (nothing to record)."""

    def accepts(self, obj: object) -> bool:
        """Numbers, bools, strings, bytes, dates and times, Decimals and None (not arbitrary objects)."""
        return is_known_value(obj)

    def batch_size(self, obj: object) -> int | None:
        """1, or None for ``None``."""
        return None if obj is None else 1

    def read_features(self, obj: object, names: Sequence[str] | None, categorical: Collection[str]) -> Table:
        """One feature named ``names[0]`` or ``f0``."""
        if obj is None:
            return Table(0, ())
        (name,) = resolve_names(names, 1, "f", "features")
        return Table(1, (column_from_value(name, obj, categorical=name in categorical),))

    def read_outputs(
        self, obj: object, names: Sequence[str] | None, classes: Sequence | Mapping | None
    ) -> Outputs:
        """One output named ``names[0]`` or ``prediction``; ints, strs and bools are labels."""
        if obj is None:
            return Outputs(Table(0, ()), {})
        name = single_output_name(names)
        return Outputs(Table(1, (column_from_value(name, obj, labels=True),)), {})

    def read_column(self, obj: object, name: str, categorical: bool, labels: bool) -> Column:
        """A scalar is not a column."""
        raise UnsupportedInput(f"column {name!r} is a single {describe(obj)}; a column must be 1-D")
