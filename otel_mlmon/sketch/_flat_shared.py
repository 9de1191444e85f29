"""The flat passes with one table for all columns, when every counted column maps at a scale of one kind.

Counting each column at its own scale needs a table per column and per-value column parameters (``_flat.py``).
When all the counted columns' final scales are >= 1 (or all <= 0), every column can be counted at the finest of
them and its counts downscaled afterwards: a bucket index at scale ``s - k`` is the index at ``s`` shifted right
by ``k`` for the logarithm mapping (the SDK's rounding included, as ``2**k`` scales the product exactly) and for
the exponent mapping. Then one table over the union of the columns' octaves serves all columns, the key
arithmetic takes scalars, and the table stays small enough for the CPU cache.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from otel_mlmon.sketch._buckets import Scratch, add_counts, downscale_buckets, trim_counts
from otel_mlmon.sketch._flat_tables import EXACT, SideTable, side_table
from otel_mlmon.sketch._kernel import kernel
from otel_mlmon.sketch._mapping import INV_LN2, map_to_index

__all__ = ["count_shared"]

# Cells per side of the shared table at most (beyond, each column keeps its own table).
_MAX_CELLS = 1 << 16
_ONE = np.uint64(1)
_U64_MAX = np.uint64((1 << 64) - 1)
_SHARED: dict[tuple, np.ndarray] = {}


def _union(ranges: list[tuple[int, int]]) -> tuple[int, int] | None:
    if not ranges:
        return None
    return min(first for first, _ in ranges), max(last for _, last in ranges)


def count_shared(
    hists: Sequence[Any],
    part: np.ndarray,
    columns: Sequence[Any],
    negative_zero: Sequence[bool],
    scratch: Scratch,
    cell_bits: int,
    tile_values: int,
) -> bool:
    """Count the planned columns (``columns[j]`` not None) of ``part`` into ``hists`` with one shared table.

    Returns False, with nothing changed, when the columns do not allow it (scales of both kinds, a table too
    wide, ``-0.0`` where both signs are counted).
    """
    counted = [j for j, column in enumerate(columns) if column is not None]
    scales = [columns[j].scale for j in counted]
    top = max(scales)
    if top >= 1 and min(scales) <= 0:
        return False
    bits = 0 if top <= 0 else top + cell_bits
    octaves = [octave for j in counted for octave in columns[j].key[1:]]
    positive = _union([o for o in octaves if o[0] < 2048])
    negative = _union([o for o in octaves if o[0] >= 2048])
    if positive and negative and any(negative_zero[j] for j in counted):
        return False  # -0.0 would fall between the two sides' keys
    if any(side and (side[1] - side[0] + 1) << bits > _MAX_CELLS for side in (positive, negative)):
        return False
    pos = side_table(top, bits, *positive) if positive else None
    neg = side_table(top, bits, *negative) if negative else None
    n_pos = pos.slots if pos is not None else 0
    block = n_pos + (neg.slots if neg is not None else 0) + 1  # the zero slot last
    base = pos.first if pos is not None else neg.first  # type: ignore[union-attr]
    gap = 0
    if pos is not None and neg is not None:
        gap = neg.first - pos.first - pos.entries.size
        if gap < pos.entries.size:
            return False
    key = (top, bits, positive, negative)
    table = _SHARED.get(key)
    if table is None:
        parts = [pos.entries] if pos is not None else []
        if neg is not None:
            parts.append(neg.entries + n_pos)
        table = np.concatenate([*parts, np.array([block - 1], dtype=np.int64)])
        if len(_SHARED) >= 16:
            _SHARED.clear()
        _SHARED[key] = table
    planned = [columns[j] is not None for j in range(part.shape[1])]
    origins = (-(pos.low if pos is not None else 0), n_pos - (neg.low if neg is not None else 0))
    counts = _count(part, table, block, base, gap, 52 - bits, scratch, tile_values, (top, planned, *origins))
    marked = counts.pop()
    own_counts = counts[0]
    if marked.size:
        _exact(part, marked, planned, top, pos, neg, block, own_counts)
    for j in counted:
        hist, column = hists[j], columns[j]
        hist.downscale(hist._index_scale - column.scale)
        own = own_counts[j * block : (j + 1) * block]
        by = top - column.scale
        for side, first, sign in ((pos, 0, 0), (neg, n_pos, 1)):
            if side is None:
                continue
            offset, found = trim_counts(*downscale_buckets(side.low, own[first : first + side.slots], by))
            if not found.size:
                continue
            if sign == 0:
                hist.positive_offset, hist.positive_counts = add_counts(
                    hist.positive_offset, hist.positive_counts, offset, found.copy()
                )
            else:
                hist.negative_offset, hist.negative_counts = add_counts(
                    hist.negative_offset, hist.negative_counts, offset, found.copy()
                )
        hist.zero_count += int(own[-1])
    return True


def _kernel_params(
    width: int, block: int, base: int, gap: int, shift: int, exact: tuple[int, list[bool], int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The C pass's parameters (``_flatkernel.c``, ``count``): one shift, base and gap for all columns, no
    limit (keys past the table read its last entry, the zero slot's), each column's block as slot offset, and
    for the planned columns the scale and the slots of bucket 0 of each side of the cells mapped one by one."""
    scale, planned, origin_pos, origin_neg = exact
    params = np.zeros((9, width), dtype=np.int64)
    first = np.arange(width, dtype=np.int64) * block
    params[5] = first
    params[6] = np.where(planned, scale, 0) if scale >= 1 else 0
    params[7], params[8] = first + origin_pos, first + origin_neg
    params = params.view(np.uint64)
    params[0], params[1], params[2], params[3] = shift, base, gap, _U64_MAX
    return params, np.full(width, math.ldexp(INV_LN2, max(scale, 0)))


