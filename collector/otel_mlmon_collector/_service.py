"""The collector assembled from a ``Config``: receivers, pipeline, exporters, self-metrics and health, with a lifecycle."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from otel_mlmon import conventions as conv

from ._budget import CategoryBudget
from ._config import SIGNALS, Config, ConfigError, ExporterConfig, QueueConfig, RetryConfig
from ._disk_queue import DiskQueue, DiskQueueError
from ._drift_engine import DriftProcessor
from ._exporters import Exporter
from ._exporters.console import ConsoleExporter
from ._exporters.otlp import create_otlp_exporter
from ._health import HealthServer
from ._overview import drift_state, drift_summary, startup_lines
from ._performance import PerformanceProcessor
from ._pipeline import ExportLane, Pipeline, Processor
from ._queue import BoundedQueue, ExportQueue
from ._receivers import Receiver
from ._receivers._auth import BearerAuth, exposure_warning
from ._receivers.otlp_grpc import OtlpGrpcReceiver
from ._receivers.otlp_http import OtlpHttpReceiver
from ._selfmetrics import SelfMetrics

__all__ = ["Collector"]

_log = logging.getLogger(__name__)


class Collector:
    """A running otel-mlmon-collector.

    Usage::

        collector = Collector(load_config("collector.yaml"))
        collector.start()
        ...
        collector.shutdown()      # stop receiving, flush queues within the configured deadline

    Args:
        config: the validated configuration.
        processors: observers every received request passes through, in order, before forwarding.
        exporters: replace the exporters built from ``config.exporters`` (name → exporter); each still uses
            its config entry's signals, or all signals when the name is not in the config.
        console_stream: where the console exporter writes (standard output by default).
        drift_summary_seconds: how often a one-line drift summary is logged (INFO) while the drift engine has
            something new to say; default: the evaluation interval, at least 60 s. 0: never.
    """

    def __init__(
        self,
        config: Config,
        processors: Iterable[Processor] = (),
        exporters: Mapping[str, Exporter] | None = None,
        console_stream: TextIO | None = None,
        drift_summary_seconds: float | None = None,
    ) -> None:
        self.config = config
        self.metrics = SelfMetrics()
        self._state = "starting"
        self._stop = threading.Event()
        lanes = []
        for exporter, signals, retry in self._exporters(config, exporters, console_stream):
            queue = _queue_for(config.queue, exporter.name, lanes)
            lanes.append(ExportLane(exporter, queue, signals, retry, self.metrics, config.queue.workers))
        self.pipeline = Pipeline(lanes, processors, self.metrics, CategoryBudget(config.budgets))
        #: The drift engine, when the configuration has a ``drift:`` section.
        self.drift: DriftProcessor | None = None
        if config.drift is not None:
            drift_config = config.drift
            if drift_config.resource is None:  # one service.instance.id for self-metrics and findings
                drift_config = dataclasses.replace(drift_config, resource=self.metrics.resource)
            self.drift = DriftProcessor(drift_config, emit=self.pipeline.emit)
            self.pipeline.add_processor(self.drift)
        #: Label joins, performance and concept drift, when the configuration has a ``ground_truth:`` section.
        self.performance: PerformanceProcessor | None = None
        if config.ground_truth is not None:
            self.performance = PerformanceProcessor(
                config.ground_truth, emit=self.pipeline.emit, drift=self.drift, resource=self.metrics.resource
            )
            self.pipeline.add_processor(self.performance)
        self._observe_processors()
        rcv = config.receivers
        # one token check for every listener; reads (and validates) the token file now
        auth = BearerAuth(rcv.auth) if rcv.auth is not None else None
        self.receivers: list[Receiver] = []
        if rcv.grpc.enabled:
            self.receivers.append(OtlpGrpcReceiver(self.pipeline, rcv.grpc, rcv, rcv.tls, auth))
        if rcv.http.enabled:
            self.receivers.append(OtlpHttpReceiver(self.pipeline, rcv.http, rcv, rcv.tls, auth))
        self.health = (
            HealthServer(config.health.endpoint, self.status, auth) if config.health.enabled else None
        )
        self._self_metrics_thread: threading.Thread | None = None
        if drift_summary_seconds is None:
            interval = config.drift.evaluation_interval_seconds if config.drift is not None else 0.0
            drift_summary_seconds = max(60.0, interval)
        self.drift_summary_seconds = drift_summary_seconds
        self._summary_thread: threading.Thread | None = None

    def _observe_processors(self) -> None:
        """The drift engine's window statistics and stream failures, and the ground-truth store's write
        failures, as self-metrics (cumulative counters)."""
        drift, performance = self.drift, self.performance
        disk = [
            (lane.name, lane.queue.stats) for lane in self.pipeline.lanes if isinstance(lane.queue, DiskQueue)
        ]
        if disk:
            self.metrics.observe_counter(
                conv.METRIC_COLLECTOR_QUEUE_RECOVERED,
                lambda: [
                    ({"exporter": name, conv.ATTR_COUNTER: key}, value)
                    for name, stats in disk
                    for key, value in (("recovered", stats.recovered), ("corrupt", stats.corrupt))
                ],
                "{request}",
            )
        if drift is not None:

            def window_stats() -> list[tuple[dict[str, str], int]]:
                stores = [("current", drift.windows), ("trailing", drift.trailing_windows)]
                return [
                    ({conv.ATTR_COUNTER: name, conv.ATTR_STORE: label}, value)
                    for label, store in stores
                    if store is not None
                    for name, value in dataclasses.asdict(store.stats).items()
                ]

            def stream_failures() -> list[tuple[dict[str, str], int]]:
                return [
                    ({conv.ATTR_MODEL_NAME: m, conv.ATTR_MODEL_VERSION: v, conv.ATTR_STAGE: stage}, n)
                    for (m, v, stage), n in list(drift.stream_failures.items())
                ]

            self.metrics.observe_counter(conv.METRIC_COLLECTOR_DRIFT_WINDOWS, window_stats, "{point}")
            self.metrics.observe_counter(conv.METRIC_COLLECTOR_STREAM_FAILURES, stream_failures, "{error}")
        if performance is not None:
            self.metrics.observe_counter(
                conv.METRIC_COLLECTOR_STORE_FAILURES,
                lambda: [({conv.ATTR_COUNTER: k}, n) for k, n in performance.write_failures().items()],
                "{record}",
            )

    @staticmethod
    def _exporters(
        config: Config, overrides: Mapping[str, Exporter] | None, console_stream: TextIO | None
    ) -> list[tuple[Exporter, tuple[str, ...], RetryConfig]]:
        overrides = dict(overrides or {})
        built: list[tuple[Exporter, tuple[str, ...], RetryConfig]] = []
        for ec in config.exporters:
            exporter = overrides.pop(ec.name, None) or _build_exporter(ec, console_stream)
            built.append((exporter, ec.signals, ec.retry))
        for name, exporter in overrides.items():
            built.append((exporter, SIGNALS, RetryConfig()))
            _log.debug("exporter %s added programmatically", name)
        if not built:
            built.append((ConsoleExporter("console", console_stream), SIGNALS, RetryConfig()))
        return built

    # -- lifecycle --------------------------------------------------------------------------------------

    @property
    def grpc_endpoint(self) -> str | None:
        """``host:port`` of the gRPC receiver, if enabled."""
        return next((r.endpoint for r in self.receivers if isinstance(r, OtlpGrpcReceiver)), None)

    @property
    def http_endpoint(self) -> str | None:
        """``host:port`` of the HTTP receiver, if enabled."""
        return next((r.endpoint for r in self.receivers if isinstance(r, OtlpHttpReceiver)), None)

    @property
    def health_endpoint(self) -> str | None:
        """``host:port`` of the health endpoint, if enabled."""
        return self.health.endpoint if self.health else None

    def status(self) -> dict[str, Any]:
        """State, queue depths and drift findings, as served by the health endpoint.

        ``status`` is ``degraded`` (still answered with 200) while the ground-truth store cannot write;
        ``problems`` then says why.
        """
        state = self._state
        problems = []
        store_problem = self.performance.store_problem() if self.performance is not None else None
        if store_problem is not None:
            problems.append(
                f"ground-truth store {self.performance.config.path}: writes fail: {store_problem}"
            )
        if problems and state == "serving":
            state = "degraded"
        return {
            "status": state,
            **({"problems": problems} if problems else {}),
            "queues": {
                lane.name: {"size": len(lane.queue), "capacity": lane.queue.max_requests}
                for lane in self.pipeline.lanes
            },
            "drift": drift_state(self.drift),
            "ground_truth": {"enabled": self.performance is not None},
        }

    def describe(self) -> list[tuple[int, str]]:
        """``(log level, line)`` saying whether drift and ground truth are on and where references come from."""
        return [
            (logging.WARNING if warning else logging.INFO, line)
            for warning, line in startup_lines(self.drift, self.performance)
        ]

    def start(self) -> None:
        """Start exporters, receivers, health endpoint and the self-metrics timer."""
        warning = exposure_warning(self.config.receivers)
        if warning:
            _log.warning("%s", warning)
        self.pipeline.start()
        started: list[Receiver] = []
        try:
            for receiver in self.receivers:
                receiver.start()
                started.append(receiver)
            if self.health is not None:
                self.health.start()
        except Exception:
            for receiver in started:
                receiver.shutdown(0.0)
            self.pipeline.shutdown(0.0)
            raise
        if self.config.self_metrics.enabled:
            self._self_metrics_thread = threading.Thread(
                target=self._report, name="self-metrics", daemon=True
            )
            self._self_metrics_thread.start()
        if self.drift is not None and self.drift_summary_seconds > 0:
            self._summary_thread = threading.Thread(target=self._summarise, name="drift-summary", daemon=True)
            self._summary_thread.start()
        self._state = "serving"

    def _summarise(self) -> None:
        """Log the drift summary after each new evaluation (so a downstream-only setup still shows drift)."""
        said: object = ()
        while not self._stop.wait(self.drift_summary_seconds):
            evaluation = self.drift.last_evaluation if self.drift is not None else None
            if evaluation is not said:
                said = evaluation
                _log.info("%s", drift_summary(evaluation))

    def _report(self) -> None:
        while not self._stop.wait(self.config.self_metrics.interval_seconds):
            self.emit_self_metrics()

    def emit_self_metrics(self) -> bool:
        """Queue the current self-metrics for the metrics exporters now (not for console exporters).

        Returns whether some exporter took them.
        """
        targets = [
            lane.name
            for lane in self.pipeline.lanes
            if "metrics" in lane.signals and not isinstance(lane.exporter, ConsoleExporter)
        ]
        return bool(targets) and self.pipeline.emit(self.metrics.to_request(), targets)

    def shutdown(self, timeout_seconds: float | None = None) -> bool:
        """Stop receiving, then flush every queue within ``timeout_seconds`` (default: the configured deadline).

        Returns:
            True if nothing queued was dropped for lack of time.
        """
        if self._state == "stopped":
            return True
        timeout = self.config.service.shutdown_timeout_seconds if timeout_seconds is None else timeout_seconds
        deadline = time.monotonic() + timeout
        self._state = "stopping"
        self._stop.set()
        grace = min(2.0, timeout / 4)
        for receiver in self.receivers:
            receiver.shutdown(grace)
        if self.config.self_metrics.enabled:
            self.emit_self_metrics()
        ok = self.pipeline.shutdown(max(0.0, deadline - time.monotonic()))
        if self.health is not None:
            self.health.shutdown()
        self._state = "stopped"
        return ok


def _queue_for(config: QueueConfig, name: str, built: list[ExportLane]) -> ExportQueue:
    """The exporter's queue: in memory, or on disk in ``<queue.directory>/<exporter name>``."""
    if config.directory is None:
        return BoundedQueue(config.max_requests, config.max_bytes)
    directory = os.path.join(config.directory, re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_")
    try:
        return DiskQueue(
            directory, config.max_requests, config.max_bytes, config.fsync, config.fsync_interval_millis
        )
    except DiskQueueError as e:
        for lane in built:  # release the directories already locked
            lane.queue.shutdown()
        raise ConfigError(f"queue.directory: {e}") from e


def _build_exporter(config: ExporterConfig, console_stream: TextIO | None) -> Exporter:
    if config.type == "console":
        return ConsoleExporter(config.name, console_stream)
    if config.type == "prometheus_remote_write":
        from ._exporters.prometheus_remote_write import PrometheusRemoteWriteExporter  # needs cramjam

        return PrometheusRemoteWriteExporter(config)
    return create_otlp_exporter(config)
