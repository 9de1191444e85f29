"""A window's performance against the reference profile's, both ways: degraded, improved, or within the band.

With the profile's spread over reference chunks (``Profile.from_data(..., labels=...)``), the band around the
reference value is ``k σ`` of the chunk metric scaled to the window's labelled rows, ``k σ_chunk ·
sqrt(chunk_rows / n)`` (sampling spread shrinks as ``1/sqrt(n)``; NannyML draws ``mean ± 3σ`` of its chunks). Without
a spread the documented fixed tolerances apply. Above the band is an improvement for accuracy-like metrics and a
degradation for error metrics, and the other way round below it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEGRADED",
    "HIGHER_IS_BETTER",
    "IMPROVED",
    "LOWER_IS_BETTER",
    "WITHIN",
    "PerformanceCheck",
    "compare_with_reference",
]

#: Metrics in [0, 1] where a drop is a degradation; compared with an absolute tolerance without a spread.
HIGHER_IS_BETTER = frozenset({"accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"})
#: Error metrics where a rise is a degradation; compared with a relative tolerance without a spread.
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})

DEGRADED, WITHIN, IMPROVED = "degraded", "within", "improved"


@dataclass(frozen=True)
class PerformanceCheck:
    """One metric of one window compared with the reference.

    Attributes:
        metric: Short metric name (``accuracy``, ``rmse``...).
        reference / current: The two values.
        degradation: How much worse the current value is: ``reference − current`` for higher-is-better metrics,
            ``(current − reference) / reference`` for error metrics (negative: better than the reference).
        tolerance: The degradation allowed before the check fails (in the units of ``degradation``).
        degraded: Whether the check failed (``False`` when skipped).
        n: Labelled rows behind the current value.
        skipped: Why the check was not made (too few rows), or ``""``.
        improved: Whether the window is better than the reference beyond the band (``False`` when skipped).
        lower / upper: The band in the metric's units: outside it the window is degraded or improved.
        basis: ``"spread"`` (band from the reference chunks) or ``"tolerance"`` (fixed tolerances).
    """

    metric: str
    reference: float
    current: float
    degradation: float
    tolerance: float
    degraded: bool
    n: int
    skipped: str = ""
    improved: bool = False
    lower: float = math.nan
    upper: float = math.nan
    basis: str = "tolerance"

    @property
    def state(self) -> str:
        """``degraded``, ``improved`` or ``within`` (also for a skipped check)."""
        return DEGRADED if self.degraded else IMPROVED if self.improved else WITHIN


def compare_with_reference(
    current: Mapping[str, float],
    reference: Mapping[str, float],
    n: int,
    *,
    tolerance: float = 0.05,
    relative_tolerance: float = 0.10,
    min_samples: int = 100,
    z: float = 2.326,
    spread: Mapping[str, Mapping[str, Any]] | None = None,
    sigmas: float = 3.0,
) -> list[PerformanceCheck]:
    """Compare a window's headline metrics with the reference's, metric by metric (only those both sides have).

    Rules (documented defaults):

    * with ``spread[metric]`` (``std`` and ``chunk_rows`` over reference chunks): the band is ``reference ±
      sigmas · std · sqrt(chunk_rows / n)``; below it a higher-is-better metric is degraded and above it
      improved (the reverse for error metrics);
    * otherwise, higher-is-better metrics in [0, 1] (:data:`HIGHER_IS_BETTER`): degraded when ``reference −
      current > tolerance`` (0.05, absolute), improved when ``current − reference > tolerance``; for
      ``accuracy`` the change must also be significant: ``|reference − current| / sqrt(reference (1 −
      reference) / n) > z`` (one-sided binomial test, ``z`` = 2.326 for 1 %), so small windows do not flap;
    * error metrics (:data:`LOWER_IS_BETTER`) without a spread: degraded when ``(current − reference) /
      reference > relative_tolerance`` (0.10, i.e. 10 % worse), improved when 10 % better;
    * windows with fewer than ``min_samples`` labelled rows (100) are not judged (``skipped``).

    Raises:
        ValueError: a negative tolerance or ``sigmas``, or ``min_samples`` < 1.
    """
    if tolerance < 0 or relative_tolerance < 0 or sigmas < 0:
        raise ValueError(
            f"tolerance, relative_tolerance and sigmas must be >= 0, got {tolerance}, {relative_tolerance}, "
            f"{sigmas}"
        )
    if min_samples < 1:
        raise ValueError(f"min_samples must be >= 1, got {min_samples}")
    checks = []
    for metric in sorted(set(current) & set(reference)):
        ref, cur = float(reference[metric]), float(current[metric])
        higher = metric in HIGHER_IS_BETTER
        if not higher and metric not in LOWER_IS_BETTER:
            continue
        band = _spread_band(spread, metric, n, sigmas)
        if higher:
            degradation = ref - cur
            allowed = band if band is not None else tolerance
            lower, upper = ref - allowed, ref + allowed
        else:
            degradation = (cur - ref) / ref if ref > 0 else (math.inf if cur > 0 else 0.0)
            if band is not None:
                allowed = band / ref if ref > 0 else math.inf
                lower, upper = ref - band, ref + band
            else:
                allowed = relative_tolerance
                lower, upper = ref * (1 - relative_tolerance), ref * (1 + relative_tolerance)
        basis = "spread" if band is not None else "tolerance"
        if n < min_samples:
            checks.append(
                PerformanceCheck(
                    metric,
                    ref,
                    cur,
                    degradation,
                    allowed,
                    False,
                    n,
                    "too few labelled rows",
                    False,
                    lower,
                    upper,
                    basis,
                )
            )
            continue
        degraded, improved = degradation > allowed, -degradation > allowed
        if band is None and metric == "accuracy" and 0 < ref < 1 and (degraded or improved):
            significant = abs(ref - cur) / math.sqrt(ref * (1 - ref) / n) > z
            degraded, improved = degraded and significant, improved and significant
        checks.append(
            PerformanceCheck(
                metric, ref, cur, degradation, allowed, degraded, n, "", improved, lower, upper, basis
            )
        )
    return checks


def _spread_band(
    spread: Mapping[str, Mapping[str, Any]] | None, metric: str, n: int, sigmas: float
) -> float | None:
    """``sigmas · std · sqrt(chunk_rows / n)`` from a profile's spread entry, or None without a usable one."""
    entry = (spread or {}).get(metric)
    if not isinstance(entry, Mapping) or n < 1:
        return None
    try:
        std, rows = float(entry["std"]), float(entry["chunk_rows"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(std) and std >= 0 and math.isfinite(rows) and rows > 0):
        return None
    return sigmas * std * math.sqrt(rows / n)
