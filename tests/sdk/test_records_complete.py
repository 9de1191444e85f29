"""Nothing lost by default: every row of a recorded call becomes a record, the log pipeline configure() builds
holds bursts, drops are counted, and deployed decisions are what the records and summaries carry."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon._faults import faults
from otel_mlmon._log_pipeline import DROP_FAULT, EXPORT_BATCH_SIZE, MAX_QUEUE_SIZE, log_record_processor


class _SlowExporter(LogRecordExporter):
    """Takes ``delay`` seconds per export and keeps every record (a slow network)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.records: list = []
        self.lock = threading.Lock()

    def export(self, batch):
        time.sleep(self.delay)
        with self.lock:
            self.records.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_max_rows_caps_summaries_not_records(telemetry):
    """A 5 000-row call with the default max_rows (1 000) still records 5 000 rows, one per returned id."""

    @otel_mlmon.monitor(model="m", record_predictions=1.0, **telemetry.providers)
    def predict(X):
        return X[:, 0]

    predict(np.random.default_rng(0).normal(size=(5000, 2)))
    ids = list(otel_mlmon.last_prediction_ids())
    otel_mlmon.flush()
    records = telemetry.records(conv.EVENT_PREDICTION)
    assert len(ids) == 5000
    assert sorted(r.attributes[conv.ATTR_PREDICTION_ID] for r in records) == sorted(ids)


def test_record_max_rows_samples_records_within_a_call(telemetry):
    """record_max_rows is the separate record-sampling setting: a uniform subset of the call's ids."""

    @otel_mlmon.monitor(model="m", record_predictions=1.0, record_max_rows=300, **telemetry.providers)
    def predict(X):
        return X[:, 0]

    predict(np.ones((2000, 1)))
    ids = set(otel_mlmon.last_prediction_ids())
    otel_mlmon.flush()
    recorded = [r.attributes[conv.ATTR_PREDICTION_ID] for r in telemetry.records(conv.EVENT_PREDICTION)]
    assert len(recorded) == 300 and len(set(recorded)) == 300 and set(recorded) <= ids
    with pytest.raises(ValueError, match="record_max_rows"):
        otel_mlmon.monitor(model="m", record_max_rows=0)


def test_configure_sizes_the_log_pipeline(monkeypatch):
    """The processor configure() installs holds 32 768 records in batches of 2 048; OTEL_BLRP_* still win."""
    for name in ("OTEL_BLRP_MAX_QUEUE_SIZE", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "OTEL_BLRP_SCHEDULE_DELAY"):
        monkeypatch.delenv(name, raising=False)
    processor = log_record_processor(_SlowExporter(0))
    try:
        assert isinstance(processor, BatchLogRecordProcessor)
        assert processor._batch_processor._max_queue_size == MAX_QUEUE_SIZE == 32_768
        assert processor._batch_processor._max_export_batch_size == EXPORT_BATCH_SIZE
    finally:
        processor.shutdown()
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "4096")
    processor = log_record_processor(_SlowExporter(0))
    try:
        assert processor._batch_processor._max_queue_size == 4096
    finally:
        processor.shutdown()
    telemetry = otel_mlmon.configure(exporter="none", set_global=False)
    telemetry.shutdown()


def test_a_burst_beyond_the_queue_waits_instead_of_dropping(monkeypatch):
    """20 000 records and 20 000 labels through a slow exporter and a 2 048-record queue: all arrive, none
    dropped, because otel-mlmon's emitters wait for room."""
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "2048")
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "512")
    exporter = _SlowExporter(0.01)
    provider = LoggerProvider()
    provider.add_log_record_processor(log_record_processor(exporter))
    before = faults.counts().get(DROP_FAULT, 0)

    @otel_mlmon.monitor(
        model="burst", record_predictions=1.0, trace=False, summaries=False, logger_provider=provider
    )
    def predict(X):
        return X[:, 0]

    predict(np.ones((20_000, 1)))
    ids = list(otel_mlmon.last_prediction_ids())
    otel_mlmon.flush()
    otel_mlmon.record_ground_truth(
        model="burst", prediction_id=ids, value=[1.0] * len(ids), logger_provider=provider
    )
    provider.force_flush()
    provider.shutdown()
    events = [r.log_record.event_name for r in exporter.records]
    assert events.count(conv.EVENT_PREDICTION) == 20_000
    assert events.count(conv.EVENT_GROUND_TRUTH) == 20_000
    assert faults.counts().get(DROP_FAULT, 0) == before


def test_drops_of_a_users_own_processor_are_counted_and_explained(caplog):
    """With the SDK's default processor (queue 2 048) a user's own burst loses records: each is counted as the
    log_records_dropped fault and one warning says what to set."""
    exporter = _SlowExporter(0.2)
    provider = LoggerProvider()
    provider.add_log_record_processor(
        BatchLogRecordProcessor(exporter, max_queue_size=64, max_export_batch_size=8)
    )
    before = faults.counts().get(DROP_FAULT, 0)
    logger = provider.get_logger("user")
    with caplog.at_level(logging.WARNING, logger="otel_mlmon"):
        otel_mlmon.record_ground_truth(model="m", prediction_id="x", value=1, logger_provider=provider)
        for _ in range(500):
            logger.emit(body="x")
    provider.shutdown()
    dropped = faults.counts().get(DROP_FAULT, 0) - before
    lost = 501 - len(exporter.records)
    # The SDK checks "full" before its worker pops, so a drop it reports can race with an export: counted >= lost.
    assert 0 < lost <= dropped <= lost + 8
    assert any("OTEL_BLRP_MAX_QUEUE_SIZE" in r.getMessage() for r in caplog.records)


