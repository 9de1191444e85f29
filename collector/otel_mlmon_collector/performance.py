"""The performance processor: joined labels → realized performance and concept drift; confidence → estimates.

A pipeline processor (like the drift engine's ``DriftProcessor``): it hands the logs requests to a
:class:`~otel_mlmon_collector.ground_truth.LabelJoin` (which parses and joins the ``ml.prediction`` /
``ml.ground_truth`` records on the receiver thread), evaluates it periodically and emits the results as OTLP
gauges and events through the pipeline, and, when the drift engine runs too, estimates each classifier's
performance before labels from the per-class confidence histograms in its windows.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_mlmon import conventions as conv

from .config_reader import Section
from .findings import Findings, default_resource
from .ground_truth import LabelJoin
from .ground_truth._estimate_sketches import estimate_rows, estimate_view, estimation_gap
from .otlp import OtlpRequest

__all__ = ["PerformanceConfig", "PerformanceProcessor", "default_state_path"]

_log = logging.getLogger(__name__)
#: Options passed through to the concept-drift monitor.
_MONITOR_OPTIONS = ("tolerance", "relative_tolerance", "min_samples", "regression_scale", "clear_after")


#: Report names → the published names (docs/semantic-conventions.md) and units.
_RENAMES = {
    conv.METRIC_PERFORMANCE_LABEL_COVERAGE: (conv.METRIC_LABEL_COVERAGE, "1"),
    conv.METRIC_PERFORMANCE_LABEL_DELAY_MEAN: (conv.METRIC_LABEL_DELAY, "s"),
    conv.METRIC_PERFORMANCE_LABEL_DELAY_MAX: (conv.METRIC_LABEL_DELAY_MAX, "s"),
}


def default_state_path() -> str:
    """Where the join store lives unless configured: ``$XDG_STATE_HOME/otel-mlmon/ground-truth.sqlite``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "otel-mlmon", "ground-truth.sqlite")


@dataclass(frozen=True)
class PerformanceConfig:
    """The ``ground_truth:`` section of the collector's configuration (see docs/ground-truth.md).

    Attributes:
        path: SQLite file of the join store and performance windows (``:memory:`` keeps nothing across restarts).
        window_seconds: Width of the prediction-time windows performance is attributed to.
        ttl_seconds: How long a prediction waits for its label, and a label for its prediction.
        max_pending: Bound of the join store (oldest evicted first, counted).
        detector: Sequential change detector on the per-prediction error stream (``adwin``, ``page_hinkley``,
            ``ddm``).
        evaluation_interval_seconds: How often performance is computed and emitted (0: only on request).
        monitor: Further concept-drift options (``tolerance``, ``relative_tolerance``, ``min_samples``,
            ``regression_scale``, ``clear_after``).
    """

    path: str = field(default_factory=default_state_path)
    window_seconds: float = 3600.0
    ttl_seconds: float = 7 * 24 * 3600.0
    max_pending: int = 1_000_000
    detector: str = "adwin"
    evaluation_interval_seconds: float = 60.0
    monitor: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], path: str = "ground_truth") -> PerformanceConfig:
        """Build from the parsed YAML section (keys as in docs/ground-truth.md).

        Raises:
            ConfigError: a ``ValueError`` naming the full key path of an unknown key or a bad value.
        """
        return cls.from_section(Section(data, path, label="ground_truth"))

    @classmethod
    def from_section(cls, section: Section) -> PerformanceConfig:
        """Read every key of ``section`` (the collector's ``ground_truth:``) and reject unknown ones."""
        s, default = section, cls()
        config = cls(
            path=s.str("path", None) or default.path,
            window_seconds=s.float("window_seconds", default.window_seconds, above=0),
            ttl_seconds=s.float("ttl_seconds", default.ttl_seconds, above=0),
            max_pending=s.int("max_pending", default.max_pending, minimum=1),
            detector=s.choice("detector", default.detector, ("adwin", "page_hinkley", "ddm")),
            evaluation_interval_seconds=s.float(
                "evaluation_interval_seconds", default.evaluation_interval_seconds, minimum=0
            ),
            monitor={k: s.raw(k) for k in _MONITOR_OPTIONS if s.has(k)},
        )
        s.done()
        return config


