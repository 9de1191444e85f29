"""Sketching every column of a 2-D batch into its own exponential histogram; counting the non-finite values a numeric
column summary reports beside its histogram."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from otel_mlmon.sketch._both_signs import FRESH_MIN_SIZE, MAX_SPAN, fold_counts
from otel_mlmon.sketch._buckets import CHUNK, Scratch, lend_scratch
from otel_mlmon.sketch._flat import MIN_ROWS, sweep_rows
from otel_mlmon.sketch._kernel import kernel
from otel_mlmon.sketch._mapping import TABLE_MAX_SCALE, map_to_index
from otel_mlmon.sketch.exponential import ExponentialHistogram

__all__ = ["nonfinite", "nonfinite_columns", "update_columns"]

# Values mapped together in one sweep (columns x rows): the working set of one chunk, about 2 MiB of scratch.
# Chunks of more than half of this many rows are counted column by column: no per-call overhead to share.
_SWEEP = 1 << 16
# Rows transposed per copy: the source rows of one copy stay in cache while each column is gathered.
_TILE = 4096


def update_columns(
    histograms: Sequence[ExponentialHistogram], table: np.ndarray | Sequence[Sequence[float]]
) -> None:
    """Add column ``j`` of a 2-D ``table`` (rows x columns) to ``histograms[j]``, for every column.

    The result is identical to ``histograms[j].update(table[:, j])`` for each ``j`` (same chunks of 65 536
    rows, same sums, same buckets), but cheaper. With the C extension built, chunks are transposed tile by tile
    into contiguous column chunks, each counted by two C reads (``_column.py``). Without it, a C-ordered chunk of
    at least ``MIN_ROWS`` rows is counted by the flat passes of ``_flat.py``: no transposing copy, every pass over
    the rows as they lie, buckets from the values' bit patterns through per-column tables, one ``bincount`` for all
    columns; smaller or other chunks are transposed, and the bucket indices of several columns are computed by the
    same numpy calls and counted by one ``bincount`` (per-call overhead is paid per sweep, not per column).

    Raises:
        ValueError: if ``table`` is not 2-D or its number of columns differs from ``len(histograms)``.
    """
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != len(histograms):
        raise ValueError(
            f"table must be 2-D with {len(histograms)} columns (one per histogram), got shape {table.shape}"
        )
    rows, columns = table.shape
    if rows == 0 or columns == 0:
        return
    # With the C extension each column chunk costs two C reads and a few microseconds of planning
    # (_column.py), less than the flat passes' planning of a whole chunk: the tiles are transposed and the
    # columns counted one by one.
    compiled = kernel() is not None
    with lend_scratch() as scratch:
        for start in range(0, rows, CHUNK):
            part = table[start : start + CHUNK]
            size = part.shape[0]
            if not compiled and size >= MIN_ROWS and part.flags.c_contiguous:
                sweep_rows(histograms, part, scratch)  # no transposing copy: passes over the rows as they lie
                continue
            width = max(1, min(columns, _SWEEP // size))
            for first in range(0, columns, width):
                group = histograms[first : first + width]
                block = scratch.buffer("columns", len(group) * size).reshape(len(group), size)
                source = part[:, first : first + len(group)]
                for tile in range(0, size, _TILE):
                    np.copyto(block[:, tile : tile + _TILE], source[tile : tile + _TILE].T)
                fresh = size < FRESH_MIN_SIZE and any(h._index_scale > TABLE_MAX_SCALE for h in group)
                if (
                    compiled or len(group) == 1 or fresh
                ):  # see FRESH_MIN_SIZE: column by column, at the final scale
                    for j, histogram in enumerate(group):
                        histogram._update_chunk(block[j], scratch)
                else:
                    _sweep(group, block, scratch)


def _sweep(group: Sequence[ExponentialHistogram], block: np.ndarray, scratch: Scratch) -> None:
    """Add row ``j`` of ``block`` (one chunk per column, contiguous) to ``group[j]``, as ``_update_chunk`` would."""
    width, size = block.shape
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite sums: the general path's business
        totals = np.add.reduce(block, axis=1)
    lows, highs = np.minimum.reduce(block, axis=1), np.maximum.reduce(block, axis=1)
    scales = [min(h._index_scale, TABLE_MAX_SCALE) for h in group]
    at = scales[0]
    # Columns this sweep counts: finite, not all zero, at the same mapping scale, and not a histogram kept
    # above the table scale by narrow data (that one maps by logarithm in the general path).
    swept = np.isfinite(totals) & ~((lows == 0) & (highs == 0))
    for j, hist in enumerate(group):
        if scales[j] != at or (
            hist._index_scale > TABLE_MAX_SCALE and (hist.positive_counts.size or hist.negative_counts.size)
        ):
            swept[j] = False
    magnitude = np.abs(block, out=scratch.buffer("sweep_abs", block.size).reshape(width, size))
    magnitude[~swept] = 1.0  # rows left to the general path: any positive value maps cleanly
    negative = np.less(block, 0, out=scratch.buffer("sweep_negative", block.size).reshape(width, size))
    zeros = np.zeros(width, dtype=np.int64)
    stand_ins = np.ones(width)
    for j in np.flatnonzero(np.minimum.reduce(magnitude, axis=1) == 0).tolist():
        row = magnitude[j]
        zero = row == 0
        zeros[j] = np.count_nonzero(zero)
        stand_ins[j] = np.maximum.reduce(row)  # an occupied bucket; its zeros are taken back below
        np.copyto(row, stand_ins[j], where=zero)
    index = map_to_index(
        magnitude.reshape(-1),
        at,
        scratch.buffer("sweep_index", block.size),
        scratch.buffer("sweep_work", block.size),
    ).reshape(width, size)
    low, high = np.minimum.reduce(index, axis=1), np.maximum.reduce(index, axis=1)
    span = high - low + 1
    swept &= span <= min(MAX_SPAN, 4 * size)
    span[~swept] = 0
    base = np.concatenate(([0], np.cumsum(2 * span)[:-1]))
    dump = int(2 * span.sum())
    np.subtract(index, (low - base)[:, None], out=index)
    side = np.multiply(
        negative, span[:, None], out=scratch.buffer("sweep_side", block.size).reshape(width, size)
    )
    np.add(index, side, out=index)
    index[~swept] = dump
    counts = np.bincount(index.reshape(-1), minlength=dump + 1)
    if counts.dtype != np.int64:
        counts = counts.astype(np.int64)
    stand_in_index = map_to_index(stand_ins, at)
    for j, hist in enumerate(group):
        first = int(base[j])
        own = counts[first : first + 2 * int(span[j])]
        if swept[j] and zeros[j]:
            own[int(stand_in_index[j] - low[j])] -= zeros[
                j
            ]  # the stand-in's sign bit is clear: positive half
        if swept[j] and fold_counts(hist, own, int(low[j]), int(span[j]), int(zeros[j])):
            hist.count += size
            hist.sum += float(totals[j])
            hist.min = min(hist.min, float(lows[j]))
            hist.max = max(hist.max, float(highs[j]))
        else:
            hist._update_chunk(block[j], scratch)


def nonfinite(values: np.ndarray) -> tuple[int, int]:
    """(NaN count, ±inf count) of a numeric array. A finite sum proves there are neither (one pass, no
    temporaries); a non-finite one (or a sum that overflowed) falls back to counting them."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(values, axis=None)
    if math.isfinite(total):
        return 0, 0
    return int(np.count_nonzero(np.isnan(values))), int(np.count_nonzero(np.isinf(values)))


def nonfinite_columns(floats: np.ndarray) -> tuple[list[int], list[int]]:
    """:func:`nonfinite` of each column of a 2-D array."""
    with np.errstate(over="ignore", invalid="ignore"):
        totals = np.add.reduce(floats, axis=0)
    if np.isfinite(totals).all():
        return [0] * floats.shape[1], [0] * floats.shape[1]
    return np.isnan(floats).sum(axis=0).tolist(), np.isinf(floats).sum(axis=0).tolist()