def test_threshold_decision_is_recorded_with_its_probabilities(telemetry):
    """decision=Threshold(0.8): the record's class is the deployed decision, its confidence that class's
    probability, and the probabilities travel unchanged; the summaries count the decided classes."""

    class Model:
        classes_ = np.array([0, 1])

        @otel_mlmon.monitor(
            model="loan", record_predictions=1.0, decision=otel_mlmon.Threshold(0.8), **telemetry.providers
        )
        def predict_proba(self, X):
            return np.column_stack([1 - X[:, 0], X[:, 0]])

    Model().predict_proba(np.array([[0.5], [0.7], [0.85], [0.1]]))
    ids = otel_mlmon.last_prediction_ids()
    otel_mlmon.flush()
    by_id = {
        r.attributes[conv.ATTR_PREDICTION_ID]: r.attributes for r in telemetry.records(conv.EVENT_PREDICTION)
    }
    assert [by_id[i][conv.ATTR_PREDICTION_VALUE] for i in ids] == ["0", "0", "1", "0"]
    assert [by_id[i][conv.ATTR_PREDICTION_CONFIDENCE] for i in ids] == pytest.approx([0.5, 0.3, 0.85, 0.9])
    assert list(by_id[ids[1]][conv.ATTR_PREDICTION_PROBABILITIES]) == pytest.approx([0.3, 0.7])
    counts = {
        p.attributes[conv.ATTR_PREDICTION_CLASS]: p.value
        for p in telemetry.points(conv.METRIC_PREDICTION_CLASS_COUNT)
    }
    assert counts == {"0": 3, "1": 1}


def test_threshold_validation_and_positive_class():
    assert otel_mlmon.Threshold(0.3, positive="a").decide(np.array([[0.35, 0.65]]), ["a", "b"]).tolist() == [
        0
    ]
    with pytest.raises(ValueError):
        otel_mlmon.Threshold(1.5)
    with pytest.raises(ValueError, match="decision"):
        otel_mlmon.monitor(model="m", decision=0.8)


def test_the_configured_processor_counts_each_of_its_own_drops_once(monkeypatch):
    """Outside otel-mlmon's emitters (a user's own log lines) a full queue still drops: counted once per record,
    by the processor itself (older SDKs drop without logging)."""
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "8")
    exporter = _SlowExporter(0.2)
    provider = LoggerProvider()
    provider.add_log_record_processor(log_record_processor(exporter))
    before = faults.counts().get(DROP_FAULT, 0)
    logger = provider.get_logger("user")
    for _ in range(500):
        logger.emit(body="x")
    provider.shutdown()
    lost = 500 - len(exporter.records)
    assert 0 < lost <= faults.counts().get(DROP_FAULT, 0) - before <= lost + 8


def test_decision_and_scores_as_two_named_outputs(telemetry):
    """Columns(decision=..., scores=...): the decision output is recorded with the scores beside it; the scores
    are not an output of their own."""

    @otel_mlmon.monitor(
        model="loan",
        record_predictions=1.0,
        classes={"proba": ["no", "yes"]},
        decision=otel_mlmon.Columns(decision="approved", scores="proba"),
        **telemetry.providers,
    )
    def predict(X):
        p = X[:, 0]
        return {"approved": np.where(p >= 0.8, "yes", "no"), "proba": np.column_stack([1 - p, p])}

    predict(np.array([[0.7], [0.9]]))
    ids = otel_mlmon.last_prediction_ids()
    otel_mlmon.flush()
    by_id = {
        r.attributes[conv.ATTR_PREDICTION_ID]: r.attributes for r in telemetry.records(conv.EVENT_PREDICTION)
    }
    assert len(by_id) == 2
    first, second = by_id[ids[0]], by_id[ids[1]]
    assert first[conv.ATTR_OUTPUT_NAME] == "approved" and first[conv.ATTR_PREDICTION_VALUE] == "no"
    assert first[conv.ATTR_PREDICTION_CONFIDENCE] == pytest.approx(0.3)
    assert list(first[conv.ATTR_PREDICTION_CLASSES]) == ["no", "yes"]
    assert list(second[conv.ATTR_PREDICTION_PROBABILITIES]) == pytest.approx([0.1, 0.9])
    outputs = {
        p.attributes[conv.ATTR_OUTPUT_NAME] for p in telemetry.points(conv.METRIC_PREDICTION_CLASS_COUNT)
    }
    assert outputs == {"approved"}
    with pytest.raises(ValueError):
        otel_mlmon.Columns(decision="", scores="proba")
