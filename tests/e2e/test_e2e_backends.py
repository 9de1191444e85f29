"""End to end: the official OTel Python exporters → otel-mlmon-collector → VictoriaMetrics and Arize Phoenix."""

from __future__ import annotations

import gzip
import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode
from otel_mlmon_collector import Collector

from tests.collector.conftest import Phoenix, VictoriaMetrics, collector_config, wait_until

pytestmark = pytest.mark.e2e

FEATURE_VALUES = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 8.0, 100.0]


def _metric_exporter(protocol: str, collector: Collector) -> Any:
    if protocol == "grpc":
        return GrpcMetricExporter(endpoint=f"http://{collector.grpc_endpoint}", insecure=True)
    return HttpMetricExporter(endpoint=f"http://{collector.http_endpoint}/v1/metrics")


def _span_exporter(protocol: str, collector: Collector) -> Any:
    if protocol == "grpc":
        return GrpcSpanExporter(endpoint=f"http://{collector.grpc_endpoint}", insecure=True)
    return HttpSpanExporter(endpoint=f"http://{collector.http_endpoint}/v1/traces")


@pytest.fixture
def to_victoria_metrics(victoria_metrics: VictoriaMetrics) -> Iterator[Collector]:
    """A collector forwarding metrics to the session's VictoriaMetrics (gzip, HTTP/protobuf)."""
    exporter = {
        "name": "victoria-metrics",
        "signals": ["metrics"],
        "metrics_endpoint": victoria_metrics.otlp_metrics_url,
        "compression": "gzip",
    }
    collector = Collector(
        collector_config(exporters=[exporter], self_metrics={"enabled": True, "interval_seconds": 3600})
    )
    collector.start()
    yield collector
    collector.shutdown(10)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_metrics_reach_victoria_metrics_unchanged(
    protocol: str, to_victoria_metrics: Collector, victoria_metrics: VictoriaMetrics
) -> None:
    """Counters and exponential histograms sent with the official exporter arrive with names, labels, values."""
    run = uuid.uuid4().hex
    reader = PeriodicExportingMetricReader(
        _metric_exporter(protocol, to_victoria_metrics), export_interval_millis=3_600_000
    )
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": "fraud-api"}),
        views=[
            View(
                instrument_name="ml.feature.distribution",
                aggregation=ExponentialBucketHistogramAggregation(max_size=160, max_scale=20),
            )
        ],
    )
    meter = provider.get_meter("otel_mlmon")
    meter.create_counter("ml.inference.predictions", unit="{prediction}").add(
        42, {"ml.model.name": "fraud", "ml.model.version": "3", "run": run}
    )
    histogram = meter.create_histogram("ml.feature.distribution")
    for value in FEATURE_VALUES:
        histogram.record(value, {"ml.model.name": "fraud", "ml.feature.name": "amount", "run": run})
    assert provider.force_flush(10_000)
    provider.shutdown()

    counter = victoria_metrics.poll(f'{{__name__="ml.inference.predictions",run="{run}"}}')
    assert len(counter) == 1
    labels = counter[0]["metric"]
    assert labels["ml.model.name"] == "fraud"
    assert labels["ml.model.version"] == "3"
    assert labels["service.name"] == "fraud-api"
    assert float(counter[0]["value"][1]) == 42

    count = victoria_metrics.poll(f'{{__name__="ml.feature.distribution_count",run="{run}"}}')
    total = victoria_metrics.poll(f'{{__name__="ml.feature.distribution_sum",run="{run}"}}')
    assert float(count[0]["value"][1]) == len(FEATURE_VALUES)
    assert float(total[0]["value"][1]) == pytest.approx(sum(FEATURE_VALUES))
    assert count[0]["metric"]["ml.feature.name"] == "amount"
    buckets = victoria_metrics.poll(
        f'{{__name__="ml.feature.distribution_bucket",run="{run}"}}', count=len(set(FEATURE_VALUES))
    )
    assert sum(float(b["value"][1]) for b in buckets) == len(FEATURE_VALUES)
    for value in FEATURE_VALUES:  # every value sits in exactly one stored bucket (lower, upper]
        holding = [b for b in buckets if _in_vmrange(value, b["metric"]["vmrange"])]
        assert len(holding) == 1, (value, [b["metric"]["vmrange"] for b in buckets])
    median = victoria_metrics.query(
        f'histogram_quantile(0.5, sum({{__name__="ml.feature.distribution_bucket",run="{run}"}}) by (vmrange))'
    )
    assert 2.0 <= float(median[0]["value"][1]) <= 3.0 * 1.05


def _in_vmrange(value: float, vmrange: str) -> bool:
    lower, upper = (float(x) for x in vmrange.split("..."))
    # vmrange bounds are printed with 4 significant digits: allow that rounding at the edges
    return lower * (1 - 1e-3) < value <= upper * (1 + 1e-3) and not math.isclose(value, lower, rel_tol=1e-3)