class PerformanceProcessor:
    """Pipeline processor: joins labels to predictions and emits performance, estimates and concept drift.

    Args:
        config: The ``ground_truth:`` configuration.
        emit: Routes an OTLP request to the exporters (``Pipeline.emit``).
        drift: The drift engine, whose windows hold the per-class confidence histograms used for estimates.
        resource: Resource attributes of the output.
        clock_ns: Time source.
    """

    name = "ground_truth"

    def __init__(
        self,
        config: PerformanceConfig,
        emit: Callable[[OtlpRequest], object],
        drift: Any = None,
        resource: Mapping[str, str] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if config.path != ":memory:":
            Path(config.path).parent.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.emit = emit
        self.drift = drift
        self.clock_ns = clock_ns
        self.resource = dict(resource or default_resource())
        self.label_join = LabelJoin(
            config.path,
            window_seconds=config.window_seconds,
            ttl_seconds=config.ttl_seconds,
            max_pending=config.max_pending,
            detector=config.detector,
            clock_ns=clock_ns,
            **dict(config.monitor),
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def process(self, request: OtlpRequest) -> None:
        """Receiver thread: parse and store ``ml.prediction`` / ``ml.ground_truth`` records (logs only)."""
        if request.signal == "logs":
            self.label_join.process(request)
            self._ensure_started()

    def _ensure_started(self) -> None:
        if self._thread is None and self.config.evaluation_interval_seconds > 0:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="otel-mlmon-performance", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.config.evaluation_interval_seconds):
            try:
                self.evaluate_now()
            except Exception:  # noqa: BLE001 - the evaluation loop must survive a bad evaluation
                _log.exception("performance evaluation failed")

    def evaluate_now(self) -> Findings:
        """Join, compute and emit now; returns what was emitted."""
        report = self.label_join.evaluate()
        findings = Findings(self.clock_ns(), self.resource)
        for point in report.points():
            name, unit = _RENAMES.get(point.name, (point.name, "1"))
            # One series per model/version/output: the window is not a label (it would create a series per
            # window); the gauge shows the most recently updated window.
            attributes = {k: v for k, v in point.attributes.items() if k != conv.ATTR_WINDOW_START}
            findings.gauge(name, point.value, attributes, unit)
        for change in report.changes:
            attrs = {
                conv.ATTR_MODEL_NAME: change.model,
                conv.ATTR_MODEL_VERSION: change.version,
                conv.ATTR_OUTPUT_NAME: change.output,
                conv.ATTR_CONCEPT_DRIFT_SOURCE: change.source,
                conv.ATTR_CONCEPT_DRIFT_METHOD: change.method,
            }
            state = "detected" if change.detected else "cleared"
            body = (
                f"concept drift {state} for {change.output!r} of model {change.model!r} "
                f"version {change.version or '-'} ({change.source}: {change.method})"
            )
            findings.event(conv.EVENT_CONCEPT_DRIFT, body, attrs, "WARN" if change.detected else "INFO")
        for name, value in report.counts.items():
            findings.gauge(conv.METRIC_GROUND_TRUTH_RECORDS, float(value), {conv.ATTR_COUNTER: name})
        self._gaps(report.windows, findings)
        self._estimates(findings)
        for request in (findings.metrics_request(), findings.logs_request()):
            if request is not None:
                self.emit(request)
        return findings

    def _estimation_model(self, model: str, version: str | None) -> Any:
        """The reference profile's estimation model for a model version, if the drift engine has one."""
        references = getattr(self.drift, "references", None)
        if references is None:
            return None
        try:
            reference = references.lookup(model, version or None)
        except Exception:  # noqa: BLE001 - a broken provider means uncalibrated estimates, not a failed evaluation
            _log.exception("reference lookup failed for %s", model)
            return None
        return getattr(reference, "estimation", None)

    def _estimates(self, findings: Findings) -> None:
        """Performance before labels, per stream and output, from the drift engine's current view (the per-class
        confidence histograms of classifiers; prediction and feature histograms of regressors), calibrated by the
        reference profile's estimation model when there is one."""
        windows = getattr(self.drift, "windows", None)
        if windows is None:
            return
        for key in windows.streams():
            view = windows.view(key)
            if view is None:
                continue
            model = self._estimation_model(key.model, key.version)
            for output, estimate in estimate_view(view, model).items():
                series = {conv.ATTR_MODEL_NAME: key.model, conv.ATTR_OUTPUT_NAME: output}
                if key.version is not None:
                    series[conv.ATTR_MODEL_VERSION] = key.version
                for point in estimate.points():
                    findings.gauge(point.name, point.value, {**series, **point.attributes})

    def _gaps(self, windows: Mapping[Any, Any], findings: Findings) -> None:
        """Estimated minus realized performance over the labelled rows of each window whose labels changed."""
        for key, window in windows.items():
            model, version, output, _ = key
            estimation = self._estimation_model(model, version)
            calibration = estimation.outputs.get(output) if estimation is not None else None
            estimate = estimate_rows(self.label_join.windows.rows(key), calibration)
            if estimate is None:
                continue
            series = {
                conv.ATTR_MODEL_NAME: model,
                conv.ATTR_MODEL_VERSION: version,
                conv.ATTR_OUTPUT_NAME: output,
            }
            for point in estimation_gap(estimate, window.summary()):
                findings.gauge(point.name, point.value, {**series, **point.attributes})

    def shutdown(self) -> None:
        """Stop the evaluation thread and close the store (nothing joined is lost: it is on disk)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.label_join.shutdown()
