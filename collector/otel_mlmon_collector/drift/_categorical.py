"""Categorical inputs for the drift methods: category counts with their error bounds, and the 2 x k table of them.

A category sketch lists categories with counts and holds the rest in ``other``. While it counts exactly
(``other == 0`` and ``error_bound == 0``) the list is complete: a category it lacks has count 0, so a category
absent from an exact reference is **new**, full stop. A heavy-hitter sketch that outgrew its budget lists lower
bounds instead: a listed count ``c`` means a true count in ``[c, c + slack]``, where ``slack`` is the category's
own (``CategoricalSketch.bounds()``: 0 for a category listed since its first occurrence, at most
``error_bound`` otherwise) or ``error_bound`` when the sketch gives no per-category bounds (a Misra–Gries
summary); an unlisted category has a true count in ``[0, min(error_bound, other)]`` (``[0, other]`` when no
bound is known). ``other`` is everything not attributed to a listed category: the unlisted categories' values
and the listed ones' uncounted slack.

:class:`ContingencyTable` gives **every listed category its own column** (nothing is pooled into "other" because
the other side did not list it) and turns those intervals into the table closest to "no drift" that they allow,
so count error never creates an alarm and a new category is never hidden in a pooled cell. What neither side
attributes to a category stays in one ``__rest__`` column (absent when both sides count exactly). Exact counts
(slack 0) are never moved, so a change in a category counted exactly on both sides is seen in full.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from otel_mlmon_collector.drift._base import DriftResult, Kind, decide, skipped_result

__all__ = [
    "POOLED",
    "REST",
    "CategoricalCounts",
    "CategoricalMethod",
    "CategoricalSides",
    "ContingencyTable",
    "as_counts",
]

REST = "__rest__"
#: Name of the cell that Cochran pooling makes of the smallest columns.
POOLED = f"{REST}pooled"


@dataclass(frozen=True)
class CategoricalCounts:
    """Counts of the categories of one window that a sketch listed, plus the count of all other values.

    Attributes:
        counts: Category to count for the categories the sketch listed.
        other: Number of values not attributed to a listed category (0 means the list is complete).
        n_eff: Effective sample size for tests on sampled rows (Kish); ``None`` uses ``total``.
        error_bound: Largest possible count of an unlisted category and largest possible under-count of a listed
            one (a Misra–Gries or SpaceSaving sketch past its budget); 0 when counts are exact.
        slacks: Per listed category, how much its true count may exceed its listed count (absent: 0), as
            ``CategoricalSketch.bounds()`` gives them; ``None`` when unknown, and then every listed count may be
            short by up to ``error_bound`` (the Misra–Gries reading).
    """

    counts: Mapping[str, int] = field(default_factory=dict)
    other: int = 0
    n_eff: float | None = None
    error_bound: int = 0
    slacks: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        if self.other < 0 or self.error_bound < 0 or any(c < 0 for c in self.counts.values()):
            raise ValueError("counts, other and error_bound must be non-negative")
        if self.slacks is not None and any(s < 0 for s in self.slacks.values()):
            raise ValueError("slacks must be non-negative")
        if self.n_eff is not None and not self.n_eff > 0:
            raise ValueError(f"n_eff must be > 0 or None, got {self.n_eff}")

    @classmethod
    def from_sketch(cls, sketch: Any, n_eff: float | None = None) -> CategoricalCounts:
        """Read a ``CategoricalSketch``: ``bounds()`` (or ``top()``), ``other_count`` and ``error_bound``.

        With ``bounds()`` -> ``[(category, lower, upper)]`` the counts are the lower ends and each category keeps
        its own slack ``upper - lower``; a sketch with only ``top()`` gives the Misra–Gries reading (every listed
        count within ``error_bound`` of the truth).
        """
        error_bound = int(getattr(sketch, "error_bound", 0))
        if hasattr(sketch, "bounds"):
            listed = sketch.bounds()
            counts = {key: int(lower) for key, lower, _ in listed}
            slacks = {key: int(upper) - int(lower) for key, lower, upper in listed if upper > lower}
            return cls(counts, int(sketch.other_count), n_eff, error_bound, slacks)
        return cls(dict(sketch.top()), int(sketch.other_count), n_eff, error_bound)

    @cached_property
    def total(self) -> int:
        """All values of the window: listed counts plus ``other`` (the fields are frozen: summed once)."""
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
        return self.slack(category) == 0

    def slack(self, category: str) -> int:
        """How much larger than its listed count (0 when unlisted) ``category``'s true count may be.

        Never more than ``other``: a category's uncounted values are among the values not attributed.
        """
        if category in self.counts:
            if self.slacks is None:
                return min(int(self.error_bound), int(self.other))
            return min(int(self.slacks.get(category, 0)), int(self.other))
        return self.unlisted_bound


@dataclass(frozen=True)
class ContingencyTable:
    """A 2 x k table: reference and current counts per column, the last column possibly :data:`REST`.

    Columns are the categories listed on either side with a positive count. With exact counts on both sides the
    table is exactly the raw data's table. Otherwise each column on each side may hold any count in its interval
    (``slack(category)`` above the listed count, taken from that side's rest, since that is where a sketch's
    uncounted values are), and the table is the one with the smallest chi-square they allow, the rest column
    included (:func:`_closest`): the table closest to "no drift", so count error never creates an alarm. Counts
    with slack 0 never move. ``slack`` is the largest possible raise of a column as a share (0 for exact counts).
    """

    columns: tuple[str, ...]
    reference: np.ndarray
    current: np.ndarray
    slack: float = 0.0
    tail: int = 0

    @classmethod
    def build(
        cls, reference: CategoricalCounts, current: CategoricalCounts, pooled: Collection[str] = ()
    ) -> ContingencyTable:
        """Columns for every category listed on either side (in first-seen order) plus a rest column if needed.

        ``pooled`` names columns to merge into one cell *before* the closest table is sought (their intervals
        add up); with :data:`REST` among them they join the rest column. Pooling after the search would test a
        table that is no longer the closest one (its merged cell can keep a gap the search spread elsewhere).
        """
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
        tail = 0
        if not (reference.exact and current.exact) and keys:
            up = np.array([reference.slack(k) for k in keys], dtype=np.float64)
            down = np.array([current.slack(k) for k in keys], dtype=np.float64)
            # The categories below the sketches' resolution go to the rest column, chosen by the same rule on
            # both sides (see _below_resolution); then every column left keeps its own interval.
            low = _below_resolution(ref, up, n, _resolution(reference), cur, down, m, _resolution(current))
            if low.any():
                tail = int(low.sum())
                ref_rest += float(ref[low].sum())
                cur_rest += float(cur[low].sum())
                keys = [k for k, out in zip(keys, low, strict=True) if not out]
                ref, cur, up, down = ref[~low], cur[~low], up[~low], down[~low]
            merge = np.array([k in pooled for k in keys], dtype=bool)
            if merge.any() and REST in pooled:  # pooled with the rest: their values join it
                ref_rest += float(ref[merge].sum())
                cur_rest += float(cur[merge].sum())
            elif merge.any():  # one cell whose interval is the sum of its columns' intervals
                keys = [k for k, out in zip(keys, merge, strict=True) if not out] + [POOLED]
                ref = np.append(ref[~merge], ref[merge].sum())
                cur = np.append(cur[~merge], cur[merge].sum())
                up = np.append(up[~merge], up[merge].sum())
                down = np.append(down[~merge], down[merge].sum())
                merge = np.zeros(len(keys), dtype=bool)
            keys = [k for k, out in zip(keys, merge, strict=True) if not out]
            ref, cur, up, down = ref[~merge], cur[~merge], up[~merge], down[~merge]
        if keys and not (reference.exact and current.exact):
            # Start from each column's own closest point (raise the side with the smaller share, within its
            # slack, out of its rest), then let the rests take part: the table with the smallest chi-square.
            gap = cur / m - ref / n
            start_ref, _ = _raise(ref, ref_rest, np.maximum(gap, 0.0) * n, up)
            start_cur, _ = _raise(cur, cur_rest, np.maximum(-gap, 0.0) * m, down)
            ref, ref_rest, cur, cur_rest = _closest(
                (ref, ref_rest, up, start_ref - ref), (cur, cur_rest, down, start_cur - cur)
            )
            slack = float(max((up / n).max(initial=0.0), (down / m).max(initial=0.0)))
        ref_rest, cur_rest = max(ref_rest, 0.0), max(cur_rest, 0.0)
        columns = list(keys)
        if ref_rest + cur_rest > 1e-9 * max(n + m, 1.0):
            columns.append(REST)
            ref, cur = np.append(ref, ref_rest), np.append(cur, cur_rest)
        return cls(tuple(columns), ref, cur, slack, tail)


class CategoricalSides:
    """A categorical column's two sides, read once, and their :class:`ContingencyTable`, built once.

    The drift engine makes one per column and hands it to every check of that column (the distribution method
    and the unseen-category test, :meth:`CategoricalMethod.compare_sides`): the sketches are converted once and
    the table, built on first use, is shared, which gives every check exactly what ``compare`` of the two sides
    gives (the sides are frozen and no method changes a table). It belongs to one column of one evaluation.

    Args:
        reference: The reference side: :class:`CategoricalCounts`, a ``CategoricalSketch`` or a mapping.
        current: The current side, likewise.

    Example:
        >>> from otel_mlmon_collector.drift import ChiSquare, UnseenCategories
        >>> sides = CategoricalSides({"a": 500, "b": 500}, {"a": 450, "b": 450, "new": 100})
        >>> ChiSquare().compare_sides(sides).detected, UnseenCategories().compare_sides(sides).score
        (True, 0.1)
        >>> sides.table.columns
        ('a', 'b', 'new')
    """

    __slots__ = ("_table", "current", "reference")

    def __init__(self, reference: Any, current: Any) -> None:
        self.reference = as_counts(reference)
        self.current = as_counts(current)
        self._table: ContingencyTable | None = None

    @property
    def n_reference(self) -> int:
        """All values of the reference side (listed counts plus ``other``)."""
        return self.reference.total

    @property
    def n_current(self) -> int:
        """All values of the current side."""
        return self.current.total

    @property
    def table(self) -> ContingencyTable:
        """``ContingencyTable.build(reference, current)``, built on first use and then kept."""
        table = self._table
        if table is None:
            table = self._table = ContingencyTable.build(self.reference, self.current)
        return table


class CategoricalMethod:
    """Mixin for categorical methods: ``compare`` converts sketches, skips empty sides, builds the table.

    :meth:`compare_sides` takes the two sides already read (:class:`CategoricalSides`), so that several checks
    of one column share the conversion and the table.
    """

    name: ClassVar[str]
    kind: ClassVar[Kind] = "categorical"
    threshold: float
    alpha: float | None = None

    def compare(self, reference: Any, current: Any) -> DriftResult:
        """Compare two :class:`CategoricalCounts` (or two ``CategoricalSketch`` objects, or mappings)."""
        return self.compare_sides(CategoricalSides(reference, current))

    def compare_sides(self, sides: CategoricalSides) -> DriftResult:
        """Compare the two sides of ``sides`` with its shared table: what :meth:`compare` gives for them."""
        ref, cur = sides.reference, sides.current
        n, m = ref.total, cur.total
        if n == 0 or m == 0:
            side = "reference" if n == 0 else "current"
            return skipped_result(self.name, self.threshold, n, m, f"empty {side} window", self.alpha)
        return self._compare(sides.table, reference=ref, current=cur)

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
            details={
                "columns": len(table.columns),
                "count_error_slack": table.slack,
                "below_resolution": table.tail,
                **details,
            },
        )


def _below_resolution(
    ref: np.ndarray,
    up: np.ndarray,
    n: float,
    ref_bound: int,
    cur: np.ndarray,
    down: np.ndarray,
    m: float,
    cur_bound: int,
) -> np.ndarray:
    """Columns whose counts on both sides may lie within the coarser sketch's resolution (they go to the rest).

    A category neither side lists sits in the rest with at most ``ref_bound`` reference and ``cur_bound``
    current values, and *which* categories those are depends on the counts being tested: with an exact current
    window they are the ones the current window lacks, so a rest column of them alone is one-sided (it alarmed
    on ~28 % of unchanged 1 000-level windows). The honest cell is every category that may be that small on
    both sides, by one rule for both: upper count at most ``beta`` of its side's total, ``beta`` the larger
    relative bound. Pooling by a rule symmetric in the two windows is what Cochran pooling by column totals
    does too; the test stays valid and sees everything above the resolution in full.
    """
    beta = max(ref_bound / n if n > 0 else 0.0, cur_bound / m if m > 0 else 0.0)
    if beta <= 0:
        return np.zeros(ref.size, dtype=bool)
    return ((ref + up) <= beta * n + 1e-9) & ((cur + down) <= beta * m + 1e-9)


def _resolution(side: CategoricalCounts) -> int:
    """The count below which ``side`` cannot tell its categories apart: its error bound's share of the unlisted.

    0 for a side without an error bound. A plain top-k list (``other > 0``, ``error_bound == 0``) bounds an
    unlisted category only by ``other`` itself, and ``other`` is a cell of the table under test: choosing the
    tail by it would choose the columns by the very difference being tested. With the "chi2 top-5" simulation
    (8 levels, the third at 15 %, the 3 unlisted ones at 15 % together) the third level kept its own column only
    when a side's count of it topped both ``other`` shares; those tables alarmed on 6.2 % of unchanged windows
    (5.5 % of 20 000 in all at 10 000 rows, where both lists name the same 5 levels and every count is exact). A
    sketch's error bound is set by its budget (``<= count / (K + 1)``), not by the difference between the windows;
    a top-k list's unlisted categories keep their ``[0, other]`` intervals for the closest-table search (which
    can only lower the chi-square), as they did before the tail existed.
    """
    return side.unlisted_bound if side.error_bound > 0 else 0


def _raise(
    counts: np.ndarray, rest: float, wanted: np.ndarray, capacity: np.ndarray
) -> tuple[np.ndarray, float]:
    """Move up to ``rest`` values into the columns, ``wanted`` each (capped by ``capacity``); same fraction if short."""
    if rest <= 0:
        return counts, max(rest, 0.0)
    first = np.minimum(wanted, capacity)
    total = first.sum()
    if total >= rest:
        return counts + first * (rest / total), 0.0
    return counts + first, rest - float(total)


_Side = tuple[np.ndarray, float, np.ndarray, np.ndarray]


def _closest(reference: _Side, current: _Side) -> tuple[np.ndarray, float, np.ndarray, float]:
    """The table within the count intervals with the smallest Pearson chi-square, rests included.

    Each side is ``(lower counts, rest, slack, start)``: column ``j`` may hold ``lower_j + u_j`` with
    ``0 <= u_j <= slack_j``, the ``u_j`` coming out of the rest (which must stay >= 0); ``start`` is a feasible
    ``u`` to start from. ``X^2 = sum_j (m x_j - n y_j)^2 / (n m (x_j + y_j))`` over the columns and the rest
    column is convex in the counts (quadratic over linear), so L-BFGS-B on the box, with a steep penalty on a
    negative rest, finds its minimum. Closing one column's gap with a side's rest shows in the rest column:
    this is what keeps a generous slack from emptying one side's rest into the columns where it is short.
    """
    from scipy import optimize  # collector-side only, where the drift methods already need scipy

    ref, ref_rest, up, ref_start = reference
    cur, cur_rest, down, cur_start = current
    n, m = ref.sum() + ref_rest, cur.sum() + cur_rest
    k = ref.size
    scale = 1.0 / (n * m)
    penalty = 100.0 / min(n, m)

    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        u, v = z[:k], z[k:]
        x = np.append(ref + u, ref_rest - u.sum())
        y = np.append(cur + v, cur_rest - v.sum())
        t = np.maximum(x + y, 1e-9)
        g = m * x - n * y
        value = float((g * g / t).sum()) * scale
        dx = (2.0 * g * m * t - g * g) / (t * t) * scale
        dy = (-2.0 * g * n * t - g * g) / (t * t) * scale
        short_x, short_y = min(x[-1], 0.0), min(y[-1], 0.0)
        value += penalty * (short_x * short_x + short_y * short_y)
        dx[-1] += 2.0 * penalty * short_x
        dy[-1] += 2.0 * penalty * short_y
        return value, np.concatenate([dx[:-1] - dx[-1], dy[:-1] - dy[-1]])

    caps = np.concatenate([up, down])
    start = np.clip(np.concatenate([ref_start, cur_start]), 0.0, caps)
    free = caps > 0  # counts known exactly never move: only the others are variables (an exact side has none)

    def objective_free(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = start.copy()
        z[free] = w
        value, gradient = objective(z)
        return value, gradient[free]

    z = start
    if free.any():
        bounds = np.column_stack([np.zeros(int(free.sum())), caps[free]])
        best = optimize.minimize(
            objective_free,
            start[free],
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 200, "ftol": 1e-7},
        )
        if best.fun <= objective(start)[0]:
            z = start.copy()
            z[free] = best.x
    u, v = z[:k], z[k:]
    # A rest the penalty left slightly negative: take the columns back down in proportion.
    if u.sum() > ref_rest > 0 or (ref_rest <= 0 < u.sum()):
        u = u * (max(ref_rest, 0.0) / u.sum())
    if v.sum() > cur_rest > 0 or (cur_rest <= 0 < v.sum()):
        v = v * (max(cur_rest, 0.0) / v.sum())
    return ref + u, ref_rest - float(u.sum()), cur + v, cur_rest - float(v.sum())


def as_counts(side: Any) -> CategoricalCounts:
    """One side of a categorical comparison as :class:`CategoricalCounts` (a ``CategoricalSketch`` read by
    :meth:`CategoricalCounts.from_sketch`, a mapping of counts, or counts as they are)."""
    if isinstance(side, CategoricalCounts):
        return side
    if hasattr(side, "top") and hasattr(side, "other_count"):
        return CategoricalCounts.from_sketch(side)
    if isinstance(side, Mapping):
        return CategoricalCounts(dict(side))
    raise TypeError(
        f"expected CategoricalCounts, a CategoricalSketch or a mapping, got {type(side).__name__}"
    )
