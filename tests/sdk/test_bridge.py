"""The bridge: point conversion, and the fallback when its SDK hooks cannot attach (faults injected)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

import otel_mlmon
from otel_mlmon import _bridge, _call, _points
from otel_mlmon import conventions as conv
from otel_mlmon._aggregate import InferenceStream
from otel_mlmon._faults import FaultCounter
from otel_mlmon.testing import InMemoryTelemetry


@pytest.fixture
def fresh_faults(monkeypatch):
    """An isolated fault counter for the bridge, so counts and the once-a-minute log start from zero."""
    counter = FaultCounter()
    monkeypatch.setattr(_bridge, "report_fault", counter.report)
    return counter


@pytest.fixture
def retry_every_call(monkeypatch):
    """Decorators look for a bridge again on every call (instead of once a second), as after a long run."""
    monkeypatch.setattr(_call, "_BIND_RETRY_SECONDS", 0.0)


def _sdk_hooks_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "cannot attach" in r.getMessage()]


def test_to_metrics_reports_each_kind_in_the_readers_temporality():
    """Counters from the interval (delta) and histograms from the running total (cumulative), as asked."""
    stream = InferenceStream({"ml.model.name": "m"})
    stream.record(0.01, 3, None, None)
    first = stream.swap()
    stream.record(0.02, 2, None, None)
    second = stream.swap()
    total = stream.new_interval()
    total.merge(first)
    total.merge(second)
    metrics = _points.to_metrics(
        [(stream.attributes, total, second)],
        now_ns=300,
        delta_kinds={_points.COUNTER},
        cumulative_start_ns=100,
        delta_start_ns=200,
    )
    by_name = {metric.name: metric for metric in metrics}
    predictions = by_name[conv.METRIC_PREDICTIONS].data
    assert predictions.aggregation_temporality == AggregationTemporality.DELTA
    assert [(p.value, p.start_time_unix_nano) for p in predictions.data_points] == [(2, 200)]
    duration = by_name[conv.METRIC_DURATION].data
    assert duration.aggregation_temporality == AggregationTemporality.CUMULATIVE
    assert [(p.count, p.start_time_unix_nano) for p in duration.data_points] == [(2, 100)]


@pytest.mark.parametrize(
    "internal", ["_measurement_consumer", "_sdk_config"], ids=["reader_storages", "sdk_config"]
)
def test_provider_without_an_internal_falls_back_with_one_clear_fault(
    monkeypatch, caplog, fresh_faults, retry_every_call, internal
):
    """An SDK provider lacking an internal: predict and spans work, one warning names the SDK version, the
    internal and what is lost, and one sdk_hooks fault is counted however many calls follow."""
    telemetry = InMemoryTelemetry()
    monkeypatch.delattr(telemetry.meter_provider, internal)

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        return X * 2

    with caplog.at_level(logging.WARNING, logger="otel_mlmon"):
        for _ in range(50):
            assert predict(np.ones((2, 2))).sum() == 8
    assert len(telemetry.spans()) == 50
    (message,) = _sdk_hooks_warnings(caplog)
    assert _bridge.sdk_version() in message and internal in message
    assert (
        "ml.* metrics" in message and "not exported" in message and "predict calls are unaffected" in message
    )
    assert fresh_faults.counts() == {"sdk_hooks": 1}
    monkeypatch.undo()  # the SDK's own export is untouched (restore the attribute so shutdown works)
    telemetry.shutdown()


def test_reader_without_an_internal_is_skipped_and_the_others_still_export(monkeypatch, caplog, fresh_faults):
    """A reader lacking _instrument_class_temporality gets only the SDK's metrics (one warning naming it); the
    provider's other readers still receive ours."""
    broken, working = InMemoryMetricReader(), InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[broken, working])
    monkeypatch.delattr(broken, "_instrument_class_temporality")
    app_counter = provider.get_meter("app").create_counter("app.requests")

    @otel_mlmon.monitor(model="m", meter_provider=provider)
    def predict(X):
        return X

    with caplog.at_level(logging.WARNING, logger="otel_mlmon"):
        predict([[1.0], [2.0]])
        app_counter.add(1)

        def names(reader):
            data = reader.get_metrics_data()
            return {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}

        assert names(broken) == {"app.requests"}
        assert conv.METRIC_PREDICTIONS in names(working)
    (message,) = _sdk_hooks_warnings(caplog)
    assert "MetricReader._instrument_class_temporality" in message and "InMemoryMetricReader" in message
    assert fresh_faults.counts() == {"sdk_hooks": 1}
    monkeypatch.undo()
    provider.shutdown()


def test_bridge_that_breaks_while_attaching_is_reported_once(
    monkeypatch, caplog, fresh_faults, retry_every_call
):
    """An internal that passes the checks but breaks while attaching is still one fault, not one per call."""
    telemetry = InMemoryTelemetry()

    def broken(self, provider):
        raise TypeError("new signature")

    monkeypatch.setattr(_bridge.MetricBridge, "_attach", broken)

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        return X

    with caplog.at_level(logging.WARNING, logger="otel_mlmon"):
        for _ in range(20):
            predict([1])
    (message,) = _sdk_hooks_warnings(caplog)
    assert "TypeError: new signature" in message
    assert fresh_faults.counts() == {"sdk_hooks": 1}
    assert len(telemetry.spans()) == 20
    telemetry.shutdown()


def test_non_sdk_providers_are_left_alone_without_a_fault(fresh_faults):
    """The API's no-op provider is not an SDK provider: no bridge and no fault (nothing to export to)."""
    from opentelemetry.metrics import NoOpMeterProvider

    assert _bridge.bridge_for(NoOpMeterProvider()) is None
    assert fresh_faults.counts() == {}
