"""L-infinity distance between category shares: the largest change in any one category's share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from otel_mlmon_collector.drift._base import DriftResult
from otel_mlmon_collector.drift._categorical import CategoricalMethod, ContingencyTable

__all__ = ["LInfinity"]


@dataclass(frozen=True)
class LInfinity(CategoricalMethod):
    """Largest absolute change of a category's share between the windows.

    ``L_inf = max_j |q_j - p_j|``

    over every category listed on either side (see :class:`ContingencyTable`; a new category is its own column,
    never pooled into a rest). Easy to read —
    "some category's share moved by 12 points" — and, like every distance, not a test: its noise under no drift
    is about ``sqrt(p (1 - p) (1/n + 1/m))`` for a category of share ``p``, 0.07 at 100 rows a side and
    0.007 at 10 000. ``details["category"]`` names the category that moved most.

    Parameters:
        threshold: Share change at or above which drift is declared (0.1).

    Example:
        >>> from otel_mlmon_collector.drift import CategoricalCounts, LInfinity
        >>> ref = CategoricalCounts({"a": 500, "b": 300, "c": 200})
        >>> cur = CategoricalCounts({"a": 300, "b": 500, "c": 200})
        >>> result = LInfinity().compare(ref, cur)
        >>> round(result.score, 3), result.details["category"], result.detected
        (0.2, 'a', True)

    References:
        Rabanser, S., Günnemann, S., Lipton, Z. (2019). Failing loudly: an empirical study of methods for
        detecting dataset shift. NeurIPS.
    """

    name: ClassVar[str] = "linf"
    threshold: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")

    def _compare(self, table: ContingencyTable, **_: Any) -> DriftResult:
        gap = np.abs(table.current / table.current.sum() - table.reference / table.reference.sum())
        j = int(np.argmax(gap))
        return self._result(table, float(gap[j]), None, {"category": table.columns[j]})
