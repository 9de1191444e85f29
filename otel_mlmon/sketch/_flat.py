"""Counting every column of a row-major chunk into its histogram in passes over the rows as they lie.

A C-ordered table keeps each row's values together: reading one column is a strided read, and numpy's
transposing copy costs about ten arithmetic passes. Here no pass transposes. Every pass runs over tiles of whole
rows that fit the CPU cache, and each value's bucket comes from its bit pattern:

* ``t = bits - 1``. An exact power of two borrows into the exponent and falls in the bucket below, as the
  specification wants; ``+0.0`` becomes the largest key of all and ``-0.0`` the largest key of the positive half,
  so neither falls inside a side's range of keys.
* ``key = t >> (52 - b)``: the sign, the exponent and the top ``b`` bits of the mantissa (a "cell"). At scales
  <= 0, ``b = 0`` and a key is one exponent: its bucket is ``(exponent + correction) >> -scale``, exact. At scales
  >= 1, ``b = scale + CELL_BITS`` and a table maps each cell to its bucket. A cell within ``2**16`` ulps of a bucket
  boundary (where the SDK's logarithm may round either way), a subnormal cell and the top octave are marked, and
  their values are mapped one by one with the SDK's formula (:func:`map_to_index`).
* ``key - base`` per column, with the two signs' ranges brought next to each other by ``min(y, y - gap)`` in
  unsigned arithmetic and anything outside clipped to the column's zero slot; one ``take`` from the columns'
  concatenated tables and one ``bincount`` for all columns.

The scale decisions are those of ``ExponentialHistogram._insert``, taken per column from the chunk's extremes
(the bucket index is monotone in the value, so the extremes give each side's index range). Columns these passes
do not cover -- non-finite values, ``-0.0`` in a column of both signs, a scale crossing from positive to
non-positive (the SDK places such values one by one), a final scale above ``TABLE_MAX_SCALE``, very wide key
ranges -- are handed to the general path, so the state is always the one ``update`` leaves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from otel_mlmon.sketch._buckets import Scratch, add_counts, trim_counts
from otel_mlmon.sketch._mapping import TABLE_MAX_SCALE, map_to_index, scale_change
from otel_mlmon.sketch._pairwise import column_sums

__all__ = ["CELL_BITS", "MIN_ROWS", "sweep_rows"]

#: Cells per bucket are ``2**CELL_BITS``: about one value in ``2**CELL_BITS`` lands in a cell holding a bucket
#: boundary and is mapped exactly, one by one.
CELL_BITS = 6
#: Chunks with fewer rows go through the per-column paths (the flat passes' fixed cost is per chunk).
MIN_ROWS = 4096
# Values per tile: the working set of one tile (a few arrays of this many 8-byte values) stays in L2.
_TILE = 1 << 15
# A side spanning more cells than this is left to the general path (the table would not stay in cache).
_MAX_CELLS = 1 << 16
_ONE = np.uint64(1)
_INT64_MAX = (1 << 63) - 1
_U64 = (1 << 64) - 1
_MANTISSA_WIDTH = 52
_TOLERANCE = float(1 << 16)  # as _mapping's table: far above the SDK logarithm's error near a boundary
_NEAR_POWER = np.uint64(1 << 20)
_CELL_TABLES: dict[tuple[int, int], np.ndarray] = {}


def _cell_table(scale: int, bits: int) -> np.ndarray:
    """Bucket within the octave for each of the ``2**bits`` mantissa cells, -1 where a boundary is near."""
    cached = _CELL_TABLES.get((scale, bits))
    if cached is not None:
        return cached
    per_octave = 1 << scale
    full = 2.0**_MANTISSA_WIDTH
    boundaries = np.exp2(np.arange(per_octave + 1) / per_octave) * full - full
    boundaries[0], boundaries[-1] = 0.0, full
    width = 2.0 ** (_MANTISSA_WIDTH - bits)
    low = np.arange(1 << bits, dtype=np.float64) * width
    high = low + (width - 1.0)
    below_low = np.searchsorted(boundaries, low - _TOLERANCE, side="left")
    below_high = np.searchsorted(boundaries, high + _TOLERANCE, side="right")
    table = np.where(below_low == below_high, below_low - 1, -1).astype(np.int64)
    _CELL_TABLES[(scale, bits)] = table
    return table


def _reduce(ufunc: np.ufunc, block: np.ndarray) -> np.ndarray:
    """``ufunc.reduce(block, axis=0)`` for a C-contiguous 2-D block, with long inner loops for narrow blocks."""
    rows, width = block.shape
    if width == 1:
        return ufunc.reduce(block.reshape(-1), keepdims=True)
    group = 64
    if width >= group or rows < 2 * group:
        return ufunc.reduce(block, axis=0)
    head = rows - rows % group
    out = ufunc.reduce(ufunc.reduce(block[:head].reshape(head // group, group * width), axis=0).reshape(group, width), axis=0)
    if head < rows:
        out = ufunc(out, ufunc.reduce(block[head:], axis=0))
    return out


def _value(t: int) -> float:
    """The float whose bit pattern minus one is ``t`` (modulo 2**64)."""
    return float(np.array([(t + 1) & _U64], dtype=np.uint64).view(np.float64)[0])


class _Column:
    """The flat passes' parameters for one column of one chunk, and what folding its counts needs."""

    __slots__ = ("base", "gap", "limit", "scale", "shift", "table", "low", "slots", "sides")

    def __init__(self) -> None:
        self.base = self.gap = self.limit = 0
        self.scale = self.shift = 0
        self.table = np.zeros(1, dtype=np.int64)  # one entry: the dump slot (filled in later)
        self.low = (0, 0)  # bucket index of each side's first slot (positive, negative)
        self.slots = 0
        self.sides: tuple[tuple[int, int] | None, tuple[int, int] | None] = (None, None)


