"""Share of current values outside the range the reference spanned."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from otel_mlmon_collector.drift._base import DriftResult, decide, make_result
from otel_mlmon_collector.drift._binning import Binned, stack
from otel_mlmon_collector.drift._numeric import NumericMethod

__all__ = ["OutOfRange", "out_of_range_share", "out_of_range_shares"]


def out_of_range_share(binned: Binned) -> tuple[float, float, float]:
    """``(estimate, lower, upper)`` of the current share below the reference minimum or above its maximum.

    Bins entirely outside ``[min_ref, max_ref]`` count fully (that is the lower bound); the bins that straddle an
    extreme count fully in the upper bound and in proportion to the part outside in the estimate (values uniform
    within a bin). The current side's exact extremes settle the straddling bins when they lie inside the range.
    """
    lo_ref, hi_ref = binned.reference_min, binned.reference_max
    cur = binned.current
    m = cur.sum()
    a, b = binned.edges[:-1], binned.edges[1:]
    width = b - a
    with np.errstate(divide="ignore", invalid="ignore"):
        below_part = np.clip(np.where(width > 0, (lo_ref - a) / width, (a < lo_ref) * 1.0), 0.0, 1.0)
        above_part = np.clip(np.where(width > 0, (b - hi_ref) / width, (a > hi_ref) * 1.0), 0.0, 1.0)
    if binned.current_min >= lo_ref:  # False when the current minimum is unknown (nan)
        below_part = np.zeros_like(below_part)
    if binned.current_max <= hi_ref:
        above_part = np.zeros_like(above_part)
    estimate = float(np.dot(cur, below_part + above_part) / m)
    lower = float(np.dot(cur, (below_part == 1) + (above_part == 1)) / m)
    upper = float(np.dot(cur, (below_part > 0) + (above_part > 0)) / m)
    return estimate, lower, max(upper, estimate)


@dataclass(frozen=True)
class OutOfRange(NumericMethod):
    """Share of current values outside ``[min, max]`` of the reference.

    ``score = (#{x < min_ref} + #{x > max_ref}) / m``

    The histograms carry exact extremes, and whole buckets beyond them count exactly; only the one bucket at
    each extreme is split in proportion (``details`` carries the lower and upper bounds). Under no drift a new
    value falls outside the range of ``n`` reference values with probability ``2 / (n + 1)`` (for continuous
    data), so the default 5 % needs a reference of a few hundred rows or more to be quiet.

    Parameters:
        threshold: Share at or above which drift is declared (0.05).

    Example:
        >>> import numpy as np
        >>> from otel_mlmon_collector.drift import Binned, OutOfRange
        >>> rng = np.random.default_rng(7)
        >>> binned = Binned.from_values(rng.uniform(0, 1, 10_000), rng.uniform(0.2, 1.2, 10_000))
        >>> result = OutOfRange().compare(binned)
        >>> round(result.score, 2), result.detected
        (0.2, True)

    References:
        Breck, E., Polyzotis, N., Roy, S., Whang, S., Zinkevich, M. (2019). Data validation for machine learning.
        SysML (feature range checks).
    """

    name: ClassVar[str] = "out_of_range"
    threshold: float = 0.05

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")

    def _compare(self, binned: Binned) -> DriftResult:
        return self._compare_batch([binned])[0]

    def _compare_batch(self, binneds: list[Binned]) -> list[DriftResult]:
        binneds = [_with_reference_extremes(b) for b in binneds]
        shares = out_of_range_shares(binneds)
        return [
            make_result(
                self.name,
                estimate,
                self.threshold,
                decide(estimate, self.threshold, None, None),
                None,
                b.n_reference,
                b.n_current,
                None,
                {
                    "lower": lower,
                    "upper": upper,
                    "reference_min": b.reference_min,
                    "reference_max": b.reference_max,
                },
            )
            for b, (estimate, lower, upper) in zip(binneds, shares)
        ]


def out_of_range_shares(binneds: list[Binned]) -> list[tuple[float, float, float]]:
    """:func:`out_of_range_share` of many (non-empty) :class:`Binned` at once, with the same floating-point results.

    The bin fractions are computed for all of them in padded 2-D arrays; each share is then the same dot product
    over the row's real bins that :func:`out_of_range_share` takes, so the results are bit for bit the same.
    """
    rows = stack(binneds)
    sizes = rows.sizes.tolist()
    lo_list = [b.reference_min for b in binneds]
    hi_list = [b.reference_max for b in binneds]
    # Rows whose current extremes lie within the reference range have no part outside: exactly 0 (the dot
    # products below would add zeros). Unknown (nan) current extremes are not within.
    inside_low = [b.current_min >= lo for b, lo in zip(binneds, lo_list)]
    inside_high = [b.current_max <= hi for b, hi in zip(binneds, hi_list)]
    active = [i for i, (a, b) in enumerate(zip(inside_low, inside_high)) if not (a and b)]
    out = [(0.0, 0.0, 0.0)] * len(binneds)
    if not active:
        return out
    edges = rows.edges[active]
    lo_ref = np.array(lo_list)[active, None]
    hi_ref = np.array(hi_list)[active, None]
    a, b = edges[:, :-1], edges[:, 1:]
    width = b - a
    with np.errstate(divide="ignore", invalid="ignore"):
        below_part = np.clip(np.where(width > 0, (lo_ref - a) / width, (a < lo_ref) * 1.0), 0.0, 1.0)
        above_part = np.clip(np.where(width > 0, (b - hi_ref) / width, (a > hi_ref) * 1.0), 0.0, 1.0)
    # False when the current extreme is unknown (nan), as in out_of_range_share.
    below_part[np.array([inside_low[i] for i in active], dtype=bool)] = 0.0
    above_part[np.array([inside_high[i] for i in active], dtype=bool)] = 0.0
    part = below_part + above_part
    whole = (below_part == 1) + (above_part == 1)
    some = (below_part > 0) + (above_part > 0)
    current = rows.current[active]
    if _whole_counts(current):
        # Whole counts sum exactly in any order: the totals and the two bounds' dot products (sums of whole
        # counts) come out of row sums bit for bit; only the estimate's fractional parts need np.dot's own order.
        totals = current.sum(axis=1)
        lowers = ((current * whole).sum(axis=1) / totals).tolist()
        uppers = ((current * some).sum(axis=1) / totals).tolist()
        totals_ = totals.tolist()
        for row, i in enumerate(active):
            k = sizes[i]
            estimate = float(np.dot(binneds[i].current, part[row, :k]) / totals_[row])
            out[i] = (estimate, lowers[row], max(uppers[row], estimate))
        return out
    for row, i in enumerate(active):
        k = sizes[i]
        cur = binneds[i].current
        m = cur.sum()
        estimate = float(np.dot(cur, part[row, :k]) / m)
        lower = float(np.dot(cur, whole[row, :k]) / m)
        upper = float(np.dot(cur, some[row, :k]) / m)
        out[i] = (estimate, lower, max(upper, estimate))
    return out


def _whole_counts(counts: np.ndarray) -> bool:
    """Whether every count is a whole number and every row's total is below 2**53 (so any sum is exact)."""
    return bool(np.array_equal(counts, np.floor(counts))) and bool(counts.sum() < 2.0**53)


def _with_reference_extremes(binned: Binned) -> Binned:
    if math.isnan(binned.reference_min) or math.isnan(binned.reference_max):
        # Extremes unknown: the occupied reference bins' outer edges, a wider range (fewer alarms).
        occupied = np.flatnonzero(binned.reference)
        lo_ref, hi_ref = binned.edges[occupied[0]], binned.edges[occupied[-1] + 1]
        return replace(binned, reference_min=float(lo_ref), reference_max=float(hi_ref))
    return binned
