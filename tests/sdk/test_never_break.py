"""Monitoring faults never reach the user's call: they are counted, logged at a bounded rate, and exported."""

from __future__ import annotations

import logging

import pytest

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon._faults import FaultCounter, faults


class _BrokenTracerProvider:
    """A tracer provider whose tracer fails on every span: a fault injected into the span path."""

    def get_tracer(self, *args, **kwargs):
        return self

    def start_span(self, *args, **kwargs):
        raise RuntimeError("tracer exploded")


def test_failing_batch_size_reader_does_not_break_predict(telemetry):
    """A batch_size callable that raises leaves the result intact and counts a fault."""
    before = faults.counts().get("batch_size", 0)

    def bad_rows(args, kwargs):
        raise ZeroDivisionError

    @otel_mlmon.monitor(model="m", batch_size=bad_rows, **telemetry.providers)
    def predict(X):
        return "ok"

    assert predict([1]) == "ok"
    assert faults.counts()["batch_size"] == before + 1
    (point,) = telemetry.points(conv.METRIC_SDK_FAULTS, {conv.ATTR_FAULT: "batch_size"})
    assert point.value >= 1


def test_failing_tracer_does_not_break_predict_or_metrics(telemetry):
    """A tracer that raises on start_span: predict still returns, metrics still count the call."""

    @otel_mlmon.monitor(
        model="m", tracer_provider=_BrokenTracerProvider(), meter_provider=telemetry.meter_provider
    )
    def predict(X):
        return len(X)

    assert predict([[1], [2]]) == 2
    assert telemetry.points(conv.METRIC_PREDICTIONS)[0].value == 2


def test_user_exception_passes_through_a_failing_tracer():
    """Even with monitoring broken, the user's own exception is what the caller sees."""

    @otel_mlmon.monitor(model="m", tracer_provider=_BrokenTracerProvider())
    def predict(X):
        raise LookupError("user error")

    with pytest.raises(LookupError, match="user error"):
        predict([1])


def test_failing_bridge_leaves_the_sdk_export_intact(telemetry, monkeypatch):
    """If building our points fails at collection, the SDK's own metrics are still delivered."""
    from otel_mlmon import _bridge

    meter = telemetry.meter_provider.get_meter("app")
    counter = meter.create_counter("app.requests")

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        return X

    predict([1])
    counter.add(1)

    def explode(self, reader):
        raise RuntimeError("bridge bug")

    monkeypatch.setattr(_bridge.MetricBridge, "collect_metrics", explode)
    data = telemetry.collect()
    assert telemetry.points("app.requests", data=data)[0].value == 1
    assert telemetry.points(conv.METRIC_DURATION, data=data) == []


def test_fault_log_is_rate_limited(caplog):
    """A fault repeated many times is logged once per interval with a count of the suppressed ones."""
    now = [0.0]
    counter = FaultCounter(log_interval_seconds=60, _timer=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="otel_mlmon")
    for _ in range(100):
        counter.report("adapter", ValueError("bad input"))
    assert len(caplog.records) == 1
    now[0] = 61.0
    counter.report("adapter")
    assert len(caplog.records) == 2
    assert "99 more" in caplog.records[1].getMessage()
    assert counter.counts() == {"adapter": 101}
