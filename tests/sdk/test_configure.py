"""configure(): providers from arguments, OTEL_* variables and defaults, composing with an existing setup."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

import otel_mlmon


def test_unknown_exporter_or_protocol_is_a_clear_error():
    """Bad explicit values raise ValueError listing the valid ones."""
    with pytest.raises(ValueError, match="otlp, console, none"):
        otel_mlmon.configure(exporter="jaeger", set_global=False)
    with pytest.raises(ValueError, match="grpc, http/protobuf"):
        otel_mlmon.configure(protocol="thrift", set_global=False)


def test_bad_environment_value_warns_and_falls_back(monkeypatch, caplog):
    """An unknown OTEL_EXPORTER_OTLP_PROTOCOL logs a warning and the default is used."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    caplog.set_level(logging.WARNING, logger="otel_mlmon")
    telemetry = otel_mlmon.configure(exporter="none", set_global=False)
    try:
        assert "carrier-pigeon" in caplog.text
    finally:
        telemetry.shutdown()


def test_service_name_argument_wins_over_environment(monkeypatch):
    """An explicit service_name overrides OTEL_SERVICE_NAME on the resource."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    telemetry = otel_mlmon.configure(service_name="explicit", exporter="none", set_global=False)
    try:
        assert telemetry.tracer_provider.resource.attributes["service.name"] == "explicit"
    finally:
        telemetry.shutdown()


def test_existing_global_setup_is_kept():
    """When the application already installed SDK providers, configure() keeps them and says so."""
    script = textwrap.dedent(
        """
        import logging
        from opentelemetry import trace, metrics
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.metrics import MeterProvider
        import otel_mlmon

        logging.basicConfig(level=logging.WARNING)
        mine = TracerProvider()
        trace.set_tracer_provider(mine)
        metrics.set_meter_provider(MeterProvider())
        telemetry = otel_mlmon.configure(exporter="none")
        assert telemetry.tracer_provider is mine, telemetry.tracer_provider
        assert trace.get_tracer_provider() is mine
        print("kept")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "kept" in result.stdout
    assert "already installed" in result.stderr


def test_decorated_before_configure_still_exports():
    """A function decorated at import, before configure() installs the providers, still gets its metrics out."""
    script = textwrap.dedent(
        """
        import otel_mlmon
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        @otel_mlmon.monitor(model="early")
        def predict(X):
            return X

        predict([[1], [2]])      # before any provider exists: kept locally
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        import time; time.sleep(1.1)   # the decorator looks for a provider again at most once a second
        predict([[3], [4], [5]])
        data = reader.get_metrics_data()
        values = [p.value for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
                  if m.name == "ml.inference.predictions" for p in m.data.data_points]
        print(values)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[5]"  # 2 rows before the provider existed + 3 after