def _plan(hist: Any, lo: float, hi: float, pos_t: int, neg_t: int, neg_zero: bool) -> _Column | None:
    """Scale decision and table of one column (None: the general path takes it). Slots are relative (0-based)."""
    has_pos, has_neg = hi > 0, lo < 0
    if has_pos and has_neg and neg_zero:
        return None  # -0.0 would fall between the two sides' keys
    scale = hist._index_scale
    extremes = []
    if has_pos:
        extremes += [_value(pos_t), hi]
    if has_neg:
        extremes += [-_value(neg_t), -lo]
    magnitudes = np.array(extremes, dtype=np.float64)
    if scale > 0:
        # The SDK's index is monotone in the value except that an exact power of two goes one bucket below
        # values a few ulps under it: extremes that close to a power of two may not hold the extreme indices.
        mantissa = magnitudes.view(np.uint64) & np.uint64((1 << _MANTISSA_WIDTH) - 1)
        if np.any((mantissa < _NEAR_POWER) | (mantissa > (1 << _MANTISSA_WIDTH) - _NEAR_POWER)):
            return None
    index = map_to_index(magnitudes, scale).tolist()
    held = ((hist.positive_offset, hist.positive_counts), (hist.negative_offset, hist.negative_counts))
    ranges: list[tuple[int, int] | None] = []
    change = 0
    for present, (offset, counts) in zip((has_pos, has_neg), held):
        if not present:
            ranges.append(None)
            continue
        low, high = index[2 * sum(r is not None for r in ranges)], index[2 * sum(r is not None for r in ranges) + 1]
        ranges.append((low, high))
        if counts.size:
            low, high = min(low, offset), max(high, offset + counts.size - 1)
        change = max(change, scale_change(low, high, hist.max_size))
    final = scale - change
    if (scale > 0 and final < 1) or final > TABLE_MAX_SCALE:
        return None
    column = _Column()
    column.scale = final
    bits = 0 if final <= 0 else final + CELL_BITS
    column.shift = _MANTISSA_WIDTH - bits
    tables, sides, lows = [], [], []
    slot = 0
    keys = []
    for present, t_low, value in ((has_pos, pos_t, hi), (has_neg, neg_t, lo)):
        if not present:
            sides.append(None)
            lows.append(0)
            continue
        low, high = ranges[len(sides)]
        low, high = low >> change, high >> change
        first_key = t_low >> column.shift
        last_key = ((int(np.array([value]).view(np.uint64)[0]) - 1) & _U64) >> column.shift
        if last_key - first_key >= _MAX_CELLS:
            return None
        tables.append(_side_table(first_key, last_key, bits, final, low, slot))
        keys.append((first_key, last_key))
        sides.append((slot, high - low + 1))
        lows.append(low)
        slot += high - low + 1
    column.sides = (sides[0], sides[1])
    column.low = (lows[0], lows[1])
    column.slots = slot + 1  # the zero slot last
    zero_slot = slot
    column.table = np.concatenate([*tables, np.array([zero_slot], dtype=np.int64)])
    column.limit = column.table.size - 1
    column.base = keys[0][0]
    if len(keys) == 2:
        span = keys[0][1] - keys[0][0]
        column.gap = keys[1][0] - keys[0][0] - (span + 1)
        if column.gap <= span:
            return None  # the positive keys would be shifted too (only for ranges of many octaves)
    return column


