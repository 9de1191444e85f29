"""Two-sample Kolmogorov–Smirnov test from binned CDFs, with a p-value from the effective sample size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import special

from otel_mlmon_collector.drift._base import DriftResult, decide, make_result
from otel_mlmon_collector.drift._binning import Binned, stack
from otel_mlmon_collector.drift._numeric import NumericMethod

__all__ = ["KolmogorovSmirnov", "ks_statistic", "ks_statistic_rows"]


def ks_statistic(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """``(D, D_upper)`` of two count vectors over the same bins.

    ``D`` is the largest CDF gap at the bin edges — a lower bound on the raw two-sample statistic. ``D_upper``
    is the largest gap the raw data could have inside any bin, an upper bound: within bin ``i`` the gap is
    ``Delta_i + a - b`` with ``a`` in ``[0, p_i]`` and ``b`` in ``[0, q_i]``.
    """
    ref = np.asarray(reference, dtype=np.float64)
    if ref.size == 0:
        return 0.0, 0.0
    d, d_upper = ks_statistic_rows(ref[None, :], np.asarray(current, dtype=np.float64)[None, :])
    return float(d[0]), float(d_upper[0])


def ks_statistic_rows(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise :func:`ks_statistic` of stacked count arrays (padding columns of zeros are harmless)."""
    p = reference / reference.sum(axis=1, keepdims=True)
    q = current / current.sum(axis=1, keepdims=True)
    gap = np.cumsum(p - q, axis=1)
    d = np.abs(gap).max(axis=1)
    before = np.zeros_like(gap)
    before[:, 1:] = gap[:, :-1]
    d_upper = np.maximum(np.abs(before + p), np.abs(before - q)).max(axis=1)
    return np.minimum(d, 1.0), np.minimum(np.maximum(d_upper, d), 1.0)


@dataclass(frozen=True)
class KolmogorovSmirnov(NumericMethod):
    """Two-sample Kolmogorov–Smirnov test on binned data.

    With ``F`` and ``G`` the reference and current empirical CDFs evaluated at the bin edges ``e_k``:

    ``D = max_k |F(e_k) - G(e_k)|``,  ``p = Q(sqrt(n*m / (n + m)) * D)``

    where ``Q(t) = 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 t^2)`` is the limiting Kolmogorov distribution's survival
    function (``scipy.special.kolmogorov``, microseconds at any ``n``; ``scipy.stats.kstwo`` takes up to seconds
    at large ``n``). It is within 0.01 of ``scipy.stats.ks_2samp``'s exact p-value from 30 rows a side up and
    converges to it as ``n`` grows. ``n`` and ``m`` are the effective sample sizes when the sides were built from
    sampled rows (Kish ``n_eff``, see :func:`~otel_mlmon_collector.drift._binning.kish_n_eff`), otherwise the
    counts.

    Binning only lets us see the CDFs at bin edges, so ``D`` is a lower bound on the raw statistic and the
    p-value is conservative: the false-alarm rate stays at or below ``alpha``. ``details["d_upper"]`` bounds
    the raw statistic from above (at scale 8 the two rarely differ by more than 0.003). The exponential
    histogram has no rank error of its own, unlike KLL sketches, so no further correction is needed.

    Parameters:
        alpha: Significance level: drift when ``p < alpha``.
        threshold: Minimum ``D`` for drift (0 by default: the p-value decides alone). A gate such as 0.1 (River's
            KSWIN) keeps very large windows from flagging shifts too small to matter.

    Example:
        >>> import numpy as np
        >>> from otel_mlmon_collector.drift import Binned, KolmogorovSmirnov
        >>> rng = np.random.default_rng(7)
        >>> binned = Binned.from_values(rng.normal(size=10_000), rng.normal(0.2, 1.0, size=10_000))
        >>> result = KolmogorovSmirnov().compare(binned)
        >>> round(result.score, 3), result.p_value < 1e-6, result.detected
        (0.085, True, True)

    References:
        Smirnov, N. (1948). Table for estimating the goodness of fit of empirical distributions. Ann. Math.
        Statist. 19(2), 279–281.
        Kish, L. (1965). Survey Sampling, Wiley (effective sample size).
    """

    name: ClassVar[str] = "ks"
    alpha: float | None = 0.05
    threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.alpha is not None and not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1) or None, got {self.alpha}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")

    def _compare(self, binned: Binned) -> DriftResult:
        return self._compare_batch([binned])[0]

    def _compare_batch(self, binneds: list[Binned]) -> list[DriftResult]:
        rows = stack(binneds)
        d, d_upper = ks_statistic_rows(rows.reference, rows.current)
        root = np.sqrt(rows.n_eff)
        p_values = special.kolmogorov(root * d)
        p_upper = special.kolmogorov(root * d_upper)
        sizes, n_eff = rows.sizes.tolist(), rows.n_eff.tolist()
        columns = zip(
            binneds, d.tolist(), d_upper.tolist(), p_values.tolist(), p_upper.tolist(), n_eff, sizes
        )
        return [
            make_result(
                self.name,
                score,
                self.threshold,
                decide(score, self.threshold, p_value, self.alpha),
                p_value,
                b.n_reference,
                b.n_current,
                self.alpha,
                {"d_upper": upper, "p_value_at_d_upper": p_at_upper, "n_eff": n, "bins": bins},
            )
            for b, score, upper, p_value, p_at_upper, n, bins in columns
        ]
