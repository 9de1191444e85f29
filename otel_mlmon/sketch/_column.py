"""One column chunk into its exponential histogram in two C reads (``_flatkernel.c``: ``scan``, ``column_count``).

The numpy path of ``ExponentialHistogram._update_chunk`` makes about twenty passes over a chunk (sum, extremes,
sign masks, compressions, the bucket mapping, ``bincount``) and as many numpy calls, each with its own fixed
cost. A DataFrame's numeric columns come one by one, so that is the cost of every column of every batch. Here:

1. ``scan`` reads the chunk once for numpy's own pairwise sum (bit for bit, so ``sum`` is the same), the min, the
   max, the smallest positive value and the negative value nearest zero;
2. the scale decision of ``ExponentialHistogram._insert`` is taken from the extremes' bucket indices (the SDK's
   index is monotone in the value except that an exact power of two ``2**k`` sits one bucket below values a few
   ulps under it);
3. ``column_count`` reads it once more, counting every value in its bucket at the final scale (the same cell
   tables as ``_mapping._table_index``, the SDK's formula for marked cells, powers of two, subnormals and the top
   octave). A value outside the range the extremes gave stops it, and the numpy path runs on an unchanged
   histogram. That check also covers the powers of two: where an extreme's index is not its side's extreme
   index, the two indices are ``(k << scale) - 1`` and ``k << scale``, and they stay apart at every coarser
   positive scale (``(k << s) >> c == k << (s - c)``), so at the final scale too.

Chunks this path does not cover fall to the numpy path, which leaves the same state: non-finite values, a scale
crossing from positive to non-positive (the SDK places such values one by one), a final scale above
``TABLE_MAX_SCALE`` (narrow data: the logarithm per value). Tests compare both paths on awkward data
(``tests/sdk/sketch/test_column_kernel.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from otel_mlmon.sketch._buckets import add_counts
from otel_mlmon.sketch._kernel import kernel
from otel_mlmon.sketch._mapping import TABLE_MAX_SCALE, _table, scale_change

__all__ = ["MIN_VALUES", "count_column"]

#: Chunks with fewer values take the numpy path: below this, the C path's fixed cost (a few microseconds) is not
#: worth the C extension's lazy import and probe in a process that only ever sees a handful of values.
MIN_VALUES = 64
# At scales 1..10 (the cell tables' scales), int32 copies of _mapping's tables: half the cache footprint.
_TABLES: dict[int, tuple[np.ndarray, int]] = {}
_NO_TABLE = np.zeros(1, dtype=np.int32)
_FLOAT64 = np.dtype(np.float64)


def _cells(scale: int) -> tuple[np.ndarray, int]:
    """The cell table of ``scale`` as int32 and its shift (an empty stand-in at scales <= 0)."""
    if scale <= 0:
        return _NO_TABLE, 0
    cached = _TABLES.get(scale)
    if cached is None:
        table, shift = _table(scale)
        cached = _TABLES[scale] = (table.astype(np.int32), shift)
    return cached


def count_column(hist: Any, chunk: np.ndarray) -> bool:
    """Add the 1-D float64 ``chunk`` to ``hist`` as ``_update_chunk`` would; False (``hist`` unchanged) when the
    chunk is one the numpy path must take, or the C extension is not there (or turned off: ``_kernel.disabled``)."""
    # What the C reads take (update hands nothing else over); the size test first: it keeps the extension's
    # import and probe out of processes that only ever see a handful of values.
    if chunk.ndim != 1 or chunk.shape[0] < MIN_VALUES or chunk.dtype != _FLOAT64:
        return False
    compiled = kernel()
    if compiled is None:
        return False
    total, low, high, positive, negative = compiled.scan(chunk)
    if not math.isfinite(total):  # NaN, an infinity, or a sum that overflowed: the numpy path filters
        return False
    size = int(chunk.shape[0])
    scale = hist._index_scale
    if low == 0 and high == 0:
        hist.zero_count += size
    else:
        sides = []  # (low index, high index, held offset, held counts) at ``scale``, positive side first
        bucket = compiled.bucket
        for lowest, highest, offset, counts in (
            (positive, high, hist.positive_offset, hist.positive_counts),
            (-negative, -low, hist.negative_offset, hist.negative_counts),
        ):
            if highest <= 0:
                sides.append(None)
                continue
            sides.append((bucket(lowest, scale), bucket(highest, scale), offset, counts))
        change = 0
        for side in sides:
            if side is not None:
                first, last, offset, counts = side
                if counts.size:
                    first, last = min(first, offset), max(last, offset + counts.size - 1)
                change = max(change, scale_change(first, last, hist.max_size))
        final = scale - change
        if (scale > 0 and final < 1) or final > TABLE_MAX_SCALE:
            return False
        pos = (
            (sides[0][0] >> change, (sides[0][1] >> change) - (sides[0][0] >> change) + 1)
            if sides[0]
            else (0, 0)
        )
        neg = (
            (sides[1][0] >> change, (sides[1][1] >> change) - (sides[1][0] >> change) + 1)
            if sides[1]
            else (0, 0)
        )
        table, shift = _cells(final)
        slots = np.zeros(pos[1] + neg[1] + 1, dtype=np.int64)
        if not compiled.column_count(chunk, final, pos[0], pos[1], neg[0], neg[1], table, shift, slots):
            return False
        hist.downscale(change)
        if pos[1]:
            hist.positive_offset, hist.positive_counts = add_counts(
                hist.positive_offset, hist.positive_counts, pos[0], slots[: pos[1]]
            )
        if neg[1]:
            hist.negative_offset, hist.negative_counts = add_counts(
                hist.negative_offset, hist.negative_counts, neg[0], slots[pos[1] : pos[1] + neg[1]]
            )
        hist.zero_count += int(slots[-1])
    hist.count += size
    hist.sum += total
    hist.min = min(hist.min, low)
    hist.max = max(hist.max, high)
    return True
