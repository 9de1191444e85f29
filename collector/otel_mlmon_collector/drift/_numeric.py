"""Shared plumbing of the numeric methods: accept histograms or a ready Binned, skip empty sides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from otel_mlmon_collector.drift._base import DriftResult, Kind, skipped_result
from otel_mlmon_collector.drift._binning import Binned, align, align_many

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

    def compare_many(self, pairs: Sequence[Any]) -> list[DriftResult]:
        """Compare many features at once: each item is a :class:`Binned` or a ``(reference, current)`` pair.

        Gives the same results as calling :meth:`compare` on each item; KS and Wasserstein compute all
        features in one vectorised pass (padded 2-D arrays), which is several times faster for many features.
        """
        # Histogram pairs are aligned together, in one pass (align_many), ready Binned taken as they are.
        raw = [i for i, p in enumerate(pairs) if not isinstance(p, Binned)]
        binneds = list(pairs)
        for i, b in zip(raw, align_many([pairs[i] for i in raw])):
            binneds[i] = b
        results: list[DriftResult | None] = [None] * len(binneds)
        ready = []
        for i, b in enumerate(binneds):
            if b.n_reference == 0 or b.n_current == 0:
                results[i] = self.compare_binned(b)
            else:
                ready.append(i)
        if ready:
            for i, result in zip(ready, self._compare_batch([binneds[i] for i in ready])):
                results[i] = result
        return results  # type: ignore[return-value]

    def _compare(self, binned: Binned) -> DriftResult:
        raise NotImplementedError

    def _compare_batch(self, binneds: list[Binned]) -> list[DriftResult]:
        return [self._compare(b) for b in binneds]
