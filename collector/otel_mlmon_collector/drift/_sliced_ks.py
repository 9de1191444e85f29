"""Sliced Kolmogorov–Smirnov test of a vector column: one KS test per projection and on the norm, Bonferroni."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from otel_mlmon_collector.drift._binning import align
from otel_mlmon_collector.drift._ks import KolmogorovSmirnov
from otel_mlmon_collector.drift._vector_method import Outcome, VectorMethod
from otel_mlmon_collector.drift._vectors import VectorColumn

__all__ = ["SlicedKS"]


@dataclass(frozen=True)
class SlicedKS(VectorMethod):
    """Kolmogorov–Smirnov on each of the ``k`` projections and on the norm, combined with Bonferroni.

    ``p = min(1, (k + 1) * min_j p_j)`` where ``p_j`` is the binned KS p-value of series ``j``
    (:class:`~otel_mlmon_collector.drift.KolmogorovSmirnov`, conservative on binned data); the score is the
    largest KS distance. Bonferroni holds the false-alarm rate at or below ``alpha`` whatever the correlation
    between the projections. Sensitive to changes of shape along the projected directions (a new cluster, a
    change of spread) and of the norm; a mean shift spread over many dimensions is better seen by
    :class:`~otel_mlmon_collector.drift.Centroid`. Rabanser et al. (2019) found univariate KS tests after a
    dimension reduction competitive with multivariate tests.

    Parameters:
        alpha: Significance level of the combined test.
        threshold: Minimum largest KS distance for drift (0: the p-value decides alone).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(3)
        >>> ref = VectorColumn.from_values(rng.normal(size=(4000, 64)))
        >>> same = VectorColumn.from_values(rng.normal(size=(1000, 64)))
        >>> wider = VectorColumn.from_values(rng.normal(size=(1000, 64)) * 1.2)
        >>> SlicedKS().compare(ref, same).detected, SlicedKS().compare(ref, wider).detected
        (False, True)

    References:
        Rabanser, S., Günnemann, S., Lipton, Z. (2019). Failing loudly: an empirical study of methods for
        detecting dataset shift. NeurIPS.
    """

    name: ClassVar[str] = "sliced_ks"
    min_reference: ClassVar[int] = 1
    max_threshold: ClassVar[float] = 1.0

    def _test(self, reference: VectorColumn, current: VectorColumn) -> Outcome:
        pairs = [
            align(r, c)
            for r, c in zip((*reference.projections, reference.norm), (*current.projections, current.norm))
        ]
        results = KolmogorovSmirnov(alpha=None).compare_many(pairs)
        p_values = [r.p_value if r.p_value is not None else 1.0 for r in results]
        worst = min(range(len(results)), key=lambda j: p_values[j])
        p = min(1.0, len(results) * p_values[worst])
        score = max(r.score for r in results)
        return score, p, {"series": len(results), "worst_series": worst, "worst_p_value": p_values[worst]}
