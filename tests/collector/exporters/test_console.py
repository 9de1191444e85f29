"""Console exporter: readable output of spans, every metric kind and log records."""

from __future__ import annotations

import io

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otel_mlmon_collector._exporters.console import ConsoleExporter, format_request
from otel_mlmon_collector._otlp import OtlpRequest


def _kv(target, key: str, value) -> None:  # type: ignore[no-untyped-def]
    attribute = target.add(key=key)
    if isinstance(value, str):
        attribute.value.string_value = value
    else:
        attribute.value.int_value = value


def test_spans_show_name_ids_duration_status_and_attributes() -> None:
    """A span line has its name, kind, hex ids, parent, duration in ms, status and attributes."""
    message = ExportTraceServiceRequest()
    rs = message.resource_spans.add()
    _kv(rs.resource.attributes, "service.name", "fraud-api")
    ss = rs.scope_spans.add()
    ss.scope.name = "otel_mlmon"
    span = ss.spans.add(
        name="predict fraud", kind=1, start_time_unix_nano=1_000_000, end_time_unix_nano=3_500_000
    )
    span.trace_id, span.span_id, span.parent_span_id = bytes(range(16)), bytes(range(8)), bytes([9] * 8)
    span.status.code, span.status.message = 2, "boom"
    _kv(span.attributes, "ml.model.name", "fraud")
    span.events.add(name="exception")
    text = format_request(OtlpRequest("traces", message.SerializeToString()))
    assert "resource {service.name='fraud-api'}" in text
    assert 'scope "otel_mlmon"' in text
    assert (
        "span 'predict fraud' INTERNAL trace=000102030405060708090a0b0c0d0e0f span=0001020304050607 "
        "parent=0909090909090909 2.500 ms status=ERROR (boom) {ml.model.name='fraud'}"
    ) in text
    assert "event 'exception'" in text


def test_metrics_show_every_kind() -> None:
    """Sums, gauges, histograms, exponential histograms and summaries each get a readable line."""
    message = ExportMetricsServiceRequest()
    sm = message.resource_metrics.add().scope_metrics.add()
    s = sm.metrics.add(name="ml.inference.predictions", unit="{prediction}").sum
    s.aggregation_temporality, s.is_monotonic = 2, True
    _kv(s.data_points.add(as_int=42).attributes, "ml.model.name", "fraud")
    sm.metrics.add(name="g").gauge.data_points.add(as_double=0.5)
    h = sm.metrics.add(name="ml.inference.duration", unit="s").histogram
    h.aggregation_temporality = 1
    h.data_points.add(count=3, sum=0.3, explicit_bounds=[0.1, 1.0], bucket_counts=[1, 2, 0])
    e = sm.metrics.add(name="ml.feature.distribution").exponential_histogram
    point = e.data_points.add(count=4, sum=10.0, scale=3, zero_count=1)
    point.positive.offset = 8
    point.positive.bucket_counts.extend([2, 1])
    sm.metrics.add(name="q").summary.data_points.add(count=2, sum=3.0).quantile_values.add(
        quantile=0.5, value=1.5
    )
    text = format_request(OtlpRequest("metrics", message.SerializeToString()))
    assert "metric ml.inference.predictions sum unit={prediction} cumulative monotonic" in text
    assert "{ml.model.name='fraud'} 42" in text
    assert "metric g gauge" in text and "{} 0.5" in text
    assert "count=3 sum=0.3 buckets[<=0.1:1, <=1:2, <=inf:0]" in text
    assert "count=4 sum=10 scale=3 zero=1" in text
    assert "+ (2, 2.181]:2 (2.181, 2.378]:1" in text  # scale 3: base 2**(1/8), buckets 8 and 9
    assert "q0.5=1.5" in text


def test_logs_show_severity_body_and_attributes() -> None:
    """A log line has its severity (text or derived from the number), body and attributes."""
    message = ExportLogsServiceRequest()
    sl = message.resource_logs.add().scope_logs.add()
    record = sl.log_records.add(severity_number=17)
    record.body.kvlist_value.values.add(key="score").value.double_value = 0.9
    _kv(record.attributes, "ml.prediction.id", "p-1")
    text = format_request(OtlpRequest("logs", message.SerializeToString()))
    assert "log ERROR {'score': 0.9} {ml.prediction.id='p-1'}" in text


def test_export_writes_to_the_stream_and_reports_unformattable_requests() -> None:
    """export() writes one block per request; a payload that cannot be decoded is a failed result, not a crash."""
    out = io.StringIO()
    exporter = ConsoleExporter(stream=out)
    assert exporter.export(OtlpRequest("logs", b"")).outcome == "success"
    assert out.getvalue() == "logs: 0 resources\n"
    result = exporter.export(OtlpRequest("logs", b"\xff\xff"))
    assert result.outcome == "failed" and "cannot format logs request" in result.message


def test_exponential_histogram_lists_only_non_empty_buckets_with_bounds() -> None:
    """Long sparse bucket arrays print as (lower, upper]:count for non-empty buckets, capped with a remainder."""
    message = ExportMetricsServiceRequest()
    metric = message.resource_metrics.add().scope_metrics.add().metrics.add(name="d")
    point = metric.exponential_histogram.data_points.add(count=22, sum=-3.0, scale=0, min=-4.0, max=1000.0)
    point.negative.offset = 1
    point.negative.bucket_counts.extend([0, 2])  # index 2: |x| in (4, 8]
    point.positive.offset = -1
    point.positive.bucket_counts.extend([1 if i % 5 == 0 else 0 for i in range(100)])
    text = format_request(OtlpRequest("metrics", message.SerializeToString()))
    assert "min=-4 max=1000" in text
    assert "- |x| in (4, 8]:2" in text
    assert "+ (0.5, 1]:1 (16, 32]:1" in text
    assert "… 4 more non-empty buckets" in text
    assert "0, 0, 0" not in text
