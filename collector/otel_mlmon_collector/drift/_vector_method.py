"""What the vector drift methods share: their parameters and checks, the common preamble of a comparison (both
sides non-empty and from the same projection set; for the tests of the projected means, known means and the
covariance they need), and the shape of their result."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from otel_mlmon_collector.drift._base import DriftResult, decide, skipped_result
from otel_mlmon_collector.drift._vectors import VectorColumn

__all__ = ["MeanShiftMethod", "VectorMethod", "mean_difference"]

#: What :meth:`VectorMethod._test` returns: a reason to skip, or the score, the p-value and the details.
Outcome = str | tuple[float, float | None, dict[str, Any]]


@dataclass(frozen=True)
class VectorMethod:
    """Base of the vector drift methods (``kind = "vector"``): ``alpha`` and ``threshold``, checked alike.

    A subclass names itself (``name``), says how many reference rows it needs (``min_reference``) and the
    largest threshold it accepts (``max_threshold``), and implements :meth:`_test`; :meth:`compare` skips empty
    windows and sides from different projection sets before calling it.
    """

    name: ClassVar[str]
    kind: ClassVar[str] = "vector"
    #: Fewest reference rows a comparison needs.
    min_reference: ClassVar[int] = 2
    #: Largest threshold accepted (the score's upper bound; any finite value by default).
    max_threshold: ClassVar[float] = sys.float_info.max
    alpha: float | None = 0.05
    threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.alpha is not None and not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1) or None, got {self.alpha}")
        if not 0 <= self.threshold <= self.max_threshold:
            bounds = ">= 0" if self.max_threshold > 1 else f"in [0, {self.max_threshold:g}]"
            raise ValueError(f"threshold must be {bounds}, got {self.threshold}")

    def compare(self, reference: VectorColumn, current: VectorColumn) -> DriftResult:
        n, m = reference.count, current.count
        if n < self.min_reference or m == 0 or reference.k != current.k:
            reason = "empty window" if reference.k == current.k else "different projection sets"
            return self._skipped(n, m, reason)
        outcome = self._test(reference, current)
        if isinstance(outcome, str):
            return self._skipped(n, m, outcome)
        score, p, details = outcome
        return self._result(score, p, n, m, details)

    def _test(self, reference: VectorColumn, current: VectorColumn) -> Outcome:
        """The test itself, on two non-empty sides of the same projection set."""
        raise NotImplementedError

    def _skipped(self, n: int, m: int, reason: str) -> DriftResult:
        return skipped_result(self.name, self.threshold, n, m, reason, alpha=self.alpha)

    def _result(self, score: float, p: float | None, n: int, m: int, details: dict[str, Any]) -> DriftResult:
        return DriftResult(
            method=self.name,
            score=score,
            threshold=self.threshold,
            detected=decide(score, self.threshold, p, self.alpha),
            p_value=p,
            n_reference=n,
            n_current=m,
            alpha=self.alpha,
            details=details,
        )


@dataclass(frozen=True)
class MeanShiftMethod(VectorMethod):
    """Base of the tests of the projected means (centroid, mean distance): the rest of their common preamble.

    :meth:`_test` skips a reference without a covariance when the subclass needs one (``needs_covariance``; this
    is checked first), then sides where a projection's mean is unknown (a projection without rows), and hands
    the difference of the means to :meth:`_test_shift`.
    """

    #: Whether the test is calibrated by the reference covariance alone (no fallback on the histograms).
    needs_covariance: ClassVar[bool] = False

    def _test(self, reference: VectorColumn, current: VectorColumn) -> Outcome:
        if self.needs_covariance and reference.covariance is None:
            return "no reference covariance"
        diff = mean_difference(reference, current)
        if diff is None:
            return "unknown means"
        return self._test_shift(reference, current, diff)

    def _test_shift(self, reference: VectorColumn, current: VectorColumn, diff: np.ndarray) -> Outcome:
        """The test itself, given ``diff``, the current minus the reference mean of each projection (finite)."""
        raise NotImplementedError


def mean_difference(reference: VectorColumn, current: VectorColumn) -> np.ndarray | None:
    """Current minus reference mean of each projection; ``None`` when a mean is unknown (not finite)."""
    diff = current.means() - reference.means()
    return diff if np.isfinite(diff).all() else None
