"""Bucket-array arithmetic of the exponential histogram: ranges, counting, downscaling, subtracting, bounds.

The one place where contiguous bucket-count arrays (an ``offset`` and its ``counts``) are combined: the sketch's
own update/merge path, the collector's rebuilding of sketches from OTLP points and its cumulative-to-delta
subtraction, the drift statistics' common grid and the Prometheus exporter's schema reduction all use these.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

import numpy as np

from otel_mlmon.sketch._mapping import MAX_SCALE, MIN_SCALE, bucket_lower_bounds, scale_change

#: One side of a histogram: the index of its first bucket and the contiguous counts from there.
Side = tuple[int, np.ndarray]
#: A histogram's buckets: the scale of their indices, the positive side, the negative side.
Sides = tuple[int, Side, Side]

__all__ = [
    "CHUNK",
    "Scratch",
    "Side",
    "Sides",
    "accumulate",
    "add_counts",
    "add_indices",
    "common_grid",
    "crossing_position",
    "downscale_buckets",
    "edges",
    "held",
    "index_range",
    "lend_scratch",
    "occupied_range",
    "point_sides",
    "range_change",
    "side_change",
    "subtract_counts",
    "subtract_sides",
    "trim_counts",
]

_MIN_NORMAL_EXPONENT = -1022

CHUNK = 1 << 16
_BIG = 1 << 62
_DTYPES = {
    "values": np.float64,
    "positive": np.float64,
    "negative": np.float64,
    "work": np.float64,
    "pos_index": np.int64,
    "neg_index": np.int64,
    "mask": np.bool_,
    "columns": np.float64,
    "sweep_abs": np.float64,
    "sweep_work": np.float64,
    "sweep_index": np.int64,
    "sweep_side": np.int64,
    "sweep_negative": np.bool_,
    "flat_t": np.uint64,
    "flat_y": np.uint64,
    "flat_slot": np.int64,
}


class Scratch:
    """Reusable work arrays: fresh large temporaries cost page faults that dominate the arithmetic."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def buffer(self, name: str, size: int) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None or array.size < size:
            array = self._arrays[name] = np.empty(max(size, 1024), dtype=_DTYPES[name])
        return array[:size]

    def take(self, name: str, size: int, source: np.ndarray) -> np.ndarray:
        out = self.buffer(name, size)
        np.copyto(out, source)
        return out


class _SharedScratch:
    """One process-wide set of scratch buffers, lent to one caller at a time.

    Memory stays bounded (about 3 MiB) however many threads sketch; a caller that finds the buffers busy
    gets fresh ones for its call (correct, only slower). The lock is recreated in a forked child, where a
    thread of the parent might have held it.
    """

    def __init__(self) -> None:
        self.scratch = Scratch()
        self.lock = threading.Lock()

    @contextmanager
    def lend(self) -> Iterator[Scratch]:
        if not self.lock.acquire(blocking=False):
            yield Scratch()
            return
        try:
            yield self.scratch
        finally:
            self.lock.release()

    def reset_after_fork(self) -> None:
        self.lock = threading.Lock()


_SHARED = _SharedScratch()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_SHARED.reset_after_fork)


def lend_scratch() -> AbstractContextManager[Scratch]:
    """Context manager lending the shared scratch buffers (or fresh ones when another caller has them)."""
    return _SHARED.lend()


