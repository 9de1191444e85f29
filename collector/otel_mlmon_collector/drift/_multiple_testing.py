"""Correct p-values across the features of one model, so that checking many features does not multiply alarms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from otel_mlmon_collector.drift._base import DriftResult, decide, make_result

__all__ = ["CORRECTIONS", "Correction", "adjust_p_values", "correct"]

Correction = Literal["benjamini-hochberg", "bonferroni", "none"]
CORRECTIONS: tuple[str, ...] = ("benjamini-hochberg", "bonferroni", "none")


def adjust_p_values(p_values: Sequence[float], method: Correction = "benjamini-hochberg") -> np.ndarray:
    """Adjusted p-values: compare each with the same ``alpha`` as the raw ones.

    ``bonferroni``: ``min(1, k p_i)`` — controls the chance of any false alarm among ``k`` features (FWER).
    ``benjamini-hochberg``: ``min_{j >= i} min(1, k p_(j) / j)`` over the sorted p-values — controls the
    expected share of false alarms among the features flagged (FDR), under independence or positive dependence.

    Example:
        >>> adjust_p_values([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
        [0.04, 0.053, 0.053, 0.5]
        >>> adjust_p_values([0.01, 0.04], "bonferroni").tolist()
        [0.02, 0.08]
    """
    p = np.asarray(p_values, dtype=np.float64)
    k = p.size
    if method == "none" or k == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * k, 1.0)
    if method == "benjamini-hochberg":
        order = np.argsort(p, kind="stable")
        scaled = p[order] * k / np.arange(1, k + 1)
        monotone = np.minimum.accumulate(scaled[::-1])[::-1]
        out = np.empty(k)
        out[order] = np.minimum(monotone, 1.0)
        return out
    raise ValueError(f"method must be one of {', '.join(CORRECTIONS)}, got {method!r}")


def correct(results: Sequence[DriftResult], method: Correction = "benjamini-hochberg") -> list[DriftResult]:
    """Adjust the p-values of one model's feature results together and re-decide drift.

    Every result that has a p-value and an ``alpha`` (and was not skipped) is one hypothesis; the others (pure
    distances) pass through unchanged. The adjusted p-value replaces ``p_value``; the raw one moves to
    ``details["p_value_raw"]`` and the correction's name to ``details["correction"]``. Pass the results of one
    model and one window, one result per feature and method.
    """
    tested = [
        i
        for i, r in enumerate(results)
        if r.p_value is not None and r.alpha is not None and r.details.get("skipped") is None
    ]
    out = list(results)
    if not tested or method == "none":
        return out
    adjusted = adjust_p_values([results[i].p_value for i in tested], method).tolist()  # type: ignore[misc]
    hypotheses = len(tested)
    for i, p_adj in zip(tested, adjusted):
        r = results[i]
        # The fields of replace(r, ...) without its per-call introspection nor the frozen __init__ (one call per
        # column and check).
        out[i] = make_result(
            r.method,
            r.score,
            r.threshold,
            decide(r.score, r.threshold, p_adj, r.alpha),
            p_adj,
            r.n_reference,
            r.n_current,
            r.alpha,
            {**r.details, "p_value_raw": r.p_value, "correction": method, "hypotheses": hypotheses},
        )
    return out
