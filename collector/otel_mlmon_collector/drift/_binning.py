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
The bucket arithmetic itself (index mapping, bounds, scale changes) follows the sketch algebra of
:mod:`otel_mlmon.sketch`. The layout is computed in one place, :mod:`~otel_mlmon_collector.drift._align`, for
many pairs at once in padded 2-D rows: :func:`align` is that pass on one pair, :func:`align_many` on many, and
:func:`stack` hands the methods the rows of one pass without copying them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from otel_mlmon.sketch import map_to_index

from ._align import MAX_BINS, MIN_SCALE, AlignedRows, AlignmentCache, align_rows

__all__ = ["MAX_BINS", "Binned", "Stacked", "align", "align_many", "bucket_index", "kish_n_eff", "stack"]


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


def align(
    reference: Any,
    current: Any,
    *,
    n_eff_reference: float | None = None,
    n_eff_current: float | None = None,
) -> Binned:
    """Bring two exponential histograms to a common scale and bucket range, in ascending value order.

    The layout (module docstring) is computed by the batched pass of :mod:`~otel_mlmon_collector.drift._align`
    on this one pair: :func:`align_many` gives the same for many pairs at once.

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
    rows = align_rows([(reference, current)])
    if n_eff_reference is None and n_eff_current is None:
        return _binneds(rows)[0]
    return _binneds(rows, n_eff_reference, n_eff_current, linked=False)[0]


def align_many(pairs: Sequence[tuple[Any, Any]], cache: AlignmentCache | None = None) -> list[Binned]:
    """``[align(reference, current) for reference, current in pairs]``, computed in one pass for all pairs.

    The :class:`Binned` are views into the pass's padded rows, which :func:`stack` then hands out without
    copying.

    Args:
        pairs: ``(reference, current)`` exponential histograms (anything :func:`align` accepts).
        cache: Keeps the reference sides' converted buckets between calls (the current sides are always read).
    """
    if not pairs:
        return []
    return _binneds(align_rows(pairs, cache))


def _binneds(
    rows: AlignedRows,
    n_eff_reference: float | None = None,
    n_eff_current: float | None = None,
    linked: bool = True,
) -> list[Binned]:
    """One :class:`Binned` per row (views into the rows), linked to them for :func:`stack` unless told not to."""
    out = []
    new = object.__new__
    # The counts' totals for Binned.n_reference / n_current (cached properties, primed here: integer counts sum
    # exactly in any order, and the rows are padded with zeros).
    n_ref = np.rint(rows.reference.sum(axis=1)).astype(np.int64).tolist()
    n_cur = np.rint(rows.current.sum(axis=1)).astype(np.int64).tolist()
    for i, k in enumerate(rows.sizes.tolist()):
        binned = new(Binned)
        (r_lo, r_hi), (c_lo, c_hi) = rows.reference_extremes[i], rows.current_extremes[i]
        binned.__dict__.update(
            edges=rows.edges[i, : k + 1],
            reference=rows.reference[i, :k],
            current=rows.current[i, :k],
            reference_min=r_lo,
            reference_max=r_hi,
            current_min=c_lo,
            current_max=c_hi,
            reference_sum=rows.reference_sum[i],
            current_sum=rows.current_sum[i],
            n_eff_reference=n_eff_reference,
            n_eff_current=n_eff_current,
        )
        binned.__dict__["n_reference"], binned.__dict__["n_current"] = n_ref[i], n_cur[i]
        if linked:
            binned.__dict__[_ROW] = (rows, i)
        out.append(binned)
    return out


#: Where a Binned made by align_many keeps its row: (AlignedRows, index). Not a field: replace() drops it.
_ROW = "_aligned_row"


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
    linked = _linked_rows(binneds)
    if linked is not None:
        return linked
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


def _linked_rows(binneds: list[Binned]) -> Stacked | None:
    """The rows of one :func:`align_many` pass that ``binneds`` are views of, without copying them when they are
    all its rows in order; None when they come from elsewhere. The arrays are those :func:`stack` builds."""
    if len(binneds) < 2:
        return None
    first = binneds[0].__dict__.get(_ROW)
    if first is None:
        return None
    rows = first[0]
    index = []
    for b in binneds:
        link = b.__dict__.get(_ROW)
        if link is None or link[0] is not rows:
            return None
        index.append(link[1])
    whole = index == list(range(rows.sizes.size))
    if whole and rows.stacked:  # every method of the pass stacks all its rows: made once
        return rows.stacked[0]
    sizes = rows.sizes[index]
    width = int(sizes.max())
    if whole:
        edges, ref, cur = rows.edges[:, : width + 1], rows.reference[:, :width], rows.current[:, :width]
    else:
        edges = rows.edges[index, : width + 1]
        ref, cur = rows.reference[index, :width], rows.current[index, :width]
    ref_sum = np.array([np.nan if b.reference_sum is None else b.reference_sum for b in binneds])
    n_eff = np.array([_pair_n_eff(*b.effective_sizes) for b in binneds])
    stacked = Stacked(edges, ref, cur, sizes, ref_sum, n_eff)
    if whole:
        rows.stacked.append(stacked)
    return stacked


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
