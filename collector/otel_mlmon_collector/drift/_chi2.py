"""Chi-square test of homogeneity on the 2 x k table of reference and current category counts.

Sparse tables follow Cochran's rule (pool the smallest columns until at least 80 % of the expected counts are
>= 5 and none is < 1); a table that ends with two columns is a 2 x 2 table, tested exactly (Fisher) when an
expected count is below 5 and with Yates' continuity correction otherwise, as ``scipy.stats.chi2_contingency``
does by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import special

from otel_mlmon_collector.drift._base import DriftResult
from otel_mlmon_collector.drift._categorical import (
    POOLED,
    CategoricalCounts,
    CategoricalMethod,
    ContingencyTable,
)

__all__ = ["ChiSquare", "fisher_two_sided", "homogeneity_statistic", "merge_sparse", "two_by_two_p_value"]

#: Share of cells whose expected count must reach ``min_expected`` (Cochran 1954).
COCHRAN_SHARE = 0.8
#: No expected count may fall below this (Cochran 1954).
COCHRAN_FLOOR = 1.0


def homogeneity_statistic(reference: np.ndarray, current: np.ndarray, yates: bool = False) -> float:
    """Pearson's ``X^2`` of the 2 x k table ``[reference, current]`` (columns empty on both sides are ignored).

    ``yates=True`` applies the continuity correction ``(|O - E| - 0.5)^2`` (clipped at 0), meant for 2 x 2.
    """
    obs = np.vstack([reference, current]).astype(np.float64)
    obs = obs[:, obs.sum(axis=0) > 0]
    n_total = obs.sum()
    if obs.shape[1] < 2 or n_total == 0:
        return 0.0
    expected = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / n_total
    gap = np.abs(obs - expected)
    if yates:
        gap = np.maximum(gap - 0.5, 0.0)
    return float((gap**2 / expected).sum())


def _cochran_ok(
    totals: np.ndarray, low_row: float, high_row: float, n_total: float, min_expected: float
) -> bool:
    cells = np.concatenate([totals * low_row, totals * high_row]) / n_total
    return bool(cells.min() >= COCHRAN_FLOOR and np.mean(cells >= min_expected) >= COCHRAN_SHARE)


def merge_sparse(table: ContingencyTable, min_expected: float = 5.0) -> ContingencyTable:
    """Pool the smallest columns into one cell until the table meets Cochran's rule.

    Cochran's rule: at least 80 % of the expected counts ``E_ij = R_i C_j / N`` are ``>= min_expected`` and none
    is below 1. Columns are pooled smallest first (by column total, which does not depend on how a column splits
    between the windows, so the pooling does not look at the difference being tested) until the rule holds or
    two columns remain. Pooling only removes information: the test stays valid.
    """
    ref, cur = table.reference, table.current
    totals = ref + cur
    n_total = totals.sum()
    if n_total == 0 or ref.size <= 2:
        return table
    low_row, high_row = sorted((ref.sum(), cur.sum()))
    if _cochran_ok(totals, low_row, high_row, n_total, min_expected):
        return table
    order = np.argsort(totals, kind="stable")
    s = totals[order]
    k = s.size
    # Every candidate at once: pooling the j smallest columns (j = 2 .. k - 1) leaves s[j:] and one pooled cell.
    j = np.arange(2, k)
    pooled_total = np.cumsum(s)[j - 1]
    bad = np.zeros(j.size)
    floor_ok = (s[j] * low_row / n_total >= COCHRAN_FLOOR) & (
        pooled_total * low_row / n_total >= COCHRAN_FLOOR
    )
    for row in (low_row, high_row):
        first_good = np.searchsorted(s, min_expected * n_total / row, side="left")
        bad += np.maximum(first_good - j, 0) + (pooled_total * row / n_total < min_expected)
    ok = floor_ok & (bad <= (1 - COCHRAN_SHARE) * 2 * (k - j + 1) + 1e-9)
    used = int(j[np.argmax(ok)]) if ok.any() else k - 1
    pool, keep = order[:used], np.sort(order[used:])
    columns = (*[table.columns[i] for i in keep], POOLED)
    return ContingencyTable(
        columns,
        np.append(ref[keep], ref[pool].sum()),
        np.append(cur[keep], cur[pool].sum()),
        table.slack,
        table.tail,
    )


#: Widest stretch of the hypergeometric support walked by :func:`fisher_two_sided`.
MAX_FISHER_SUPPORT = 1 << 21
#: Relative tolerance for "as probable as the observed table" (R's ``fisher.test`` uses the same).
_FISHER_TIE = 1e-7


def fisher_two_sided(a: int, b: int, c: int, d: int) -> tuple[float, float] | None:
    """Fisher's exact two-sided p-value and odds ratio of the 2 x 2 table ``[[a, b], [c, d]]``.

    The p-value sums the hypergeometric probabilities (margins fixed) of every table no more probable than the
    observed one, as ``scipy.stats.fisher_exact`` does. Probabilities are built relative to the mode from the
    ratio of neighbours, ``P(k+1)/P(k) = (r1-k)(c1-k) / ((k+1)(r2-c1+k+1))``, in log space, over the mode +- (50
    standard deviations + 100) and the observed cell: the mass outside is below 1e-30. This costs time in the
    width of that stretch, not in the counts (scipy's Boost-based pmf took over 15 s on a table of 10^12 rows,
    holding the interpreter lock). ``None`` when the stretch is wider than ``MAX_FISHER_SUPPORT``.
    """
    r1, r2, c1 = a + b, c + d, a + c
    n = r1 + r2
    odds = a * d / (b * c) if b > 0 and c > 0 else math.inf
    lo, hi = max(0, c1 - r2), min(r1, c1)
    if lo == hi:
        return 1.0, odds
    mode = (c1 + 1) * (r1 + 1) // (n + 2)
    sd = math.sqrt(c1 * (r1 / n) * (r2 / n) * max(n - c1, 0) / max(n - 1, 1))
    reach = int(50 * sd) + 100
    start, stop = max(lo, min(a, mode - reach)), min(hi, max(a, mode + reach))
    if stop - start > MAX_FISHER_SUPPORT:
        return None
    k = np.arange(start, stop, dtype=np.float64)
    step = np.log(r1 - k) + np.log(c1 - k) - np.log(k + 1) - np.log(r2 - c1 + k + 1)
    log_p = np.concatenate([[0.0], np.cumsum(step)])
    log_p -= special.logsumexp(log_p)
    observed = log_p[a - start]
    p = np.exp(log_p[log_p <= observed + _FISHER_TIE]).sum()
    return float(min(p, 1.0)), float(odds)


def two_by_two_p_value(table: np.ndarray, min_expected: float = 5.0) -> tuple[float, str, float]:
    """Two-sided p-value of a 2 x 2 table: ``(p, test, statistic)``.

    Fisher's exact test (:func:`fisher_two_sided`, the p-value ``scipy.stats.fisher_exact`` gives; statistic = odds
    ratio) when an expected count is below ``min_expected``, otherwise Pearson's chi-square with Yates' correction
    (``statistic`` = corrected ``X^2``), which is also the answer when the exact test's support is too wide to
    walk (millions of values, where the normal approximation is exact to many digits). Non-integer cells (tables
    built from count bounds or effective sizes) are rounded for Fisher's test.
    """
    obs = np.asarray(table, dtype=np.float64)
    n_total = obs.sum()
    if n_total == 0 or (obs.sum(axis=0) == 0).any() or (obs.sum(axis=1) == 0).any():
        return 1.0, "none", 0.0
    expected = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / n_total
    if expected.min() < min_expected:
        cells = np.rint(obs).astype(np.int64)
        result = fisher_two_sided(*(int(c) for c in cells.ravel()))
        if result is not None:
            return result[0], "fisher", result[1]
    statistic = homogeneity_statistic(obs[0], obs[1], yates=True)
    return float(special.chdtrc(1, statistic)), "yates", statistic


@dataclass(frozen=True)
class ChiSquare(CategoricalMethod):
    """Pearson's chi-square test of homogeneity: do both windows come from one categorical distribution?

    On the 2 x k table of counts ``O_ij`` (row 0 reference, row 1 current) with expected counts
    ``E_ij = R_i C_j / N``:

    ``X^2 = sum_ij (O_ij - E_ij)^2 / E_ij``,  ``p = P(chi2(k - 1) >= X^2)``,  ``score = V = sqrt(X^2 / N)``

    This is the homogeneity test, which treats the reference as a sample too — not the goodness-of-fit test
    against reference shares that Evidently and whylogs run (it ignores the reference's own noise, so its
    p-values are too small, and it divides by zero when a category is unseen in the reference). Every category
    listed on either side is a column (see :class:`ContingencyTable`); sparse tables are pooled by Cochran's rule
    (:func:`merge_sparse`). A table left with two columns is a 2 x 2 table: Fisher's exact test when an expected
    count is below ``min_expected``, else ``X^2`` with Yates' correction (``details["test"]`` says which; both as
    ``scipy.stats`` computes them). The score is Cramér's V (uncorrected ``X^2``), an effect size in ``[0, 1]``
    that does not grow with ``n``. With sampled rows, the table is scaled by the ratio of effective to actual
    ``n*m/(n+m)`` (a design-effect correction; approximate). With count error, columns whose gap the error bounds
    close entirely add no degree of freedom (``p = P(chi2(open - 1) >= X^2)``).

    Parameters:
        alpha: Significance level: drift when ``p < alpha``.
        threshold: Minimum Cramér's V for drift (0 by default: the p-value decides alone).
        min_expected: Expected count that 80 % of cells must reach (Cochran); below it a 2 x 2 table is exact.

    Example:
        >>> from otel_mlmon_collector.drift import CategoricalCounts, ChiSquare
        >>> ref = CategoricalCounts({"a": 600, "b": 300, "c": 100})
        >>> cur = CategoricalCounts({"a": 550, "b": 330, "c": 120})
        >>> result = ChiSquare().compare(ref, cur)
        >>> round(result.details["statistic"], 2), round(result.p_value, 3), result.detected
        (5.42, 0.067, False)

    References:
        Pearson, K. (1900). On the criterion that a given system of deviations... Phil. Mag. 50(302), 157–175.
        Cochran, W. G. (1954). Some methods for strengthening the common chi-square tests. Biometrics 10, 417–451.
        Fisher, R. A. (1922). On the interpretation of chi-square from contingency tables. JRSS 85(1), 87–94.
        Yates, F. (1934). Contingency tables involving small numbers and the chi-square test. JRSS Suppl. 1, 217–235.
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
        reference, current = sides.get("reference"), sides.get("current")
        design = _design_factor(table, reference, current)
        merged = merge_sparse(_scaled(table, design), self.min_expected)
        if (
            merged.columns != table.columns
            and (table.slack > 0 or table.tail)
            and reference is not None
            and current is not None
        ):
            # Count intervals: pool the same columns first, then seek the closest table of the pooled cells.
            pooled = set(table.columns) - set(merged.columns[:-1])
            merged = _scaled(ContingencyTable.build(reference, current, pooled), design)
        n_total = merged.reference.sum() + merged.current.sum()
        dof = merged.reference.size - 1
        if dof < 1:
            return self._result(
                merged, 0.0, 1.0, {"statistic": 0.0, "degrees_of_freedom": 0, "single": True, "test": "none"}
            )
        pearson = homogeneity_statistic(merged.reference, merged.current)
        if dof == 1:
            p_value, test, statistic = two_by_two_p_value(
                np.vstack([merged.reference, merged.current]), self.min_expected
            )
        else:
            statistic, test = pearson, "pearson"
            if table.slack > 0:
                # Count error closed some columns' gaps to exactly 0: they carry no chi-square and no degree of
                # freedom. Each open column's remaining (|Z| - slack)^2 is stochastically below chi2(1), so
                # chi2(open - 1) keeps the test conservative without the dead columns diluting it.
                n_ref, n_cur = merged.reference.sum(), merged.current.sum()
                share_gap = np.abs(merged.current / n_cur - merged.reference / n_ref)
                open_columns = int(
                    (share_gap * min(n_ref, n_cur) > 0.5).sum()
                )  # more than half a value apart
                dof = max(min(open_columns - 1, dof), 1)
            p_value = float(special.chdtrc(dof, statistic))
        return self._result(
            merged,
            math.sqrt(pearson / n_total) if n_total > 0 else 0.0,
            p_value,
            {
                "statistic": statistic,
                "degrees_of_freedom": dof,
                "test": test,
                "pooled": merged.columns != table.columns,
                "design_factor": design,
            },
        )


def _scaled(table: ContingencyTable, design: float) -> ContingencyTable:
    """The table with both rows scaled to effective sizes (unchanged when rows were not sampled)."""
    if design == 1.0:
        return table
    return ContingencyTable(
        table.columns, table.reference * design, table.current * design, table.slack, table.tail
    )


def _design_factor(
    table: ContingencyTable, reference: CategoricalCounts | None, current: CategoricalCounts | None
) -> float:
    n, m = float(table.reference.sum()), float(table.current.sum())
    n_eff = reference.n_eff if reference is not None and reference.n_eff is not None else n
    m_eff = current.n_eff if current is not None and current.n_eff is not None else m
    return (n_eff * m_eff / (n_eff + m_eff)) / (n * m / (n + m))