def _side_table(first: int, last: int, bits: int, scale: int, low: int, slot: int) -> np.ndarray:
    """Slot of each cell key ``first..last`` (bucket - low + slot); -1 for cells mapped value by value."""
    keys = np.arange(first, last + 1, dtype=np.int64)
    exponent = (keys >> bits) & 0x7FF
    if bits == 0:
        return ((exponent - 1023) >> -scale) - low + slot
    within = _cell_table(scale, bits)[keys & ((1 << bits) - 1)]
    bucket = ((exponent - 1023) << scale) + within
    out = bucket - low + slot
    out[(within < 0) | (exponent == 0) | (exponent >= 2046)] = -1
    return out


def sweep_rows(hists: Sequence[Any], part: np.ndarray, scratch: Scratch) -> None:
    """Add column ``j`` of ``part`` to ``hists[j]``, leaving exactly the state ``_update_chunk`` would.

    ``part`` is a C-contiguous float64 ``rows x columns`` chunk of at most ``CHUNK`` rows.
    """
    rows, width = part.shape
    totals = column_sums(part)
    tile = max(1, _TILE // width)
    bits = part.reshape(-1).view(np.uint64)
    lows = highs = pos_t = neg_t = neg_top = None
    for start in range(0, rows, tile):
        block = part[start : start + tile]
        n = block.shape[0]
        t = np.subtract(bits[start * width : (start + n) * width], _ONE, out=scratch.buffer("flat_t", n * width))
        t = t.reshape(n, width)
        found = (
            _reduce(np.minimum, block),
            _reduce(np.maximum, block),
            _reduce(np.minimum, t),
            _reduce(np.minimum, t.view(np.int64)),
            _reduce(np.maximum, t.view(np.int64)),
        )
        if lows is None:
            lows, highs, pos_t, neg_t, neg_top = found
        else:
            lows, highs = np.minimum(lows, found[0]), np.maximum(highs, found[1])
            pos_t, neg_t = np.minimum(pos_t, found[2]), np.minimum(neg_t, found[3])
            neg_top = np.maximum(neg_top, found[4])
    columns: list[_Column | None] = []
    for j, hist in enumerate(hists):
        total, lo, hi = float(totals[j]), float(lows[j]), float(highs[j])
        if not math.isfinite(total) or (lo == 0 and hi == 0):
            columns.append(None)
            continue
        columns.append(_plan(hist, lo, hi, int(pos_t[j]), int(neg_t[j]) & _U64, int(neg_top[j]) == _INT64_MAX))
    counted = [c for c in columns if c is not None]
    if counted:
        _count(hists, part, columns, scratch, bits)
    for j, (hist, column) in enumerate(zip(hists, columns)):
        if column is None:
            hist._update_chunk(np.ascontiguousarray(part[:, j]), scratch)
            continue
        hist.count += rows
        hist.sum += float(totals[j])
        hist.min = min(hist.min, float(lows[j]))
        hist.max = max(hist.max, float(highs[j]))


def _count(hists: Sequence[Any], part: np.ndarray, columns: list[_Column | None], scratch: Scratch, bits: np.ndarray) -> None:
    rows, width = part.shape
    # Global slot layout: each counted column's slots, then one "exact" slot per column, then a dump slot.
    starts, offset = [], 0
    for column in columns:
        starts.append(offset)
        offset += column.slots if column is not None else 0
    exact = offset
    dump = exact + width
    total = dump + 1
    tables, table_offsets, position = [], [], 0
    base = np.zeros(width, dtype=np.uint64)
    gap = np.zeros(width, dtype=np.uint64)
    limit = np.zeros(width, dtype=np.uint64)
    shift = np.zeros(width, dtype=np.uint64)
    for j, column in enumerate(columns):
        if column is None:
            table = np.array([dump], dtype=np.int64)
        else:
            table = np.where(column.table < 0, exact + j, column.table + starts[j])
            base[j], gap[j], limit[j], shift[j] = column.base, column.gap, column.limit, column.shift
        tables.append(table)
        table_offsets.append(position)
        position += table.size
    table = np.concatenate(tables)
    offsets = np.array(table_offsets, dtype=np.uint64)
    tile = max(1, _TILE // width)
    one_shift = int(shift.min()) == int(shift.max())
    patterns = {name: np.tile(values, tile) for name, values in (("base", base), ("gap", gap), ("limit", limit), ("offsets", offsets), ("shift", shift))}
    any_gap = bool(gap.any())
    counts = np.zeros(total, dtype=np.int64)
    pending = []
    for start in range(0, rows, tile):
        n = min(tile, rows - start)
        size = n * width
        key = np.subtract(bits[start * width : start * width + size], _ONE, out=scratch.buffer("flat_t", size))
        if one_shift:
            np.right_shift(key, shift[0], out=key)
        else:
            np.right_shift(key, patterns["shift"][:size], out=key)
        np.subtract(key, patterns["base"][:size], out=key)
        if any_gap:
            shifted = np.subtract(key, patterns["gap"][:size], out=scratch.buffer("flat_y", size))
            np.minimum(key, shifted, out=key)
        np.minimum(key, patterns["limit"][:size], out=key)
        if width > 1:
            np.add(key, patterns["offsets"][:size], out=key)
        slot = np.take(table, key.view(np.int64), out=scratch.buffer("flat_slot", size), mode="clip")
        counts += np.bincount(slot, minlength=total)
        if counts[exact:dump].any():
            marked = np.flatnonzero(slot >= exact) 
            marked = marked[slot[marked] < dump]
            if marked.size:
                pending.append(marked + start * width)
            counts[exact:dump] = 0
    if pending:
        _exact(part, columns, starts, np.concatenate(pending), counts)
    for j, column in enumerate(columns):
        if column is None:
            continue
        hist = hists[j]
        own = counts[starts[j] : starts[j] + column.slots]
        hist.downscale(hist._index_scale - column.scale)
        _fold(hist, column, own)


def _fold(hist: Any, column: _Column, own: np.ndarray) -> None:
    positive, negative = column.sides
    if positive is not None:
        offset, counts = trim_counts(column.low[0], own[positive[0] : positive[0] + positive[1]])
        hist.positive_offset, hist.positive_counts = add_counts(
            hist.positive_offset, hist.positive_counts, offset, counts.copy()
        )
    if negative is not None:
        offset, counts = trim_counts(column.low[1], own[negative[0] : negative[0] + negative[1]])
        hist.negative_offset, hist.negative_counts = add_counts(
            hist.negative_offset, hist.negative_counts, offset, counts.copy()
        )
    hist.zero_count += int(own[-1])


def _exact(part: np.ndarray, columns: list[_Column | None], starts: list[int], marked: np.ndarray, counts: np.ndarray) -> None:
    """Map the values of marked cells with the SDK's formula and count them in their slots."""
    width = part.shape[1]
    values = part.reshape(-1)[marked]
    which = marked % width
    negative = values < 0
    magnitude = np.abs(values)
    scales = np.array([c.scale if c is not None else 0 for c in columns], dtype=np.int64)
    low = np.array([[c.low[0], c.low[1]] if c is not None else [0, 0] for c in columns], dtype=np.int64)
    first = np.array(
        [[(c.sides[0] or (0, 0))[0], (c.sides[1] or (0, 0))[0]] if c is not None else [0, 0] for c in columns],
        dtype=np.int64,
    )
    start = np.array(starts, dtype=np.int64)
    side = negative.astype(np.int64)
    for scale in np.unique(scales[which]).tolist():
        chosen = np.flatnonzero(scales[which] == scale)
        index = map_to_index(magnitude[chosen], scale)
        col, sd = which[chosen], side[chosen]
        slot = index - low[col, sd] + first[col, sd] + start[col]
        counts += np.bincount(slot, minlength=counts.size)
