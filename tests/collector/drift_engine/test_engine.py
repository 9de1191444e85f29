"""The drift processor end to end: SDK output in, drift gauges and state-change events out."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._pipeline import Processor
from otel_mlmon_collector._windows import WindowConfig

from otel_mlmon import Profile
from otel_mlmon import conventions as conv

from ._helpers import CATEGORICAL, FEATURES, Replica, events, gauges, make_data

REFERENCE_AGE = 86_400.0


def _reference(
    directory: Path, rng: np.random.Generator, rows: int = 20_000, version: str | None = "1"
) -> Path:
    X = make_data(rng, rows)
    predictions = X[:, 0] > 100
    profile = Profile.from_data(
        X, predictions, model="fraud", version=version, feature_names=FEATURES, categorical=CATEGORICAL
    )
    profile.created_at = dt.datetime.fromtimestamp(time.time() - REFERENCE_AGE, dt.timezone.utc)
    return profile.save(directory / f"fraud-{version}.json")


def _engine(directory: Path, sink: list[OtlpRequest], **config: object) -> DriftProcessor:
    settings: dict[str, object] = {
        "references_directory": str(directory),
        "evaluation_interval_seconds": 0,
        "reference_poll_seconds": 0,
        **config,
    }
    return DriftProcessor(DriftConfig(**settings), sink.append)  # type: ignore[arg-type]


def _traffic(
    engine: DriftProcessor, replica: Replica, rng: np.random.Generator, batches: int, rows: int, **kw: object
):
    for _ in range(batches):
        replica.predict(make_data(rng, rows, **kw))  # type: ignore[arg-type]
        engine.process(replica.export())


@pytest.mark.parametrize(("rows", "method"), [(200, "ks"), (5_000, "wasserstein")])
def test_stationary_traffic_raises_no_alarm(tmp_path: Path, rows: int, method: str) -> None:
    """Traffic drawn like the training data: no feature drifts, no event, reference present and aged correctly."""
    rng = np.random.default_rng(10)
    _reference(tmp_path, rng)
    sink: list[OtlpRequest] = []
    engine = _engine(tmp_path, sink)
    replica = Replica("delta")
    _traffic(engine, replica, rng, 3, rows)
    evaluation = engine.evaluate_now()
    stream = evaluation.stream("fraud", "1")
    assert stream.drifted() == [] and stream.drifted("output") == []
    assert stream.share == 0.0
    assert {c.results["distribution"].method for c in stream.columns if c.kind == "numeric"} == {method}
    assert events(sink) == []
    assert gauges(sink, conv.METRIC_DRIFT_REFERENCE_MISSING)[0][1] == 0.0
    age = gauges(sink, conv.METRIC_MODEL_AGE)[0][1]
    assert REFERENCE_AGE <= age < REFERENCE_AGE + 120
    scores = gauges(sink, conv.METRIC_DRIFT_SCORE)
    assert {a[conv.ATTR_FEATURE_NAME] for a, _ in scores if conv.ATTR_FEATURE_NAME in a} == set(FEATURES)
    sizes = [
        (a[conv.ATTR_DRIFT_SIDE], v)
        for a, v in gauges(sink, conv.METRIC_DRIFT_SAMPLE_SIZE)
        if a.get(conv.ATTR_FEATURE_NAME) == "amount" and a[conv.ATTR_DRIFT_METHOD] == method
    ]
    assert sorted(sizes) == [("current", 3 * rows), ("reference", 20_000)]
    replica.shutdown()


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_shift_and_swap_are_detected_on_exactly_those_features(tmp_path: Path, temporality: str) -> None:
    """A +1σ shift of one feature and swapped category shares are flagged there and nowhere else, with events."""
    rng = np.random.default_rng(11)
    _reference(tmp_path, rng)
    sink: list[OtlpRequest] = []
    engine = _engine(tmp_path, sink)
    replica = Replica(temporality)
    _traffic(engine, replica, rng, 3, 1_000, shift=1.0, swap=True)
    stream = engine.evaluate_now().stream("fraud")
    assert sorted(stream.drifted()) == ["amount", "country"]
    assert stream.drifted("output") == ["prediction"]  # the shift moves the predictions too
    assert stream.share == 0.5
    changed = events(sink)
    assert sorted(a.get(conv.ATTR_FEATURE_NAME, "output") for _, a, _ in changed) == [
        "amount",
        "country",
        "output",
    ]
    for name, attrs, body in changed:
        assert name == conv.EVENT_DRIFT_CHANGED
        assert attrs[conv.METRIC_DRIFT_DETECTED] is True
        assert attrs[conv.ATTR_MODEL_NAME] == "fraud" and attrs[conv.ATTR_MODEL_VERSION] == "1"
        assert attrs[conv.ATTR_WINDOW_SECONDS] == 3600
        assert attrs[conv.METRIC_DRIFT_SCORE] >= attrs[conv.METRIC_DRIFT_THRESHOLD]
        assert "drift detected" in body
    detected = {
        (a[conv.ATTR_FEATURE_NAME], a[conv.ATTR_DRIFT_METHOD])
        for a, v in gauges(sink, conv.METRIC_DRIFT_DETECTED)
        if v == 1.0 and conv.ATTR_FEATURE_NAME in a
    }
    assert {f for f, _ in detected} == {"amount", "country"}
    share = gauges(sink, conv.METRIC_DRIFT_SHARE)
    assert share[0][1] == 0.5
    sink.clear()
    engine.evaluate_now()
    assert events(sink) == []  # no change, no event
    replica.shutdown()


def test_drift_that_ends_emits_a_resolving_event(tmp_path: Path) -> None:
    """Once the drifted windows have left the evaluation view, the feature flips back with an INFO event."""
    rng = np.random.default_rng(12)
    _reference(tmp_path, rng)
    sink: list[OtlpRequest] = []
    clock = [time.time()]
    config = DriftConfig(
        windows=WindowConfig(window_seconds=60, evaluation_windows=2),
        references_directory=str(tmp_path),
        evaluation_interval_seconds=0,
    )
    engine = DriftProcessor(config, sink.append, clock=lambda: clock[0])
    replica = Replica("delta")
    _traffic(engine, replica, rng, 2, 1_000, shift=1.0)
    assert engine.evaluate_now().stream("fraud").drifted() == ["amount"]
    clock[0] += 600
    for _ in range(2):
        replica.predict(make_data(rng, 1_000))
        engine.process(replica.export(shift_seconds=600))
    sink.clear()
    assert engine.evaluate_now().stream("fraud").drifted() == []
    resolved = events(sink)
    assert sorted(a.get(conv.ATTR_FEATURE_NAME, "output") for _, a, _ in resolved) == ["amount", "output"]
    for _, attrs, body in resolved:
        assert attrs[conv.METRIC_DRIFT_DETECTED] is False
        assert "no longer detected" in body
    replica.shutdown()


def test_missing_rate_change_is_detected(tmp_path: Path) -> None:
    """A feature that goes from complete to 20 % missing drifts by the missing-rate test."""
    rng = np.random.default_rng(13)
    _reference(tmp_path, rng)
    sink: list[OtlpRequest] = []
    engine = _engine(tmp_path, sink)
    replica = Replica("delta")
    _traffic(engine, replica, rng, 2, 1_000, missing=0.2)
    stream = engine.evaluate_now().stream("fraud")
    assert stream.drifted() == ["score"]
    [column] = [c for c in stream.columns if c.name == "score"]
    assert column.decisive.method == "missing_rate"
    assert column.results["missing_rate"].details["current_rate"] == pytest.approx(0.2, abs=0.03)
    replica.shutdown()


def test_missing_reference_is_signalled_then_hot_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a profile the engine emits ml.drift.reference.missing = 1; a profile written later is used."""
    rng = np.random.default_rng(14)
    sink: list[OtlpRequest] = []
    engine = _engine(tmp_path, sink)
    replica = Replica("cumulative")
    _traffic(engine, replica, rng, 2, 500)
    with caplog.at_level(logging.WARNING, logger="otel_mlmon_collector._drift_engine"):
        stream = engine.evaluate_now().stream("fraud")
    assert stream.reference is None and stream.columns == ()
    assert [v for _, v in gauges(sink, conv.METRIC_DRIFT_REFERENCE_MISSING)] == [1.0]
    assert gauges(sink, conv.METRIC_DRIFT_SCORE) == []
    assert any("no reference profile" in r.getMessage() for r in caplog.records)
    (tmp_path / "broken.json").write_text("{not json")
    _reference(tmp_path, rng, rows=5_000)
    sink.clear()
    stream = engine.evaluate_now().stream("fraud")
    assert stream.reference is not None and stream.reference.summary.rows == 5_000
    assert [v for _, v in gauges(sink, conv.METRIC_DRIFT_REFERENCE_MISSING)] == [0.0]
    assert len(stream.columns) == len(FEATURES) + 1  # the features and the predicted class
    replica.shutdown()


