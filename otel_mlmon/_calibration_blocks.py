"""Constant blocks of an isotonic calibration, as :mod:`otel_mlmon.estimation` keeps them, how a histogram
bucket of confidences is spread over them, and the buckets a window's two confidence histograms give."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "REFINE_COMPLEMENT_SCALE",
    "REFINE_SCALE",
    "histogram_buckets",
    "isotonic_blocks",
    "joint_buckets",
    "refine_blocks",
    "tilt",
]


def isotonic_blocks(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-decreasing least-squares fit of ``y`` on ``x`` (pool adjacent violators), as its constant blocks:
    rows ``(first x, last x, mean y, rows)``."""
    order = np.argsort(x, kind="mergesort")
    xs, ys = np.asarray(x, dtype=np.float64)[order], np.asarray(y, dtype=np.float64)[order]
    unique, inverse = np.unique(xs, return_inverse=True)
    sums = list(np.bincount(inverse, weights=ys))
    weights = list(np.bincount(inverse).astype(np.float64))
    lo = list(unique)
    hi = list(unique)
    s: list[float] = []
    w: list[float] = []
    a: list[float] = []
    b: list[float] = []
    for i in range(len(unique)):
        s.append(sums[i])
        w.append(weights[i])
        a.append(lo[i])
        b.append(hi[i])
        while len(s) > 1 and s[-2] / w[-2] >= s[-1] / w[-1]:
            last_s, last_w, last_b = s.pop(), w.pop(), b.pop()
            a.pop()
            s[-1] += last_s
            w[-1] += last_w
            b[-1] = last_b
    return np.column_stack([a, b, np.asarray(s) / np.asarray(w), w])


#: Blocks are cut where the exponential histograms of this scale have bucket bounds (see :func:`refine_blocks`).
REFINE_SCALE = 8
#: ... and where the histograms of ``1 - confidence`` of this scale have theirs (160 buckets span 10 octaves at
#: scale 4: complements down to 0.0005; windows reaching further down have a coarser scale, whose bounds are among
#: these).
REFINE_COMPLEMENT_SCALE = 4


def _bucket_index(values: np.ndarray, scale: int) -> np.ndarray:
    """Exponential-histogram bucket index of each value at ``scale`` (zeros get one index of their own)."""
    with np.errstate(divide="ignore"):
        index = np.ceil(np.log2(np.maximum(values, 1e-300)) * 2.0**scale) - 1
    return np.where(values > 0, index, -np.inf)


def refine_blocks(
    blocks: np.ndarray,
    confidence: np.ndarray,
    scale: int = REFINE_SCALE,
    complement_scale: int | None = REFINE_COMPLEMENT_SCALE,
) -> np.ndarray:
    """Cut each constant block of the calibration where an exponential histogram of ``scale`` (or any coarser one)
    has a bucket bound, and where one of ``1 - confidence`` at ``complement_scale`` has one, each piece keeping its
    block's P(correct) and its own reference rows and range.

    The calibration is unchanged; what changes is how a window's histogram bucket is spread over the blocks it
    straddles (:meth:`ClassifierCalibration.spread_buckets`): by the reference rows actually in the bucket rather
    than by spreading each block's rows evenly over its range. Near a confidence of 1 -- where tree ensembles put
    most rows, one histogram bucket spans many blocks, and P(correct) changes fastest -- that is most of the
    difference between an estimate from sketches and one from the exact confidences.
    """
    confidence = np.sort(np.asarray(confidence, dtype=np.float64))
    if confidence.size == 0 or blocks.size == 0:
        return blocks
    bucket = _bucket_index(confidence, scale)
    changes = bucket[1:] != bucket[:-1]
    if complement_scale is not None:
        complement = _bucket_index(1.0 - confidence, complement_scale)
        changes |= complement[1:] != complement[:-1]
    pieces = []
    for lo, hi, value, rows in blocks:
        inside = (confidence >= lo) & (confidence <= hi)
        if not inside.any():
            pieces.append((lo, hi, value, rows))
            continue
        first = int(np.argmax(inside))
        values = confidence[inside]
        cuts = np.flatnonzero(changes[first : first + values.size - 1]) + 1
        for part in np.split(values, cuts):
            pieces.append((float(part[0]), float(part[-1]), value, float(part.size)))
    return np.asarray(pieces, dtype=np.float64)


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
    """Buckets of confidence ``p`` from a histogram of ``p`` and one of ``1 - p`` over the same rows: the first's
    below a cut, the second's (mirrored) above it, where each is the finer (see :mod:`otel_mlmon._confidence`).

    An exponential histogram's bucket at ``v`` is ``v · (base - 1)`` wide, so the one of ``p`` is finer below
    ``p* = r_c / (r_p + r_c)`` (``r = base - 1`` of each) and the complement's above. The cut is ``p*``, moved up to
    the upper bound of the confidence bucket holding it; the rows below are that histogram's exactly, the rows above
    are the complement's buckets below ``1 - cut``, the one bucket straddling it holding what is left of the total.
    Returns ``(lower, upper, counts)`` ascending. Without a complement, or one that does not count the same rows
    (a window where one of the two series was lost), the confidence histogram's own buckets.
    """
    lo, hi, counts = histogram_buckets(confidence)
    if complement is None or not complement.count or complement.count != confidence.count:
        return lo, hi, counts
    d_lo, d_hi, d_counts = histogram_buckets(complement)
    r_p = 2.0 ** (2.0**-confidence.scale) - 1
    r_c = 2.0 ** (2.0**-complement.scale) - 1
    cut = r_c / (r_p + r_c)
    holding = (lo < cut) & (hi > cut)
    if holding.any():
        cut = float(hi[holding][0])
    below = hi <= cut
    above_rows = float(counts[~below].sum())
    if above_rows <= 0:
        return lo, hi, counts
    d_cut = 1.0 - cut
    full = d_hi <= d_cut
    straddle = (d_lo < d_cut) & ~full
    left = max(above_rows - float(d_counts[full].sum()), 0.0)
    part = np.minimum(d_counts[straddle], left)  # at most one bucket straddles
    mirrored_lo = np.concatenate([1.0 - d_hi[full], np.full(part.size, cut)])
    mirrored_hi = np.concatenate([1.0 - d_lo[full], 1.0 - d_lo[straddle]])
    mirrored = np.concatenate([d_counts[full], part])
    if mirrored.sum() <= 0:
        return lo, hi, counts
    mirrored *= above_rows / mirrored.sum()  # the same rows on both sides of the cut, whatever the rounding
    lower = np.concatenate([lo[below], mirrored_lo])
    upper = np.concatenate([hi[below], mirrored_hi])
    rows = np.concatenate([counts[below], mirrored])
    order = np.argsort(lower, kind="stable")
    return lower[order], upper[order], rows[order]