def test_self_metrics_reach_victoria_metrics(
    to_victoria_metrics: Collector, victoria_metrics: VictoriaMetrics
) -> None:
    """The collector's own counters and queue gauges are exported with the rest and carry its service name."""
    body = ExportMetricsServiceRequest().SerializeToString()
    response = requests.post(
        f"http://{to_victoria_metrics.http_endpoint}/v1/metrics",
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert response.status_code == 200
    to_victoria_metrics.emit_self_metrics()
    instance = to_victoria_metrics.metrics.resource["service.instance.id"]
    received = victoria_metrics.poll(
        f'{{__name__="otel_mlmon.collector.requests.received",service.instance.id="{instance}"}}'
    )
    assert received[0]["metric"]["service.name"] == "otel-mlmon-collector"
    assert received[0]["metric"]["transport"] == "http"
    assert float(received[0]["value"][1]) >= 1
    capacity = victoria_metrics.poll(
        f'{{__name__="otel_mlmon.collector.queue.capacity",service.instance.id="{instance}"}}'
    )
    assert float(capacity[0]["value"][1]) == 1000


@pytest.fixture
def to_phoenix(phoenix: Phoenix) -> Iterator[Collector]:
    """A collector forwarding traces to the session's Phoenix over HTTP/protobuf."""
    exporter = {"name": "phoenix", "signals": ["traces"], "endpoint": phoenix.base_url}
    collector = Collector(collector_config(exporters=[exporter]))
    collector.start()
    yield collector
    collector.shutdown(10)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_spans_reach_phoenix_unchanged(protocol: str, to_phoenix: Collector, phoenix: Phoenix) -> None:
    """Spans sent with the official exporter arrive in Phoenix with names, parentage, attributes and status."""
    project = f"otel-mlmon-{protocol}-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(
        resource=Resource.create({"service.name": "fraud-api", "openinference.project.name": project})
    )
    provider.add_span_processor(BatchSpanProcessor(_span_exporter(protocol, to_phoenix)))
    tracer = provider.get_tracer("otel_mlmon")
    with tracer.start_as_current_span("handle request") as parent:
        parent_id = format(parent.get_span_context().span_id, "016x")
        with tracer.start_as_current_span(
            "predict fraud",
            attributes={"ml.model.name": "fraud", "ml.model.version": "3", "ml.batch.size": 16},
        ) as child:
            child.set_status(Status(StatusCode.ERROR, "model failed"))
            child.set_attribute("error.type", "ValueError")
    assert provider.force_flush(10_000)
    provider.shutdown()

    spans = wait_until(
        lambda: (s := phoenix.spans(project)) and len(s) >= 2 and s, 60, 0.5, "spans in Phoenix"
    )
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {"handle request", "predict fraud"}
    predict = by_name["predict fraud"]
    assert predict["parent_id"] == parent_id
    assert predict["context"]["trace_id"] == by_name["handle request"]["context"]["trace_id"]
    attributes = predict["attributes"]
    assert attributes["ml.model.name"] == "fraud"
    assert attributes["ml.model.version"] == "3"
    assert attributes["ml.batch.size"] == 16
    assert attributes["error.type"] == "ValueError"
    assert predict["status_code"] == "ERROR"
    assert predict["status_message"] == "model failed"


def test_downstream_outage_loses_nothing_within_the_queue_bound(
    own_victoria_metrics: VictoriaMetrics,
) -> None:
    """Requests received while the backend is down are held, retried, and all arrive once it is back."""
    vm = own_victoria_metrics
    exporter = {
        "name": "vm",
        "signals": ["metrics"],
        "metrics_endpoint": vm.otlp_metrics_url,
        "retry": {"initial_interval_seconds": 0.1, "max_interval_seconds": 0.5, "max_elapsed_seconds": 0},
    }
    collector = Collector(collector_config(exporters=[exporter], queue={"max_requests": 50, "workers": 1}))
    collector.start()
    try:
        vm.stop()
        run = uuid.uuid4().hex
        sent = 30
        for seq in range(sent):
            response = requests.post(
                f"http://{collector.http_endpoint}/v1/metrics",
                data=_gauge_request("outage.sequence", seq, run).SerializeToString(),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=10,
            )
            assert response.status_code == 200
        wait_until(
            lambda: collector.metrics.total("otel_mlmon.collector.requests.retried") >= 3, 20, what="retries"
        )
        queued = len(collector.pipeline.lanes[0].queue) + collector.pipeline.lanes[0].queue.in_flight
        assert queued == sent
        time.sleep(1.0)  # stay down for a while
        vm.start()
        series = vm.poll(f'{{__name__="outage.sequence",run="{run}"}}', timeout=60, count=sent)
        assert sorted(int(float(s["value"][1])) for s in series) == list(range(sent))
        assert collector.metrics.total("otel_mlmon.collector.requests.dropped") == 0
    finally:
        collector.shutdown(10)


def _gauge_request(name: str, value: int, run: str) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name=name)
    point = metric.gauge.data_points.add(time_unix_nano=time.time_ns(), as_int=value)
    for key, val in (("run", run), ("seq", str(value))):
        attribute = point.attributes.add(key=key)
        attribute.value.string_value = val
    return request


def test_bad_requests_are_answered_and_the_next_one_still_arrives(
    to_victoria_metrics: Collector, victoria_metrics: VictoriaMetrics
) -> None:
    """A malformed and an oversized request get 400 and 413, and a good request right after is delivered."""
    url = f"http://{to_victoria_metrics.http_endpoint}/v1/metrics"
    headers = {"Content-Type": "application/x-protobuf"}
    assert (
        requests.post(url, data=b"\xff\xff\xff not protobuf", headers=headers, timeout=10).status_code == 400
    )
    limit = to_victoria_metrics.config.receivers.max_request_bytes
    bomb = gzip.compress(b"\0" * (limit + 1), compresslevel=9)  # ~64 KiB that inflate past the limit
    oversized = requests.post(url, data=bomb, headers={**headers, "Content-Encoding": "gzip"}, timeout=30)
    assert oversized.status_code == 413
    run = uuid.uuid4().hex
    good = requests.post(
        url,
        data=_gauge_request("after.bad.requests", 7, run).SerializeToString(),
        headers=headers,
        timeout=10,
    )
    assert good.status_code == 200
    series = victoria_metrics.poll(f'{{__name__="after.bad.requests",run="{run}"}}')
    assert float(series[0]["value"][1]) == 7