def test_outputs_are_compared_with_the_reference_predictions(tmp_path: Path) -> None:
    """The predicted-class distribution is checked as an output; a shift that moves predictions flags it."""
    rng = np.random.default_rng(15)
    _reference(tmp_path, rng)
    sink: list[OtlpRequest] = []
    engine = _engine(tmp_path, sink)
    replica = Replica("delta")
    _traffic(engine, replica, rng, 2, 1_000, shift=1.0)
    stream = engine.evaluate_now().stream("fraud")
    assert stream.drifted("output") == ["prediction"]
    outputs = [
        a for a, _ in gauges(sink, conv.METRIC_DRIFT_SCORE) if a.get(conv.ATTR_DRIFT_TARGET) == "output"
    ]
    assert outputs and all(a[conv.ATTR_OUTPUT_NAME] == "prediction" for a in outputs)
    replica.shutdown()


def test_overrides_change_method_threshold_or_switch_a_feature_off(tmp_path: Path) -> None:
    """Per-model overrides pick another method, change a threshold, or disable a column; '*' applies to all."""
    rng = np.random.default_rng(16)
    _reference(tmp_path, rng)
    sink: list[OtlpRequest] = []
    overrides = {
        "*": {"age": "psi", "amount": {"threshold": 5.0}},
        "fraud": {"country": "none"},
    }
    engine = _engine(tmp_path, sink, overrides=overrides)
    replica = Replica("delta")
    _traffic(engine, replica, rng, 3, 1_000, shift=1.0, swap=True)
    stream = engine.evaluate_now().stream("fraud")
    by_name = {c.name: c for c in stream.columns}
    assert by_name["age"].results["distribution"].method == "psi"
    assert by_name["amount"].results["distribution"].threshold == 5.0
    assert by_name["country"].results["distribution"].method == "none"
    assert stream.drifted() == []
    replica.shutdown()


