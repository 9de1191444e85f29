"""Concept drift: windowed performance against the reference profile's, and a change detector on the error stream."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_mlmon_collector.ground_truth._detectors import ChangeDetector, make_detector
from otel_mlmon_collector.ground_truth._metrics import WindowPerformance, as_class_label
from otel_mlmon_collector.ground_truth._records import JoinedRow

__all__ = [
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "ConceptDriftChange",
    "ConceptDriftMonitor",
    "PerformanceCheck",
    "compare_with_reference",
    "prediction_error",
]

#: Metrics in [0, 1] where a drop is a degradation; compared with an absolute tolerance.
HIGHER_IS_BETTER = frozenset({"accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"})
#: Error metrics where a rise is a degradation; compared with a relative tolerance.
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})

SeriesKey = tuple[str, str, str]


@dataclass(frozen=True)
class PerformanceCheck:
    """One metric of one window compared with the reference.

    Attributes:
        metric: Short metric name (``accuracy``, ``rmse``...).
        reference / current: The two values.
        degradation: How much worse the current value is: ``reference − current`` for higher-is-better metrics,
            ``(current − reference) / reference`` for error metrics (negative: better than the reference).
        tolerance: The degradation allowed before the check fails.
        degraded: Whether the check failed (``False`` when skipped).
        n: Labelled rows behind the current value.
        skipped: Why the check was not made (too few rows), or ``""``.
    """

    metric: str
    reference: float
    current: float
    degradation: float
    tolerance: float
    degraded: bool
    n: int
    skipped: str = ""


def compare_with_reference(
    current: Mapping[str, float],
    reference: Mapping[str, float],
    n: int,
    *,
    tolerance: float = 0.05,
    relative_tolerance: float = 0.10,
    min_samples: int = 100,
    z: float = 2.326,
) -> list[PerformanceCheck]:
    """Compare a window's headline metrics with the reference's, metric by metric (only those both sides have).

    Rules (documented defaults):

    * higher-is-better metrics in [0, 1] (:data:`HIGHER_IS_BETTER`): degraded when
      ``reference − current > tolerance`` (0.05, absolute). For ``accuracy`` the drop must also be significant:
      ``(reference − current) / sqrt(reference (1 − reference) / n) > z`` (one-sided binomial test, ``z`` =
      2.326 for 1 %), so small windows do not flap;
    * error metrics (:data:`LOWER_IS_BETTER`): degraded when ``(current − reference) / reference >
      relative_tolerance`` (0.10, i.e. 10 % worse);
    * windows with fewer than ``min_samples`` labelled rows (100) are not judged (``skipped``).

    Raises:
        ValueError: a negative tolerance or ``min_samples`` < 1.
    """
    if tolerance < 0 or relative_tolerance < 0:
        raise ValueError(
            f"tolerance and relative_tolerance must be >= 0, got {tolerance}, {relative_tolerance}"
        )
    if min_samples < 1:
        raise ValueError(f"min_samples must be >= 1, got {min_samples}")
    checks = []
    for metric in sorted(set(current) & set(reference)):
        ref, cur = float(reference[metric]), float(current[metric])
        if metric in HIGHER_IS_BETTER:
            degradation, allowed = ref - cur, tolerance
        elif metric in LOWER_IS_BETTER:
            degradation = (cur - ref) / ref if ref > 0 else (math.inf if cur > 0 else 0.0)
            allowed = relative_tolerance
        else:
            continue
        if n < min_samples:
            checks.append(
                PerformanceCheck(metric, ref, cur, degradation, allowed, False, n, "too few labelled rows")
            )
            continue
        degraded = degradation > allowed
        if degraded and metric == "accuracy" and 0 < ref < 1:
            degraded = degradation / math.sqrt(ref * (1 - ref) / n) > z
        checks.append(PerformanceCheck(metric, ref, cur, degradation, allowed, degraded, n))
    return checks


def prediction_error(row: JoinedRow, scale: float = 1.0) -> float | None:
    """The row's error for the change detector: 0/1 for a class label, ``|prediction − truth| / scale`` for a
    number; ``None`` when a numeric prediction has a non-numeric label."""
    predicted, truth = row.prediction.value, row.label.value
    if isinstance(predicted, str):
        return 0.0 if as_class_label(truth) == predicted else 1.0
    if isinstance(truth, str):
        try:
            truth = float(truth)
        except ValueError:
            return None
    return abs(float(predicted) - float(truth)) / scale


@dataclass(frozen=True)
class ConceptDriftChange:
    """A change of concept-drift state for one (model, version, output): the performance processor turns it into
    the ``ml.concept_drift.detected`` gauge (1 / 0) and an ``ml.concept_drift.changed`` event.

    Attributes:
        model / version / output: The series.
        source: ``"detector"`` (sequential detector on the error stream) or ``"reference"`` (a windowed metric
            against the reference profile).
        method: The detector's name (``adwin``...) or the metric's (``accuracy``...).
        detected: ``True`` when drift starts, ``False`` when it clears.
        time_unix_nano: Prediction time of the row that triggered it, or the window's start.
        details: Numbers behind the decision (error estimate, rows seen, reference and current value...).
    """

    model: str
    version: str
    output: str
    source: str
    method: str
    detected: bool
    time_unix_nano: int
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def series_key(self) -> SeriesKey:
        """``(model, version, output)``."""
        return (self.model, self.version, self.output)


class ConceptDriftMonitor:
    """Runs one change detector per (model, version, output) on the joined error stream and compares windowed
    performance with the reference, reporting state changes.

    Detector source: each batch of joined rows is ordered by prediction time and fed as errors (0/1 for
    classification, ``|error| / regression_scale`` for regression) to the series' detector. Detectors report
    changes in either direction, so each detection is given a direction by comparing the mean error of the last
    ``direction_window`` rows with that of the ``10 × direction_window`` rows before them; a detection with
    fewer than ``direction_window`` rows of history has no baseline and is ignored. A degradation turns the
    series' state on, a recovery turns it off; with ``clear_after`` set, the state also clears after that many
    rows without any detection.
    The detector tells *when* the error changed; whether a window is *still* below the reference is the
    reference check's job.

    Reference source: :meth:`check_windows` applies :func:`compare_with_reference` to the newest window of each
    series; a metric's state changes when its check flips (older windows recomputed later do not move it).

    Args:
        detector: Detector name (``adwin``, ``page_hinkley``, ``ddm``) or a factory returning a fresh detector.
            A detector with ``binary_input = True`` (DDM) only reads classification rows.
        references: Reference performance by ``(model, version)``; ``(model, "")`` applies to every version.
        regression_scale: Divisor of absolute regression errors (the detectors' bounds assume values in [0, 1]).
        clear_after: Rows without detection after which a detector state clears (``None``: only a detected
            improvement clears it).
        direction_window: Recent rows whose mean error decides whether a detection is a degradation.
        tolerance / relative_tolerance / min_samples / z: Passed to :func:`compare_with_reference`.

    Example:
        >>> from otel_mlmon_collector.ground_truth._concept_drift import ConceptDriftMonitor
        >>> from otel_mlmon_collector.ground_truth._records import GroundTruthRecord, JoinedRow, PredictionRecord
        >>> import random
        >>> rng = random.Random(1)
        >>> def row(i, wrong):
        ...     p = PredictionRecord("m", "1", "prediction", str(i), i, "a")
        ...     return JoinedRow(p, GroundTruthRecord("m", "", "prediction", str(i), i, "b" if wrong else "a"))
        >>> monitor = ConceptDriftMonitor("adwin")
        >>> monitor.update(row(i, rng.random() < 0.1) for i in range(3000))
        []
        >>> [(c.method, c.detected, c.time_unix_nano) for c in monitor.update(
        ...     row(i, rng.random() < 0.6) for i in range(3000, 4000))]
        [('adwin', True, 3071)]
    """

    def __init__(
        self,
        detector: str | Callable[[], ChangeDetector] = "adwin",
        *,
        references: Mapping[tuple[str, str], Mapping[str, float]] | None = None,
        regression_scale: float = 1.0,
        clear_after: int | None = None,
        direction_window: int = 100,
        tolerance: float = 0.05,
        relative_tolerance: float = 0.10,
        min_samples: int = 100,
        z: float = 2.326,
    ) -> None:
        if isinstance(detector, str):
            make_detector(detector)  # validates the name now
            name = detector
            self._factory: Callable[[], ChangeDetector] = lambda: make_detector(name)
        else:
            self._factory = detector
        if not regression_scale > 0:
            raise ValueError(f"regression_scale must be > 0, got {regression_scale}")
        if clear_after is not None and clear_after < 1:
            raise ValueError(f"clear_after must be >= 1 or None, got {clear_after}")
        if direction_window < 1:
            raise ValueError(f"direction_window must be >= 1, got {direction_window}")
        compare_with_reference(
            {}, {}, 0, tolerance=tolerance, relative_tolerance=relative_tolerance, min_samples=min_samples
        )
        self.detector = detector
        self.references: dict[tuple[str, str], Mapping[str, float]] = dict(references or {})
        self.regression_scale = regression_scale
        self.clear_after = clear_after
        self.direction_window = direction_window
        self.tolerance = tolerance
        self.relative_tolerance = relative_tolerance
        self.min_samples = min_samples
        self.z = z
        self._detectors: dict[SeriesKey, ChangeDetector] = {}
        self._recent: dict[SeriesKey, deque[float]] = {}  # the last 11 × direction_window errors per series
        self._quiet_rows: dict[SeriesKey, int] = {}  # rows since the last detection, for series in drift
        self._rows_seen: dict[SeriesKey, int] = {}
        self._degraded: dict[tuple[SeriesKey, str], bool] = {}
        self._newest_window: dict[SeriesKey, int] = {}

    def set_reference(self, model: str, version: str, performance: Mapping[str, float]) -> None:
        """Set the reference performance of a model version (``version=""``: every version of the model)."""
        self.references[(model, version)] = dict(performance)

    def update(self, rows: Iterable[JoinedRow]) -> list[ConceptDriftChange]:
        """Feed joined rows (any order; sorted by prediction time here) to the detectors; return state changes."""
        changes = []
        for row in sorted(rows, key=lambda r: r.prediction_time_unix_nano):
            error = prediction_error(row, self.regression_scale)
            if error is None:
                continue
            key = row.series_key
            detector = self._detectors.get(key)
            if detector is None:
                detector = self._detectors[key] = self._factory()
            if getattr(detector, "binary_input", False) and not isinstance(row.prediction.value, str):
                continue  # a detector of error bits cannot read regression errors
            detector.update(error)
            self._rows_seen[key] = self._rows_seen.get(key, 0) + 1
            recent = self._recent.get(key)
            if recent is None:
                recent = self._recent[key] = deque(maxlen=11 * self.direction_window)
            recent.append(error)
            if detector.drift_detected:
                before, after = self._direction(recent)
                if math.isnan(before):
                    pass  # no baseline to call it a degradation or a recovery
                elif after > before:
                    if key not in self._quiet_rows:
                        changes.append(self._change(key, True, row, before, after))
                    self._quiet_rows[key] = 0
                elif key in self._quiet_rows:
                    del self._quiet_rows[key]
                    changes.append(self._change(key, False, row, before, after))
            elif key in self._quiet_rows:
                self._quiet_rows[key] += 1
                if self.clear_after is not None and self._quiet_rows[key] >= self.clear_after:
                    del self._quiet_rows[key]
                    changes.append(self._change(key, False, row))
        return changes

    def check_windows(
        self, windows: Iterable[WindowPerformance], now_unix_nano: int | None = None
    ) -> list[ConceptDriftChange]:
        """Compare each series' newest window with its reference; return metric states that flipped.

        Windows that start after ``now_unix_nano`` (default: the wall clock) come from a client clock in the
        future and are ignored, so that one bad timestamp cannot freeze the series' state.
        """
        now = time.time_ns() if now_unix_nano is None else int(now_unix_nano)
        changes = []
        for window in sorted(windows, key=lambda w: w.key[3]):
            model, version, output, start = window.key
            key = (model, version, output)
            if start > now or start < self._newest_window.get(key, start):
                continue
            self._newest_window[key] = start
            reference = self.references.get((model, version)) or self.references.get((model, ""))
            if reference is None:
                continue
            checks = compare_with_reference(
                window.summary(),
                reference,
                window.n_labelled,
                tolerance=self.tolerance,
                relative_tolerance=self.relative_tolerance,
                min_samples=self.min_samples,
                z=self.z,
            )
            for check in checks:
                if check.skipped:
                    continue
                state_key = (key, check.metric)
                if self._degraded.get(state_key, False) != check.degraded:
                    self._degraded[state_key] = check.degraded
                    changes.append(
                        ConceptDriftChange(
                            model,
                            version,
                            output,
                            "reference",
                            check.metric,
                            check.degraded,
                            start,
                            {
                                "reference": check.reference,
                                "current": check.current,
                                "degradation": check.degradation,
                                "tolerance": check.tolerance,
                                "n": check.n,
                            },
                        )
                    )
        return changes

    def state(self) -> dict[SeriesKey, bool]:
        """Current concept-drift state per series (detector or any reference metric in drift): the gauge value."""
        keys = set(self._detectors) | {k for k, _ in self._degraded}
        return {
            k: k in self._quiet_rows or any(v for (s, _), v in self._degraded.items() if s == k)
            for k in sorted(keys)
        }

    def _direction(self, recent: deque[float]) -> tuple[float, float]:
        """Mean error before and over the last ``direction_window`` rows (``nan`` before: no history)."""
        values = list(recent)
        last = values[-self.direction_window :]
        earlier = values[: -self.direction_window]
        before = sum(earlier) / len(earlier) if len(earlier) >= self.direction_window else math.nan
        return before, sum(last) / len(last)

    def _change(
        self,
        key: SeriesKey,
        detected: bool,
        row: JoinedRow,
        before: float = math.nan,
        after: float = math.nan,
    ) -> ConceptDriftChange:
        detector = self._detectors[key]
        details: dict[str, Any] = {"rows_seen": self._rows_seen[key]}
        if not math.isnan(after):
            details["error_before"] = before
            details["error_after"] = after
            details["reason"] = "degradation" if detected else "recovery"
        else:
            details["reason"] = "quiet"
        name = getattr(detector, "name", type(detector).__name__)
        return ConceptDriftChange(*key, "detector", name, detected, row.prediction_time_unix_nano, details)
