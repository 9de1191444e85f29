"""Turn two base-2 exponential histograms into counts over one common set of bins that the methods compare.

Every numeric method works on a :class:`Binned`: ascending ``edges`` (``len(bins) + 1``) and the reference and
current counts over the same bins. :func:`align` builds it from two OpenTelemetry-style exponential histograms
(anything with ``scale``, ``zero_count``, ``positive_offset``, ``positive_counts``, ``negative_offset``,
``negative_counts``, ``count``, ``sum``, ``min``, ``max``): both are brought to the coarser of the two scales
(coarser still if the common range would exceed :data:`MAX_BINS` buckets per sign, as it can for two histograms of
a few far-apart values, which stay at the finest scale), their index ranges are padded to a common range, and the bins are laid out in ascending value order — negative
buckets (by decreasing absolute value), the zero bucket (a zero-width bin at 0), positive buckets. Empty gaps
between those parts become empty bins so that the edges stay contiguous, and the outermost occupied bins are
tightened to the exact minimum and maximum that the histograms carry.

Bucket ``i`` at scale ``s`` covers ``(base**i, base**(i+1)]`` with ``base = 2**(2**-s)`` (negative buckets the
mirror image, by absolute value). A bucket's relative width is ``base - 1``: 0.27 % at scale 8, 2.2 % at scale 5.
The bucket arithmetic itself (index mapping, bounds, downscaling, scale changes, the common grid) is the sketch
algebra's, in :mod:`otel_mlmon.sketch`; this module only lays the buckets out as bins.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from otel_mlmon.sketch import bucket_lower_bounds, common_grid, downscale_buckets, map_to_index, scale_change

__all__ = ["MAX_BINS", "Binned", "Stacked", "align", "bucket_index", "kish_n_eff", "stack"]

#: Most buckets per sign that :func:`align` lays out; wider common ranges are downscaled (the SDK keeps 160).
MAX_BINS = 1 << 16
MIN_SCALE = -10


@dataclass(frozen=True)
class Binned:
    """Reference and current counts over one common, contiguous set of bins.

    Attributes:
        edges: Ascending bin edges, ``len(reference) + 1`` of them (zero-width bins are allowed).
        reference: Reference counts per bin (float64, non-negative).
        current: Current counts per bin.
        reference_min, reference_max, current_min, current_max: Exact extremes of each side (``nan`` if empty).
        reference_sum, current_sum: Exact sums of each side when known (``None`` otherwise).
        n_eff_reference, n_eff_current: Effective sample sizes for tests on sampled data (Kish); ``None``
            means the counts themselves.
    """

    edges: np.ndarray
    reference: np.ndarray
    current: np.ndarray
    reference_min: float = math.nan
    reference_max: float = math.nan
    current_min: float = math.nan
    current_max: float = math.nan
    reference_sum: float | None = None
    current_sum: float | None = None
    n_eff_reference: float | None = None
    n_eff_current: float | None = None

    @classmethod
    def _unchecked(cls, **fields: Any) -> Binned:
        # For align(), whose arrays are valid by construction: skips __post_init__'s checks (hot path).
        obj = object.__new__(cls)
        obj.__dict__.update(_DEFAULTS)
        obj.__dict__.update(fields)
        return obj

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=np.float64)
        ref = np.asarray(self.reference, dtype=np.float64)
        cur = np.asarray(self.current, dtype=np.float64)
        if ref.shape != cur.shape or ref.ndim != 1:
            raise ValueError(
                f"reference and current must be 1-D of one length, got {ref.shape} and {cur.shape}"
            )
        if edges.shape != (ref.size + 1,):
            raise ValueError(f"edges must have len(reference) + 1 = {ref.size + 1} entries, got {edges.size}")
        if ref.size and (np.any(np.diff(edges) < 0) or not np.all(np.isfinite(edges))):
            raise ValueError("edges must be finite and ascending")
        if np.any(ref < 0) or np.any(cur < 0):
            raise ValueError("counts must be non-negative")
        for name in ("n_eff_reference", "n_eff_current"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None, got {value}")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "reference", ref)
        object.__setattr__(self, "current", cur)

    # Cached (the counts are not changed after construction; replace() makes a new Binned): the methods and
    # the engine ask for them several times per column.
    @functools.cached_property
    def n_reference(self) -> int:
        """Number of reference values in the bins."""
        return round(float(self.reference.sum()))

    @functools.cached_property
    def n_current(self) -> int:
        """Number of current values in the bins."""
        return round(float(self.current.sum()))

    @property
    def effective_sizes(self) -> tuple[float, float]:
        """``(n_reference, n_current)`` for tests: the Kish effective sizes when given, else the counts."""
        n = self.n_eff_reference if self.n_eff_reference is not None else float(self.n_reference)
        m = self.n_eff_current if self.n_eff_current is not None else float(self.n_current)
        return float(n), float(m)

    @classmethod
    def from_values(
        cls,
        reference: np.ndarray,
        current: np.ndarray,
        scale: int = 8,
        **kwargs: Any,
    ) -> Binned:
        """Bucket raw values exactly as an exponential histogram at ``scale`` would, then :func:`align` them.

        Non-finite values are dropped (they are counted separately, as missing or infinite). The scale is
        lowered when the values' magnitudes would need more than :data:`MAX_BINS` buckets at it. Extra keyword
        arguments go to :func:`align`.
        """
        ref = np.asarray(reference, dtype=np.float64).ravel()
        cur = np.asarray(current, dtype=np.float64).ravel()
        both = np.abs(np.concatenate([ref, cur]))
        both = both[np.isfinite(both) & (both > 0)]
        if both.size:
            octaves = math.log2(float(both.max())) - math.log2(float(both.min())) + 2
            while scale > MIN_SCALE and octaves * 2.0**scale > MAX_BINS:
                scale -= 1
        return align(_BucketCounts.of(ref, scale), _BucketCounts.of(cur, scale), **kwargs)

    def regroup(self, n_groups: int) -> Binned:
        """Merge adjacent bins into at most ``n_groups`` groups cut at reference quantiles.

        Cuts fall on existing edges where the reference's cumulative share first reaches ``k / n_groups``, so
        each group holds about ``1 / n_groups`` of the reference (fewer groups when one bin holds more). The first
        and last groups reach down to the smallest and up to the largest value of either side, so current values
        beyond the reference's range land in the outer groups. An empty reference leaves the bins unchanged.
        """
        if n_groups < 1:
            raise ValueError(f"n_groups must be >= 1, got {n_groups}")
        n_ref = self.reference.sum()
        if self.reference.size == 0 or n_ref <= 0:
            return self
        occupied = np.flatnonzero(self.reference)
        last_ref = int(occupied[-1])
        cum = np.cumsum(self.reference) / n_ref
        targets = np.arange(1, n_groups) / n_groups
        cuts = np.unique(np.searchsorted(cum, targets - 1e-12, side="left"))
        cuts = cuts[cuts < last_ref]
        group = np.searchsorted(cuts, np.arange(self.reference.size), side="left")
        n_out = int(cuts.size + 1)
        ref = np.bincount(group, weights=self.reference, minlength=n_out)
        cur = np.bincount(group, weights=self.current, minlength=n_out)
        edges = np.concatenate([self.edges[:1], self.edges[cuts + 1], self.edges[-1:]])
        return replace(self, edges=edges, reference=ref, current=cur)

    def reference_moments(self) -> tuple[float, float]:
        """Mean and standard deviation of the reference, from its bins (values uniform within a bin).

        The mean is exact when the histogram's sum is known; the variance uses ``E[x^2]`` of a uniform bin,
        ``(a^2 + ab + b^2) / 3``, whose error is at most the squared bin width (Sheppard).
        """
        if float(self.reference.sum()) <= 0:
            return math.nan, math.nan
        s = np.nan if self.reference_sum is None else self.reference_sum
        mean, std = reference_moments_rows(self.edges[None, :], self.reference[None, :], np.array([s]))
        return float(mean[0]), float(std[0])


def reference_moments_rows(
    edges: np.ndarray, reference: np.ndarray, reference_sum: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise :meth:`Binned.reference_moments` of stacked bins (``reference_sum`` nan where unknown)."""
    n = reference.sum(axis=1)
    a, b = edges[:, :-1], edges[:, 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        mid_mean = np.einsum("ij,ij->i", reference, (a + b) / 2) / n
        mean = np.where(np.isnan(reference_sum), mid_mean, reference_sum / n)
        second = np.einsum("ij,ij->i", reference, (a * a + a * b + b * b) / 3) / n
    return mean, np.sqrt(np.maximum(second - mean * mean, 0.0))


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Binned) if f.default is not dataclasses.MISSING}