def test_config_from_mapping_and_its_errors() -> None:
    """The YAML-shaped mapping builds the config; unknown keys and bad methods raise naming the key."""
    config = DriftConfig.from_mapping(
        {
            "window_seconds": 60,
            "evaluation_windows": 30,
            "references": {"directory": "/profiles", "pins": {"fraud": "3"}, "poll_interval_seconds": 5},
            "overrides": {"fraud": {"amount": {"method": "psi", "threshold": 0.2}}},
            "checks": ["distribution", "missing_rate"],
            "correction": "bonferroni",
        }
    )
    assert config.windows.evaluation_seconds == 1800
    assert config.references_directory == "/profiles" and config.pins == {"fraud": "3"}
    assert config.checks == ("distribution", "missing_rate")
    empty = DriftConfig.from_mapping({"overrides": None, "references": {"pins": None}})
    assert empty.overrides == {} and empty.pins == {} and empty.trailing_reference is None
    with pytest.raises(ValueError, match="unknown drift key 'windw_seconds'"):
        DriftConfig.from_mapping({"windw_seconds": 60})
    with pytest.raises(ValueError, match=r"overrides\.fraud\.amount"):
        DriftConfig.from_mapping({"overrides": {"fraud": {"amount": "magic"}}})
    with pytest.raises(ValueError, match="correction"):
        DriftConfig(correction="holm")
    with pytest.raises(ValueError, match="checks"):
        DriftConfig(checks=("distribution", "vibes"))


