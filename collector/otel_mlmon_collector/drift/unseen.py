"""Share of the current window's values in categories the reference never saw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from otel_mlmon_collector.drift.base import DriftResult
from otel_mlmon_collector.drift.categorical import CategoricalCounts, CategoricalMethod, ContingencyTable

__all__ = ["UnseenCategories"]


@dataclass(frozen=True)
class UnseenCategories(CategoricalMethod):
    """Share of current values whose category is absent from the reference.

    ``score = sum_{c not in reference} n_cur(c) / n_cur``

    over the categories the current sketch lists. When the reference sketch is complete (``other == 0``) this
    is exactly the share unseen in the reference (``details["exact"]`` is true); when the reference kept only
    its top K, it is the share in categories outside the reference's top K. Values hidden in the current's own
    ``other`` count are not attributed. ``details["categories"]`` lists up to ten new categories, largest first.

    Parameters:
        threshold: Share at or above which drift is declared (0.05).

    Example:
        >>> from otel_mlmon_collector.drift import CategoricalCounts, UnseenCategories
        >>> ref = CategoricalCounts({"a": 500, "b": 500})
        >>> cur = CategoricalCounts({"a": 450, "b": 450, "new": 100})
        >>> result = UnseenCategories().compare(ref, cur)
        >>> result.score, result.details["categories"], result.detected
        (0.1, ['new'], True)

    References:
        Breck, E., Polyzotis, N., Roy, S., Whang, S., Zinkevich, M. (2019). Data validation for machine learning.
        SysML (schema skew: values outside the training domain).
    """

    name: ClassVar[str] = "unseen"
    threshold: float = 0.05

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")

    def _compare(self, table: ContingencyTable, **sides: Any) -> DriftResult:
        reference: CategoricalCounts = sides["reference"]
        current: CategoricalCounts = sides["current"]
        new = sorted(
            ((c, n) for c, n in current.counts.items() if n > 0 and c not in reference.counts),
            key=lambda item: -item[1],
        )
        score = sum(n for _, n in new) / current.total
        return self._result(
            table,
            float(score),
            None,
            {"exact": reference.other == 0, "categories": [c for c, _ in new[:10]]},
        )