def edges(
    scale: int,
    neg_offset: int,
    neg_counts: np.ndarray,
    zero_count: int,
    pos_offset: int,
    pos_counts: np.ndarray,
    *,
    nominal: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bucket bounds and counts in ascending value order.

    The SDK puts every value at or below the smallest normal double into the lowest bucket of the scale, so
    that bucket reaches down to 0; ``nominal=True`` keeps its ``base**index`` bound instead (for
    interpolating normal values, as ``quantile`` and ``cdf`` do).
    """
    if nominal:
        lowest = -(1 << 62)
    elif scale > 0:
        lowest = (_MIN_NORMAL_EXPONENT << scale) - 1
    else:
        lowest = (_MIN_NORMAL_EXPONENT - 1) >> -scale
    neg_indices = neg_offset + np.arange(neg_counts.size + 1)
    pos_indices = pos_offset + np.arange(pos_counts.size + 1)
    neg_bounds = np.where(neg_indices <= lowest, 0.0, bucket_lower_bounds(neg_indices, scale))
    pos_bounds = np.where(pos_indices <= lowest, 0.0, bucket_lower_bounds(pos_indices, scale))
    lower = np.concatenate([-neg_bounds[1:][::-1], [0.0], pos_bounds[:-1]])
    upper = np.concatenate([-neg_bounds[:-1][::-1], [0.0], pos_bounds[1:]])
    counts = np.concatenate([neg_counts[::-1], np.array([zero_count], dtype=np.int64), pos_counts])
    return lower, upper, counts.astype(np.int64, copy=False)


def side_change(offset: int, counts: np.ndarray, index: np.ndarray, max_size: int) -> int:
    """Scale change needed for a side holding ``counts`` at ``offset`` to also hold ``index``."""
    if index.size == 0:
        return 0
    low, high = int(index.min()), int(index.max())
    if counts.size:
        low, high = min(low, offset), max(high, offset + counts.size - 1)
    return scale_change(low, high, max_size)


def range_change(
    offset_a: int, counts_a: np.ndarray, offset_b: int, counts_b: np.ndarray, max_size: int
) -> int:
    """Scale change needed for the union of two bucket ranges at the same scale."""
    ranges = [(o, o + c.size - 1) for o, c in ((offset_a, counts_a), (offset_b, counts_b)) if c.size]
    if not ranges:
        return 0
    return scale_change(min(r[0] for r in ranges), max(r[1] for r in ranges), max_size)


def index_range(index: np.ndarray, offset: int, counts: np.ndarray) -> tuple[int, int]:
    """Lowest and highest index among ``index`` and a side's current buckets (``(0, -1)`` if both empty)."""
    if index.size == 0:
        return (offset, offset + counts.size - 1) if counts.size else (0, -1)
    low, high = int(index.min()), int(index.max())
    if counts.size:
        return min(low, offset), max(high, offset + counts.size - 1)
    return low, high


def held(offset: int, counts: np.ndarray, shift: int) -> tuple[int, np.ndarray]:
    """A side's offset and counts as seen ``shift`` scales coarser (only the range is meaningful)."""
    if counts.size == 0:
        return 0, counts
    low, high = offset >> shift, (offset + counts.size - 1) >> shift
    return low, np.empty(high - low + 1, dtype=np.int64)


def accumulate(
    index: np.ndarray, low: int, high: int, offset: int, counts: np.ndarray
) -> tuple[int, np.ndarray]:
    """Count ``index`` into a side spanning ``low..high`` that already holds ``counts`` at ``offset``."""
    np.subtract(index, low, out=index)
    merged = np.bincount(index, minlength=high - low + 1)
    if merged.dtype != np.int64:
        merged = merged.astype(np.int64)
    if counts.size:
        merged[offset - low : offset - low + counts.size] += counts
    return low, merged


def add_indices(offset: int, counts: np.ndarray, index: np.ndarray) -> tuple[int, np.ndarray]:
    """Count ``index`` (one entry per value) into the contiguous ``counts`` starting at ``offset``."""
    if index.size == 0:
        return offset, counts
    low, high = int(index.min()), int(index.max())
    if counts.size:
        low, high = min(low, offset), max(high, offset + counts.size - 1)
    np.subtract(index, low, out=index)
    merged = np.bincount(index, minlength=high - low + 1).astype(np.int64, copy=False)
    if counts.size:
        merged[offset - low : offset - low + counts.size] += counts
    return low, merged


def add_counts(
    offset_a: int, counts_a: np.ndarray, offset_b: int, counts_b: np.ndarray
) -> tuple[int, np.ndarray]:
    """Add two contiguous bucket-count arrays given at the same scale."""
    if counts_b.size == 0:
        return offset_a, counts_a
    if counts_a.size == 0:
        return offset_b, counts_b.copy()
    low = min(offset_a, offset_b)
    high = max(offset_a + counts_a.size, offset_b + counts_b.size)
    merged = np.zeros(high - low, dtype=np.int64)
    merged[offset_a - low : offset_a - low + counts_a.size] += counts_a
    merged[offset_b - low : offset_b - low + counts_b.size] += counts_b
    return low, merged


def crossing_position(
    nonzero: np.ndarray, sides: Sides, pos_index: np.ndarray, neg_index: np.ndarray, scale: int, max_size: int
) -> int:
    """Position of the first value of ``nonzero`` whose arrival makes either side's range too wide at ``scale``.

    ``sides`` are the buckets already held, ``pos_index`` / ``neg_index`` the indices (at the held scale) of the
    positive / negative values of ``nonzero``, in order; ``nonzero.size`` when no value does.
    """
    shift = sides[0] - scale
    first = nonzero.size
    for side_mask, index, (offset, counts) in (
        (nonzero > 0, pos_index, sides[1]),
        (nonzero < 0, neg_index, sides[2]),
    ):
        if index.size == 0:
            continue
        low = np.full(nonzero.size, _BIG, dtype=np.int64)
        high = np.full(nonzero.size, -_BIG, dtype=np.int64)
        low[side_mask] = index
        high[side_mask] = index
        if counts.size:
            low[0] = min(low[0], offset)
            high[0] = max(high[0], offset + counts.size - 1)
        np.minimum.accumulate(low, out=low)
        np.maximum.accumulate(high, out=high)
        too_wide = np.flatnonzero((high >> shift) - (low >> shift) >= max_size)
        if too_wide.size:
            first = min(first, int(too_wide[0]))
    return first


def downscale_buckets(offset: int, counts: np.ndarray, by: int) -> tuple[int, np.ndarray]:
    """Merge each run of ``2**by`` adjacent buckets: bucket ``i`` goes to ``i >> by`` (floor, negatives too).

    This is what lowering a base-2 exponential histogram's scale by ``by`` does to one side's buckets. ``counts``
    may hold zeros anywhere (as OTLP points do) and may be any numeric dtype; the result keeps it. An empty side
    gets offset 0 (as in the OpenTelemetry SDK).

    >>> downscale_buckets(-3, np.array([1, 2, 3, 4]), 1)
    (-2, array([1, 5, 4]))
    """
    if counts.size == 0:
        return 0, counts
    if by == 0:
        return offset, counts
    low = offset >> by
    if by >= 62:  # block starts beyond int64: find them from the shifted indices
        shifted = (offset + np.arange(counts.size, dtype=np.int64)) >> by
        starts = np.flatnonzero(np.diff(shifted, prepend=shifted[0] - 1))
        return low, np.add.reduceat(counts, starts)
    # Output bucket j starts where (offset + i) is a multiple of 2**by: at i = first, first + 2**by, ...
    step = 1 << by
    first = ((low + 1) << by) - offset
    starts = np.arange(first - step, counts.size, step)
    starts[0] = 0
    return low, np.add.reduceat(counts, starts)


def common_grid(sides: Sequence[Side], dtype: type = np.int64) -> tuple[int, np.ndarray]:
    """Lay several sides at one scale on the union of their index ranges: ``(low, grid)``, one row per side.

    Row ``r`` of ``grid`` holds side ``r``'s counts from index ``low`` on, zeros where it has no bucket; empty
    sides take no part in the range, and when all are empty the grid has no column (``low`` is 0).

    >>> common_grid([(2, np.array([1, 1])), (0, np.array([5])), (0, np.array([], dtype=np.int64))])
    (0, array([[0, 0, 1, 1],
           [5, 0, 0, 0],
           [0, 0, 0, 0]]))
    """
    present = [(offset, counts) for offset, counts in sides if counts.size]
    low = min((offset for offset, _ in present), default=0)
    high = max((offset + counts.size for offset, counts in present), default=0)
    grid = np.zeros((len(sides), high - low), dtype=dtype)
    for row, (offset, counts) in enumerate(sides):
        if counts.size:
            grid[row, offset - low : offset - low + counts.size] = counts
    return low, grid


def trim_counts(offset: int, counts: np.ndarray) -> tuple[int, np.ndarray]:
    """Drop leading and trailing empty buckets (the offset moves with them); all empty gives ``(0, [])``."""
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return 0, counts[:0]
    first, last = int(nonzero[0]), int(nonzero[-1])
    return offset + first, counts[first : last + 1]


def subtract_counts(
    offset_a: int, counts_a: np.ndarray, offset_b: int, counts_b: np.ndarray
) -> tuple[int, np.ndarray] | None:
    """``a - b`` bucket by bucket at one scale, trimmed; None when any bucket would go negative."""
    if counts_b.size == 0:
        return offset_a, counts_a.copy()
    if counts_a.size == 0:
        return None
    low = min(offset_a, offset_b)
    high = max(offset_a + counts_a.size, offset_b + counts_b.size)
    diff = np.zeros(high - low, dtype=np.int64)
    diff[offset_a - low : offset_a - low + counts_a.size] += counts_a
    diff[offset_b - low : offset_b - low + counts_b.size] -= counts_b
    if diff.min() < 0:
        return None
    return trim_counts(low, diff)


def point_sides(scale: int, positive: Side, negative: Side) -> Sides:
    """Validate and normalise the buckets of an OTLP-style point: trimmed, at a scale of at most 20.

    Raises:
        ValueError: if a count is negative or the scale is below -10.
    """
    sides = []
    for offset, counts in (positive, negative):
        if counts.size and counts.min() < 0:
            raise ValueError("bucket counts must be non-negative")
        sides.append(trim_counts(offset, counts))
    if scale > MAX_SCALE:
        sides = [downscale_buckets(*side, scale - MAX_SCALE) for side in sides]
        scale = MAX_SCALE
    if scale < MIN_SCALE:
        raise ValueError(f"scale must be >= {MIN_SCALE}, got {scale}")
    return scale, sides[0], sides[1]


def subtract_sides(newer: Sides, older: Sides, empty_scale: int) -> Sides | None:
    """``newer - older`` for two ``(scale, positive, negative)``, at the coarser scale; None if a bucket drops.

    Only a histogram with buckets has a say in the scale; ``empty_scale`` when neither has any.
    """
    scales = [scale for scale, pos, neg in (newer, older) if pos[1].size or neg[1].size]
    scale = min(scales) if scales else empty_scale
    sides = []
    for side in (1, 2):
        newer_side = downscale_buckets(*newer[side], newer[0] - scale)
        older_side = downscale_buckets(*older[side], older[0] - scale)
        difference = subtract_counts(*newer_side, *older_side)
        if difference is None:
            return None
        sides.append(difference)
    return scale, sides[0], sides[1]


def occupied_range(
    scale: int,
    neg_offset: int,
    neg_counts: np.ndarray,
    zero_count: int,
    pos_offset: int,
    pos_counts: np.ndarray,
) -> tuple[float, float]:
    """Lowest and highest value the occupied buckets allow (for a histogram without min/max), as :func:`edges`.

    Raises:
        ValueError: if no bucket is occupied and ``zero_count`` is 0.
    """
    lower, upper, counts = edges(scale, neg_offset, neg_counts, zero_count, pos_offset, pos_counts)
    occupied = np.flatnonzero(counts)
    if occupied.size == 0:
        raise ValueError("no occupied bucket")
    return float(lower[occupied[0]]), float(upper[occupied[-1]])
