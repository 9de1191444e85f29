"""Counting a chunk that holds values of both signs without splitting it by sign first.

Splitting a chunk into its positive and negative values (boolean selection) costs several times an arithmetic
pass over it, because the branch on each value's sign is unpredictable. Here the bucket index of every absolute
value is computed once, and one ``bincount`` of ``index - low + span * [value < 0]`` counts both sides; each
side's occupied range is read from the counts. The histogram's scale decisions are the ones
``ExponentialHistogram._insert`` takes, so the state is identical; the cases this path does not cover (the
scale crossing from positive to non-positive, a batch mapped above the table scale, very wide index ranges)
are left to that general path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from otel_mlmon.sketch._buckets import Scratch, add_counts, downscale_buckets
from otel_mlmon.sketch._mapping import TABLE_MAX_SCALE, map_to_index, scale_change

__all__ = ["FRESH_MIN_SIZE", "MAX_SPAN", "fold_counts", "insert_both_signs"]

# ``hist`` below is an ``ExponentialHistogram`` (not imported: exponential.py imports this module).

# A chunk whose indices span more buckets per side than 4x its values (or than this) is left to the general
# path, which shifts the indices to the final scale before counting: its bincount is then the smaller.
MAX_SPAN = 1 << 17
# A fresh histogram's first small chunk spans a wide range at the table scale (about 1 024 buckets per
# octave): the general path, which counts at the final scale, is cheaper there.
FRESH_MIN_SIZE = 1 << 15


def _occupied(counts: np.ndarray, low: int) -> tuple[int, int, np.ndarray] | None:
    """First and last occupied index of one side's counts starting at ``low``, and the trimmed counts."""
    occupied = np.flatnonzero(counts)
    if occupied.size == 0:
        return None
    first, last = int(occupied[0]), int(occupied[-1])
    return low + first, low + last, counts[first : last + 1]


def _with_held(side: tuple[int, int, np.ndarray], offset: int, held: np.ndarray) -> tuple[int, int]:
    """A side's index range joined with the range of the buckets the histogram already holds."""
    if held.size:
        return min(side[0], offset), max(side[1], offset + held.size - 1)
    return side[0], side[1]


def insert_both_signs(hist: Any, chunk: np.ndarray, scratch: Scratch) -> bool:
    """Count a finite, contiguous ``chunk`` with values of both signs (zeros allowed) into ``hist``'s buckets.

    ``hist.count``/``sum``/``min``/``max`` are the caller's. Returns False, with the buckets and zero count
    unchanged or only downscaled as the general path would downscale them first, when the general path must
    insert the chunk.
    """
    scale = hist._index_scale
    size = int(chunk.size)
    if scale > TABLE_MAX_SCALE and (
        hist.positive_counts.size or hist.negative_counts.size or size < FRESH_MIN_SIZE
    ):
        return (
            False  # kept above the table scale by narrow data (mapped by logarithm there), or small and fresh
        )
    magnitude = np.abs(chunk, out=scratch.buffer("positive", size))
    negative = np.less(chunk, 0, out=scratch.buffer("mask", size))
    zeros = 0
    if np.minimum.reduce(magnitude) == 0:
        zero = magnitude == 0
        zeros = int(np.count_nonzero(zero))
        stand_in = float(np.maximum.reduce(magnitude))  # an occupied bucket; its zeros are taken back below
        np.copyto(magnitude, stand_in, where=zero)
    at = min(scale, TABLE_MAX_SCALE)
    index = map_to_index(magnitude, at, scratch.buffer("pos_index", size), scratch.buffer("work", size))
    low, high = int(np.minimum.reduce(index)), int(np.maximum.reduce(index))
    span = high - low + 1
    if span > min(MAX_SPAN, 4 * size):
        return False
    np.subtract(index, low, out=index)
    side = np.multiply(negative, span, out=scratch.buffer("neg_index", size))
    np.add(index, side, out=index)
    counts = np.bincount(index, minlength=2 * span)
    if counts.dtype != np.int64:
        counts = counts.astype(np.int64)
    if zeros:
        stand_in_index = int(map_to_index(np.array([stand_in]), at)[0])
        counts[stand_in_index - low] -= zeros  # the stand-in's sign bit is clear: positive half
    return fold_counts(hist, counts, low, span, zeros)


def fold_counts(hist: Any, counts: np.ndarray, low: int, span: int, zeros: int) -> bool:
    """Fold one chunk's counts into ``hist``: ``counts[:span]`` / ``counts[span:]`` are the positive / negative
    values' counts by bucket index from ``low``, at ``min(hist's scale, TABLE_MAX_SCALE)``; ``zeros`` exact zeros.

    Takes the scale decisions of the general path; returns False (buckets unchanged, or only downscaled as the
    general path would first downscale them) when the general path must insert the chunk.
    """
    scale = hist._index_scale
    found = (_occupied(counts[:span], low), _occupied(counts[span:], low))
    if scale > TABLE_MAX_SCALE:
        # A fresh histogram: the general path keeps a finer scale (remapping by logarithm) unless a side's
        # range at the table scale is wide enough that the scale must come down to it anyway.
        if not any(side is not None and 2 * (side[1] - side[0]) - 1 >= hist.max_size for side in found):
            return False
        hist.downscale(scale - TABLE_MAX_SCALE)
        scale = TABLE_MAX_SCALE
    held = ((hist.positive_offset, hist.positive_counts), (hist.negative_offset, hist.negative_counts))
    change = max(
        (scale_change(*_with_held(side, *kept), hist.max_size) for side, kept in zip(found, held) if side),
        default=0,
    )
    if not (scale <= 0 or scale - change >= 1):
        return False  # the crossing to the exponent mapping goes value by value, in the general path
    hist.downscale(change)
    if found[0] is not None:
        hist.positive_offset, hist.positive_counts = add_counts(
            hist.positive_offset, hist.positive_counts, *downscale_buckets(found[0][0], found[0][2], change)
        )
    if found[1] is not None:
        hist.negative_offset, hist.negative_counts = add_counts(
            hist.negative_offset, hist.negative_counts, *downscale_buckets(found[1][0], found[1][2], change)
        )
    hist.zero_count += zeros
    return True
