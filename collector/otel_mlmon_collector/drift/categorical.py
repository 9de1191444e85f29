"""Categorical inputs for the drift methods: category counts with their error bounds, and the 2 x k table of them.

A category sketch lists categories with counts and holds the rest in ``other``. While it counts exactly
(``other == 0`` and ``error_bound == 0``) the list is complete: a category it lacks has count 0, so a category
absent from an exact reference is **new**, full stop. A heavy-hitter sketch that outgrew its budget lists lower
bounds instead: a listed count ``c`` means a true count in ``[c, c + error_bound]``, an unlisted category has a
true count in ``[0, min(error_bound, other)]`` (``[0, other]`` when no bound is known).

:class:`ContingencyTable` gives **every listed category its own column** (nothing is pooled into "other" because
the other side did not list it) and turns those intervals into the table closest to "no drift" that they allow,
so count error never creates an alarm and a new category is never hidden in a pooled cell. What neither side
attributes to a category stays in one ``__rest__`` column (absent when both sides count exactly).
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
    """Counts of the categories of one window that a sketch listed, plus the count of all other values.

    Attributes:
        counts: Category to count for the categories the sketch listed.
        other: Number of values not attributed to a listed category (0 means the list is complete).
        n_eff: Effective sample size for tests on sampled rows (Kish); ``None`` uses ``total``.
        error_bound: Largest possible under-count of a listed category, and the largest possible count of an
            unlisted one (a Misra–Gries or SpaceSaving sketch past its budget); 0 when counts are exact.
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

    @property
    def exact(self) -> bool:
        """Whether every category's count is known exactly (complete list, no count error)."""
        return self.other == 0 and self.error_bound == 0

    @property
    def unlisted_bound(self) -> int:
        """Largest possible count of a category this side does not list (0 when the list is complete)."""
        if self.other == 0:
            return 0
        return min(self.error_bound, self.other) if self.error_bound > 0 else self.other

    def knows(self, category: str) -> bool:
        """Whether this side's count of ``category`` is known exactly."""
        if self.error_bound > 0:
            return False
        return category in self.counts or self.other == 0

    def slack(self, category: str) -> int:
        """How much larger than its listed count (0 when unlisted) ``category``'s true count may be."""
        if category in self.counts:
            return int(self.error_bound)
        return self.unlisted_bound


@dataclass(frozen=True)
class ContingencyTable:
    """A 2 x k table: reference and current counts per column, the last column possibly :data:`REST`.

    Columns are the categories listed on either side with a positive count. With exact counts on both sides the
    table is exactly the raw data's table. Otherwise the side with the smaller share of a category is raised
    towards the other by as much as its count interval allows (at most ``slack(category)`` values, taken from
    that side's rest, since that is where a sketch's uncounted values are): the table closest to "no drift"
    that the sketches allow, so count error never creates an alarm. ``slack`` is the largest possible raise as
    a share (0 for exact counts).
    """

    columns: tuple[str, ...]
    reference: np.ndarray
    current: np.ndarray
    slack: float = 0.0

    @classmethod
    def build(cls, reference: CategoricalCounts, current: CategoricalCounts) -> ContingencyTable:
        """Columns for every category listed on either side (in first-seen order) plus a rest column if needed."""
        keys = [
            k
            for k in dict.fromkeys([*reference.counts, *current.counts])
            if reference.counts.get(k, 0) + current.counts.get(k, 0) > 0
        ]
        ref = np.array([reference.counts.get(k, 0) for k in keys], dtype=np.float64)
        cur = np.array([current.counts.get(k, 0) for k in keys], dtype=np.float64)
        n, m = float(reference.total), float(current.total)
        ref_rest, cur_rest = n - ref.sum(), m - cur.sum()
        slack = 0.0
        if not (reference.exact and current.exact) and keys:
            # Raise the lower side of each column towards the other, within its slack; the mass comes out of
            # that side's own rest (where a sketch's uncounted values are), never more than the rest holds.
            up = np.array([reference.slack(k) for k in keys], dtype=np.float64) / n
            down = np.array([current.slack(k) for k in keys], dtype=np.float64) / m
            gap = cur / m - ref / n
            ref, ref_rest = _raise(ref, ref_rest, np.maximum(gap, 0.0) * n, up * n)
            cur, cur_rest = _raise(cur, cur_rest, np.maximum(-gap, 0.0) * m, down * m)
            slack = float(max(up.max(initial=0.0), down.max(initial=0.0)))
        ref_rest, cur_rest = max(ref_rest, 0.0), max(cur_rest, 0.0)
        columns = list(keys)
        if ref_rest + cur_rest > 1e-9 * max(n + m, 1.0):
            columns.append(REST)
            ref, cur = np.append(ref, ref_rest), np.append(cur, cur_rest)
        return cls(tuple(columns), ref, cur, slack)


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


def _raise(
    counts: np.ndarray, rest: float, wanted: np.ndarray, capacity: np.ndarray
) -> tuple[np.ndarray, float]:
    """Move up to ``rest`` values into the columns: first ``wanted`` (capped by ``capacity``), then spread.

    What the rest still holds after closing the gaps goes to the columns in proportion to their remaining
    capacity: a sketch's uncounted values belong to some listed or unlisted category, and spreading them thinly
    is closer to "no drift" than leaving them in a rest column the other side does not have.
    """
    if rest <= 0:
        return counts, max(rest, 0.0)
    first = np.minimum(wanted, capacity)
    total = first.sum()
    if total >= rest:
        return counts + first * (rest / total), 0.0
    left, room = rest - total, capacity - first
    spread = room * min(1.0, left / room.sum()) if room.sum() > 0 else np.zeros_like(room)
    return counts + first + spread, left - float(spread.sum())


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
