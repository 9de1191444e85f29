"""Chi-square test of homogeneity on the 2 x k table of reference and current category counts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import special

from otel_mlmon_collector.drift.base import DriftResult
from otel_mlmon_collector.drift.categorical import (
    REST,
    CategoricalCounts,
    CategoricalMethod,
    ContingencyTable,
)

__all__ = ["ChiSquare", "homogeneity_statistic", "merge_sparse"]


def homogeneity_statistic(reference: np.ndarray, current: np.ndarray) -> float:
    """Pearson's ``X^2`` of the 2 x k table ``[reference, current]`` (columns empty on both sides are ignored)."""
    obs = np.vstack([reference, current]).astype(np.float64)
    obs = obs[:, obs.sum(axis=0) > 0]
    n_total = obs.sum()
    if obs.shape[1] < 2 or n_total == 0:
        return 0.0
    expected = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / n_total
    return float(((obs - expected) ** 2 / expected).sum())


def merge_sparse(table: ContingencyTable, min_expected: float = 5.0) -> ContingencyTable:
    """Pool columns until every expected count is at least ``min_expected`` (Cochran's rule).

    The expected count of cell ``(i, j)`` is ``R_i C_j / N``. Every column whose smaller expected count is below
    ``min_expected`` goes into one pooled column; while the pooled column is still too sparse it absorbs the
    smallest remaining column. Pooling only removes information, so the test stays valid (and conservative).
    """
    ref, cur = table.reference, table.current
    total = ref.sum() + cur.sum()
    if total == 0 or ref.size < 2:
        return table
    low_row = min(ref.sum(), cur.sum())
    expected = (ref + cur) * low_row / total
    sparse = expected < min_expected
    if not sparse.any():
        return table
    keep = np.flatnonzero(~sparse)
    pool_r, pool_c = ref[sparse].sum(), cur[sparse].sum()
    order = keep[np.argsort((ref + cur)[keep], kind="stable")]
    while (pool_r + pool_c) * low_row / total < min_expected and order.size:
        j, order = order[0], order[1:]
        pool_r, pool_c = pool_r + ref[j], pool_c + cur[j]
    keep = np.sort(order)
    columns = (*[table.columns[j] for j in keep], f"{REST}pooled")
    return ContingencyTable(columns, np.append(ref[keep], pool_r), np.append(cur[keep], pool_c), table.slack)


@dataclass(frozen=True)
class ChiSquare(CategoricalMethod):
    """Pearson's chi-square test of homogeneity: do both windows come from one categorical distribution?

    On the 2 x k table of counts ``O_ij`` (row 0 reference, row 1 current) with expected counts
    ``E_ij = R_i C_j / N``:

    ``X^2 = sum_ij (O_ij - E_ij)^2 / E_ij``,  ``p = P(chi2(k - 1) >= X^2)``,  ``score = V = sqrt(X^2 / N)``

    This is the homogeneity test, which treats the reference as a sample too — not the goodness-of-fit test
    against reference shares that Evidently and whylogs run (it ignores the reference's own noise, so its
    p-values are too small, and it divides by zero when a category is unseen in the reference). Sparse columns
    are pooled first (:func:`merge_sparse`, expected counts >= 5), and categories a top-K sketch did not keep
    on one side are pooled into the rest column (see :class:`ContingencyTable`). The score is Cramér's V, an
    effect size in ``[0, 1]`` that does not grow with ``n``. With sampled rows, ``X^2`` is scaled by the ratio
    of effective to actual ``n*m/(n+m)`` (a design-effect correction; approximate).

    Parameters:
        alpha: Significance level: drift when ``p < alpha``.
        threshold: Minimum Cramér's V for drift (0 by default: the p-value decides alone).
        min_expected: Smallest expected count a column may have before it is pooled.

    Example:
        >>> from otel_mlmon_collector.drift import CategoricalCounts, ChiSquare
        >>> ref = CategoricalCounts({"a": 600, "b": 300, "c": 100})
        >>> cur = CategoricalCounts({"a": 550, "b": 330, "c": 120})
        >>> result = ChiSquare().compare(ref, cur)
        >>> round(result.details["statistic"], 2), round(result.p_value, 3), result.detected
        (5.42, 0.067, False)

    References:
        Pearson, K. (1900). On the criterion that a given system of deviations... Phil. Mag. 50(302), 157–175.
        Cochran, W. G. (1954). Some methods for strengthening the common chi-square tests. Biometrics 10(4),
        417–451.
    """

    name: ClassVar[str] = "chi2"
    alpha: float | None = 0.05
    threshold: float = 0.0
    min_expected: float = 5.0

    def __post_init__(self) -> None:
        if self.alpha is not None and not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1) or None, got {self.alpha}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.min_expected < 0:
            raise ValueError(f"min_expected must be >= 0, got {self.min_expected}")

    def _compare(self, table: ContingencyTable, **sides: Any) -> DriftResult:
        merged = merge_sparse(table, self.min_expected)
        obs = np.vstack([merged.reference, merged.current])
        n_total = obs.sum()
        dof = obs.shape[1] - 1
        if dof < 1:
            return self._result(merged, 0.0, 1.0, {"statistic": 0.0, "degrees_of_freedom": 0, "single": True})
        statistic = homogeneity_statistic(merged.reference, merged.current)
        design = _design_factor(merged, sides.get("reference"), sides.get("current"))
        p_value = float(special.chdtrc(dof, statistic * design))
        score = math.sqrt(statistic / n_total)
        return self._result(
            merged,
            score,
            p_value,
            {
                "statistic": statistic,
                "degrees_of_freedom": dof,
                "pooled": merged.columns != table.columns,
                "design_factor": design,
            },
        )


def _design_factor(
    table: ContingencyTable, reference: CategoricalCounts | None, current: CategoricalCounts | None
) -> float:
    n, m = float(table.reference.sum()), float(table.current.sum())
    n_eff = reference.n_eff if reference is not None and reference.n_eff is not None else n
    m_eff = current.n_eff if current is not None and current.n_eff is not None else m
    return (n_eff * m_eff / (n_eff + m_eff)) / (n * m / (n + m))
