"""Offline findings equal the collector's: the same data through @monitor, OTLP and the DriftProcessor."""

from __future__ import annotations

import math

import numpy as np
import otel_mlmon_collector
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector.offline import compare

import otel_mlmon
from otel_mlmon.profile import Profile
from otel_mlmon.testing import InMemoryTelemetry

from ._data import frame


def _monitored(telemetry: InMemoryTelemetry):
    @otel_mlmon.monitor(model="fraud", version="1", max_rows=None, trace=False, **telemetry.providers)
    def predict(X):
        return np.zeros(len(X))

    return predict


def test_offline_compare_equals_the_collectors_evaluation(tmp_path) -> None:
    """For one window of traffic, compare() gives each column the collector's method, score, p-value and decision."""
    rng = np.random.default_rng(11)
    reference = frame(rng, 5000)
    current = frame(rng, 800, shift=0.3, swap=True)
    Profile.from_data(reference, model="fraud", version="1").save(tmp_path / "fraud.json")

    telemetry = InMemoryTelemetry()
    predict = _monitored(telemetry)
    for start in range(0, len(current), 200):
        predict(current.iloc[start : start + 200])
    message = encode_metrics(telemetry.collect())
    engine = DriftProcessor(
        DriftConfig(references_directory=str(tmp_path), evaluation_interval_seconds=0),
        emit=lambda r: True,
    )
    engine.process(OtlpRequest("metrics", message.SerializeToString(), message))
    stream = engine.evaluate_now().stream("fraud")
    collector = {c.name: c for c in stream.columns if c.target == "feature"}

    offline = compare(tmp_path / "fraud.json", current)
    in_process = otel_mlmon_collector.compare(Profile.load(tmp_path / "fraud.json"), telemetry)
    telemetry.shutdown()

    assert set(collector) == {c.name for c in offline.columns} == {"amount", "age", "tenure", "country"}
    assert sorted(offline.drifted_columns) == ["amount", "country"]
    for report in (offline, in_process):
        for finding in report.columns:
            expected = collector[finding.name]
            assert finding.drifted == expected.detected, finding.name
            assert finding.method == expected.decisive.method, finding.name
            assert math.isclose(finding.score, expected.decisive.score, rel_tol=1e-9), finding.name
            if expected.decisive.p_value is None:
                assert finding.p_value is None
            else:
                assert math.isclose(finding.p_value, expected.decisive.p_value, rel_tol=1e-6), finding.name
            for check, result in expected.results.items():
                assert finding.results[check].n_current == result.n_current, (finding.name, check)
