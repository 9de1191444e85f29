"""Centroid test of a vector column: has the mean of the projected rows moved (Hotelling's chi-square)?"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import special, stats

from otel_mlmon_collector.drift._vector_method import MeanShiftMethod, Outcome
from otel_mlmon_collector.drift._vectors import VectorColumn

__all__ = ["Centroid"]

# Eigenvalues of the reference covariance below this share of the largest are directions without spread: left
# out (the degrees of freedom are the rank kept).
_RANK_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Centroid(MeanShiftMethod):
    """Hotelling-type test of the projected means, calibrated by the reference covariance.

    With ``D`` the difference of the current and reference means of the ``k`` projections and ``S`` the
    reference covariance of the projections (kept by reference profiles):

    ``T = D' S^-1 D / (1/n + 1/m)``,  ``p = P(F(r, nu - r + 1) > T (nu - r + 1) / (nu r))``

    with ``r`` the rank of ``S`` (normally ``k``) and ``nu = n - 1`` the degrees of freedom of ``S``. Under no
    drift ``D`` is centred normal with covariance ``Sigma (1/n + 1/m)`` (central limit theorem: the projections
    of embeddings have bounded variance), so ``T`` is Hotelling's T-squared whatever the correlation between
    projections (chi-square with ``r`` degrees of freedom as the reference grows). The score is ``sqrt(D' S^-1 D)``, the shift of the centroid in reference standard deviations.
    When the reference has no covariance (a reference built by the collector from past windows) each projection
    is tested alone, ``z_j = D_j / sqrt(s_j^2 (1/n + 1/m))`` with ``s_j^2`` from the reference histogram, and
    ``p = min(1, k * 2 * Phi(-max |z_j|))`` (Bonferroni); the score is then ``max |D_j| / s_j``.

    A mean shift anywhere in the embedding space moves the projected means by the same share of its size as it
    moves the noise (random projections keep distances on average), so the test sees shifts spread over many
    dimensions, such as a change of mixture weights, that no single projection shows.

    Parameters:
        alpha: Significance level.
        threshold: Minimum score (shift in reference standard deviations) for drift; 0: the p-value decides.

    Example:
        >>> rng = np.random.default_rng(4)
        >>> ref = VectorColumn.from_values(rng.normal(size=(5000, 64)))
        >>> moved = VectorColumn.from_values(rng.normal(size=(1000, 64)) + 0.1)
        >>> result = Centroid().compare(ref, moved)
        >>> result.detected, result.details["degrees_of_freedom"]
        (True, 64)
    """

    name: ClassVar[str] = "centroid"

    def _test_shift(self, reference: VectorColumn, current: VectorColumn, diff: np.ndarray) -> Outcome:
        n, m = reference.count, current.count
        scale = 1.0 / n + 1.0 / m
        if reference.covariance is not None:
            values, vectors = np.linalg.eigh(reference.covariance)
            keep = values > _RANK_TOLERANCE * max(float(values.max()), 0.0)
            if not keep.any():
                return "constant reference"
            coords = vectors[:, keep].T @ diff
            distance2 = float((coords**2 / values[keep]).sum())
            df = int(keep.sum())
            # Hotelling: the covariance is estimated from the reference's n - 1 degrees of freedom, so T scaled
            # by (nu - r + 1) / (nu r) is F(r, nu - r + 1) (chi-square / r as the reference grows).
            nu = n - 1
            if nu - df + 1 > 0:
                p = float(stats.f.sf(distance2 / scale * (nu - df + 1) / (nu * df), df, nu - df + 1))
            else:
                p = float(stats.chi2.sf(distance2 / scale, df))
            score = math.sqrt(distance2)
            details = {"degrees_of_freedom": df, "statistic": distance2 / scale}
        else:
            sd = np.sqrt(reference.variances())
            usable = sd > 0
            if not usable.any():
                return "constant reference"
            z = np.abs(diff[usable]) / sd[usable]
            worst = float(z.max())
            p = min(1.0, int(usable.sum()) * float(special.erfc(worst / math.sqrt(2 * scale))))
            score = worst
            details = {"degrees_of_freedom": int(usable.sum()), "statistic": worst / math.sqrt(scale)}
        return score, p, {**details, "covariance": reference.covariance is not None}
