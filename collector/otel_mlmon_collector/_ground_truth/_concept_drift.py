"""Concept drift: windowed performance against the reference profile's, and a change detector on the error stream."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_mlmon_collector._ground_truth._detectors import ChangeDetector, make_detector
from otel_mlmon_collector._ground_truth._metrics import WindowPerformance, as_class_label
from otel_mlmon_collector._ground_truth._records import JoinedRow
from otel_mlmon_collector._ground_truth._reference_check import (
    DEGRADED,
    HIGHER_IS_BETTER,
    IMPROVED,
    LOWER_IS_BETTER,
    WITHIN,
    PerformanceCheck,
    compare_with_reference,
)

__all__ = [
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "ConceptDriftChange",
    "ConceptDriftMonitor",
    "PerformanceCheck",
    "compare_with_reference",
    "prediction_error",
]

SeriesKey = tuple[str, str, str]
#: A reference: ``(performance, spread)`` as a profile stores them.
ReferencePerformance = tuple[Mapping[str, float], Mapping[str, Mapping[str, Any]]]


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
        direction: ``degradation`` (``detected``), ``recovery`` (back from a degradation), ``improvement``
            (better than before or than the reference's band: flagged, never counted as drift) or ``normal``
            (back inside the reference's band from an improvement).
    """

    model: str
    version: str
    output: str
    source: str
    method: str
    detected: bool
    time_unix_nano: int
    details: Mapping[str, Any] = field(default_factory=dict)
    direction: str = ""

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
        reference_source: ``f(model, version) -> (performance, spread) | None``, asked when no reference was set
            explicitly (the collector passes its profile store: references follow the profiles it loads).
        regression_scale: Divisor of absolute regression errors (the detectors' bounds assume values in [0, 1]);
            default the reference MAE when the profile has one, else 1.
        clear_after: Rows without detection after which a detector state clears (``None``: only a detected
            improvement clears it).
        direction_window: Recent rows whose mean error decides whether a detection is a degradation.
        tolerance / relative_tolerance / min_samples / z / sigmas: Passed to :func:`compare_with_reference`.
        models: Per-model overrides of ``regression_scale``, ``tolerance``, ``relative_tolerance``,
            ``min_samples``, ``z``, ``sigmas`` and ``clear_after`` (``{"price": {"regression_scale": 40}}``).

    A detection of a *lower* error while the series is not in drift is reported as an ``improvement`` change
    (``detected=False``); the reference check reports windows above the band as improvements too. Neither turns
    the drift state on.

    Example:
        >>> from otel_mlmon_collector._ground_truth._concept_drift import ConceptDriftMonitor
        >>> from otel_mlmon_collector._ground_truth._records import GroundTruthRecord, JoinedRow, PredictionRecord
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
        reference_source: Callable[[str, str], ReferencePerformance | None] | None = None,
        regression_scale: float | None = None,
        clear_after: int | None = None,
        direction_window: int = 100,
        tolerance: float = 0.05,
        relative_tolerance: float = 0.10,
        min_samples: int = 100,
        z: float = 2.326,
        sigmas: float = 3.0,
        models: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        if isinstance(detector, str):
            make_detector(detector)  # validates the name now
            name = detector
            self._factory: Callable[[], ChangeDetector] = lambda: make_detector(name)
        else:
            self._factory = detector
        if direction_window < 1:
            raise ValueError(f"direction_window must be >= 1, got {direction_window}")
        self.detector = detector
        self.references: dict[tuple[str, str], Mapping[str, float]] = dict(references or {})
        self.spreads: dict[tuple[str, str], Mapping[str, Mapping[str, Any]]] = {}
        self.reference_source = reference_source
        self.regression_scale = regression_scale
        self.clear_after = clear_after
        self.direction_window = direction_window
        self.tolerance = tolerance
        self.relative_tolerance = relative_tolerance
        self.min_samples = min_samples
        self.z = z
        self.sigmas = sigmas
        self.models = {str(m): dict(o) for m, o in (models or {}).items()}
        for model in [None, *self.models]:
            self._validate(model)
        self._detectors: dict[SeriesKey, ChangeDetector] = {}
        self._recent: dict[SeriesKey, deque[float]] = {}  # the last 11 × direction_window errors per series
        self._quiet_rows: dict[SeriesKey, int] = {}  # rows since the last detection, for series in drift
        self._rows_seen: dict[SeriesKey, int] = {}
        self._improved: set[SeriesKey] = set()  # series whose last detector news was an improvement
        self._settled_at: dict[
            SeriesKey, int
        ] = {}  # rows seen when a recovery's baseline holds no drift rows
        self._states: dict[
            tuple[SeriesKey, str], str
        ] = {}  # (series, metric) -> degraded / within / improved
        self._newest_window: dict[SeriesKey, int] = {}
        self._last_checks: dict[SeriesKey, tuple[int, list[PerformanceCheck]]] = {}

    _OPTIONS = (
        "regression_scale",
        "tolerance",
        "relative_tolerance",
        "min_samples",
        "z",
        "sigmas",
        "clear_after",
    )

    def option(self, model: str, name: str) -> Any:
        """The value of a monitor option for ``model``: its per-model override, else the monitor-wide one."""
        overrides = self.models.get(model)
        if overrides is not None and name in overrides:
            return overrides[name]
        return getattr(self, name)

    def _validate(self, model: str | None) -> None:
        get = (lambda name: getattr(self, name)) if model is None else (lambda name: self.option(model, name))
        where = "" if model is None else f"models.{model}."
        if model is not None:
            unknown = sorted(set(self.models[model]) - set(self._OPTIONS))
            if unknown:
                raise ValueError(
                    f"{where}{unknown[0]}: unknown option (expected one of {', '.join(self._OPTIONS)})"
                )
        scale = get("regression_scale")
        if scale is not None and not scale > 0:
            raise ValueError(f"{where}regression_scale must be > 0, got {scale}")
        clear_after = get("clear_after")
        if clear_after is not None and clear_after < 1:
            raise ValueError(f"{where}clear_after must be >= 1 or None, got {clear_after}")
        compare_with_reference(
            {},
            {},
            0,
            tolerance=get("tolerance"),
            relative_tolerance=get("relative_tolerance"),
            min_samples=get("min_samples"),
            sigmas=get("sigmas"),
        )

    def set_reference(
        self,
        model: str,
        version: str,
        performance: Mapping[str, float],
        spread: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Set the reference performance of a model version (``version=""``: every version of the model), and
        optionally its spread over reference chunks (``Profile.performance_spread``)."""
        self.references[(model, version)] = dict(performance)
        self.spreads[(model, version)] = dict(spread or {})

    def reference(self, model: str, version: str) -> ReferencePerformance | None:
        """``(performance, spread)`` for a model version: set explicitly, else from ``reference_source``."""
        for key in ((model, version), (model, "")):
            if key in self.references:
                return self.references[key], self.spreads.get(key, {})
        if self.reference_source is not None:
            try:
                found = self.reference_source(model, version)
            except Exception:  # noqa: BLE001 - a broken reference store must not stop the evaluation
                return None
            if found is not None and found[0]:
                return found
        return None

    def scale(self, model: str, version: str) -> float:
        """The divisor of the model's absolute regression errors: configured, else the reference MAE, else 1."""
        configured = self.option(model, "regression_scale")
        if configured is not None:
            return float(configured)
        reference = self.reference(model, version)
        mae = reference[0].get("mae") if reference is not None else None
        return float(mae) if mae is not None and mae > 0 else 1.0

    def update(self, rows: Iterable[JoinedRow]) -> list[ConceptDriftChange]:
        """Feed joined rows (any order; sorted by prediction time here) to the detectors; return state changes."""
        changes = []
        scales: dict[tuple[str, str], float] = {}
        for row in sorted(rows, key=lambda r: r.prediction_time_unix_nano):
            key = row.series_key
            model_version = (key[0], key[1])
            scale = scales.get(model_version)
            if scale is None:
                scale = scales[model_version] = self.scale(*model_version)
            error = prediction_error(row, scale)
            if error is None:
                continue
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
                    self._improved.discard(key)
                elif key in self._quiet_rows:
                    del self._quiet_rows[key]
                    self._settled_at[key] = self._rows_seen[key] + recent.maxlen  # type: ignore[operator]
                    changes.append(self._change(key, False, row, before, after))
                elif key not in self._improved and self._rows_seen[key] >= self._settled_at.get(key, 0):
                    # A lower error while not in drift (and not just back from drift, whose rows are still in
                    # the baseline): better than before; flagged once until the error rises again, never drift.
                    self._improved.add(key)
                    changes.append(self._change(key, False, row, before, after, "improvement"))
            elif key in self._quiet_rows:
                self._quiet_rows[key] += 1
                clear_after = self.option(key[0], "clear_after")
                if clear_after is not None and self._quiet_rows[key] >= clear_after:
                    del self._quiet_rows[key]
                    changes.append(self._change(key, False, row))
        return changes

    def check_windows(
        self, windows: Iterable[WindowPerformance], now_unix_nano: int | None = None
    ) -> list[ConceptDriftChange]:
        """Compare each series' newest window with its reference; return metric states that changed.

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
            reference = self.reference(model, version)
            if reference is None:
                continue
            performance, spread = reference
            checks = compare_with_reference(
                window.summary(),
                performance,
                window.n_labelled,
                tolerance=self.option(model, "tolerance"),
                relative_tolerance=self.option(model, "relative_tolerance"),
                min_samples=self.option(model, "min_samples"),
                z=self.option(model, "z"),
                spread=spread,
                sigmas=self.option(model, "sigmas"),
            )
            self._last_checks[key] = (start, checks)
            for check in checks:
                if check.skipped:
                    continue
                state_key = (key, check.metric)
                before, after = self._states.get(state_key, WITHIN), check.state
                if before == after:
                    continue
                self._states[state_key] = after
                direction = {
                    DEGRADED: "degradation",
                    IMPROVED: "improvement",
                    WITHIN: "recovery" if before == DEGRADED else "normal",
                }[after]
                details = {
                    "reference": check.reference,
                    "current": check.current,
                    "degradation": check.degradation,
                    "tolerance": check.tolerance,
                    "lower": check.lower,
                    "upper": check.upper,
                    "basis": check.basis,
                    "n": check.n,
                }
                changes.append(
                    ConceptDriftChange(
                        model,
                        version,
                        output,
                        "reference",
                        check.metric,
                        after == DEGRADED,
                        start,
                        details,
                        direction,
                    )
                )
        return changes

    def last_checks(self) -> dict[SeriesKey, tuple[int, list[PerformanceCheck]]]:
        """Per series, the start (Unix ns) of its newest window checked against the reference, and the checks."""
        return dict(self._last_checks)

    def state(self) -> dict[SeriesKey, bool]:
        """Current concept-drift state per series (detector or any reference metric degraded): the gauge value.

        Improvements never count as drift."""
        keys = set(self._detectors) | {k for k, _ in self._states}
        return {
            k: k in self._quiet_rows or any(v == DEGRADED for (s, _), v in self._states.items() if s == k)
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
        direction: str = "",
    ) -> ConceptDriftChange:
        detector = self._detectors[key]
        details: dict[str, Any] = {"rows_seen": self._rows_seen[key]}
        if not math.isnan(after):
            details["error_before"] = before
            details["error_after"] = after
            direction = direction or ("degradation" if detected else "recovery")
            details["reason"] = direction
        else:
            details["reason"] = "quiet"
            direction = "recovery"
        name = getattr(detector, "name", type(detector).__name__)
        return ConceptDriftChange(
            *key, "detector", name, detected, row.prediction_time_unix_nano, details, direction
        )
