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
* ``key - base``, with the two signs' ranges brought next to each other by ``min(y, y - gap)`` in unsigned
  arithmetic; one ``take`` from a table of whole octaves (cached: the same table serves every chunk whose extremes
  fall in the same octaves), one ``bincount`` for all columns. When all counted columns' scales are >= 1 (or all
  <= 0), one table serves every column at the finest of their scales and each column's counts are downscaled
  after (``_flat_shared.py``); otherwise each column has its own table and per-value parameters.

The column sums and the extremes come from one read of the chunk (``_pairwise.py`` gives numpy's own sums).
Both reads run in C when the optional extension is built (``_kernel.py``, ``_flatkernel.c``: the same plans and
tables; marked cells mapped with the SDK's formula inside the pass), else as the numpy passes described here.
``update_columns`` calls these passes only when the extension is not built: with it, transposed column chunks
counted by two C reads each (``_column.py``) cost less (``bench/sketch.py``, the flat C passes timed beside). The
scale decisions are those of ``ExponentialHistogram._insert``, taken per column from the chunk's extremes: the
SDK's bucket index is monotone in the value except next to exact powers of two, so extremes that close to one
send the column to the general path. Columns these passes do not cover -- non-finite values, ``-0.0`` in a column
of both signs, a scale crossing from positive to non-positive (the SDK places such values one by one), a final
scale above ``TABLE_MAX_SCALE``, very wide key ranges -- are handed to the general path, so the state is always
the one ``update`` leaves (``tests/sdk/sketch/test_flat.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from otel_mlmon.sketch._buckets import Scratch, add_counts, trim_counts
from otel_mlmon.sketch._flat_shared import count_shared
from otel_mlmon.sketch._flat_tables import EXACT, SideTable, side_table
from otel_mlmon.sketch._kernel import kernel
from otel_mlmon.sketch._mapping import INV_LN2, TABLE_MAX_SCALE, map_to_index, scale_change
from otel_mlmon.sketch._pairwise import column_sums, combine, subtree_sums, tree_fits

__all__ = ["CELL_BITS", "MIN_ROWS", "sweep_rows"]

#: Cells per bucket are ``2**CELL_BITS``: about one value in ``2**CELL_BITS`` lands in a cell holding a bucket
#: boundary and is mapped exactly, one by one.
CELL_BITS = 6
#: Chunks with fewer rows go through the per-column paths (the flat passes' fixed cost is per chunk).
MIN_ROWS = 4096
# Values per tile: the working set of one tile (a few arrays of this many 8-byte values) stays in L2.
_TILE = 1 << 15
# Values per tile of the extremes pass (reductions only: longer tiles, fewer calls).
_STATS_TILE = 1 << 18
# A side spanning more cells than this is left to the general path (the table would not stay in cache).
_MAX_CELLS = 1 << 17
_ONE = np.uint64(1)
_INT64_MAX = (1 << 63) - 1
_U64 = (1 << 64) - 1
_MANTISSA = (1 << 52) - 1
_NEAR_POWER = 1 << 20
_LAYOUTS: dict[tuple, _Layout] = {}


def _reduce(ufunc: np.ufunc, block: np.ndarray) -> np.ndarray:
    """``ufunc.reduce(block, axis=0)`` for a C-contiguous 2-D block, with long inner loops for narrow blocks."""
    rows, width = block.shape
    if width == 1:
        return ufunc.reduce(block.reshape(-1), keepdims=True)
    group = 64
    if width >= group or rows < 2 * group:
        return ufunc.reduce(block, axis=0)
    head = rows - rows % group
    folded = ufunc.reduce(block[:head].reshape(head // group, group * width), axis=0)
    out = ufunc.reduce(folded.reshape(group, width), axis=0)
    if head < rows:
        out = ufunc(out, ufunc.reduce(block[head:], axis=0))
    return out


def _extremes(part: np.ndarray, scratch: Scratch) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per column: the sum (numpy's own, see ``_pairwise``) and min, max, the ``bits - 1`` of the smallest
    positive and of the negative nearest zero (uint64 and int64 minima of ``bits - 1``, as uint64), and whether
    ``-0.0`` is there (the int64 maximum of ``bits - 1`` is ``2**63 - 1`` exactly then), in one read of the chunk."""
    rows, width = part.shape
    bits = part.reshape(-1).view(np.uint64)
    tile = max(1, _STATS_TILE // width)
    fused = tree_fits(rows)
    if fused:
        tile = min(rows, max(128, 1 << (tile.bit_length() - 1)))  # equal power-of-two blocks: subtrees
    sums = []
    found: list[np.ndarray] = []
    for start in range(0, rows, tile):
        block = part[start : start + tile]
        n = block.shape[0]
        if fused:
            sums.append(subtree_sums(block))
        t = np.subtract(
            bits[start * width : (start + n) * width], _ONE, out=scratch.buffer("flat_t", n * width)
        )
        t = t.reshape(n, width)
        signed = t.view(np.int64)
        now = [
            _reduce(np.minimum, block),
            _reduce(np.maximum, block),
            _reduce(np.minimum, t),
            _reduce(np.minimum, signed),
            _reduce(np.maximum, signed),
        ]
        if not found:
            found = now
            continue
        for k, ufunc in enumerate((np.minimum, np.maximum, np.minimum, np.minimum, np.maximum)):
            found[k] = ufunc(found[k], now[k])
    found[3] = found[3].view(np.uint64)
    found[4] = found[4] == _INT64_MAX  # (bits - 1) of -0.0 is the largest int64 of all
    return (combine(sums) if fused else column_sums(part)), found


def _compiled_extremes(compiled: Any, part: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """``_extremes`` by the C pass (``_kernel.py``): one read of the chunk, row by row."""
    rows, width = part.shape
    out = np.empty((6, width), dtype=np.float64)
    compiled.extremes(part, rows, width, out)
    positive, negative = (np.subtract(out[k].view(np.uint64), _ONE) for k in (3, 4))
    return out[0], [out[1], out[2], positive, negative, out[5] < 0]


def _t(value: float) -> int:
    return (int(np.array([value], dtype=np.float64).view(np.uint64)[0]) - 1) & _U64


def _value(t: int) -> float:
    """The float whose bit pattern minus one is ``t`` (modulo 2**64)."""
    return float(np.array([(t + 1) & _U64], dtype=np.uint64).view(np.float64)[0])


class _Column:
    """One column's flat-pass parameters for one chunk: its scale and the tables of its sides."""

    __slots__ = ("base", "gap", "key", "limit", "scale", "shift", "sides", "slots")

    def __init__(self, scale: int, sides: tuple[SideTable | None, SideTable | None], key: tuple) -> None:
        self.scale = scale
        self.shift = 52 - (0 if scale <= 0 else scale + CELL_BITS)
        self.sides = sides
        self.key = key
        positive, negative = sides
        first = positive if positive is not None else negative
        self.base = first.first
        self.gap = 0
        if positive is not None and negative is not None:
            self.gap = negative.first - positive.first - positive.entries.size
        n_pos = positive.slots if positive is not None else 0
        self.slots = n_pos + (negative.slots if negative is not None else 0) + 1  # the zero slot last
        self.limit = sum(side.entries.size for side in sides if side is not None)  # the zero slot's entry

    def table(self) -> np.ndarray:
        """The column's own table: its sides' entries, then the zero slot's (built only when it is used)."""
        positive, negative = self.sides
        parts = [] if positive is None else [positive.entries]
        if negative is not None:
            parts.append(negative.entries + (positive.slots if positive is not None else 0))
        return np.concatenate([*parts, np.array([self.slots - 1], dtype=np.int64)])


def _plans(hists: Sequence[Any], found: list[np.ndarray], totals: np.ndarray) -> list[_Column | None]:
    """Each column's scale decision and tables (None: the general path takes the column)."""
    lows, highs = found[0].tolist(), found[1].tolist()
    pos_t, neg_t, negative_zero = found[2].tolist(), found[3].tolist(), found[4].tolist()
    columns: list[_Column | None] = [None] * len(hists)
    todo: dict[int, list[tuple[int, list[float]]]] = {}
    for j, hist in enumerate(hists):
        lo, hi = lows[j], highs[j]
        if not math.isfinite(float(totals[j])) or (lo == 0 and hi == 0):
            continue
        if lo < 0 < hi and negative_zero[j]:
            continue  # -0.0 would fall between the two sides' keys
        magnitudes = []
        if hi > 0:
            magnitudes += [_value(pos_t[j]), hi]
        if lo < 0:
            magnitudes += [-_value(neg_t[j]), -lo]
        todo.setdefault(hist._index_scale, []).append((j, magnitudes))
    for scale, items in todo.items():
        magnitudes = np.array([m for _, ms in items for m in ms], dtype=np.float64)
        index = map_to_index(magnitudes, scale).tolist()
        near = [False] * magnitudes.size
        if scale > 0:
            # The SDK's index is monotone in the value except that an exact power of two goes one bucket below
            # values a few ulps under it: extremes that close to a power of two may not hold the extreme indices.
            mantissa = (magnitudes.view(np.uint64) & np.uint64(_MANTISSA)).tolist()
            near = [m < _NEAR_POWER or m > _MANTISSA - _NEAR_POWER for m in mantissa]
        at = 0
        for j, ms in items:
            own, close = index[at : at + len(ms)], any(near[at : at + len(ms)])
            at += len(ms)
            if not close:
                columns[j] = _column(hists[j], lows[j], highs[j], pos_t[j], neg_t[j], own)
    return columns


def _column(hist: Any, lo: float, hi: float, pos_t: int, neg_t: int, index: list[int]) -> _Column | None:
    scale = hist._index_scale
    held = ((hist.positive_offset, hist.positive_counts), (hist.negative_offset, hist.negative_counts))
    ranges = []
    if hi > 0:
        ranges.append((index[0], index[1], held[0]))
    if lo < 0:
        ranges.append((index[-2], index[-1], held[1]))
    change = 0
    for low, high, (offset, counts) in ranges:
        if counts.size:
            low, high = min(low, offset), max(high, offset + counts.size - 1)
        change = max(change, scale_change(low, high, hist.max_size))
    final = scale - change
    if (scale > 0 and final < 1) or final > TABLE_MAX_SCALE:
        return None  # the crossing goes value by value; above the table scale, by logarithm
    bits = 0 if final <= 0 else final + CELL_BITS
    octaves = []
    if hi > 0:
        octaves.append((pos_t >> 52, _t(hi) >> 52))
    if lo < 0:
        octaves.append((neg_t >> 52, _t(lo) >> 52))
    if any((last - first + 1) << bits > _MAX_CELLS for first, last in octaves):
        return None
    tables = [side_table(final, bits, first, last) for first, last in octaves]
    sides = (tables[0] if hi > 0 else None, tables[-1] if lo < 0 else None)
    column = _Column(final, sides, (final, *octaves))
    if sides[0] is not None and sides[1] is not None and column.gap < sides[0].entries.size:
        return None  # the two sides' keys too close for the gap to bring them together
    return column


class _Layout:
    """The concatenated tables and per-value parameter patterns of one set of columns (cached: stable after the
    first chunks, as extremes stay in the same octaves)."""

    def __init__(self, columns: list[_Column | None], tile: int) -> None:
        width = len(columns)
        self.starts, offset = [], 0
        for column in columns:
            self.starts.append(offset)
            offset += column.slots if column is not None else 0
        self.dump = offset
        self.total = offset + 1
        tables, position = [], 0
        params = np.zeros((5, width), dtype=np.uint64)
        for j, column in enumerate(columns):
            if column is None:
                table = np.array([self.dump], dtype=np.int64)
            else:
                table = column.table() + self.starts[j]
                params[:, j] = (column.shift, column.base, column.gap, column.limit, 0)
            params[4, j] = position
            tables.append(table)
            position += table.size
        self.table = np.concatenate(tables)
        self.one_shift = int(params[0].min()) == int(params[0].max())
        self.shift = params[0, 0]
        self.any_gap = bool(params[2].any())
        self.shifts, self.bases, self.gaps, self.limits, self.offsets = (np.tile(p, tile) for p in params)
        self.kernel = _kernel_params(columns, params, self.starts)


def _kernel_params(
    columns: list[_Column | None], params: np.ndarray, starts: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The C pass's parameters (``_flatkernel.c``, ``count``): the numpy passes' five per column, a slot offset
    of 0 (the entries are absolute), and for the cells mapped one by one the scale and each side's slot of
    bucket 0; then ``2**scale / ln 2`` per column."""
    width = len(columns)
    extra = np.zeros((4, width), dtype=np.int64)
    factors = np.ones(width, dtype=np.float64)
    for j, column in enumerate(columns):
        if column is None or column.scale < 1:
            continue  # no marked cells at scales <= 0
        positive, negative = column.sides
        n_pos = positive.slots if positive is not None else 0
        extra[1, j] = column.scale
        extra[2, j] = starts[j] - positive.low if positive is not None else 0
        extra[3, j] = starts[j] + n_pos - negative.low if negative is not None else 0
        factors[j] = math.ldexp(INV_LN2, column.scale)
    return np.vstack([params, extra.view(np.uint64)]), factors


def _layout(columns: list[_Column | None], tile: int) -> _Layout:
    key = (tile, *(c.key if c is not None else None for c in columns))
    layout = _LAYOUTS.get(key)
    if layout is None:
        if len(_LAYOUTS) >= 4:  # one per table shape in use, a few MiB each at most
            _LAYOUTS.clear()
        layout = _LAYOUTS[key] = _Layout(columns, tile)
    return layout


def sweep_rows(hists: Sequence[Any], part: np.ndarray, scratch: Scratch) -> None:
    """Add column ``j`` of ``part`` to ``hists[j]``, leaving exactly the state ``_update_chunk`` would.

    ``part`` is a C-contiguous float64 ``rows x columns`` chunk of at most ``CHUNK`` rows.
    """
    rows = part.shape[0]
    compiled = kernel()
    totals, found = _extremes(part, scratch) if compiled is None else _compiled_extremes(compiled, part)
    columns = _plans(hists, found, totals)
    planned = any(column is not None for column in columns)
    if planned and not count_shared(hists, part, columns, found[4].tolist(), scratch, CELL_BITS, _TILE):
        _count(hists, part, columns, scratch)
    for j, (hist, column) in enumerate(zip(hists, columns)):
        if column is None:
            hist._update_chunk(np.ascontiguousarray(part[:, j]), scratch)
            continue
        hist.count += rows
        hist.sum += float(totals[j])
        hist.min = min(hist.min, float(found[0][j]))
        hist.max = max(hist.max, float(found[1][j]))


def _count(hists: Sequence[Any], part: np.ndarray, columns: list[_Column | None], scratch: Scratch) -> None:
    rows, width = part.shape
    tile = max(1, _TILE // width)
    layout = _layout(columns, tile)
    counts = np.zeros(layout.total, dtype=np.int64)
    pending: list[np.ndarray] = []
    compiled = kernel()
    if compiled is not None:  # one pass; marked cells mapped in it
        compiled.count(part, rows, width, *layout.kernel, layout.table, counts)
    else:
        pending = _numpy_count(part, layout, counts, scratch, tile)
    if pending:
        _exact(part, columns, layout.starts, np.concatenate(pending), counts)
    for j, column in enumerate(columns):
        if column is not None:
            hist = hists[j]
            hist.downscale(hist._index_scale - column.scale)
            _fold(hist, column, counts[layout.starts[j] : layout.starts[j] + column.slots])


def _numpy_count(
    part: np.ndarray, layout: _Layout, counts: np.ndarray, scratch: Scratch, tile: int
) -> list[np.ndarray]:
    """The counting pass in numpy, tile by tile; returns the flat positions of values in marked cells."""
    rows, width = part.shape
    bits = part.reshape(-1).view(np.uint64)
    pending = []
    for start in range(0, rows, tile):
        size = min(tile, rows - start) * width
        key = np.subtract(
            bits[start * width : start * width + size], _ONE, out=scratch.buffer("flat_t", size)
        )
        np.right_shift(key, layout.shift if layout.one_shift else layout.shifts[:size], out=key)
        np.subtract(key, layout.bases[:size], out=key)
        if layout.any_gap:  # both signs: the negative keys brought down next to the positive ones
            down = np.subtract(key, layout.gaps[:size], out=scratch.buffer("flat_y", size))
            np.minimum(key, down, out=key)
        np.minimum(key, layout.limits[:size], out=key)  # zeros (and other columns' values) to the zero slot
        np.add(key, layout.offsets[:size], out=key)
        slot = np.take(layout.table, key.view(np.int64), out=scratch.buffer("flat_slot", size), mode="clip")
        marked = np.flatnonzero(slot >= EXACT)
        if marked.size:
            slot[marked] = layout.dump
            pending.append(marked + start * width)
        counts += np.bincount(slot, minlength=layout.total)
    return pending


def _fold(hist: Any, column: _Column, own: np.ndarray) -> None:
    positive, negative = column.sides
    first = 0
    if positive is not None:
        offset, counts = trim_counts(positive.low, own[: positive.slots])
        hist.positive_offset, hist.positive_counts = add_counts(
            hist.positive_offset, hist.positive_counts, offset, counts.copy()
        )
        first = positive.slots
    if negative is not None:
        offset, counts = trim_counts(negative.low, own[first : first + negative.slots])
        hist.negative_offset, hist.negative_counts = add_counts(
            hist.negative_offset, hist.negative_counts, offset, counts.copy()
        )
    hist.zero_count += int(own[-1])


def _exact(
    part: np.ndarray, columns: list[_Column | None], starts: list[int], marked: np.ndarray, counts: np.ndarray
) -> None:
    """Map the values of marked cells with the SDK's formula and count them in their slots."""
    width = part.shape[1]
    values = part.reshape(-1)[marked]
    which = marked % width
    side = (values < 0).astype(np.int64)
    magnitude = np.abs(values)
    scales = np.zeros(width, dtype=np.int64)
    origin = np.zeros((width, 2), dtype=np.int64)  # slot of bucket index 0, per column and side
    for j, column in enumerate(columns):
        if column is None:
            continue
        scales[j] = column.scale
        positive, negative = column.sides
        n_pos = positive.slots if positive is not None else 0
        if positive is not None:
            origin[j, 0] = starts[j] - positive.low
        if negative is not None:
            origin[j, 1] = starts[j] + n_pos - negative.low
    own_scale = scales[which]
    for scale in np.unique(own_scale).tolist():
        chosen = np.flatnonzero(own_scale == scale)
        index = map_to_index(magnitude[chosen], scale)
        counts += np.bincount(index + origin[which[chosen], side[chosen]], minlength=counts.size)