def test_processor_protocol_background_thread_and_shutdown(tmp_path: Path) -> None:
    """It is a pipeline Processor; traces pass untouched; the background thread evaluates and stops on shutdown."""
    rng = np.random.default_rng(17)
    _reference(tmp_path, rng)
    emitted = threading.Event()
    sink: list[OtlpRequest] = []

    def emit(request: OtlpRequest) -> None:
        sink.append(request)
        emitted.set()

    config = DriftConfig(references_directory=str(tmp_path), evaluation_interval_seconds=0.05)
    engine = DriftProcessor(config, emit)
    assert isinstance(engine, Processor)
    engine.process(OtlpRequest("traces", b""))
    replica = Replica("delta")
    replica.predict(make_data(rng, 500))
    engine.process(replica.export())
    assert emitted.wait(5.0)
    engine.shutdown()
    assert engine._thread is not None and not engine._thread.is_alive()
    assert gauges(sink, conv.METRIC_DRIFT_SCORE)
    replica.shutdown()


def test_emit_failure_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An exporter-side failure in emit is logged; the evaluation still returns its findings."""
    rng = np.random.default_rng(18)
    _reference(tmp_path, rng)

    def emit(request: OtlpRequest) -> None:
        raise RuntimeError("queue closed")

    engine = DriftProcessor(
        DriftConfig(references_directory=str(tmp_path), evaluation_interval_seconds=0), emit
    )
    replica = Replica("delta")
    replica.predict(make_data(rng, 500))
    engine.process(replica.export())
    with caplog.at_level(logging.ERROR, logger="otel_mlmon_collector._drift_engine"):
        evaluation = engine.evaluate_now()
    assert evaluation.stream("fraud").columns
    assert any("queue closed" in r.getMessage() for r in caplog.records)
    replica.shutdown()


def test_evaluation_time_five_models_fifty_features(tmp_path: Path) -> None:
    """Five models with fifty features each evaluate well within a second (the time is printed)."""
    rng = np.random.default_rng(19)
    names = [f"f{i}" for i in range(50)]
    categorical = names[:5]
    sink: list[OtlpRequest] = []
    engine = _engine(tmp_path, sink)
    for m in range(5):
        X = rng.normal(size=(5_000, 50))
        X[:, :5] = rng.integers(0, 8, size=(5_000, 5))
        Profile.from_data(X, model=f"m{m}", version="1", feature_names=names, categorical=categorical).save(
            tmp_path / f"m{m}.json.gz"
        )
        replica = Replica("delta", model=f"m{m}", features=names, categorical=categorical)
        Y = rng.normal(size=(2_000, 50))
        Y[:, :5] = rng.integers(0, 8, size=(2_000, 5))
        replica.predict(Y)
        engine.process(replica.export())
        replica.shutdown()
    engine.evaluate_now()  # warm-up (imports, reference loading)
    evaluation = engine.evaluate_now()
    print(f"\nevaluation of 5 models x 50 features: {evaluation.seconds * 1000:.1f} ms")
    assert len(evaluation.streams) == 5
    assert all(len(s.columns) == 50 for s in evaluation.streams)
    assert evaluation.seconds < 2.0


def test_trailing_production_window_as_reference(tmp_path: Path) -> None:
    """Without a profile, earlier production traffic (lagged span of coarse windows) is the reference."""
    rng = np.random.default_rng(20)
    sink: list[OtlpRequest] = []
    config = DriftConfig.from_mapping(
        {
            "window_seconds": 60,
            "evaluation_windows": 5,
            "evaluation_interval_seconds": 0,
            "trailing_reference": {
                "window_seconds": 600,
                "span_windows": 6,
                "lag_windows": 1,
                "min_rows": 1000,
            },
        }
    )
    engine = DriftProcessor(config, sink.append)
    replica = Replica("delta")
    replica.predict(make_data(rng, 500))
    engine.process(replica.export(shift_seconds=-1800))  # half an hour ago: too few rows for a reference yet
    assert engine.evaluate_now().streams == ()  # nothing in the evaluation view: too old for it
    assert engine.references.lookup("fraud", "1") is None
    replica.predict(make_data(rng, 2_000))
    engine.process(replica.export(shift_seconds=-1800))
    _traffic(engine, replica, rng, 2, 1_000, shift=1.0)  # now, shifted
    stream = engine.evaluate_now().stream("fraud")
    assert stream.reference is not None and stream.reference.source.startswith("trailing:")
    assert stream.reference.summary.rows == 2_500
    assert stream.drifted() == ["amount"]
    age = gauges(sink, conv.METRIC_MODEL_AGE)[-1][1]
    assert 0 < age <= 1200  # the span ends with the window before the current 10-minute window
    replica.shutdown()


def test_a_failing_column_is_logged_and_the_others_still_evaluated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An override that fails when used (a parameter the method lacks) skips that column only, with a log line."""
    rng = np.random.default_rng(21)
    _reference(tmp_path, rng)
    sink: list[OtlpRequest] = []
    engine = _engine(tmp_path, sink, overrides={"fraud": {"age": {"bins": 7}}})
    replica = Replica("delta")
    _traffic(engine, replica, rng, 1, 500)
    with caplog.at_level(logging.ERROR, logger="otel_mlmon_collector._drift_engine"):
        stream = engine.evaluate_now().stream("fraud")
    names = {c.name for c in stream.columns if c.target == "feature"}
    assert names == set(FEATURES) - {"age"}
    assert any("age" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
    replica.shutdown()


def test_many_stationary_streams_rarely_raise_a_false_alarm(tmp_path: Path) -> None:
    """Thirty models with ten stationary features each: at most a few streams flag anything (BH per model)."""
    rng = np.random.default_rng(22)
    names = [f"x{i}" for i in range(10)]
    sink: list[OtlpRequest] = []
    engine = _engine(tmp_path, sink)
    for m in range(30):
        Profile.from_data(rng.normal(size=(3_000, 10)), model=f"m{m}", version="1", feature_names=names).save(
            tmp_path / f"m{m}.json"
        )
        replica = Replica("delta", model=f"m{m}", features=names, categorical=())
        replica.predict(rng.normal(size=(150, 10)))
        engine.process(replica.export())
        replica.shutdown()
    evaluation = engine.evaluate_now()
    assert len(evaluation.streams) == 30
    alarms = sum(1 for s in evaluation.streams if s.drifted())
    assert alarms <= 4  # even at a nominal 5 % a stream, 5 or more of 30 has probability 1.6 %


def test_unseen_categories_are_reported_for_categorical_columns(tmp_path: Path) -> None:
    """A category the reference never saw shows up as the 'unseen' share of that column."""
    rng = np.random.default_rng(23)
    _reference(tmp_path, rng)
    sink: list[OtlpRequest] = []
    engine = _engine(tmp_path, sink)
    replica = Replica("delta")
    X = make_data(rng, 1_000)
    X[:200, 3] = 9  # a country code absent from training
    replica.predict(X)
    engine.process(replica.export())
    stream = engine.evaluate_now().stream("fraud")
    [country] = [c for c in stream.columns if c.name == "country"]
    unseen = country.results["out_of_range"]
    assert unseen.method == "unseen" and unseen.score == pytest.approx(0.2) and unseen.detected
    assert "country" in stream.drifted()  # the distribution check sees it too
    replica.shutdown()