def align(
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
    return Binned._unchecked(
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


@dataclass(frozen=True)
class Stacked:
    """Many :class:`Binned` padded into 2-D arrays (one row each) so that methods run once for all features.

    Rows shorter than the longest are padded with empty, zero-width bins at their last edge, which change no
    statistic. ``sizes`` holds each row's real number of bins.
    """

    edges: np.ndarray
    reference: np.ndarray
    current: np.ndarray
    sizes: np.ndarray
    reference_sum: np.ndarray
    n_eff: np.ndarray


def stack(binneds: list[Binned]) -> Stacked:
    """Pad the bins of several (non-empty) :class:`Binned` into one :class:`Stacked`."""
    if len(binneds) == 1:  # one feature: views, no copies
        b = binneds[0]
        return Stacked(
            b.edges[None, :],
            b.reference[None, :],
            b.current[None, :],
            np.array([b.reference.size]),
            np.array([np.nan if b.reference_sum is None else b.reference_sum]),
            np.array([_pair_n_eff(*b.effective_sizes)]),
        )
    sizes = np.array([b.reference.size for b in binneds], dtype=np.int64)
    rows, width = len(binneds), int(sizes.max()) if len(binneds) else 0
    ref = np.zeros((rows, width))
    cur = np.zeros((rows, width))
    edges = np.empty((rows, width + 1))
    for i, b in enumerate(binneds):
        k = b.reference.size
        ref[i, :k] = b.reference
        cur[i, :k] = b.current
        edges[i, : k + 1] = b.edges
        edges[i, k + 1 :] = b.edges[-1]
    ref_sum = np.array([np.nan if b.reference_sum is None else b.reference_sum for b in binneds])
    n_eff = np.array([_pair_n_eff(*b.effective_sizes) for b in binneds])
    return Stacked(edges, ref, cur, sizes, ref_sum, n_eff)


def _pair_n_eff(n: float, m: float) -> float:
    return n * m / (n + m)


def bucket_index(abs_values: np.ndarray, scale: int) -> np.ndarray:
    """Index of the bucket ``(base**i, base**(i+1)]`` that holds each positive value at ``scale``.

    Exact powers of two fall in the lower bucket, as in the OpenTelemetry specification: this is the SDK
    sketch's own mapping (:func:`otel_mlmon.sketch.map_to_index`), used to bucket raw values for cross-checks
    and simulations.
    """
    return map_to_index(np.asarray(abs_values, dtype=np.float64), scale)


def kish_n_eff(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` of weighted (e.g. sampled) rows."""
    w = np.asarray(weights, dtype=np.float64)
    sq = float(np.dot(w, w))
    return 0.0 if sq == 0 else float(w.sum()) ** 2 / sq


@dataclass
class _BucketCounts:
    """The attributes :func:`align` reads, built from raw values (for :meth:`Binned.from_values`)."""

    scale: int
    zero_count: int
    positive_offset: int
    positive_counts: np.ndarray
    negative_offset: int
    negative_counts: np.ndarray
    count: int
    sum: float
    min: float
    max: float

    @classmethod
    def of(cls, values: np.ndarray, scale: int) -> _BucketCounts:
        v = np.asarray(values, dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        pos_off, pos = cls._counts(v[v > 0], scale)
        neg_off, neg = cls._counts(-v[v < 0], scale)
        return cls(
            scale=scale,
            zero_count=int(np.count_nonzero(v == 0)),
            positive_offset=pos_off,
            positive_counts=pos,
            negative_offset=neg_off,
            negative_counts=neg,
            count=int(v.size),
            sum=float(v.sum()),
            min=float(v.min()) if v.size else math.nan,
            max=float(v.max()) if v.size else math.nan,
        )

    @staticmethod
    def _counts(abs_values: np.ndarray, scale: int) -> tuple[int, np.ndarray]:
        if abs_values.size == 0:
            return 0, np.zeros(0, dtype=np.int64)
        idx = map_to_index(abs_values, scale)
        lo = int(idx.min())
        return lo, np.bincount(idx - lo).astype(np.int64)


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
