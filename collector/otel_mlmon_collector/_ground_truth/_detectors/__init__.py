"""Sequential change detectors for the per-prediction error stream, one per module behind one interface."""

from __future__ import annotations

from collections.abc import Callable

from otel_mlmon_collector._ground_truth._detectors.adwin import ADWIN
from otel_mlmon_collector._ground_truth._detectors.base import ChangeDetector
from otel_mlmon_collector._ground_truth._detectors.ddm import DDM
from otel_mlmon_collector._ground_truth._detectors.page_hinkley import PageHinkley

__all__ = ["ADWIN", "DDM", "DETECTORS", "ChangeDetector", "PageHinkley", "make_detector"]

#: Detector classes by name (``adwin``, ``page_hinkley``, ``ddm``).
DETECTORS: dict[str, Callable[[], ChangeDetector]] = {"adwin": ADWIN, "page_hinkley": PageHinkley, "ddm": DDM}


def make_detector(name: str, **params: float | int | str) -> ChangeDetector:
    """Build a detector by name with its defaults, or the given parameters.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or a bad parameter.
    """
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise ValueError(f"detector must be one of {sorted(DETECTORS)}, got {name!r}") from None
    return cls(**params)  # type: ignore[call-arg]
