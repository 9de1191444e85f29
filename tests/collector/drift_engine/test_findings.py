"""The OTLP encoding of the engine's output: gauges and events, resource and scope, every attribute type."""

from __future__ import annotations

import math

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from otel_mlmon_collector._findings import (
    SCOPE_NAME,
    SERVICE_NAME,
    Findings,
    default_resource,
    series_prefix,
)

T = 1_795_000_000_123_456_789
ATTRS = {"s": "fraud", "unicode": "país", "yes": True, "no": False, "int": 3600, "neg": -7, "f": 0.25}


def _expected_point(value: float) -> metrics_pb2.NumberDataPoint:
    kvs = [
        KeyValue(key="s", value=AnyValue(string_value="fraud")),
        KeyValue(key="unicode", value=AnyValue(string_value="país")),
        KeyValue(key="yes", value=AnyValue(bool_value=True)),
        KeyValue(key="no", value=AnyValue(bool_value=False)),
        KeyValue(key="int", value=AnyValue(int_value=3600)),
        KeyValue(key="neg", value=AnyValue(int_value=-7)),
        KeyValue(key="f", value=AnyValue(double_value=0.25)),
    ]
    return metrics_pb2.NumberDataPoint(attributes=kvs, time_unix_nano=T, as_double=value)


def test_gauges_encode_like_protobuf_messages() -> None:
    """Hand-encoded gauge points parse to exactly the messages protobuf would build, for every attribute type."""
    findings = Findings(T, {"service.name": SERVICE_NAME})
    findings.gauge("ml.drift.score", 0.5, ATTRS)
    findings.gauge("ml.drift.score", -1.5e300, ATTRS)
    findings.gauge("ml.model.age", 86_400.0, {"s": "fraud"}, unit="s", description="age")
    request = findings.metrics_request()
    assert request is not None and request.signal == "metrics" and request.items == 3
    decoded = ExportMetricsServiceRequest.FromString(request.payload)
    assert decoded == request.message
    rm = decoded.resource_metrics[0]
    assert rm.resource.attributes[0].value.string_value == SERVICE_NAME
    sm = rm.scope_metrics[0]
    assert sm.scope.name == SCOPE_NAME
    score, age = sm.metrics
    assert list(score.gauge.data_points) == [_expected_point(0.5), _expected_point(-1.5e300)]
    assert (age.name, age.unit, age.description) == ("ml.model.age", "s", "age")
    assert age.gauge.data_points[0].as_double == 86_400.0


def test_non_finite_values_are_left_out_and_empty_findings_give_no_request() -> None:
    """NaN and infinite gauge values are dropped; nothing collected means no request at all."""
    findings = Findings(T)
    findings.gauge("ml.drift.score", math.nan, {"s": "x"})
    findings.gauge("ml.drift.score", math.inf, {"s": "x"})
    assert findings.points == 0
    assert findings.metrics_request() is None and findings.logs_request() is None


def test_events_are_log_records_with_event_name_and_severity() -> None:
    """An event becomes a log record with event_name, body, attributes and WARN/INFO severity."""
    findings = Findings(T, default_resource())
    findings.event(
        "ml.drift.changed", "drift detected", {"ml.feature.name": "amount", "detected": True}, "WARN"
    )
    findings.event("ml.drift.changed", "resolved", {"ml.feature.name": "amount"})
    request = findings.logs_request()
    assert request is not None and request.signal == "logs" and request.items == 2
    records = request.message.resource_logs[0].scope_logs[0].log_records
    assert [r.event_name for r in records] == ["ml.drift.changed"] * 2
    assert [r.severity_number for r in records] == [
        logs_pb2.SEVERITY_NUMBER_WARN,
        logs_pb2.SEVERITY_NUMBER_INFO,
    ]
    assert records[0].body.string_value == "drift detected" and records[0].time_unix_nano == T
    assert records[0].attributes[1].value.bool_value is True
    with pytest.raises(ValueError, match="severity"):
        findings.event("x", "y", {}, severity="LOUD")


def test_series_prefix_points_equal_gauge_points() -> None:
    """A point added through a series prefix encoded once is the point gauge() adds from the attributes."""
    prefix = series_prefix(ATTRS)
    by_prefix, by_attributes = Findings(T, {"service.name": "s"}), Findings(T, {"service.name": "s"})
    for value in (0.5, -2.0, 1e-300, math.nan):
        by_prefix.gauge_series("ml.drift.score", prefix, value, description="score")
        by_attributes.gauge("ml.drift.score", value, ATTRS, description="score")
    first, second = by_prefix.metrics_request(), by_attributes.metrics_request()
    assert first is not None and second is not None and first.items == 3
    assert first.payload == second.payload
    assert list(first.message.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points) == [
        _expected_point(v) for v in (0.5, -2.0, 1e-300)
    ]
