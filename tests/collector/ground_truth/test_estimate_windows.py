"""Which rows an estimate describes: by default the drift windows that make up the current ground-truth window (the
rows of the realized metrics), named by its ``ml.window.start`` / ``ml.window.end``; optionally the drift view."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
from otel_mlmon_collector._config_reader import ConfigError
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._ground_truth._estimate_sketches import realized_span
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._performance import PerformanceConfig, PerformanceProcessor
from otel_mlmon_collector._windows import WindowConfig

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon.testing import InMemoryTelemetry

HOUR = 3600.0


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (7200.0, (1, 7200.0, 10800.0)),  # the first drift window of a realized window
        (7200.0 + 1199.0, (4, 7200.0, 10800.0)),
        (10799.0, (12, 7200.0, 10800.0)),  # the whole realized window
    ],
)
def test_realized_span_counts_the_drift_windows_since_the_realized_window_began(
    now: float, expected: tuple[int, float, float]
) -> None:
    assert realized_span(HOUR, 300.0, 12, now) == expected


def test_realized_span_never_asks_for_more_windows_than_are_kept() -> None:
    """A realized window longer than the drift engine keeps: the kept windows, the realized bounds."""
    assert realized_span(2 * HOUR, 300.0, 12, 2 * HOUR - 1) == (12, 0.0, 2 * HOUR)


def _export(telemetry: InMemoryTelemetry) -> OtlpRequest:
    from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics

    message = encode_metrics(telemetry.collect())
    return OtlpRequest("metrics", message.SerializeToString(), message)


def _estimates(tmp_path: Path, estimation_window: str | None) -> tuple[float, dict[str, list]]:
    """Predictions in three drift windows (one before the current hour, two in it), then one evaluation.

    The drift engine's clock is set behind the SDK's timestamps, so each export lands in the drift window that
    holds the clock at that moment (a point from the future counts in the current window).
    """
    hour = (int(time.time() // HOUR) - 10) * HOUR
    clock = [hour - 600.0]
    drift = DriftProcessor(
        DriftConfig(
            evaluation_interval_seconds=0, windows=WindowConfig(window_seconds=300, evaluation_windows=12)
        ),
        lambda _request: None,
        clock=lambda: clock[0],
    )
    section = {"path": str(tmp_path / "gt.sqlite"), "evaluation_interval_seconds": 0}
    if estimation_window is not None:
        section["estimation_window"] = estimation_window
    emitted: list = []
    performance = PerformanceProcessor(
        PerformanceConfig.from_mapping(section),
        emitted.append,
        drift=drift,
        clock_ns=lambda: int(clock[0] * 1e9),
    )
    telemetry = InMemoryTelemetry("delta")
    predict = otel_mlmon.monitor(
        model="churn", classes=[0, 1], max_rows=None, trace=False, **telemetry.providers
    )(lambda X: np.column_stack([1 - X[:, 0], X[:, 0]]))
    rng = np.random.default_rng(3)
    for moment, rows in ((hour - 600.0, 300), (hour + 100.0, 200), (hour + 1000.0, 100)):
        clock[0] = moment
        predict(rng.uniform(0.05, 0.95, size=(rows, 1)))
        drift.process(_export(telemetry))
    clock[0] = hour + 1200.0
    performance.evaluate_now()
    performance.shutdown()
    return hour, _gauges(emitted)


def _gauges(emitted: list[OtlpRequest]) -> dict[str, list[tuple[dict, float]]]:
    out: dict[str, list[tuple[dict, float]]] = {}
    for request in emitted:
        if request.signal != "metrics":
            continue
        for rm in request.decoded().resource_metrics:
            for metric in (m for sm in rm.scope_metrics for m in sm.metrics):
                for point in metric.gauge.data_points:
                    attrs = {
                        kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in point.attributes
                    }
                    out.setdefault(metric.name, []).append((attrs, point.as_double))
    return out


def _series(gauges: dict[str, list], name: str) -> list[tuple[dict, float]]:
    return gauges.get(name, [])


def test_estimates_cover_the_realized_window_by_default(tmp_path: Path) -> None:
    hour, gauges = _estimates(tmp_path, None)
    ((attrs, rows),) = _series(gauges, conv.METRIC_PERFORMANCE_ESTIMATED_PREDICTED)
    assert rows == 300  # the 200 + 100 rows of this hour, not the 300 of the hour before
    assert attrs[conv.ATTR_WINDOW_START] == f"{hour:.0f}"
    assert attrs[conv.ATTR_WINDOW_END] == f"{hour + HOUR:.0f}"
    ((accuracy_attrs, _),) = _series(gauges, conv.METRIC_PERFORMANCE_ESTIMATED_ACCURACY)
    assert accuracy_attrs[conv.ATTR_WINDOW_START] == f"{hour:.0f}"


def test_the_drift_view_is_the_documented_alternative(tmp_path: Path) -> None:
    _, gauges = _estimates(tmp_path, "drift")
    ((attrs, rows),) = _series(gauges, conv.METRIC_PERFORMANCE_ESTIMATED_PREDICTED)
    assert rows == 600  # every row of the last 12 x 300 s
    assert attrs[conv.ATTR_WINDOW_SECONDS] == 3600
    assert conv.ATTR_WINDOW_START not in attrs


def test_an_unknown_estimation_window_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="estimation_window"):
        PerformanceConfig.from_mapping({"path": ":memory:", "estimation_window": "hourly"})


def test_drift_windows_that_cannot_tile_the_realized_window_are_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    drift = DriftProcessor(
        DriftConfig(
            evaluation_interval_seconds=0, windows=WindowConfig(window_seconds=420, evaluation_windows=12)
        ),
        lambda _request: None,
    )
    config = PerformanceConfig.from_mapping(
        {"path": str(tmp_path / "gt.sqlite"), "evaluation_interval_seconds": 0}
    )
    with caplog.at_level(logging.WARNING):
        PerformanceProcessor(config, lambda _request: None, drift=drift).shutdown()
    assert "divisor of ground_truth.window_seconds" in caplog.text
