"""The usual OTLP histogram point, whose buckets need no normalising: ``point_sides`` without its passes.

An exporter's point has no empty bucket at either end of a side, no negative count and a scale in range, so
``point_sides`` (a negativity check, a trim and a downscale per side) would hand its sides back as they are.
Rebuilding a point costs a few microseconds less when that is checked first (``from_buckets``).
"""

from __future__ import annotations

import numpy as np

from otel_mlmon.sketch._buckets import Side, Sides
from otel_mlmon.sketch._mapping import MAX_SCALE, MIN_SCALE

__all__ = ["given_sides"]


def given_sides(scale: int, positive: Side, negative: Side) -> Sides | None:
    """``point_sides(scale, positive, negative)`` when it would keep the sides as given; None otherwise.

    An empty side comes back as ``(0, empty)``, as trimming leaves it.

    >>> given_sides(3, (5, np.array([1, 2])), (0, np.array([], dtype=np.int64)))[1:]
    ((5, array([1, 2])), (0, array([], dtype=int64)))
    >>> given_sides(3, (5, np.array([0, 2])), (0, np.array([], dtype=np.int64))) is None  # to trim
    True
    """
    if not (MIN_SCALE <= scale <= MAX_SCALE and _as_given(positive[1]) and _as_given(negative[1])):
        return None
    positive = positive if positive[1].size else (0, positive[1][:0])
    negative = negative if negative[1].size else (0, negative[1][:0])
    return scale, positive, negative


def _as_given(counts: np.ndarray) -> bool:
    """Whether a side's counts need no trimming and hold no negative count."""
    if counts.ndim != 1:
        return False
    return not counts.size or bool(counts[0] != 0 and counts[-1] != 0 and counts.min() >= 0)
