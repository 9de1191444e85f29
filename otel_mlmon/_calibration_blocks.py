"""Constant blocks of a calibration, as :mod:`otel_mlmon.estimation` keeps them (one per cell of the exported
histograms), how a histogram bucket of confidences is spread over them, and the buckets a window's two confidence
histograms give."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "CELL_COMPLEMENT_SCALE",
    "CELL_SCALE",
    "cell_blocks",
    "histogram_buckets",
    "joint_buckets",
    "spread_over_blocks",
    "tilt",
]


#: Blocks are cells between the bucket bounds of the exponential histograms of this scale (see
#: :func:`cell_blocks`) ...
CELL_SCALE = 8
#: ... and of the histograms of ``1 - confidence`` of this scale (160 buckets span 10 octaves at scale 4:
#: complements down to 0.0005; windows reaching further down have a coarser scale, whose bounds are among these).
CELL_COMPLEMENT_SCALE = 4


def _bucket_index(values: np.ndarray, scale: int) -> np.ndarray:
    """Exponential-histogram bucket index of each value at ``scale`` (zeros get one index of their own)."""
    with np.errstate(divide="ignore"):
        index = np.ceil(np.log2(np.maximum(values, 1e-300)) * 2.0**scale) - 1
    return np.where(values > 0, index, -np.inf)


def cell_blocks(
    confidence: np.ndarray,
    value: np.ndarray,
    scale: int = CELL_SCALE,
    complement_scale: int | None = CELL_COMPLEMENT_SCALE,
) -> np.ndarray:
    """Reference rows ``(confidence, calibrated P(correct))`` as blocks ``(first confidence, last confidence, mean
    P(correct), rows)``, ascending, one per cell between the bucket bounds of an exponential histogram of ``scale``
    (or any coarser one) and of one of ``1 - confidence`` at ``complement_scale``.

    A window's histogram bucket is then spread over the blocks it straddles by the reference rows actually in it
    (:meth:`ClassifierCalibration.spread_buckets`), and each block's P(correct) is the mean over those rows, so the
    estimate from sketches is the one from exact confidences whenever the window's rows sit within each cell like
    the reference's. Near a confidence of 1 -- where tree ensembles put most rows, one histogram bucket spans many
    cells, and P(correct) changes fastest -- that is most of the difference between the two.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    order = np.argsort(confidence, kind="mergesort")
    confidence, value = confidence[order], np.asarray(value, dtype=np.float64)[order]
    if confidence.size == 0:
        return np.empty((0, 4))
    bucket = _bucket_index(confidence, scale)
    changes = bucket[1:] != bucket[:-1]
    if complement_scale is not None:
        complement = _bucket_index(1.0 - confidence, complement_scale)
        changes |= complement[1:] != complement[:-1]
    starts = np.concatenate([[0], np.flatnonzero(changes) + 1])
    rows = np.diff(np.append(starts, confidence.size)).astype(np.float64)
    means = np.add.reduceat(value, starts) / rows
    return np.column_stack([confidence[starts], confidence[starts + rows.astype(int) - 1], means, rows])


