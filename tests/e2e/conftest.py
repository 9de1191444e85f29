"""The backend end-to-end tests share the collector tests' fixtures (real servers on loopback)."""

# ------------------------------------------------------------------ performance and estimation end to end
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.collector.conftest import (  # noqa: F401 - fixtures, found by name
    certificate,
    make_collector,
    otel_js,
    own_victoria_metrics,
    phoenix,
    victoria_metrics,
)


@dataclass
class LabelledCollector:
    """A real collector (ground truth and drift engine on, evaluated on request) capturing what it emits, and SDK
    providers exporting to it over OTLP/HTTP (``sdk``: keyword arguments for ``otel_mlmon.monitor``)."""

    collector: Any
    captured: Any
    loggers: Any
    meters: Any
    sdk: dict[str, Any] = field(default_factory=dict)

    def evaluate(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Flush the SDK, evaluate drift (which fills the windows the estimates read) and performance, drain the
        pipeline; the emitted gauges by name, as ``(string attributes, value)`` points."""
        import otel_mlmon

        otel_mlmon.flush()
        assert self.meters.force_flush()
        assert self.collector.performance is not None and self.collector.drift is not None
        self.collector.drift.evaluate_now()
        self.collector.performance.evaluate_now()
        assert self.collector.pipeline.shutdown(10)
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for request in self.captured.requests("metrics"):
            for rm in request.decoded().resource_metrics:
                for metric in (m for sm in rm.scope_metrics for m in sm.metrics):
                    for point in metric.gauge.data_points:
                        attrs = {kv.key: kv.value.string_value for kv in point.attributes}
                        out.setdefault(metric.name, []).append((attrs, point.as_double))
        return out


@pytest.fixture
def labelled_collector(tmp_path: Path) -> Iterator[Callable[..., LabelledCollector]]:
    """Start a :class:`LabelledCollector` (``drift``: more ``drift:`` settings, e.g. references); stopped after
    the test."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
    from otel_mlmon_collector._service import Collector

    from tests.collector.conftest import collector_config

    started: list[LabelledCollector] = []

    def start(drift: dict[str, Any] | None = None) -> LabelledCollector:
        captured = InMemoryExporter("captured")
        config = collector_config(
            ground_truth={
                "path": str(tmp_path / "gt.sqlite"),
                "window_seconds": 3600,
                "evaluation_interval_seconds": 0,
            },
            drift={"evaluation_interval_seconds": 0, **(drift or {})},
        )
        collector = Collector(config, exporters={"captured": captured})
        collector.start()
        url = f"http://{collector.http_endpoint}"
        loggers = LoggerProvider()
        loggers.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs")))
        meters = MeterProvider(
            metric_readers=[
                PeriodicExportingMetricReader(
                    OTLPMetricExporter(endpoint=f"{url}/v1/metrics"), export_interval_millis=3_600_000
                )
            ]
        )
        sdk = {"trace": False, "meter_provider": meters, "logger_provider": loggers}
        started.append(LabelledCollector(collector, captured, loggers, meters, sdk))
        return started[-1]

    yield start
    for item in started:
        item.loggers.shutdown()
        item.meters.shutdown()
        item.collector.shutdown(5)
