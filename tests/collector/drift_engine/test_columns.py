"""Column pairing end to end: confidence columns of probability classifiers, and columns without a counterpart."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._drift_engine.columns import override_key
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._windows import WindowConfig

import otel_mlmon
from otel_mlmon import Profile
from otel_mlmon import conventions as conv
from otel_mlmon.testing import InMemoryTelemetry

from ._helpers import collected_request, gauges

CLASSES = ["ok", "fraud"]
NAMES = ["amount", "age", "score"]
ENGINE_LOGGER = "otel_mlmon_collector._drift_engine"


def _rows(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    X = rng.normal(size=(n, 3))
    X[:, 0] += shift
    return X


def _proba(X: np.ndarray) -> np.ndarray:
    """A logistic classifier's P(ok), P(fraud): confident on most rows, shifted amounts make it less sure."""
    p = 1.0 / (1.0 + np.exp(-(2.0 * X[:, 0] - 1.0)))
    return np.column_stack([1.0 - p, p])


def _monitored(telemetry: InMemoryTelemetry, **options: Any) -> Callable[[np.ndarray], np.ndarray]:
    return otel_mlmon.monitor(
        model="clf",
        version="1",
        classes=CLASSES,
        max_rows=None,
        trace=False,
        **options,
        **telemetry.providers,
    )(_proba)


def _engine(directory: Path, sink: list[OtlpRequest], **config: Any) -> DriftProcessor:
    return DriftProcessor(
        DriftConfig(
            references_directory=str(directory),
            evaluation_interval_seconds=0,
            reference_poll_seconds=0,
            windows=WindowConfig(window_seconds=3600, evaluation_windows=1),
            **config,
        ),
        sink.append,
    )


@pytest.mark.parametrize("shift", [0.0, 1.5])
def test_probability_classifier_confidence_is_compared(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, shift: float
) -> None:
    """Per-class confidence of a predict_proba model is compared (with its confidence:NAME override), no errors."""
    rng = np.random.default_rng(3)
    X = _rows(rng, 20_000)
    Profile.from_data(X, _proba(X), model="clf", version="1", feature_names=NAMES, classes=CLASSES).save(
        tmp_path / "clf.json"
    )
    sink: list[OtlpRequest] = []
    overrides = {"*": {"confidence:prediction": {"method": "ks", "alpha": 0.01}}}
    engine = _engine(tmp_path, sink, overrides=overrides)
    telemetry = InMemoryTelemetry("delta")
    predict = _monitored(telemetry, feature_names=NAMES)
    for _ in range(5):
        predict(_rows(rng, 400, shift))
    engine.process(collected_request(telemetry))
    with caplog.at_level(logging.INFO, logger=ENGINE_LOGGER):
        stream = engine.evaluate_now().stream("clf")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    confidence = {c.name: c for c in stream.columns if c.target == "confidence"}
    assert set(confidence) == {("prediction", "ok"), ("prediction", "fraud")}
    for column in confidence.values():
        distribution = column.results["distribution"]
        assert (distribution.method, distribution.alpha) == ("ks", 0.01)
    assert any(c.detected for c in confidence.values()) == (shift > 0)
    points = [
        a for a, _ in gauges(sink, conv.METRIC_DRIFT_SCORE) if a[conv.ATTR_DRIFT_TARGET] == "confidence"
    ]
    assert {(a[conv.ATTR_OUTPUT_NAME], a[conv.ATTR_PREDICTION_CLASS]) for a in points} == set(confidence)
    telemetry.shutdown()


def test_override_keys_name_outputs_and_confidence_by_output() -> None:
    """Features are keyed by name, outputs as output:NAME, and every class of a confidence column as confidence:NAME."""
    assert override_key("feature", "age") == "age"
    assert override_key("output", "prediction") == "output:prediction"
    assert override_key("confidence", ("prediction", "fraud")) == "confidence:prediction"


def test_unmatched_columns_are_counted_and_hinted_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A DataFrame-built profile against numpy traffic (f0...): unmatched gauge per side and one feature_names= hint."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(4)
    X = _rows(rng, 5_000)
    Profile.from_data(pd.DataFrame(X, columns=NAMES), model="clf", version="1").save(tmp_path / "clf.json")
    sink: list[OtlpRequest] = []
    engine = _engine(tmp_path, sink)
    telemetry = InMemoryTelemetry("delta")
    predict = otel_mlmon.monitor(model="clf", version="1", max_rows=None, trace=False, **telemetry.providers)(
        lambda batch: batch[:, 0]
    )
    predict(_rows(rng, 500))
    engine.process(collected_request(telemetry))
    with caplog.at_level(logging.INFO, logger=ENGINE_LOGGER):
        first = engine.evaluate_now().stream("clf")
        engine.evaluate_now()
    assert [c for c in first.columns if c.target == "feature"] == []
    unmatched = first.unmatched_for("feature")
    assert sorted(unmatched.live_only) == ["f0", "f1", "f2"]
    assert sorted(unmatched.reference_only) == sorted(NAMES)
    values = {
        (a[conv.ATTR_DRIFT_TARGET], a[conv.ATTR_DRIFT_SIDE]): v
        for a, v in gauges(sink[:1], conv.METRIC_DRIFT_COLUMNS_UNMATCHED)
    }
    assert values[("feature", "current")] == 3.0 and values[("feature", "reference")] == 3.0
    assert values[("output", "current")] == 1.0  # the profile was built without predictions
    hints = [r for r in caplog.records if "feature_names=" in r.getMessage()]
    assert len(hints) == 1 and hints[0].levelno == logging.WARNING
    assert len(caplog.records) == 1, [r.getMessage() for r in caplog.records]
    telemetry.shutdown()


def test_matched_columns_report_zero_unmatched(tmp_path: Path) -> None:
    """When every column has its counterpart, ml.drift.columns.unmatched is 0 for each target and side."""
    rng = np.random.default_rng(5)
    X = _rows(rng, 5_000)
    Profile.from_data(X, _proba(X), model="clf", version="1", feature_names=NAMES, classes=CLASSES).save(
        tmp_path / "clf.json"
    )
    sink: list[OtlpRequest] = []
    engine = _engine(tmp_path, sink)
    telemetry = InMemoryTelemetry("delta")
    _monitored(telemetry, feature_names=NAMES)(_rows(rng, 2_000))
    engine.process(collected_request(telemetry))
    engine.evaluate_now()
    values = gauges(sink, conv.METRIC_DRIFT_COLUMNS_UNMATCHED)
    assert len(values) == 6 and all(v == 0.0 for _, v in values)
    telemetry.shutdown()
