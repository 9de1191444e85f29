"""In-memory telemetry for tests: assert on the spans and metrics a monitored model emits.

>>> import otel_mlmon
>>> from otel_mlmon.testing import InMemoryTelemetry
>>> telemetry = InMemoryTelemetry()
>>> @otel_mlmon.monitor(model="m", **telemetry.providers)
... def predict(X):
...     return [1] * len(X)
>>> predict([[0.0], [1.0]])
[1, 1]
>>> telemetry.spans()[0].name
'predict m'
>>> telemetry.points("ml.inference.predictions")[0].value
2
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["InMemoryTelemetry"]


class InMemoryTelemetry:
    """A tracer provider and a meter provider that keep everything in memory.

    Args:
        temporality: ``"cumulative"`` (default) or ``"delta"``, the reader's preference for every instrument kind.
    """

    def __init__(self, temporality: str = "cumulative") -> None:
        if temporality not in ("cumulative", "delta"):
            raise ValueError(f"temporality must be 'cumulative' or 'delta', got {temporality!r}")
        self.temporality = temporality
        preferred = None
        if temporality == "delta":
            from opentelemetry.sdk.metrics import Counter, Histogram, UpDownCounter

            preferred = {
                Counter: AggregationTemporality.DELTA,
                Histogram: AggregationTemporality.DELTA,
                UpDownCounter: AggregationTemporality.DELTA,
            }
        self.span_exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.metric_reader = InMemoryMetricReader(preferred_temporality=preferred)
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self.log_exporter = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))

    @property
    def providers(self) -> dict[str, Any]:
        """The three providers, to pass as ``monitor(..., **telemetry.providers)``."""
        return {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            "logger_provider": self.logger_provider,
        }

    def records(self, event_name: str | None = None) -> list[Any]:
        """The log records emitted so far (after flushing otel-mlmon's buffers), optionally of one event."""
        from otel_mlmon._summarize import folder

        folder.flush()
        records = [r.log_record for r in self.log_exporter.get_finished_logs()]
        return [r for r in records if event_name is None or r.event_name == event_name]

    def spans(self) -> list[ReadableSpan]:
        """The finished spans so far."""
        return list(self.span_exporter.get_finished_spans())

    def collect(self) -> MetricsData | None:
        """Collect once (as a periodic export would) and return everything the reader received."""
        return self.metric_reader.get_metrics_data()

    def points(self, name: str, attributes: Mapping[str, Any] | None = None, data: MetricsData | None = None):
        """Data points of metric ``name`` whose attributes include ``attributes``, from ``data`` or a new
        collection."""
        data = self.collect() if data is None else data
        found = []
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        point_attrs = dict(point.attributes or {})
                        if all(point_attrs.get(k) == v for k, v in (attributes or {}).items()):
                            found.append(point)
        return found

    def shutdown(self) -> None:
        """Shut both providers down."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()
