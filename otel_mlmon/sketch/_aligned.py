"""Several exponential histograms on one bucket grid, for comparing distributions (drift statistics)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from otel_mlmon.sketch._buckets import common_grid, downscale_buckets, edges
from otel_mlmon.sketch.exponential import ExponentialHistogram

__all__ = ["aligned_buckets"]


def aligned_buckets(histograms: Sequence[ExponentialHistogram]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Put several histograms on one bucket grid, for comparing distributions (drift statistics).

    Every histogram is brought to the smallest scale among them (no ``max_size`` limit applies: nothing is
    stored), and the union of their index ranges is used on each side.

    Returns:
        ``(lower, upper, counts)`` where ``lower`` / ``upper`` are the bucket bounds in ascending value order
        (as :meth:`ExponentialHistogram.bucket_edges`, zero bucket included) and ``counts`` has one row per
        histogram.

    Raises:
        ValueError: if ``histograms`` is empty.
    """
    if not histograms:
        raise ValueError("histograms must not be empty")
    scale = min(h._index_scale for h in histograms)
    sides: dict[str, list[tuple[int, np.ndarray]]] = {"positive": [], "negative": []}
    for h in histograms:
        for side in sides:
            offset, counts = getattr(h, f"{side}_offset"), getattr(h, f"{side}_counts")
            sides[side].append(downscale_buckets(offset, counts, h._index_scale - scale))
    grids = {side: common_grid(parts) for side, parts in sides.items()}
    neg_low, neg_grid = grids["negative"]
    pos_low, pos_grid = grids["positive"]
    lower, upper, _ = edges(scale, neg_low, neg_grid[0], 0, pos_low, pos_grid[0])
    zeros = np.array([[h.zero_count] for h in histograms], dtype=np.int64)
    counts = np.concatenate([neg_grid[:, ::-1], zeros, pos_grid], axis=1)
    return lower, upper, counts
