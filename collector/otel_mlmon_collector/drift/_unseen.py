"""Share of the current window's values in categories the reference never saw, with a calibrated test.

A fixed share threshold cannot be calibrated: under no drift, a reference of 100 rows over 1 000 levels misses
most categories (the next window finds "new" categories in a third of its rows), while a reference of 10^6 rows
over 40 levels misses none (a 1 % new category is certain drift). So the share is paired with a test of whether
the current window holds more reference-unseen values than sampling alone explains, and the share threshold is
an effect-size gate (half a percentage point) rather than the decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import optimize, special, stats

from otel_mlmon_collector.drift._base import DriftResult
from otel_mlmon_collector.drift._categorical import CategoricalCounts, CategoricalMethod, ContingencyTable

__all__ = ["UnseenCategories", "unseen_p_value"]


def unseen_p_value(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """``(p, expected)``: how surprising the current count in reference-unseen categories is under no drift.

    Conditional on each category's total ``t_j = r_j + c_j``, under homogeneity the current window is a random
    ``m`` of the ``N = n + m`` values, so category ``j`` is unseen in the reference with probability
    ``P_j = C(m, t_j) / C(N, t_j)`` and ``U = sum_j t_j 1[r_j = 0]`` has mean ``sum_j t_j P_j``. The indicators
    are negatively associated (sampling without replacement), so the Chernoff bound with independent factors,
    ``P(U >= u) <= min_theta exp(-theta u) prod_j (1 - P_j + P_j exp(theta t_j))``, is a valid (conservative)
    p-value at every sample size.
    """
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    keep = r + c > 0
    r, c = r[keep], c[keep]
    n, m = r.sum(), c.sum()
    total = n + m
    t = r + c
    observed = float(c[r == 0].sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.where(
            t <= m,
            special.gammaln(m + 1)
            - special.gammaln(np.maximum(m - t, 0) + 1)
            + special.gammaln(total - t + 1)
            - special.gammaln(total + 1),
            -np.inf,
        )
    expected = float((t * np.exp(log_p)).sum())
    if observed <= expected or observed == 0:
        return 1.0, expected
    log_q = np.log1p(-np.minimum(np.exp(log_p), 1.0 - 1e-16))

    def log_bound(log_theta: float) -> float:
        theta = math.exp(log_theta)
        return float(np.logaddexp(log_q, log_p + theta * t).sum() - theta * observed)

    hi = math.log(60.0 / max(float(t[t > 0].min()), 1.0)) + 3.0
    best = optimize.minimize_scalar(log_bound, bounds=(-25.0, hi), method="bounded")
    return float(min(1.0, math.exp(min(best.fun, 0.0)))), expected


def _excess_p_value(count: np.ndarray, bound: float, n: float, m: float) -> np.ndarray:
    """One-sided exact p-values that current counts ``count`` of ``m`` exceed a reference count ``bound`` of ``n``."""
    count = np.rint(count)
    return stats.hypergeom.sf(count - 1, round(n + m), count + round(bound), round(m))


@dataclass(frozen=True)
class UnseenCategories(CategoricalMethod):
    """Share of current values in categories absent from the reference, and whether that is more than chance.

    ``score = sum_{c not in reference} n_cur(c) / n_cur``

    **Exact reference** (``other == 0``, ``error_bound == 0``): a category it lacks is new, full stop. The
    p-value is :func:`unseen_p_value`, a conservative test of "more values in reference-unseen categories than
    sampling explains", conditional on the category totals. **Approximate reference**: an unlisted category may
    have up to ``unlisted_bound`` reference values, so a current category counts as new only by its excess over
    that bound: ``score = sum max(n_cur(c)/m - bound/n, 0)``, and the p-value is the smallest one-sided
    hypergeometric (Fisher) p-value of ``n_cur(c)`` against a reference count of ``bound``, times the number of
    candidates (Bonferroni). Values hidden in the current's own ``other`` are not attributed.
    ``details["categories"]`` lists up to ten new categories, largest first.

    Drift needs ``p < alpha`` **and** ``score >= threshold``.

    Parameters:
        threshold: Smallest share of new values that counts (0.005, half a percentage point).
        alpha: Significance level of the test (``None``: the share alone decides).

    Example:
        >>> from otel_mlmon_collector.drift import CategoricalCounts, UnseenCategories
        >>> ref = CategoricalCounts({"a": 500, "b": 500})
        >>> cur = CategoricalCounts({"a": 450, "b": 450, "new": 100})
        >>> result = UnseenCategories().compare(ref, cur)
        >>> result.score, result.details["categories"], result.p_value < 1e-20, result.detected
        (0.1, ['new'], True, True)

    References:
        Breck, E., Polyzotis, N., Roy, S., Whang, S., Zinkevich, M. (2019). Data validation for machine learning.
        SysML (schema skew: values outside the training domain).
        Joag-Dev, K., Proschan, F. (1983). Negative association of random variables with applications. Ann.
        Statist. 11(1), 286–295.
    """

    name: ClassVar[str] = "unseen"
    threshold: float = 0.005
    alpha: float | None = 0.05

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.alpha is not None and not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1) or None, got {self.alpha}")

    def _compare(self, table: ContingencyTable, **sides: Any) -> DriftResult:
        reference: CategoricalCounts = sides["reference"]
        current: CategoricalCounts = sides["current"]
        n, m = reference.total, current.total
        bound = reference.unlisted_bound
        candidates = [(c, k) for c, k in current.counts.items() if k > 0 and c not in reference.counts]
        excess = sorted(((c, k / m - bound / n) for c, k in candidates), key=lambda item: -item[1])
        new = [(c, e) for c, e in excess if e > 0]
        score = float(sum(e for _, e in new))
        if bound == 0:
            keys = list(dict.fromkeys([*reference.counts, *current.counts]))
            p_value, expected = unseen_p_value(
                np.array([reference.counts.get(k, 0) for k in keys]),
                np.array([current.counts.get(k, 0) for k in keys]),
            )
            extra: dict[str, Any] = {"expected_share": expected / m}
        else:
            counts = np.array([current.counts[c] for c, _ in new], dtype=np.float64)
            p_min = float(_excess_p_value(counts, bound, n, m).min(initial=1.0))
            p_value, extra = min(1.0, p_min * max(len(candidates), 1)), {"reference_bound": bound}
        return self._result(
            table,
            score,
            p_value,
            {"exact": reference.exact, "categories": [c for c, _ in new[:10]], **extra},
        )
