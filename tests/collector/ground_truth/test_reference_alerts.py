"""The performance processor reads reference performance from the profiles it loads and alerts both ways: a window
below the band is a degradation (concept drift), one above it an improvement (never drift); gauges name their
window; options can differ per model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from otel_mlmon_collector._config_reader import ConfigError
from otel_mlmon_collector._ground_truth._reference_check import compare_with_reference
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._performance import PerformanceConfig, PerformanceProcessor

from otel_mlmon import Profile
from otel_mlmon import conventions as conv
from tests.collector.ground_truth._helpers import SECOND, label_log, prediction_log, request

WINDOW = 600


def _chunk(rng: np.random.Generator, start_s: int, n: int, accuracy: float, tag: str):
    """Predictions of model fraud (version 3) in one window, with labels right a share ``accuracy`` of the time."""
    predictions, labels = [], []
    for i in range(n):
        pid = f"{tag}-{i}"
        predictions.append(
            prediction_log(pid, "yes", (start_s + 1) * SECOND + i * WINDOW * SECOND // (2 * n))
        )
        labels.append(label_log(pid, "yes" if rng.random() < accuracy else "no"))
    return predictions, labels


def _logs(records) -> OtlpRequest:
    message = request(*records)
    return OtlpRequest("logs", message.SerializeToString(), message=message)


def _processor(tmp_path: Path, emitted: list, **section) -> PerformanceProcessor:
    references = tmp_path / "profiles"
    rng = np.random.default_rng(0)
    y = np.where(rng.random(5000) < 0.8, "yes", "no")  # the reference: accuracy 0.8, spread over 10 chunks
    Profile.from_data(
        np.ones((5000, 1)), np.array(["yes"] * 5000), labels=y, model="fraud", version="3"
    ).save(references / "fraud-3.json")
    data = {"path": ":memory:", "window_seconds": WINDOW, "evaluation_interval_seconds": 0}
    config = PerformanceConfig.from_mapping({**data, "references": str(references), **section})
    now = 100 * WINDOW * SECOND
    return PerformanceProcessor(config, emit=emitted.append, clock_ns=lambda: now)


def _points(emitted: list, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for r in emitted:
        if r.signal != "metrics":
            continue
        for rm in r.decoded().resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        for p in m.gauge.data_points:
                            out.append(({kv.key: kv.value.string_value for kv in p.attributes}, p.as_double))
    return out


def _events(emitted: list) -> list[tuple[str, dict[str, str]]]:
    out = []
    for r in emitted:
        if r.signal == "logs":
            for rl in r.decoded().resource_logs:
                for sl in rl.scope_logs:
                    for rec in sl.log_records:
                        out.append((rec.event_name, {kv.key: kv.value.string_value for kv in rec.attributes}))
    return out


def test_reference_from_profiles_alerts_both_ways_and_windows_are_named(tmp_path: Path) -> None:
    emitted: list = []
    processor = _processor(tmp_path, emitted)
    rng = np.random.default_rng(1)
    try:
        for start, accuracy, direction in (
            (0, 0.8, None),
            (WINDOW, 0.95, "improvement"),
            (2 * WINDOW, 0.6, "degradation"),
        ):
            emitted.clear()
            predictions, labels = _chunk(rng, start, 800, accuracy, f"w{start}")
            processor.process(_logs(predictions + labels))
            processor.evaluate_now()
            (change,) = [
                v
                for a, v in _points(emitted, conv.METRIC_PERFORMANCE_CHANGE)
                if a[conv.ATTR_PERFORMANCE_METRIC] == "accuracy"
            ]
            assert change == {None: 0.0, "improvement": 1.0, "degradation": -1.0}[direction]
            events = [
                a for name, a in _events(emitted) if a.get(conv.ATTR_CONCEPT_DRIFT_SOURCE) == "reference"
            ]
            if direction is None:
                assert events == []
            else:
                (event,) = [a for a in events if a[conv.ATTR_CONCEPT_DRIFT_METHOD] == "accuracy"]
                assert event[conv.ATTR_PERFORMANCE_DIRECTION] == direction
                name = (
                    conv.EVENT_CONCEPT_DRIFT if direction == "degradation" else conv.EVENT_PERFORMANCE_CHANGED
                )
                assert (name, event) in _events(emitted)
            (state,) = [v for _, v in _points(emitted, conv.METRIC_CONCEPT_DRIFT_DETECTED)]
            assert state == (1.0 if direction == "degradation" else 0.0)  # an improvement is never drift
            (window_start,) = [v for _, v in _points(emitted, conv.METRIC_PERFORMANCE_WINDOW_START)]
            assert window_start == start
            (lower,) = [
                v
                for a, v in _points(emitted, conv.METRIC_PERFORMANCE_REFERENCE_LOWER)
                if a[conv.ATTR_PERFORMANCE_METRIC] == "accuracy"
            ]
            assert 0.7 < lower < 0.8  # 3 sigma of 500-row chunks, scaled to 800 rows
        assert conv.EVENT_CONCEPT_DRIFT in [name for name, _ in _events(emitted)]
        # late labels for the first window: its own series, named by the window, not the current gauges
        emitted.clear()
        predictions, labels = _chunk(rng, 0, 10, 0.8, "late")
        processor.process(_logs(predictions + labels))
        processor.evaluate_now()
        (late,) = _points(emitted, conv.METRIC_PERFORMANCE_ACCURACY)
        assert late[0][conv.ATTR_WINDOW_START] == "0" and late[0][conv.ATTR_WINDOW_END] == str(WINDOW)
        assert _points(emitted, conv.METRIC_PERFORMANCE_WINDOW_START) == []
    finally:
        processor.shutdown()


def test_spread_band_scales_with_rows_and_falls_back_to_tolerances() -> None:
    spread = {"accuracy": {"mean": 0.8, "std": 0.02, "chunks": 10, "chunk_rows": 500}}
    (small,) = compare_with_reference({"accuracy": 0.74}, {"accuracy": 0.8}, 125, spread=spread)
    assert small.basis == "spread" and small.lower == pytest.approx(0.8 - 3 * 0.02 * 2)  # sqrt(500/125) = 2
    assert not small.degraded  # 0.74 is inside 0.8 ± 0.12
    (large,) = compare_with_reference({"accuracy": 0.74}, {"accuracy": 0.8}, 5000, spread=spread)
    assert large.degraded and large.state == "degraded"
    (better,) = compare_with_reference({"rmse": 8.0}, {"rmse": 10.0}, 1000)
    assert better.improved and not better.degraded and better.basis == "tolerance"


def test_per_model_options_and_regression_scale_from_the_reference(tmp_path: Path) -> None:
    emitted: list = []
    processor = _processor(
        tmp_path, emitted, tolerance=0.01, models={"prices": {"regression_scale": 40, "sigmas": 2}}
    )
    try:
        monitor = processor.label_join.monitor
        assert monitor.option("prices", "regression_scale") == 40 and monitor.option("prices", "sigmas") == 2
        assert monitor.option("fraud", "sigmas") == 3.0 and monitor.option("fraud", "tolerance") == 0.01
        monitor.set_reference("houses", "", {"mae": 25.0})
        assert monitor.scale("houses", "1") == 25.0  # no configured scale: the reference MAE
        assert monitor.scale("other", "1") == 1.0
    finally:
        processor.shutdown()
    with pytest.raises(ConfigError, match="regression_scale"):
        PerformanceConfig.from_mapping({"models": {"prices": {"regression_scale": 0}}})
    with pytest.raises(ConfigError, match="unknown"):
        PerformanceConfig.from_mapping({"models": {"prices": {"scale": 3}}})
