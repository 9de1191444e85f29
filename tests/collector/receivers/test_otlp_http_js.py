"""OTLP/JSON from an independent client: the OpenTelemetry JS SDK's HTTP exporters through the HTTP receiver."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from otel_mlmon_collector import Collector
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._receivers import otlp_http

from ..conftest import OtelJs, collector_config

pytestmark = pytest.mark.e2e
SCRIPT = Path(__file__).resolve().parents[1] / "js" / "send_otlp_json.cjs"


def _attributes(key_values) -> dict:  # type: ignore[no-untyped-def]
    out = {}
    for kv in key_values:
        kind = kv.value.WhichOneof("value")
        value = getattr(kv.value, kind)
        out[kv.key] = (
            [getattr(v, v.WhichOneof("value")) for v in value.values] if kind == "array_value" else value
        )
    return out


def test_js_sdk_json_spans_and_metrics_arrive_intact(
    otel_js: OtelJs, make_collector: Callable[..., Collector], monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON from the JS SDK (hex ids, int64 strings, typed attributes, exponential histograms) decodes exactly."""
    json_bodies = []

    def spy(signal: str, body: bytes):  # type: ignore[no-untyped-def]
        json_bodies.append(signal)
        return decode_json(signal, body)

    decode_json = otlp_http.decode_json
    monkeypatch.setattr(otlp_http, "decode_json", spy)
    sink = InMemoryExporter("mem")
    collector = make_collector(
        collector_config(receivers={"grpc": {"enabled": False}}), exporters={"mem": sink}
    )
    run = uuid.uuid4().hex
    result = otel_js.run(SCRIPT, f"http://{collector.http_endpoint}", run)
    assert result.returncode == 0, result.stderr
    ids = json.loads(result.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 5
    while (not sink.requests("traces") or not sink.requests("metrics")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "traces" in json_bodies and "metrics" in json_bodies  # the JS exporters really sent JSON

    trace_request = sink.requests("traces")[0].decoded()
    resource = _attributes(trace_request.resource_spans[0].resource.attributes)
    assert (resource["service.name"], resource["run"]) == ("js-client", run)
    span = trace_request.resource_spans[0].scope_spans[0].spans[0]
    assert span.name == "predict js"
    assert span.trace_id.hex() == ids["traceId"] and span.span_id.hex() == ids["spanId"]
    assert span.start_time_unix_nano > 1.7e18
    assert _attributes(span.attributes) == {
        "ml.model.name": "fraud", "ml.batch.size": 16, "ml.score": 0.25, "ml.ok": True, "tags": ["a", "b"],
    }  # fmt: skip

    metrics = {
        m.name: m
        for request in sink.requests("metrics")
        for rm in request.decoded().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    point = metrics["ml.feature.distribution"].exponential_histogram.data_points[0]
    assert (point.count, point.sum, point.zero_count) == (5, 107.5, 0)
    assert sum(point.positive.bucket_counts) == 5
    assert _attributes(point.attributes) == {"ml.feature.name": "amount"}
    base = 2 ** (2**-point.scale)
    for value in (0.5, 1, 2, 4, 100):  # each value's bucket index (lower bound exclusive) holds a count
        index = next(i for i in range(-1000, 1000) if base**i < value <= base ** (i + 1) * (1 + 1e-12))
        assert point.positive.bucket_counts[index - point.positive.offset] >= 1
    counter = metrics["ml.inference.predictions"].sum.data_points[0]
    assert (counter.as_int or counter.as_double) == 9007199254740
