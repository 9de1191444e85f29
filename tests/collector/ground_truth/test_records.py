"""Parsing ml.prediction / ml.ground_truth OTLP log records."""

from __future__ import annotations

from otel_mlmon_collector._ground_truth._records import (
    DEFAULT_OUTPUT_NAME,
    parse_log_records,
    parse_logs_request,
    parse_otlp_request,
)
from otel_mlmon_collector._otlp import OtlpRequest

from otel_mlmon import conventions as conv
from tests.collector.ground_truth._helpers import SECOND, label_log, log_record, prediction_log, request


def test_prediction_record_fields_are_read() -> None:
    """Every attribute of an ml.prediction record lands in its PredictionRecord field."""
    record = prediction_log(
        "r1",
        "yes",
        5 * SECOND,
        **{
            conv.ATTR_PREDICTION_CONFIDENCE: 0.8,
            conv.ATTR_PREDICTION_CLASSES: ["no", "yes"],
            conv.ATTR_PREDICTION_PROBABILITIES: [0.2, 0.8],
            conv.ATTR_OUTPUT_NAME: "label",
        },
    )
    record.trace_id = bytes(range(16))
    record.span_id = bytes(range(8))
    parsed = parse_logs_request(request(record))
    (p,) = parsed.predictions
    assert (p.model, p.version, p.output, p.prediction_id, p.time_unix_nano) == (
        "fraud",
        "3",
        "label",
        "r1",
        5 * SECOND,
    )
    assert (p.value, p.operation, p.confidence) == ("yes", "predict", 0.8)
    assert p.classes == ("no", "yes") and p.probabilities == (0.2, 0.8)
    assert p.trace_id == bytes(range(16)).hex() and p.span_id == bytes(range(8)).hex()
    assert not parsed.labels and not parsed.malformed and parsed.ignored == 0


def test_label_record_and_defaults() -> None:
    """A label without version or output gets version "" and the default output name; numbers become floats."""
    parsed = parse_logs_request(request(label_log("r1", 3, 7 * SECOND)))
    (g,) = parsed.labels
    assert (g.model, g.version, g.output, g.prediction_id, g.time_unix_nano, g.value) == (
        "fraud",
        "",
        DEFAULT_OUTPUT_NAME,
        "r1",
        7 * SECOND,
        3.0,
    )
    assert isinstance(g.value, float)


def test_event_name_attribute_is_accepted() -> None:
    """The event name may come as the event.name attribute instead of the event_name field."""
    record = log_record(
        conv.EVENT_GROUND_TRUTH,
        {conv.ATTR_MODEL_NAME: "m", conv.ATTR_PREDICTION_ID: "x", conv.ATTR_GROUND_TRUTH_VALUE: "a"},
        SECOND,
        event_in_attribute=True,
    )
    assert len(parse_log_records([record]).labels) == 1


def test_other_records_are_ignored() -> None:
    """Log records of other events or without an event are ignored and counted, not parsed."""
    parsed = parse_log_records(
        [log_record(None, {"a": 1}), log_record("app.login", {conv.ATTR_MODEL_NAME: "m"})]
    )
    assert parsed.ignored == 2 and not parsed.predictions and not parsed.labels and not parsed.malformed


def test_malformed_records_are_counted_by_reason_and_skipped() -> None:
    """Malformed ml records are counted under a reason and skipped; good records in the same batch survive."""
    records = [
        log_record(conv.EVENT_PREDICTION, {conv.ATTR_PREDICTION_ID: "a", conv.ATTR_PREDICTION_VALUE: 1.0}),
        log_record(conv.EVENT_PREDICTION, {conv.ATTR_MODEL_NAME: "m", conv.ATTR_PREDICTION_VALUE: 1.0}),
        log_record(conv.EVENT_PREDICTION, {conv.ATTR_MODEL_NAME: "m", conv.ATTR_PREDICTION_ID: "a"}),
        prediction_log("b", float("nan")),
        prediction_log("c", True),
        prediction_log("d", "x", **{conv.ATTR_PREDICTION_CONFIDENCE: 1.5}),
        prediction_log(
            "e", "x", **{conv.ATTR_PREDICTION_CLASSES: ["a"], conv.ATTR_PREDICTION_PROBABILITIES: [0.5, 0.5]}
        ),
        prediction_log(
            "f", "x", **{conv.ATTR_PREDICTION_CLASSES: "a", conv.ATTR_PREDICTION_PROBABILITIES: [1.0]}
        ),
        prediction_log(
            "g",
            "x",
            **{conv.ATTR_PREDICTION_CLASSES: ["a", "a"], conv.ATTR_PREDICTION_PROBABILITIES: [0.5, 0.5]},
        ),
        label_log("h", ""),
        prediction_log("ok", "x"),
    ]
    parsed = parse_log_records(records)
    assert [p.prediction_id for p in parsed.predictions] == ["ok"]
    assert dict(parsed.malformed) == {
        "missing_model_name": 1,
        "missing_prediction_id": 1,
        "missing_value": 3,
        "bad_confidence": 1,
        "bad_probabilities": 3,
    }
    # an empty string is a valid class label, not a missing value
    assert [g.value for g in parsed.labels] == [""]


def test_time_falls_back_to_observed_time_then_now() -> None:
    """A record without time_unix_nano takes observed_time_unix_nano, and without both the caller's now."""
    attrs = {conv.ATTR_MODEL_NAME: "m", conv.ATTR_PREDICTION_ID: "x", conv.ATTR_GROUND_TRUTH_VALUE: "a"}
    observed = log_record(conv.EVENT_GROUND_TRUTH, attrs, 0, observed_time_unix_nano=9 * SECOND)
    neither = log_record(conv.EVENT_GROUND_TRUTH, attrs, 0)
    parsed = parse_log_records([observed, neither], now_unix_nano=11 * SECOND)
    assert [g.time_unix_nano for g in parsed.labels] == [9 * SECOND, 11 * SECOND]


def test_not_a_logs_request_never_raises() -> None:
    """Passing something that is not a logs request is counted as malformed instead of raising."""
    parsed = parse_logs_request(object())
    assert parsed.malformed["not_a_logs_request"] == 1


def test_collector_requests_are_read_from_payload_or_message() -> None:
    """An OtlpRequest is parsed from its decoded message or its payload; other signals and bad bytes are safe."""
    message = request(prediction_log("r1", "yes"), label_log("r1", "no"))
    payload = message.SerializeToString()
    for otlp in (OtlpRequest("logs", payload, message, 2), OtlpRequest("logs", payload)):
        parsed = parse_otlp_request(otlp)
        assert [p.prediction_id for p in parsed.predictions] == ["r1"] and len(parsed.labels) == 1
    assert parse_otlp_request(OtlpRequest("metrics", b"")).predictions == []
    assert parse_otlp_request(OtlpRequest("logs", b"\xff\xff\xff")).malformed["undecodable"] == 1
