"""Sketching every column of a 2-D batch into its own exponential histogram, in one sweep over the rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from otel_mlmon.sketch._buckets import CHUNK, lend_scratch
from otel_mlmon.sketch.exponential import ExponentialHistogram

__all__ = ["update_columns"]

# Columns transposed together: 16 x 65 536 float64 values (8 MiB) of scratch at most.
_GROUP = 16
# Rows transposed per copy: the source rows of one copy stay in cache while each column is gathered.
_TILE = 4096


def update_columns(
    histograms: Sequence[ExponentialHistogram], table: np.ndarray | Sequence[Sequence[float]]
) -> None:
    """Add column ``j`` of a 2-D ``table`` (rows x columns) to ``histograms[j]``, for every column.

    The result is identical to ``histograms[j].update(table[:, j])`` for each ``j`` (same chunks, same
    arithmetic), but a row-major table is read once: rows are transposed tile by tile into contiguous column
    chunks, instead of gathering each column from memory with a stride of a whole row (which reads every
    cache line of the table once per column).

    Raises:
        ValueError: if ``table`` is not 2-D or its number of columns differs from ``len(histograms)``.
    """
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != len(histograms):
        raise ValueError(
            f"table must be 2-D with {len(histograms)} columns (one per histogram), got shape {table.shape}"
        )
    rows, columns = table.shape
    if rows == 0:
        return
    if table.strides[0] == table.itemsize or columns == 1:  # columns are already contiguous
        for j, histogram in enumerate(histograms):
            histogram.update(table[:, j])
        return
    with lend_scratch() as scratch:
        for first in range(0, columns, _GROUP):
            group = histograms[first : first + _GROUP]
            width = len(group)
            for start in range(0, rows, CHUNK):
                part = table[start : start + CHUNK, first : first + width]
                size = part.shape[0]
                block = scratch.buffer("columns", width * size).reshape(width, size)
                for tile in range(0, size, _TILE):
                    np.copyto(block[:, tile : tile + _TILE], part[tile : tile + _TILE].T)
                for j, histogram in enumerate(group):
                    histogram._update_chunk(block[j], scratch)
