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
        error_bound: Largest possible under-count of a listed category (a Misra–Gries sketch that saw more
            than K categories lowers every count by up to this much); 0 when counts are exact.
    """

    counts: Mapping[str, int] = field(default_factory=dict)
    other: int = 0
    n_eff: float | None = None
    error_bound: int = 0

    def __post_init__(self) -> None:
        if self.other < 0 or self.error_bound < 0 or any(c < 0 for c in self.counts.values()):
            raise ValueError("counts, other and error_bound must be non-negative")
        if self.n_eff is not None and not self.n_eff > 0:
            raise ValueError(f"n_eff must be > 0 or None, got {self.n_eff}")

    @classmethod
    def from_sketch(cls, sketch: Any, n_eff: float | None = None) -> CategoricalCounts:
        """Read a ``CategoricalSketch`` (``top()`` -> ``[(category, count)]``, ``other_count``, ``error_bound``)."""
        return cls(dict(sketch.top()), int(sketch.other_count), n_eff, int(getattr(sketch, "error_bound", 0)))

    @property
    def total(self) -> int:
        """All values of the window: listed counts plus ``other``."""
        return int(sum(self.counts.values())) + int(self.other)

    def knows(self, category: str) -> bool:
        """Whether this side's count of ``category`` is known exactly."""
        return category in self.counts or self.other == 0


@dataclass(frozen=True)
class ContingencyTable:
    """A 2 x k table: reference and current counts per column, the last column possibly :data:`REST`.

    When a sketch's counts are lower bounds (``error_bound > 0``), each listed category's share difference is
    first moved towards zero by as much as the two error bounds allow (a positive ``q - p`` by
    ``e_ref / n``, a negative one by ``e_cur / m``) and the current rest column takes up the balance: the
    table is the one closest to "no drift" that the sketches allow, so sketch error never creates an alarm.
    ``slack`` is the largest such move (0 for exact counts).
    """

    columns: tuple[str, ...]
    reference: np.ndarray
    current: np.ndarray
    slack: float = 0.0

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
        if reference.error_bound or current.error_bound:
            cur, cur_rest, slack = _shrink(ref, cur, reference, current)
        else:
            slack = 0.0
        if ref_rest + cur_rest > 0:
            columns.append(REST)
            ref.append(float(ref_rest))
            cur.append(float(cur_rest))
        return cls(
            tuple(columns), np.asarray(ref, dtype=np.float64), np.asarray(cur, dtype=np.float64), slack
        )


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
            details={"columns": len(table.columns), "count_error_slack": table.slack, **details},
        )


def _shrink(
    ref: list[float], cur: list[float], reference: CategoricalCounts, current: CategoricalCounts
) -> tuple[list[float], float, float]:
    n, m = reference.total, current.total
    up, down = reference.error_bound / n, current.error_bound / m
    p = np.asarray(ref) / n
    d = np.asarray(cur) / m - p
    d = np.where(d > 0, np.maximum(d - up, 0.0), np.minimum(d + down, 0.0))
    q = p + d
    rest = max(m * (1.0 - float(q.sum())), 0.0)
    return (q * m).tolist(), rest, max(up, down)


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
