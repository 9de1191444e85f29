"""End to end over real OTLP: configure() from OTEL_* variables, a decorated model, a real receiver."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.sdk.otlp_sink import OTLPSink

_APP = textwrap.dedent(
    """
    import numpy as np
    import otel_mlmon

    telemetry = otel_mlmon.configure()

    @otel_mlmon.monitor(model="fraud", version="7")
    def predict(X):
        if X.shape[0] == 0:
            raise ValueError("empty batch")
        return X.sum(axis=1)

    for rows in (3, 5):
        predict(np.ones((rows, 4)))
    try:
        predict(np.ones((0, 4)))
    except ValueError:
        pass
    telemetry.shutdown()
    """
)


@pytest.fixture
def sink():
    s = OTLPSink().start()
    yield s
    s.stop()


def _attrs(kvs) -> dict:
    out = {}
    for kv in kvs:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_and_metrics_arrive_over_otlp(sink, protocol):
    """A process configured only by OTEL_* variables exports spans and ml.* metrics a real receiver decodes."""
    port = sink.grpc_port if protocol == "grpc" else sink.http_port
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_SERVICE_NAME": "scoring-api",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme",
    }
    result = subprocess.run([sys.executable, "-c", _APP], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

    spans = sink.spans()
    assert len(spans) == 3
    resource, _ = spans[0]
    assert _attrs(resource.attributes)["service.name"] == "scoring-api"
    assert _attrs(resource.attributes)["deployment.environment"] == "test"
    by_rows = {_attrs(span.attributes).get("ml.batch.size"): span for _, span in spans}
    assert set(by_rows) == {3, 5, 0}
    failed = by_rows[0]
    assert failed.status.code == 2  # STATUS_CODE_ERROR
    assert _attrs(failed.attributes)["error.type"] == "ValueError"
    assert _attrs(by_rows[3].attributes)["ml.model.name"] == "fraud"

    metrics = {(scope.name, metric.name): metric for _, scope, metric in sink.metrics()}
    duration = metrics[("otel_mlmon", "ml.inference.duration")]
    assert duration.unit == "s"
    points = {_attrs(p.attributes).get("error.type"): p for p in duration.histogram.data_points}
    assert points[None].count == 2 and points["ValueError"].count == 1
    assert _attrs(points[None].attributes)["ml.model.version"] == "7"
    assert len(points[None].exemplars) == 1
    predictions = metrics[("otel_mlmon", "ml.inference.predictions")]
    assert predictions.sum.is_monotonic
    assert predictions.sum.data_points[-1].as_int == 8
    batch = metrics[("otel_mlmon", "ml.inference.batch.size")]
    assert batch.histogram.data_points[-1].count == 3
    distribution = metrics[("otel_mlmon", "ml.feature.distribution")].exponential_histogram
    by_feature = {_attrs(p.attributes)["ml.feature.name"]: p for p in distribution.data_points}
    assert set(by_feature) == {"f0", "f1", "f2", "f3"}
    for point in by_feature.values():  # every row sent is in the sketch: 3 + 5 rows of ones
        assert point.count == 8 and point.sum == 8.0 and sum(point.positive.bucket_counts) == 8
