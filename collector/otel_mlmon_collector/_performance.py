"""The performance processor: joined labels → realized performance and concept drift; confidence → estimates.

A pipeline processor (like the drift engine's ``DriftProcessor``): it hands the logs requests to a
:class:`~otel_mlmon_collector._ground_truth.LabelJoin` (which parses and joins the ``ml.prediction`` /
``ml.ground_truth`` records on the receiver thread), evaluates it periodically and emits the results as OTLP
gauges and events through the pipeline, and, when the drift engine runs too, estimates each classifier's
performance before labels from the per-class confidence histograms in its windows.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_mlmon import conventions as conv

from ._config_reader import ConfigError, Section
from ._findings import Findings, default_resource
from ._ground_truth import LabelJoin
from ._ground_truth._concept_drift import ConceptDriftMonitor
from ._ground_truth._estimate_sketches import estimate_rows, estimate_view, estimation_gap, realized_span
from ._otlp import OtlpRequest

__all__ = ["PerformanceConfig", "PerformanceProcessor", "default_state_path"]

_log = logging.getLogger(__name__)
#: Options passed through to the concept-drift monitor; each may also be set per model under ``models:``.
_MONITOR_OPTIONS = (
    "tolerance",
    "relative_tolerance",
    "min_samples",
    "regression_scale",
    "clear_after",
    "sigmas",
    "z",
)
_INT_OPTIONS = frozenset({"min_samples", "clear_after"})


#: Report names → the published names (docs/semantic-conventions.md) and units.
_RENAMES = {
    conv.METRIC_PERFORMANCE_LABEL_COVERAGE: (conv.METRIC_LABEL_COVERAGE, "1"),
    conv.METRIC_PERFORMANCE_LABEL_DELAY_MEAN: (conv.METRIC_LABEL_DELAY, "s"),
    conv.METRIC_PERFORMANCE_LABEL_DELAY_MAX: (conv.METRIC_LABEL_DELAY_MAX, "s"),
}


def _monitor_options(section: Section) -> dict[str, Any]:
    """The concept-drift options present in ``section``, typed (the monitor checks their ranges)."""
    options: dict[str, Any] = {}
    for key in _MONITOR_OPTIONS:
        if section.has(key) and section.raw(key) is not None:
            if key in _INT_OPTIONS:
                options[key] = section.int(key, 0)
            else:
                options[key] = section.float(key, 0.0)
    return options


def _model_options(models: Section) -> dict[str, dict[str, Any]]:
    out = {}
    for name in models.names():
        section = models.section(name, label="per-model ground_truth")
        out[name] = _monitor_options(section)
        section.done()
    return out


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
            ``regression_scale``, ``clear_after``, ``sigmas``, ``z``).
        models: Per-model overrides of those options (``{"price": {"regression_scale": 40.0}}``).
        references: A directory of profiles whose reference performance the alerts compare with, when the
            collector has no ``drift:`` section (with one, its references are used).
        estimation_window: Which rows ``ml.performance.estimated.*`` describe: ``realized`` (default) the
            current ``window_seconds`` prediction-time window, the rows of the realized metrics; ``drift`` the
            drift engine's evaluation view (its sliding ``windows x window_seconds``).
    """

    path: str = field(default_factory=default_state_path)
    window_seconds: float = 3600.0
    ttl_seconds: float = 7 * 24 * 3600.0
    max_pending: int = 1_000_000
    detector: str = "adwin"
    evaluation_interval_seconds: float = 60.0
    monitor: Mapping[str, Any] = field(default_factory=dict)
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    references: str | None = None
    estimation_window: str = "realized"

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
            monitor=_monitor_options(s),
            models=_model_options(s.section("models")),
            references=s.str("references", None),
            estimation_window=s.choice("estimation_window", default.estimation_window, ("realized", "drift")),
        )
        s.done()
        try:  # the monitor checks the values (and each model's) the way it will use them
            ConceptDriftMonitor(config.detector, models=config.models, **config.monitor)
        except ValueError as exc:
            raise ConfigError(f"{s.path}: {exc}") from None
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
        self.config = config
        self.emit = emit
        self.drift = drift
        self.clock_ns = clock_ns
        self.resource = dict(resource or default_resource())
        try:
            if config.path != ":memory:":
                Path(config.path).parent.mkdir(parents=True, exist_ok=True)
            self.label_join = LabelJoin(
                config.path,
                window_seconds=config.window_seconds,
                ttl_seconds=config.ttl_seconds,
                max_pending=config.max_pending,
                detector=config.detector,
                clock_ns=clock_ns,
                reference_source=self._reference,
                models=config.models,
                **dict(config.monitor),
            )
        except (OSError, sqlite3.Error) as exc:  # a read-only, missing or occupied place: say which, exit 2
            raise ConfigError(
                f"ground_truth.path: cannot open the ground-truth store {config.path}: {type(exc).__name__}: {exc}"
            ) from None
        #: Requests whose records could not be written at all (the windows' write failed before the join's).
        self._failed_requests = 0
        self._failing: str | None = None
        #: Profiles for reference performance without a drift engine (``ground_truth.references``).
        self.references: Any = None
        if config.references is not None and getattr(drift, "references", None) is None:
            from ._references import DirectoryReferenceStore

            self.references = DirectoryReferenceStore(config.references)
        self._newest: dict[tuple[str, str, str], int] = {}  # newest window start per series, Unix ns
        self._warn_misaligned()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def process(self, request: OtlpRequest) -> None:
        """Receiver thread: parse and store ``ml.prediction`` / ``ml.ground_truth`` records (logs only)."""
        if request.signal == "logs":
            try:
                self.label_join.process(request)
            except sqlite3.Error as exc:  # the store's disk: counted, in /health, raised for the error log
                self._failed_requests += 1
                self._failing = f"{type(exc).__name__}: {exc}"
                raise
            self._failing = None
            self._ensure_started()

    def write_failures(self) -> dict[str, int]:
        """Records lost to failed store writes by kind (``predictions``, ``labels``), and whole ``requests``."""
        out = dict(self.label_join.store.write_failures)
        if self._failed_requests:
            out["requests"] = self._failed_requests
        return out

    def store_problem(self) -> str | None:
        """The last store write error while writes keep failing, else None (``/health`` says ``degraded``)."""
        return self._failing or self.label_join.store.failing

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

    def _reference(self, model: str, version: str) -> tuple[Mapping[str, float], Mapping[str, Any]] | None:
        """Reference performance and its spread from the profile the drift engine (or ``references``) uses."""
        provider = self.references if self.references is not None else getattr(self.drift, "references", None)
        if provider is None:
            return None
        reference = provider.lookup(model, version or None)
        performance = getattr(reference, "performance", None)
        if not performance:
            return None
        return performance, getattr(reference, "performance_spread", {}) or {}

    def evaluate_now(self) -> Findings:
        """Join, compute and emit now; returns what was emitted.

        Each series (model, version, output) has one set of ``ml.performance.*`` gauges for its newest window,
        with ``ml.performance.window.start`` / ``.end`` saying which window that is; a window recomputed after a
        newer one exists (its late labels arrived) is emitted with ``ml.window.start`` / ``ml.window.end``
        attributes instead, so it never overwrites the current values.
        """
        if self.references is not None:
            self.references.refresh()
        report = self.label_join.evaluate()
        findings = Findings(self.clock_ns(), self.resource)
        for key, window in sorted(report.windows.items(), key=lambda item: item[0][3]):
            model, version, output, start = key
            series_key = (model, version, output)
            series: dict[str, str] = {
                conv.ATTR_MODEL_NAME: model,
                conv.ATTR_MODEL_VERSION: version,
                conv.ATTR_OUTPUT_NAME: output,
            }
            start_s, end_s = start / 1e9, start / 1e9 + window.window_seconds
            if start >= self._newest.get(series_key, start):
                self._newest[series_key] = start
                findings.gauge(conv.METRIC_PERFORMANCE_WINDOW_START, start_s, series, "s")
                findings.gauge(conv.METRIC_PERFORMANCE_WINDOW_END, end_s, series, "s")
            else:  # a late recomputation of an older window: its own series, named by the window
                series[conv.ATTR_WINDOW_START] = f"{start_s:.0f}"
                series[conv.ATTR_WINDOW_END] = f"{end_s:.0f}"
            if window.n_predicted is not None:
                findings.gauge(conv.METRIC_PERFORMANCE_PREDICTED, float(window.n_predicted), series)
            for point in window.points():
                name, unit = _RENAMES.get(point.name, (point.name, "1"))
                findings.gauge(name, point.value, {**series, **point.attributes}, unit)
        for (model, version, output), detected in report.drift_state.items():
            attrs = {
                conv.ATTR_MODEL_NAME: model,
                conv.ATTR_MODEL_VERSION: version,
                conv.ATTR_OUTPUT_NAME: output,
            }
            findings.gauge(conv.METRIC_CONCEPT_DRIFT_DETECTED, 1.0 if detected else 0.0, attrs)
        self._reference_gauges(findings, report.reference_checks)
        for change in report.changes:
            self._change_event(findings, change)
        for name, value in report.counts.items():
            findings.gauge(conv.METRIC_GROUND_TRUTH_RECORDS, float(value), {conv.ATTR_COUNTER: name})
        self._gaps(report.windows, findings)
        self._estimates(findings)
        for request in (findings.metrics_request(), findings.logs_request()):
            if request is not None:
                self.emit(request)
        return findings

    def _reference_gauges(self, findings: Findings, checks: Mapping[tuple[str, str, str], Any]) -> None:
        """Per series and metric: the reference value, the band for the newest checked window, −1/0/+1."""
        for (model, version, output), (_start, series_checks) in checks.items():
            for check in series_checks:
                attrs = {
                    conv.ATTR_MODEL_NAME: model,
                    conv.ATTR_MODEL_VERSION: version,
                    conv.ATTR_OUTPUT_NAME: output,
                    conv.ATTR_PERFORMANCE_METRIC: check.metric,
                }
                findings.gauge(conv.METRIC_PERFORMANCE_REFERENCE, check.reference, attrs)
                findings.gauge(conv.METRIC_PERFORMANCE_REFERENCE_LOWER, check.lower, attrs)
                findings.gauge(conv.METRIC_PERFORMANCE_REFERENCE_UPPER, check.upper, attrs)
                if not check.skipped:
                    value = -1.0 if check.degraded else 1.0 if check.improved else 0.0
                    findings.gauge(conv.METRIC_PERFORMANCE_CHANGE, value, attrs)

    @staticmethod
    def _change_event(findings: Findings, change: Any) -> None:
        """Degradations and recoveries as ``ml.concept_drift.changed``; improvements as ``ml.performance.changed``."""
        attrs = {
            conv.ATTR_MODEL_NAME: change.model,
            conv.ATTR_MODEL_VERSION: change.version,
            conv.ATTR_OUTPUT_NAME: change.output,
            conv.ATTR_CONCEPT_DRIFT_SOURCE: change.source,
            conv.ATTR_CONCEPT_DRIFT_METHOD: change.method,
            conv.ATTR_PERFORMANCE_DIRECTION: change.direction,
        }
        where = f"{change.output!r} of model {change.model!r} version {change.version or '-'}"
        how = f"({change.source}: {change.method})"
        if change.direction in ("improvement", "normal"):
            what = "better than" if change.direction == "improvement" else "back within the band of"
            reference = "the reference" if change.source == "reference" else "its recent error"
            body = f"performance of {where} is {what} {reference} {how}"
            findings.event(conv.EVENT_PERFORMANCE_CHANGED, body, attrs, "INFO")
            return
        state = "detected" if change.detected else "cleared"
        body = f"concept drift {state} for {where} {how}"
        findings.event(conv.EVENT_CONCEPT_DRIFT, body, attrs, "WARN" if change.detected else "INFO")

    def _estimation_model(self, model: str, version: str | None) -> Any:
        """The reference profile's estimation model for a model version, if the drift engine has one."""
        references = (
            self.references if self.references is not None else getattr(self.drift, "references", None)
        )
        if references is None:
            return None
        try:
            reference = references.lookup(model, version or None)
        except Exception:  # noqa: BLE001 - a broken provider means uncalibrated estimates, not a failed evaluation
            _log.exception("reference lookup failed for %s", model)
            return None
        return getattr(reference, "estimation", None)

    def _warn_misaligned(self) -> None:
        """Say once when the drift engine's windows cannot tile the realized windows the estimates should cover."""
        windows = getattr(getattr(self.drift, "windows", None), "config", None)
        if windows is None or self.config.estimation_window != "realized":
            return
        width, slot = self.config.window_seconds, windows.window_seconds
        if width % slot or width > slot * windows.evaluation_windows:
            _log.warning(
                "estimates cover the drift windows (%g s, %d kept) overlapping each %g s ground-truth window: "
                "set drift.window_seconds to a divisor of ground_truth.window_seconds, with enough "
                "evaluation_windows, for the same rows as the realized metrics",
                slot,
                windows.evaluation_windows,
                width,
            )

    def _estimates(self, findings: Findings) -> None:
        """Performance before labels, per stream and output, from the drift engine's windows (the per-class
        confidence histograms of classifiers; prediction and feature histograms of regressors), calibrated by the
        reference profile's estimation model when there is one.

        By default (``estimation_window: realized``) the estimate covers the drift windows that make up the
        current ground-truth window -- the rows the realized ``ml.performance.*`` of that window describe -- and
        its gauges carry that window's ``ml.window.start`` / ``ml.window.end``; with ``drift`` it covers the drift
        engine's evaluation view and carries ``ml.window.seconds``.
        """
        windows = getattr(self.drift, "windows", None)
        if windows is None:
            return
        now = (
            windows.clock()
        )  # one instant for every stream: a boundary passing mid-evaluation changes nothing
        config = windows.config
        if self.config.estimation_window == "realized":
            count, start, end = realized_span(
                self.config.window_seconds, config.window_seconds, config.evaluation_windows, now
            )
            span: tuple[int | None, dict[str, Any]] = (
                count,
                {conv.ATTR_WINDOW_START: f"{start:.0f}", conv.ATTR_WINDOW_END: f"{end:.0f}"},
            )
        else:
            span = (None, {conv.ATTR_WINDOW_SECONDS: round(config.evaluation_seconds)})
        guarded = getattr(self.drift, "guarded", None)
        for key in windows.streams():
            if guarded is not None:  # each stream under its own guard, failures counted by the drift engine
                guarded(key, "estimate", self._estimate_stream, windows, key, findings, now, span)
            else:
                self._estimate_stream(windows, key, findings, now, span)

    def _estimate_stream(
        self,
        windows: Any,
        key: Any,
        findings: Findings,
        now: float,
        span: tuple[int | None, Mapping[str, Any]],
    ) -> None:
        """The estimates of one stream's outputs over ``span`` (drift windows to merge, window attributes)."""
        count, window_attrs = span
        view = windows.view(key, windows=count, now=now)
        if view is None:
            return
        model = self._estimation_model(key.model, key.version)
        for output, estimate in estimate_view(view, model).items():
            series = {conv.ATTR_MODEL_NAME: key.model, conv.ATTR_OUTPUT_NAME: output, **window_attrs}
            if key.version is not None:
                series[conv.ATTR_MODEL_VERSION] = key.version
            for point in estimate.points():
                findings.gauge(point.name, point.value, {**series, **point.attributes})

    def _gaps(self, windows: Mapping[Any, Any], findings: Findings) -> None:
        """Estimated minus realized performance over the labelled rows of each window whose labels changed."""
        for key, window in windows.items():
            model, version, output, start = key
            estimation = self._estimation_model(model, version)
            calibration = estimation.outputs.get(output) if estimation is not None else None
            estimate = estimate_rows(self.label_join.windows.rows(key), calibration)
            if estimate is None:
                continue
            start_s = start / 1e9
            series = {
                conv.ATTR_MODEL_NAME: model,
                conv.ATTR_MODEL_VERSION: version,
                conv.ATTR_OUTPUT_NAME: output,
                conv.ATTR_WINDOW_START: f"{start_s:.0f}",
                conv.ATTR_WINDOW_END: f"{start_s + window.window_seconds:.0f}",
            }
            for point in estimation_gap(estimate, window.summary()):
                findings.gauge(point.name, point.value, {**series, **point.attributes})

    def shutdown(self) -> None:
        """Stop the evaluation thread and close the store (nothing joined is lost: it is on disk)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.label_join.shutdown()
