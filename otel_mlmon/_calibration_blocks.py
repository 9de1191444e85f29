"""Constant blocks of an isotonic calibration, as :mod:`otel_mlmon.estimation` keeps them, and how a histogram
bucket of confidences is spread over them."""

from __future__ import annotations

import numpy as np

__all__ = ["REFINE_SCALE", "isotonic_blocks", "refine_blocks", "tilt"]


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


def refine_blocks(blocks: np.ndarray, confidence: np.ndarray, scale: int = REFINE_SCALE) -> np.ndarray:
    """Cut each constant block of the calibration where an exponential histogram of ``scale`` (or any coarser one)
    has a bucket bound, each piece keeping its block's P(correct) and its own reference rows and range.

    The calibration is unchanged; what changes is how a window's histogram bucket is spread over the blocks it
    straddles (:meth:`ClassifierCalibration.spread_buckets`): by the reference rows actually in the bucket rather
    than by spreading each block's rows evenly over its range. Near a confidence of 1 -- where tree ensembles put
    most rows, one histogram bucket spans many blocks, and P(correct) changes fastest -- that is most of the
    difference between an estimate from sketches and one from the exact confidences.
    """
    confidence = np.sort(np.asarray(confidence, dtype=np.float64))
    if confidence.size == 0 or blocks.size == 0:
        return blocks
    with np.errstate(divide="ignore"):
        bucket = np.ceil(np.log2(np.maximum(confidence, 1e-300)) * 2.0**scale) - 1
    pieces = []
    for lo, hi, value, rows in blocks:
        inside = (confidence >= lo) & (confidence <= hi)
        if not inside.any():
            pieces.append((lo, hi, value, rows))
            continue
        values, index = confidence[inside], bucket[inside]
        cuts = np.flatnonzero(np.diff(index)) + 1
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
