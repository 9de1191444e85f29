"""``ml.prediction.class_probability`` end to end: the collector's windows rebuild the SDK's per-class sketches (a
view's ``class_probability`` as its ``confidence``), and the drift engine compares none of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._windows import StreamKey, WindowConfig, WindowStore

import otel_mlmon
from otel_mlmon import Profile
from otel_mlmon import conventions as conv
from otel_mlmon.adapters import read_outputs
from otel_mlmon.summary import Summary
from otel_mlmon.testing import InMemoryTelemetry

from ._helpers import collected_request, gauges

CLASSES = ["low", "mid", "high"]
NAMES = ["a", "b"]
KEY = StreamKey("tri", "1", "predict_proba")


def _proba(X: np.ndarray) -> np.ndarray:
    """A softmax over three classes, driven by the first feature."""
    logits = np.column_stack([-2.0 * X[:, 0], 0.5 - X[:, 1] ** 2, 2.0 * X[:, 0]])
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _monitored(telemetry: InMemoryTelemetry) -> Any:
    return otel_mlmon.monitor(
        model="tri",
        version="1",
        operation="predict_proba",
        classes=CLASSES,
        feature_names=NAMES,
        max_rows=None,
        trace=False,
        **telemetry.providers,
    )(_proba)


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_the_view_holds_the_sdk_class_probabilities(temporality: str) -> None:
    """Three exports rebuild, per (output, class), the histogram of all rows' p_c off the predicted class."""
    rng = np.random.default_rng(1)
    telemetry = InMemoryTelemetry(temporality)
    predict = _monitored(telemetry)
    store = WindowStore()
    expected = Summary()
    for n in (500, 80, 1200):
        X = rng.normal(size=(n, 2))
        predict(X)
        expected.add_outputs(read_outputs(_proba(X), classes=CLASSES))
        assert store.ingest(collected_request(telemetry).message) > 0
    view = store.view(KEY)
    assert (
        set(view.class_probability) == set(expected.class_probability) == {("prediction", c) for c in CLASSES}
    )
    for key, column in expected.class_probability.items():
        got = view.class_probability[key].numeric
        assert (got.count, got.min, got.max) == (column.numeric.count, column.numeric.min, column.numeric.max)
        assert got.sum == pytest.approx(column.numeric.sum, rel=1e-12)
        assert got.to_dict()["positive"] == column.numeric.to_dict()["positive"]
    # Kept beside the confidence of the same output, keyed the same way.
    assert {o for o, _ in view.class_probability} == {o for o, _ in view.confidence}
    telemetry.shutdown()


def test_the_drift_engine_compares_no_class_probability(tmp_path: Path) -> None:
    """A reference and live traffic with class probabilities: drift columns, events and gauges only for features,
    outputs and confidence; the windows still hold the section for the estimates."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(5000, 2))
    reference = Profile.from_data(
        X, _proba(X), model="tri", version="1", feature_names=NAMES, classes=CLASSES
    )
    assert set(reference.summary.class_probability) == {("prediction", c) for c in CLASSES}
    reference.save(tmp_path / "tri.json")
    sink: list[OtlpRequest] = []
    engine = DriftProcessor(
        DriftConfig(
            references_directory=str(tmp_path),
            evaluation_interval_seconds=0,
            reference_poll_seconds=0,
            windows=WindowConfig(window_seconds=3600, evaluation_windows=1),
        ),
        sink.append,
    )
    telemetry = InMemoryTelemetry("delta")
    predict = _monitored(telemetry)
    for _ in range(4):
        Xs = rng.normal(size=(500, 2))
        Xs[:, 0] += 1.5  # drifted: the probabilities shift too
        predict(Xs)
    engine.process(collected_request(telemetry))
    assert set(engine.windows.view(KEY).class_probability) == set(reference.summary.class_probability)
    stream = engine.evaluate_now().stream("tri")
    assert {c.target for c in stream.columns} == {"feature", "output", "confidence"}
    confidence = [c.name for c in stream.columns if c.target == "confidence"]
    assert sorted(confidence) == sorted(reference.summary.confidence)
    targets = {a.get(conv.ATTR_DRIFT_TARGET) for a, _ in gauges(sink, conv.METRIC_DRIFT_SCORE)}
    assert targets == {"feature", "output", "confidence"}
    assert {r.signal for r in sink} == {"metrics", "logs"}  # gauges and drift events were sent
    assert not any(b"class_probability" in r.payload for r in sink)  # and none names the section
    telemetry.shutdown()
    engine.shutdown()
