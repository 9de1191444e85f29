"""Change in the share of missing (or infinite) values: a two-proportion test with an effect-size gate.

Large counts use the two-proportion z-test; when an expected count of the 2 x 2 table is below 5 (one missing
value in a 40-row window against a clean reference, say) the z-test's normal approximation fails badly
(p = 3e-6 where the exact p is 0.044), so those tables get Fisher's exact test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from scipy import special

from otel_mlmon_collector.drift._base import DriftResult, Kind, decide, make_result, skipped_result
from otel_mlmon_collector.drift._chi2 import two_by_two_p_value

__all__ = ["MissingCounts", "MissingRate"]


@dataclass(frozen=True)
class MissingCounts:
    """How many of a window's rows had no usable value for one feature.

    Attributes:
        total: All rows of the window, missing ones included.
        missing: Rows where the value was None/NaN.
        infinite: Rows where the value was +inf or -inf.
        n_eff: Effective number of rows when the window was sampled (Kish); ``None`` uses ``total``.
    """

    total: int
    missing: int = 0
    infinite: int = 0
    n_eff: float | None = None

    def __post_init__(self) -> None:
        if min(self.total, self.missing, self.infinite) < 0:
            raise ValueError("total, missing and infinite must be non-negative")
        if self.missing + self.infinite > self.total:
            raise ValueError(
                f"missing + infinite ({self.missing + self.infinite}) must not exceed total ({self.total})"
            )
        if self.n_eff is not None and not self.n_eff > 0:
            raise ValueError(f"n_eff must be > 0 or None, got {self.n_eff}")


def missing_counts(total: int, missing: int, infinite: int) -> MissingCounts:
    """``MissingCounts(total, missing, infinite)`` without the checks, for counts valid by construction (the drift
    engine's: ``total`` is the present values plus both)."""
    counts = object.__new__(MissingCounts)
    counts.__dict__.update(total=total, missing=missing, infinite=infinite, n_eff=None)
    return counts


@dataclass(frozen=True)
class MissingRate:
    """Two-proportion test on the share of missing values, gated by a minimum change.

    With ``x`` of ``n`` reference rows and ``y`` of ``m`` current rows missing, ``p1 = x/n``, ``p2 = y/m`` and
    the pooled share ``p = (x + y) / (n + m)``:

    ``z = (p2 - p1) / sqrt(p (1 - p) (1/n + 1/m))``,  ``p_value = 2 (1 - Phi(|z|))``,  ``score = |p2 - p1|``

    When the smallest expected count of the 2 x 2 table ``[[x, n - x], [y, m - y]]`` is below ``min_expected``
    (5, Cochran) the p-value is Fisher's exact test instead (two-sided, as ``scipy.stats.fisher_exact``: ``_chi2.fisher_two_sided``;
    ``details["test"]`` says which). Drift needs ``p_value < alpha`` **and** ``score >= threshold``: at millions
    of rows the test alone would flag a change from 1.00 % to 1.02 % missing. ``counts`` picks what counts as missing: None/NaN (``"missing"``),
    ±inf (``"infinite"``) or either (``"either"``). ``n`` and ``m`` are the effective sizes when given.

    Parameters:
        alpha: Significance level of the z-test.
        threshold: Smallest absolute change of the share that counts (0.01, one percentage point).
        counts: ``"missing"``, ``"infinite"`` or ``"either"``.
        min_expected: Below this smallest expected count the exact test replaces the z-test.

    Example:
        >>> from otel_mlmon_collector.drift import MissingCounts, MissingRate
        >>> result = MissingRate().compare(MissingCounts(10_000, missing=100), MissingCounts(10_000, missing=300))
        >>> round(result.score, 3), result.p_value < 1e-10, result.detected
        (0.02, True, True)

    References:
        Fleiss, J. L., Levin, B., Paik, M. C. (2003). Statistical Methods for Rates and Proportions, 3rd ed.,
        Wiley, ch. 2 and 3 (Fisher's exact test).
        Cochran, W. G. (1954). Some methods for strengthening the common chi-square tests. Biometrics 10, 417–451.
    """

    name: ClassVar[str] = "missing_rate"
    kind: ClassVar[Kind] = "missing"
    alpha: float | None = 0.05
    threshold: float = 0.01
    counts: Literal["missing", "infinite", "either"] = "missing"
    min_expected: float = 5.0

    def __post_init__(self) -> None:
        if self.alpha is not None and not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1) or None, got {self.alpha}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.counts not in ("missing", "infinite", "either"):
            raise ValueError(f"counts must be 'missing', 'infinite' or 'either', got {self.counts!r}")
        if self.min_expected < 0:
            raise ValueError(f"min_expected must be >= 0, got {self.min_expected}")

    def _count(self, side: MissingCounts) -> int:
        if self.counts == "missing":
            return side.missing
        if self.counts == "infinite":
            return side.infinite
        return side.missing + side.infinite

    def compare_many(self, pairs: Sequence[tuple[Any, Any]]) -> list[DriftResult]:
        """``[compare(r, c) for r, c in pairs]``: the z-tests of every pair in one vectorised pass (the same
        floating-point operations, element by element), the exact tests and empty windows one by one."""
        results: list[DriftResult | None] = [None] * len(pairs)
        todo = []
        for i, (reference, current) in enumerate(pairs):
            if reference.total == 0 or current.total == 0:
                results[i] = self.compare(reference, current)
            else:
                todo.append(i)
        if todo:
            count = self._count
            n = np.array([pairs[i][0].total for i in todo], dtype=np.float64)
            m = np.array([pairs[i][1].total for i in todo], dtype=np.float64)
            x = np.array([count(pairs[i][0]) for i in todo], dtype=np.float64)
            y = np.array([count(pairs[i][1]) for i in todo], dtype=np.float64)
            n_eff = np.array([_or(pairs[i][0].n_eff, pairs[i][0].total) for i in todo], dtype=np.float64)
            m_eff = np.array([_or(pairs[i][1].n_eff, pairs[i][1].total) for i in todo], dtype=np.float64)
            p1, p2 = x / n, y / m
            pooled = (x + y) / (n + m)
            smallest = np.minimum(pooled, 1 - pooled) * np.minimum(n_eff, m_eff)
            with np.errstate(divide="ignore", invalid="ignore"):
                se = np.sqrt(pooled * (1 - pooled) * (1 / n_eff + 1 / m_eff))
                z = (p2 - p1) / se
            p_values = 2 * special.ndtr(-np.abs(z))
            exact = (smallest < self.min_expected).tolist()
            # Nothing missing, or everything, on both sides: the 2 x 2 table has an empty column, so the exact test
            # answers p = 1 without a test (two_by_two_p_value's "none"), as compare() finds.
            constant = ((pooled == 0) | (pooled == 1)).tolist()
            rows = zip(todo, exact, constant, p1.tolist(), p2.tolist(), z.tolist(), p_values.tolist())
            for i, fisher, trivial, rate_ref, rate_cur, z_i, p_value in rows:
                reference, current = pairs[i]
                test = "z"
                if trivial:
                    test, z_i, p_value = "none", 0.0, 1.0
                elif fisher:
                    results[i] = self.compare(reference, current)
                    continue
                score = abs(rate_cur - rate_ref)
                results[i] = make_result(
                    self.name,
                    score,
                    self.threshold,
                    decide(score, self.threshold, p_value, self.alpha),
                    p_value,
                    reference.total,
                    current.total,
                    self.alpha,
                    {
                        "reference_rate": rate_ref,
                        "current_rate": rate_cur,
                        "z": z_i,
                        "test": test,
                        "counts": self.counts,
                    },
                )
        return results  # type: ignore[return-value]

    def compare(self, reference: Any, current: Any) -> DriftResult:
        """Compare two :class:`MissingCounts`."""
        n, m = reference.total, current.total
        if n == 0 or m == 0:
            side = "reference" if n == 0 else "current"
            return skipped_result(self.name, self.threshold, n, m, f"empty {side} window", self.alpha)
        x, y = self._count(reference), self._count(current)
        p1, p2 = x / n, y / m
        n_eff = reference.n_eff if reference.n_eff is not None else n
        m_eff = current.n_eff if current.n_eff is not None else m
        pooled = (x + y) / (n + m)
        # Expected counts of the 2 x 2 table at the effective sizes; the smallest decides the test.
        smallest = min(pooled, 1 - pooled) * min(n_eff, m_eff)
        z = 0.0
        if smallest < self.min_expected:
            table = [[p1 * n_eff, (1 - p1) * n_eff], [p2 * m_eff, (1 - p2) * m_eff]]
            p_value, test, _ = two_by_two_p_value(table, math.inf)
        else:
            test = "z"
            se = math.sqrt(pooled * (1 - pooled) * (1 / n_eff + 1 / m_eff))
            z = (p2 - p1) / se
            p_value = float(2 * special.ndtr(-abs(z)))
        score = abs(p2 - p1)
        return DriftResult(
            method=self.name,
            score=score,
            threshold=self.threshold,
            detected=decide(score, self.threshold, p_value, self.alpha),
            p_value=p_value,
            n_reference=n,
            n_current=m,
            alpha=self.alpha,
            details={"reference_rate": p1, "current_rate": p2, "z": z, "test": test, "counts": self.counts},
        )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
