"""Mean-distance test of a vector column: the squared distance between the projected means (a linear-kernel MMD),
calibrated by the reference covariance's eigenvalues."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import integrate, stats

from otel_mlmon_collector.drift._vector_method import MeanShiftMethod, Outcome
from otel_mlmon_collector.drift._vectors import VectorColumn

__all__ = ["MeanDistance", "weighted_chi2_sf"]

# Below this, Imhof's integral (a fast-oscillating integrand) is at the level of its own integration error: the
# tail comes from Liu et al.'s four-moment approximation instead.
_IMHOF_FLOOR = 1e-6
# Imhof's integrand decays like u^-(1 + r/2) with r the weights that matter: with fewer than about four
# effective degrees of freedom it decays too slowly for the integration, and Liu's approximation (exact for one
# weight, or equal weights) is used instead.
_MIN_EFFECTIVE_DOF = 4.0


@dataclass(frozen=True)
class MeanDistance(MeanShiftMethod):
    """The euclidean distance between the projected means, as a test calibrated by the reference covariance.

    With ``D`` the difference of the current and reference means of the ``k`` projections:

    ``T = D'D / (1/n + 1/m)``,  ``p = P(sum_i lambda_i chi2_1 > T)``

    where ``lambda_i`` are the eigenvalues of the reference covariance of the projections (kept by reference
    profiles): under no drift ``D`` is centred normal with covariance ``Sigma (1/n + 1/m)`` (central limit
    theorem), so ``T`` is that weighted sum of chi-squares, whose tail is computed exactly (Imhof 1961). This is
    the maximum mean discrepancy with a linear kernel, the statistic behind Evidently's ``distance`` method, but
    with a p-value that scales with ``n``, the dimension and the spread instead of a fixed threshold.

    Where :class:`~otel_mlmon_collector.drift.Centroid` (Hotelling) weighs every direction by the inverse of its
    variance, this statistic weighs directions by their own units, so it concentrates on the directions along
    which the embeddings vary most: in a clustered embedding space, the directions between the clusters. A
    change of mixture weights moves the mean only there, and this test finds it with fewer rows than Hotelling's
    ``k`` degrees of freedom allow; a shift along a direction of little spread is Hotelling's to find.

    The score is ``sqrt(D'D / trace(S))``: the distance between the means as a share of the reference's
    root-mean-square spread (random projections keep both on average, so it estimates the same share in the
    full embedding space). A reference without a covariance (built by the collector from past windows) is
    skipped.

    Parameters:
        alpha: Significance level.
        threshold: Minimum score for drift (0: the p-value decides alone).

    Example:
        >>> rng = np.random.default_rng(7)
        >>> ref = VectorColumn.from_values(rng.normal(size=(5000, 64)))
        >>> same = VectorColumn.from_values(rng.normal(size=(1000, 64)))
        >>> moved = VectorColumn.from_values(rng.normal(size=(1000, 64)) + 0.1)
        >>> MeanDistance().compare(ref, same).detected, MeanDistance().compare(ref, moved).detected
        (False, True)

    References:
        Imhof, J. P. (1961). Computing the distribution of quadratic forms in normal variables. Biometrika 48.
        Gretton, A. et al. (2012). A kernel two-sample test. JMLR 13 (the linear kernel's MMD).
    """

    name: ClassVar[str] = "mean_distance"
    needs_covariance: ClassVar[bool] = True

    def _test_shift(self, reference: VectorColumn, current: VectorColumn, diff: np.ndarray) -> Outcome:
        weights = np.clip(np.linalg.eigvalsh(reference.covariance), 0.0, None)
        total = float(weights.sum())
        if not total > 0:
            return "constant reference"
        distance2 = float(diff @ diff)
        statistic = distance2 / (1.0 / reference.count + 1.0 / current.count)
        p = weighted_chi2_sf(statistic, weights)
        score = math.sqrt(distance2 / total)
        return score, p, {"statistic": statistic, "null_mean": total, "distance": math.sqrt(distance2)}


def weighted_chi2_sf(x: float, weights: np.ndarray) -> float:
    """``P(sum_i w_i Z_i^2 > x)`` for independent standard normal ``Z_i`` and weights ``w_i >= 0``.

    Imhof's inversion of the characteristic function (exact up to the integration's error); far in the tail
    (below 1e-6), where that error dominates, and when fewer than four effective degrees of freedom
    ``(sum w)^2 / sum w^2`` make the integrand decay too slowly, the four-moment chi-square approximation of
    Liu, Tang and Zhang (2009), exact for equal weights.

    Example:
        >>> round(weighted_chi2_sf(3.84, np.ones(1)), 3), round(weighted_chi2_sf(18.31, np.ones(10)), 3)
        (0.05, 0.05)
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w[w > 0]
    if w.size == 0 or x <= 0:
        return 1.0
    scale = float(
        w.max()
    )  # in units of the largest weight: the integrand is well conditioned whatever the units
    w, x = w / scale, x / scale
    tail = _liu_sf(x, w)
    if tail < _IMHOF_FLOOR / 10 or float(w.sum()) ** 2 / float((w**2).sum()) < _MIN_EFFECTIVE_DOF:
        return tail  # far in the tail, or a few dominant weights: no integral to trust

    def integrand(u: float) -> float:
        theta = 0.5 * float(np.arctan(w * u).sum()) - 0.5 * x * u
        rho = math.exp(0.25 * float(np.log1p((w * u) ** 2).sum()))
        return math.sin(theta) / (u * rho)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value, _ = integrate.quad(integrand, 0.0, math.inf, limit=400)
    p = 0.5 + value / math.pi
    return min(1.0, p) if p >= _IMHOF_FLOOR else tail


def _liu_sf(x: float, w: np.ndarray) -> float:
    """Liu, Tang and Zhang (2009): match the skewness and kurtosis with a (noncentral) chi-square."""
    c1, c2, c3, c4 = (float((w**j).sum()) for j in (1, 2, 3, 4))
    s1, s2 = c3 / c2**1.5, c4 / c2**2
    if s1**2 > s2:
        a = 1.0 / (s1 - math.sqrt(s1**2 - s2))
        delta = s1 * a**3 - a**2
        dof = a**2 - 2 * delta
    else:
        delta, dof = 0.0, 1.0 / s1**2
        a = math.sqrt(dof)
    z = (x - c1) / math.sqrt(2 * c2)
    y = z * math.sqrt(2) * a + dof + delta
    return float(stats.ncx2.sf(y, dof, delta) if delta > 0 else stats.chi2.sf(y, dof))
