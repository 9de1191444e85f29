"""Shared plumbing of the numeric methods: accept histograms or a ready Binned, skip empty sides."""

from __future__ import annotations

from typing import Any, ClassVar

from otel_mlmon_collector.drift.base import DriftResult, Kind, skipped_result
from otel_mlmon_collector.drift.binning import Binned, align

__all__ = ["NumericMethod"]


class NumericMethod:
    """Mixin for numeric methods: ``compare`` aligns two histograms, ``compare_binned`` does the work."""

    name: ClassVar[str]
    kind: ClassVar[Kind] = "numeric"
    threshold: float
    alpha: float | None = None

    def compare(self, reference: Any, current: Any = None) -> DriftResult:
        """Compare two exponential histograms, or one :class:`Binned` passed alone."""
        if isinstance(reference, Binned):
            if current is not None:
                raise ValueError("pass a Binned alone, or two histograms")
            return self.compare_binned(reference)
        return self.compare_binned(align(reference, current))

    def compare_binned(self, binned: Binned) -> DriftResult:
        """Compare the reference and current counts of ``binned``."""
        n, m = binned.n_reference, binned.n_current
        if n == 0 or m == 0:
            side = "reference" if n == 0 else "current"
            return skipped_result(self.name, self.threshold, n, m, f"empty {side} window", self.alpha)
        return self._compare(binned)

    def _compare(self, binned: Binned) -> DriftResult:
        raise NotImplementedError
