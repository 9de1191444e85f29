"""The columns a feature table is summarised as: numeric and declared categorical columns as they are, string columns
by their kind (categorical, text, identifier), decided once per column by :class:`~otel_mlmon._kinds.KindRule`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from otel_mlmon._kinds import KindRule
from otel_mlmon._text import TEXT_DESCRIPTORS, text_descriptors
from otel_mlmon.adapters import Column, Table
from otel_mlmon.adapters._convert import format_floats
from otel_mlmon.conventions import descriptor_name

__all__ = ["feature_columns", "string_columns"]


def feature_columns(
    kinds: KindRule, table: Table, summarised: Mapping[str, Any] | None = None
) -> Iterator[Column]:
    """The numeric and categorical columns a feature table is summarised as: numeric and declared categorical
    columns as they are, string columns by their kind (a vector input never comes here).

    Strings in a column already summarised as numeric (a stray ``"n/a"`` in a one-row call) are yielded as they
    are, so that they count as missing there instead of waiting for a kind decision."""
    columns = table.columns
    for column in columns:
        declared = kinds.declared(column.name)
        if column.kind == "numeric":
            if declared in (None, "categorical"):
                yield column  # numbers declared categorical were read as labels by the adapters already
                continue
            values = format_floats(column.values)
            kind = declared
        elif column.kind == "text":
            if declared == "categorical":
                yield Column(column.name, column.values, "categorical")
                continue
            values, kind = column.values, declared or "text"
        elif column.kind == "categorical":
            if declared == "categorical":
                yield column
                continue
            values, kind = column.values, declared
        else:
            yield column
            continue
        if kind is None and summarised is not None:
            known = summarised.get(column.name)
            if known is not None and known.kind == "numeric":
                yield column  # counted as missing by Summary._add
                continue
        if kind is None:  # a string column: the rule decides, once
            decided = kinds.offer("features", column.name, values)
            if decided is None:
                continue  # held until the column's kind is decided
            kind, held = decided
            for part in held:
                yield from string_columns(kinds, column.name, kind, part, guard=True)
        else:
            yield from string_columns(kinds, column.name, kind, values, guard=False)


def string_columns(
    kinds: KindRule, name: str, kind: str, values: np.ndarray, guard: bool
) -> Iterator[Column]:
    """A string column of a known kind as the columns that may leave the process."""
    if kind == "categorical":
        yield Column(name, kinds.guard("features", name, values) if guard else values, "categorical")
    elif kind == "text":
        yield from _descriptor_columns(name, TEXT_DESCRIPTORS, text_descriptors(values))
        yield Column(name, values, "text")  # its vocabulary sketch (Summary._add)
    else:  # identifier: only its length (missing where the value is missing)
        yield from _descriptor_columns(name, TEXT_DESCRIPTORS[:1], text_descriptors(values)[:, :1])


def _descriptor_columns(name: str, descriptors: tuple[str, ...], matrix: np.ndarray) -> Iterator[Column]:
    for j, descriptor in enumerate(descriptors):
        yield Column(descriptor_name(name, descriptor), matrix[:, j], "numeric")
