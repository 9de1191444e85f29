"""The alignment as it was written pair by pair before the batched pass replaced it: the oracle that
``align`` and ``align_many`` must match bit for bit (signed zeros included)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from otel_mlmon_collector.drift._binning import MAX_BINS, Binned

from otel_mlmon.sketch import bucket_lower_bounds, common_grid, downscale_buckets, scale_change

MIN_SCALE = -10


def oracle_align(
    reference: Any,
    current: Any,
    *,
    n_eff_reference: float | None = None,
    n_eff_current: float | None = None,
) -> Binned:
    """Bring two exponential histograms to a common scale and bucket range, in ascending value order.

    Args:
        reference: The reference histogram (left unchanged).
        current: The current histogram (left unchanged).
        n_eff_reference: Effective sample size of the reference when it was built from sampled or weighted
            rows (see :func:`kish_n_eff`); ``None`` uses its count.
        n_eff_current: The same for the current side.

    Returns:
        The aligned :class:`Binned`.
    """
    for name, value in (("n_eff_reference", n_eff_reference), ("n_eff_current", n_eff_current)):
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be > 0 or None, got {value}")
    scale = _common_scale(reference, current)
    r_by, c_by = _index_scale(reference) - scale, _index_scale(current) - scale
    r_pos = _downscaled(reference.positive_offset, reference.positive_counts, r_by)
    c_pos = _downscaled(current.positive_offset, current.positive_counts, c_by)
    r_neg = _downscaled(reference.negative_offset, reference.negative_counts, r_by)
    c_neg = _downscaled(current.negative_offset, current.negative_counts, c_by)
    pos = _common_range(r_pos, c_pos)
    neg = _common_range(r_neg, c_neg)
    r_zero, c_zero = float(reference.zero_count), float(current.zero_count)
    sides = (_extremes(reference), _extremes(current))
    if neg is None and pos is not None and r_zero == 0 and c_zero == 0:
        # Fast path, the common case of a positive feature: one exp2 call, no concatenation.
        idx, ref, cur = pos
        edges = bucket_lower_bounds(np.append(idx, idx[-1] + 1), scale)
        edges, ref, cur = _trim_and_tighten(edges, ref, cur, sides)
        return _binned(edges, ref, cur, sides, reference, current, n_eff_reference, n_eff_current)

    zero = r_zero > 0 or c_zero > 0 or (neg is not None and pos is not None)
    if neg is None and pos is None and not zero:
        edges, ref, cur = np.zeros(1), np.zeros(0), np.zeros(0)
        return _binned(edges, ref, cur, sides, reference, current, n_eff_reference, n_eff_current)
    # Ascending layout: negative buckets (largest magnitude first), the zero bucket as a zero-width bin at 0,
    # positive buckets; an empty bin fills each gap between parts that do not touch. All bucket bounds come from
    # one call: |edges| of the negative part, then the edges of the positive part. At very low scales (base up
    # to 2**1024) the outermost bound is inf; _trim_and_tighten replaces it with the exact min/max.
    exponents = []
    if neg is not None:
        exponents.append(np.arange(neg[0][-1] + 1, neg[0][0] - 1, -1))
    if pos is not None:
        exponents.append(np.arange(pos[0][0], pos[0][-1] + 2))
    powers = bucket_lower_bounds(np.concatenate(exponents), scale) if exponents else _ZERO
    edge_parts: list[Any] = []
    ref_parts: list[Any] = []
    cur_parts: list[Any] = []
    last = math.nan  # the last edge laid out so far
    if neg is not None:
        k = neg[0].size
        edge_parts.append(-powers[: k + 1])
        ref_parts.append(neg[1][::-1])
        cur_parts.append(neg[2][::-1])
        last = -float(powers[k])
    if zero:
        if neg is None:
            edge_parts.append(_ZERO)
        elif last < 0:
            edge_parts.append(_ZERO)  # the empty bin up to 0
            ref_parts.append(_ZERO)
            cur_parts.append(_ZERO)
        edge_parts.append(_ZERO)
        ref_parts.append(np.array([r_zero]))
        cur_parts.append(np.array([c_zero]))
        last = 0.0
    if pos is not None:
        start = 0 if neg is None else neg[0].size + 1
        lo = powers[start : start + 1]
        if last < float(lo[0]):  # False when nothing precedes (nan)
            edge_parts.append(lo)  # the empty bin up to the first positive bucket
            ref_parts.append(_ZERO)
            cur_parts.append(_ZERO)
        elif last != last:
            edge_parts.append(lo)
        edge_parts.append(powers[start + 1 :])
        ref_parts.append(pos[1])
        cur_parts.append(pos[2])
    edges = np.concatenate(edge_parts)
    ref = np.concatenate(ref_parts)
    cur = np.concatenate(cur_parts)
    edges, ref, cur = _trim_and_tighten(edges, ref, cur, sides)
    return _binned(edges, ref, cur, sides, reference, current, n_eff_reference, n_eff_current)


_ZERO = np.zeros(1)
_ZERO.flags.writeable = False


def _binned(
    edges: np.ndarray,
    ref: np.ndarray,
    cur: np.ndarray,
    sides: tuple[tuple[float, float], ...],
    reference: Any,
    current: Any,
    n_eff_reference: float | None,
    n_eff_current: float | None,
) -> Binned:
    binned = object.__new__(Binned)  # no __post_init__ checks: edges may be infinite before tightening
    binned.__dict__.update(
        edges=edges,
        reference=ref,
        current=cur,
        reference_min=sides[0][0],
        reference_max=sides[0][1],
        current_min=sides[1][0],
        current_max=sides[1][1],
        reference_sum=_optional_float(getattr(reference, "sum", None)),
        current_sum=_optional_float(getattr(current, "sum", None)),
        n_eff_reference=n_eff_reference,
        n_eff_current=n_eff_current,
    )
    return binned


def _common_scale(reference: Any, current: Any) -> int:
    """The finer of the two scales, lowered further until each sign's common range fits :data:`MAX_BINS`.

    A histogram of a few values stays at the finest scale, so two such histograms far apart would otherwise
    need hundreds of millions of common buckets (1.0 and 1e-182 at scale 20).
    """
    scales = (_index_scale(reference), _index_scale(current))
    scale = min(scales)
    change = 0
    for side in ("positive", "negative"):
        # Each side's index range at the common scale (a downscale maps index i to i >> by, ends included).
        spans = [
            (offset >> (s - scale), (offset + size - 1) >> (s - scale))
            for h, s in zip((reference, current), scales)
            if (size := np.asarray(getattr(h, f"{side}_counts")).size)
            for offset in (int(getattr(h, f"{side}_offset")),)
        ]
        if spans:
            low, high = min(lo for lo, _ in spans), max(hi for _, hi in spans)
            change = max(change, scale_change(low, high, MAX_BINS))
    return max(scale - change, min(scale, MIN_SCALE))


def _index_scale(h: Any) -> int:
    """The scale the bucket indices are at; a histogram without non-zero buckets imposes none."""
    if np.asarray(h.positive_counts).size == 0 and np.asarray(h.negative_counts).size == 0:
        return 1 << 30
    return int(h.scale)


def _downscaled(offset: int, counts: Any, by: int) -> tuple[int, np.ndarray]:
    return downscale_buckets(int(offset), np.asarray(counts, dtype=np.float64).ravel(), by)


def _common_range(
    a: tuple[int, np.ndarray], b: tuple[int, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    if not (a[1].size or b[1].size):
        return None
    low, grid = common_grid([a, b], dtype=np.float64)
    return np.arange(low, low + grid.shape[1], dtype=np.int64), grid[0], grid[1]


def _extremes(h: Any) -> tuple[float, float]:
    if float(h.count) <= 0:
        return math.nan, math.nan
    lo, hi = _optional_float(getattr(h, "min", None)), _optional_float(getattr(h, "max", None))
    return (math.nan if lo is None else lo), (math.nan if hi is None else hi)


def _optional_float(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _trim_and_tighten(
    edges: np.ndarray, ref: np.ndarray, cur: np.ndarray, sides: tuple[tuple[float, float], ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if ref[0] + cur[0] > 0 and ref[-1] + cur[-1] > 0:
        edges = edges.copy()  # already trimmed (the usual case)
    else:
        occupied = np.flatnonzero((ref > 0) | (cur > 0))
        if occupied.size == 0:
            return np.zeros(1), np.zeros(0), np.zeros(0)
        first, last = int(occupied[0]), int(occupied[-1])
        edges = edges[first : last + 2].copy()
        ref, cur = ref[first : last + 1], cur[first : last + 1]
    lows = [lo for lo, _ in sides if math.isfinite(lo)]
    highs = [hi for _, hi in sides if math.isfinite(hi)]
    # The exact extremes lie in the outermost occupied bins (or below the SDK's lowest bucket, which also holds
    # subnormal values), so they replace the outer edges.
    if lows:
        edges[0] = min(min(lows), edges[1])
    if highs:
        edges[-1] = max(max(highs), edges[-2])
    return edges, ref, cur