def spread_over_blocks(
    blocks: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    counts: np.ndarray,
    total: float | None,
    fallback: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histogram buckets ``(lower, upper]`` → ``(value, rows, probability)`` pieces, spread like the reference rows.

    Within a bucket the rows are assumed spread like the reference rows (each block's reference rows evenly over
    the block), so a bucket becomes one piece per block it overlaps, at that block's probability. A bucket
    overlapping no reference row is one piece at its midpoint, its probability ``fallback(midpoint)``. ``total``,
    the histogram's exact sum of values, tilts every bucket's spread (:func:`tilt`) so that the pieces add up to it.
    """
    middle = (lower + upper) / 2
    lo, hi, mean, rows = (blocks[:, i][None, :] for i in range(4))
    a, b = lower[:, None], upper[:, None]
    width = hi - lo
    overlap = np.minimum(b, hi) - np.maximum(a, lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(width > 0, overlap / np.where(width > 0, width, 1.0), ((lo > a) & (lo <= b)) * 1.0)
    weight = np.clip(share, 0.0, 1.0) * rows
    total_weight = weight.sum(axis=1, keepdims=True)
    covered = total_weight[:, 0] > 0
    fraction = weight[covered] / total_weight[covered]
    where = np.clip((np.maximum(a, lo) + np.minimum(b, hi)) / 2, a, b)[covered]
    if total is not None and np.isfinite(total):
        known = float(np.dot(counts[~covered], middle[~covered]))
        fraction = tilt(fraction, where, lower[covered], upper[covered], counts[covered], total - known)
    i, j = np.nonzero(fraction)
    values = np.concatenate([where[i, j], middle[~covered]])
    pieces = np.concatenate([counts[covered][i] * fraction[i, j], counts[~covered]])
    p = np.concatenate([np.broadcast_to(mean, weight.shape)[covered][i, j], fallback(middle[~covered])])
    return values, pieces, p


def tilt(
    fraction: np.ndarray,
    where: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    counts: np.ndarray,
    target: float,
) -> np.ndarray:
    """``fraction`` (buckets × pieces, rows summing to 1) tilted by ``exp(θ · position within the bucket)`` so that
    the rows' sum of confidences is ``target`` (θ bisected in ±30; the nearest end when out of reach)."""
    width = (upper - lower)[:, None]
    position = np.divide(where - lower[:, None], width, out=np.full_like(where, 0.5), where=width > 0) - 0.5
    present = fraction > 0

    def tilted(theta: float) -> np.ndarray:
        w = np.where(present, fraction * np.exp(theta * position), 0.0)
        return w / w.sum(axis=1, keepdims=True)

    def excess(theta: float) -> float:
        return float(np.dot(counts, (tilted(theta) * where).sum(axis=1))) - target

    low, high = -30.0, 30.0
    if excess(low) >= 0:
        return tilted(low)
    if excess(high) <= 0:
        return tilted(high)
    for _ in range(40):
        middle = (low + high) / 2
        if excess(middle) < 0:
            low = middle
        else:
            high = middle
    return tilted((low + high) / 2)


def histogram_buckets(histogram: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An exponential histogram's non-empty buckets: bounds clipped to its ``[min, max]``, and counts."""
    lower, upper, counts = histogram.bucket_edges()
    keep = counts > 0
    lo = np.clip(lower[keep], histogram.min, histogram.max)
    hi = np.clip(upper[keep], histogram.min, histogram.max)
    return lo, hi, counts[keep].astype(np.float64)


def joint_buckets(confidence: Any, complement: Any | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Buckets of confidence ``p`` from a histogram of ``p`` and one of ``1 - p`` over the same rows: the cells
    between the bounds of both (see :mod:`otel_mlmon._confidence`).

    Both histograms count the same rows, so each of their bucket bounds gives the exact number of rows below it:
    a bound ``t`` of the first, the rows with ``p <= t``; a bound ``u`` of the second, the rows with
    ``p < 1 - u``. Together they give the row count of every cell between two consecutive bounds of either. An
    exponential histogram's bucket at ``v`` is ``v · (base - 1)`` wide, so the first is fine near 0 and the second
    near 1; where both are about as coarse (around ``p* = r_c / (r_p + r_c)``, ``r = base - 1`` of each) their
    bounds interleave and the cells are finer than either's buckets. Returns ``(lower, upper, counts)`` ascending
    (a cell ``[t, t]`` holds the rows exactly at ``t``). Without a complement, or one that does not count the same
    rows (a window where one of the two series was lost), the confidence histogram's own buckets.
    """
    lo, hi, counts = histogram_buckets(confidence)
    if complement is None or not complement.count or complement.count != confidence.count:
        return lo, hi, counts
    d_lo, d_hi, d_counts = histogram_buckets(complement)
    n = float(counts.sum())
    through, d_through = np.cumsum(counts), np.cumsum(d_counts)
    point = d_lo == d_hi  # the zero bucket (p exactly 1): no bound below it
    # Entries (bound, side, rows below): side 1 counts the rows <= bound, side 0 those < bound.
    at = np.concatenate([lo, hi, 1.0 - d_hi, (1.0 - d_lo)[~point]])
    side = np.concatenate([np.ones(2 * lo.size), np.zeros(d_hi.size + int((~point).sum()))])
    below = np.concatenate([through - counts, through, n - d_through, (n - d_through + d_counts)[~point]])
    order = np.lexsort((below, side, at))
    at, below = at[order], np.clip(np.maximum.accumulate(below[order]), 0.0, n)
    rows = np.diff(below)
    keep = rows > 0
    return at[:-1][keep], at[1:][keep], rows[keep]
