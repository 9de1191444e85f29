"""The default drift test of a vector column: the centroid, mean-distance and sliced KS tests, Bonferroni over the
three."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from otel_mlmon_collector.drift._base import DriftResult
from otel_mlmon_collector.drift._centroid import Centroid
from otel_mlmon_collector.drift._mean_distance import MeanDistance
from otel_mlmon_collector.drift._sliced_ks import SlicedKS
from otel_mlmon_collector.drift._vector_method import VectorMethod
from otel_mlmon_collector.drift._vectors import VectorColumn

__all__ = ["Projections"]


@dataclass(frozen=True)
class Projections(VectorMethod):
    """:class:`~otel_mlmon_collector.drift.Centroid`, :class:`~otel_mlmon_collector.drift.MeanDistance` and
    :class:`~otel_mlmon_collector.drift.SlicedKS` together.

    ``p = min(1, t * min_i p_i)`` over the ``t`` tests that could be made (three with a reference profile's
    covariance; the mean-distance test needs it): drift when any test finds it at ``alpha / t``, so the
    false-alarm rate stays at or below ``alpha`` whatever the dependence between them. The centroid test
    (Hotelling) sees mean shifts along directions of little spread (a shift along one direction, a new cluster);
    the mean-distance test sees mean shifts along the directions where the embeddings vary most (a change of
    mixture weights between clusters); the sliced KS test sees changes of shape along the projections and of the
    norm (a change of spread). The score is the score of the test with the smallest p-value
    (``details["decided_by"]`` names it).

    Parameters:
        alpha: Significance level of the combined test.
        threshold: Minimum score for drift (0: the p-value decides alone).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(5)
        >>> ref = VectorColumn.from_values(rng.normal(size=(5000, 64)))
        >>> same = VectorColumn.from_values(rng.normal(size=(2000, 64)))
        >>> moved = VectorColumn.from_values(rng.normal(size=(2000, 64)) + 0.08)
        >>> Projections().compare(ref, same).detected, Projections().compare(ref, moved).detected
        (False, True)
    """

    name: ClassVar[str] = "projections"
    #: The score is a part's score, whatever its scale: any threshold (even an infinite one) is accepted.
    max_threshold: ClassVar[float] = math.inf

    def compare(self, reference: VectorColumn, current: VectorColumn) -> DriftResult:
        parts = [
            Centroid(alpha=None).compare(reference, current),
            MeanDistance(alpha=None).compare(reference, current),
            SlicedKS(alpha=None).compare(reference, current),
        ]
        made = [r for r in parts if r.skipped is None and r.p_value is not None]
        if not made:
            return DriftResult(
                self.name, parts[0].score, self.threshold, False, None, parts[0].n_reference,
                parts[0].n_current, self.alpha, {"skipped": parts[0].skipped or parts[2].skipped},
            )  # fmt: skip
        best = min(made, key=lambda r: r.p_value)  # type: ignore[arg-type, return-value]
        p = min(1.0, len(made) * float(best.p_value))  # type: ignore[arg-type]
        details = {"decided_by": best.method, **{f"{r.method}_p_value": r.p_value for r in made}}
        return self._result(best.score, p, best.n_reference, best.n_current, details)
