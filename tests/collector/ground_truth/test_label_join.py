"""The label join: OTLP requests in, windowed performance, gauges and drift state out, across restarts."""

from __future__ import annotations

from pathlib import Path

from otel_mlmon_collector._ground_truth import LabelJoin
from otel_mlmon_collector._otlp import OtlpRequest

from otel_mlmon import conventions as conv
from tests.collector.ground_truth._helpers import SECOND, label_log, log_record, prediction_log, request

NOW = 10_000 * SECOND


def logs(*records: object) -> OtlpRequest:
    """A decoded logs request as the receivers hand it to processors."""
    message = request(*records)  # type: ignore[arg-type]
    return OtlpRequest("logs", message.SerializeToString(), message, len(records))


def test_requests_become_windows_points_and_counts() -> None:
    """Predictions and labels from log requests join into a window whose gauges carry the series attributes."""
    join = LabelJoin(":memory:", window_seconds=60, clock_ns=lambda: NOW)
    join.process(logs(*(prediction_log(f"r{i}", "yes", (600 + i) * SECOND) for i in range(4))))
    join.process(logs(label_log("r0", "yes"), label_log("r1", "no"), log_record("other", {})))
    join.process(logs(log_record(conv.EVENT_GROUND_TRUTH, {conv.ATTR_MODEL_NAME: "fraud"})))
    join.process(OtlpRequest("metrics", b""))
    report = join.evaluate()
    (window,) = report.windows.values()
    assert window.key == ("fraud", "3", "prediction", 600 * SECOND)
    assert window.classification.accuracy == 0.5 and window.label_coverage == 0.5
    accuracy = next(p for p in report.points() if p.name == "ml.performance.accuracy")
    assert accuracy.attributes == {
        "ml.model.name": "fraud",
        "ml.model.version": "3",
        "ml.output.name": "prediction",
        "ml.window.start": str(600 * SECOND),
        "ml.window.end": str(660 * SECOND),
    }
    drift = [p for p in report.points() if p.name == "ml.concept_drift.detected"]
    assert [(p.value, p.attributes["ml.model.version"]) for p in drift] == [(0.0, "3")]
    assert report.counts["joined"] == 2 and report.counts["malformed_missing_prediction_id"] == 1
    assert join.evaluate().windows == {}  # nothing new joined: nothing to report
    join.shutdown()


def test_restart_between_prediction_and_label(tmp_path: Path) -> None:
    """Predictions processed before a restart join labels processed after it, with the window's coverage intact."""
    path = tmp_path / "ground-truth.sqlite"
    first = LabelJoin(path, window_seconds=60, clock_ns=lambda: NOW)
    first.process(logs(*(prediction_log(f"r{i}", "yes", (600 + i) * SECOND) for i in range(4))))
    first.process(logs(label_log("r0", "yes")))
    assert len(first.evaluate().windows) == 1
    first.shutdown()
    second = LabelJoin(path, window_seconds=60, clock_ns=lambda: NOW)
    second.process(logs(label_log("r1", "no"), label_log("r2", "yes")))
    (window,) = second.evaluate().windows.values()
    assert window.n_labelled == 3 and window.label_coverage == 3 / 4
    assert window.classification.accuracy == 2 / 3
    second.shutdown()


def test_reference_degradation_is_reported_and_old_windows_are_forgotten() -> None:
    """A window far below the reference yields a drift change; windows beyond TTL + width are dropped."""
    clock = [NOW]
    join = LabelJoin(
        ":memory:", window_seconds=60, ttl_seconds=600, clock_ns=lambda: clock[0], min_samples=50
    )
    join.set_reference("fraud", "", {"accuracy": 0.95})
    start = NOW - 40 * SECOND  # a window of [9 960 s, 10 020 s)
    join.process(logs(*(prediction_log(f"r{i}", "yes", start + i % 60 * SECOND) for i in range(100))))
    join.process(logs(*(label_log(f"r{i}", "yes" if i % 2 else "no") for i in range(100))))
    report = join.evaluate()
    (change,) = report.changes
    assert (change.source, change.method, change.detected) == ("reference", "accuracy", True)
    assert report.drift_state == {("fraud", "3", "prediction"): True}
    assert len(join.windows.results()) == 1  # kept while labels can still come
    clock[0] = NOW + 700 * SECOND  # the window end + the TTL + one window of slack has passed
    join.evaluate()
    assert join.windows.results() == {}
    join.shutdown()
