"""Hellinger distance between the reference and current shares of reference-quantile groups or of categories."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from otel_mlmon_collector.drift._base import DriftResult, Kind, decide
from otel_mlmon_collector.drift._binning import Binned
from otel_mlmon_collector.drift._categorical import CategoricalMethod, ContingencyTable
from otel_mlmon_collector.drift._numeric import NumericMethod

__all__ = ["Hellinger", "HellingerCategorical", "hellinger_distance"]


def hellinger_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """``sqrt(1 - sum_i sqrt(p_i q_i))`` of two count vectors over the same bins (between 0 and 1)."""
    p = np.asarray(reference, dtype=np.float64)
    q = np.asarray(current, dtype=np.float64)
    bc = float(np.sum(np.sqrt((p / p.sum()) * (q / q.sum()))))
    return math.sqrt(max(1.0 - bc, 0.0))


@dataclass(frozen=True)
class Hellinger(NumericMethod):
    """Hellinger distance over reference-quantile groups.

    ``H = sqrt(1 - sum_i sqrt(p_i q_i))``  (equivalently ``||sqrt(p) - sqrt(q)||_2 / sqrt(2)``)

    between 0 (same shares) and 1 (disjoint support), on the same ``n_bins`` reference-quantile groups as PSI.
    No logarithm, no smoothing: empty groups are harmless. For small changes ``H^2 ≈ PSI / 8``, so the
    conventional PSI cut 0.1 corresponds to ``H ≈ 0.11``. Like every binned distance its no-drift bias shrinks
    like ``1/sqrt(n)`` (about ``sqrt((n_bins - 1) / (8 n_eff))``).

    Parameters:
        threshold: Distance at or above which drift is declared (0.1).
        n_bins: Number of reference-quantile groups.

    Example:
        >>> import numpy as np
        >>> from otel_mlmon_collector.drift import Binned, Hellinger
        >>> rng = np.random.default_rng(7)
        >>> binned = Binned.from_values(rng.normal(size=10_000), rng.normal(0.5, 1, size=10_000))
        >>> result = Hellinger().compare(binned)
        >>> round(result.score, 3), result.detected
        (0.178, True)

    References:
        Hellinger, E. (1909). Neue Begründung der Theorie quadratischer Formen von unendlichvielen
        Veränderlichen. J. Reine Angew. Math. 136, 210–271.
    """

    name: ClassVar[str] = "hellinger"
    threshold: float = 0.1
    n_bins: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.n_bins < 2:
            raise ValueError(f"n_bins must be >= 2, got {self.n_bins}")

    def _compare(self, binned: Binned) -> DriftResult:
        groups = binned.regroup(self.n_bins)
        score = hellinger_distance(groups.reference, groups.current)
        return DriftResult(
            method=self.name,
            score=score,
            threshold=self.threshold,
            detected=decide(score, self.threshold, None, None),
            p_value=None,
            n_reference=binned.n_reference,
            n_current=binned.n_current,
            details={"bins": int(groups.reference.size)},
        )


@dataclass(frozen=True)
class HellingerCategorical(CategoricalMethod):
    """Hellinger distance between category shares, over every category listed on either side.

    Same formula as :class:`Hellinger`, on the columns of
    :class:`~otel_mlmon_collector.drift._categorical.ContingencyTable` (with exact counts: the raw data's table,
    new categories included). Its no-drift noise grows with the number of levels like JS's (about
    ``sqrt((k - 1) / (8 n_eff))``), so for many-level columns use it with care or gate it by a test.

    Parameters:
        threshold: Distance at or above which drift is declared (0.1).

    Example:
        >>> from otel_mlmon_collector.drift import CategoricalCounts
        >>> ref = CategoricalCounts({"a": 500, "b": 300, "c": 200})
        >>> cur = CategoricalCounts({"a": 300, "b": 500, "c": 200})
        >>> round(HellingerCategorical().compare(ref, cur).score, 3)
        0.159
    """

    name: ClassVar[str] = "hellinger"
    kind: ClassVar[Kind] = "categorical"
    threshold: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")

    def _compare(self, table: ContingencyTable, **_: Any) -> DriftResult:
        return self._result(table, hellinger_distance(table.reference, table.current), None, {})
