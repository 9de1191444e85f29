"""Categorical inputs for the drift methods: top-K counts with an ``other`` count, and the 2 x k table built from them.

A top-K sketch knows a category's count only when the category is among its top entries, or when its
``other`` count is 0 (then the list is complete and an absent category has count 0). :class:`ContingencyTable`
therefore keeps one column per category known on **both** sides and pools everything else into one ``rest``
column per side (row total minus the known columns), which is exact. No count is ever guessed, and a category
unseen in the reference is a zero in a known column, not a division by zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from otel_mlmon_collector.drift.base import DriftResult, Kind, decide, skipped_result

__all__ = ["REST", "CategoricalCounts", "CategoricalMethod", "ContingencyTable"]

REST = "__rest__"


@dataclass(frozen=True)
class CategoricalCounts:
    """Counts of the top categories of one window plus the count of all other values.

    Attributes:
        counts: Category to count for the categories the sketch kept.
        other: Number of values in categories not listed (0 means the list is complete).
        n_eff: Effective sample size for tests on sampled rows (Kish); ``None`` uses ``total``.
    """

    counts: Mapping[str, int] = field(default_factory=dict)
    other: int = 0
    n_eff: float | None = None

    def __post_init__(self) -> None:
        if self.other < 0 or any(c < 0 for c in self.counts.values()):
            raise ValueError("counts and other must be non-negative")

    @classmethod
    def from_sketch(cls, sketch: Any, n_eff: float | None = None) -> CategoricalCounts:
        """Read a ``CategoricalSketch`` (``top()`` -> ``[(category, count)]``, ``other_count``)."""
        return cls(dict(sketch.top()), int(sketch.other_count), n_eff)

    @property
    def total(self) -> int:
        """All values of the window: listed counts plus ``other``."""
        return int(sum(self.counts.values())) + int(self.other)

    def knows(self, category: str) -> bool:
        """Whether this side's count of ``category`` is known exactly."""
        return category in self.counts or self.other == 0


@dataclass(frozen=True)
class ContingencyTable:
    """A 2 x k table: reference and current counts per column, the last column possibly :data:`REST`."""

    columns: tuple[str, ...]
    reference: np.ndarray
    current: np.ndarray

    @classmethod
    def build(cls, reference: CategoricalCounts, current: CategoricalCounts) -> ContingencyTable:
        """Columns for categories known on both sides (in first-seen order) plus a pooled rest column."""
        keys = list(dict.fromkeys([*reference.counts, *current.counts]))
        known = [k for k in keys if reference.knows(k) and current.knows(k)]
        counts = [(k, float(reference.counts.get(k, 0)), float(current.counts.get(k, 0))) for k in known]
        pairs = [(k, r, c) for k, r, c in counts if r + c > 0]
        columns = [k for k, _, _ in pairs]
        ref = [r for _, r, _ in pairs]
        cur = [c for _, _, c in pairs]
        ref_rest, cur_rest = reference.total - sum(ref), current.total - sum(cur)
        if ref_rest + cur_rest > 0:
            columns.append(REST)
            ref.append(float(ref_rest))
            cur.append(float(cur_rest))
        return cls(tuple(columns), np.asarray(ref, dtype=np.float64), np.asarray(cur, dtype=np.float64))


class CategoricalMethod:
    """Mixin for categorical methods: ``compare`` converts sketches, skips empty sides, builds the table."""

    name: ClassVar[str]
    kind: ClassVar[Kind] = "categorical"
    threshold: float
    alpha: float | None = None

    def compare(self, reference: Any, current: Any) -> DriftResult:
        """Compare two :class:`CategoricalCounts` (or two ``CategoricalSketch`` objects)."""
        ref, cur = _as_counts(reference), _as_counts(current)
        n, m = ref.total, cur.total
        if n == 0 or m == 0:
            side = "reference" if n == 0 else "current"
            return skipped_result(self.name, self.threshold, n, m, f"empty {side} window", self.alpha)
        return self._compare(ContingencyTable.build(ref, cur), reference=ref, current=cur)

    def _compare(self, table: ContingencyTable, **sides: CategoricalCounts) -> DriftResult:
        raise NotImplementedError

    def _result(
        self, table: ContingencyTable, score: float, p_value: float | None, details: dict[str, Any]
    ) -> DriftResult:
        return DriftResult(
            method=self.name,
            score=score,
            threshold=self.threshold,
            detected=decide(score, self.threshold, p_value, self.alpha),
            p_value=p_value,
            n_reference=round(table.reference.sum()),
            n_current=round(table.current.sum()),
            alpha=self.alpha,
            details={"columns": len(table.columns), **details},
        )


def _as_counts(side: Any) -> CategoricalCounts:
    if isinstance(side, CategoricalCounts):
        return side
    if hasattr(side, "top") and hasattr(side, "other_count"):
        return CategoricalCounts.from_sketch(side)
    if isinstance(side, Mapping):
        return CategoricalCounts(dict(side))
    raise TypeError(
        f"expected CategoricalCounts, a CategoricalSketch or a mapping, got {type(side).__name__}"
    )