def _count(
    part: np.ndarray,
    table: np.ndarray,
    block: int,
    base: int,
    gap: int,
    shift: int,
    scratch: Scratch,
    tile_values: int,
    exact: tuple[int, list[bool], int, int],
) -> list:
    rows, width = part.shape
    tile = max(1, tile_values // width)
    bits = part.reshape(-1).view(np.uint64)
    columns_base = np.tile(np.arange(width, dtype=np.int64) * block, tile)
    dump = width * block
    counts = np.zeros(dump + 1, dtype=np.int64)
    compiled = kernel()
    if compiled is not None:  # one pass in C; marked cells mapped in it
        compiled.count(
            part, rows, width, *_kernel_params(width, block, base, gap, shift, exact), table, counts
        )
        return [counts, np.zeros(0, dtype=np.int64)]
    pending = []
    base_u, gap_u, shift_u = np.uint64(base), np.uint64(gap), np.uint64(shift)
    for start in range(0, rows, tile):
        size = min(tile, rows - start) * width
        key = np.subtract(
            bits[start * width : start * width + size], _ONE, out=scratch.buffer("flat_t", size)
        )
        np.right_shift(key, shift_u, out=key)
        np.subtract(key, base_u, out=key)
        if gap:  # both signs: the negative keys brought down next to the positive ones
            down = np.subtract(key, gap_u, out=scratch.buffer("flat_y", size))
            np.minimum(key, down, out=key)
        slot = np.take(table, key.view(np.int64), out=scratch.buffer("flat_slot", size), mode="clip")
        np.add(slot, columns_base[:size], out=slot)
        marked = np.flatnonzero(slot >= EXACT)
        if marked.size:
            slot[marked] = dump
            pending.append(marked + start * width)
        counts += np.bincount(slot, minlength=dump + 1)
    return [counts, np.concatenate(pending) if pending else np.zeros(0, dtype=np.int64)]


def _exact(
    part: np.ndarray,
    marked: np.ndarray,
    planned: list[bool],
    scale: int,
    pos: SideTable | None,
    neg: SideTable | None,
    block: int,
    counts: np.ndarray,
) -> None:
    """Map the values of marked cells of planned columns with the SDK's formula and count them in their slots."""
    width = part.shape[1]
    which = marked % width
    keep = np.array(planned, dtype=bool)[which]
    marked, which = marked[keep], which[keep]
    if not marked.size:
        return
    values = part.reshape(-1)[marked]
    negative = values < 0
    index = map_to_index(np.abs(values), scale)
    n_pos = pos.slots if pos is not None else 0
    origin = np.where(
        negative,
        n_pos - (neg.low if neg is not None else 0),
        -(pos.low if pos is not None else 0),
    )
    counts += np.bincount(index + origin + which * block, minlength=counts.size)
