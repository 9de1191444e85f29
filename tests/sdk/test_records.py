"""Prediction ids, ml.prediction records and ml.ground_truth records (the SDK side of label joins)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import otel_mlmon
from otel_mlmon import conventions as conv


def test_generated_ids_are_unique_and_available_after_the_call(telemetry):
    """With records on, each row gets a unique id, readable with last_prediction_ids() after the call."""

    @otel_mlmon.monitor(model="m", record_predictions=1.0, **telemetry.providers)
    def predict(X):
        return X[:, 0]

    predict(np.ones((3, 2)))
    first = list(otel_mlmon.last_prediction_ids())
    predict(np.ones((2, 2)))
    second = list(otel_mlmon.last_prediction_ids())
    assert len(first) == 3 and len(second) == 2
    assert len(set(first + second)) == 5


def test_ids_from_an_argument_and_on_the_one_row_span(telemetry):
    """prediction_id= names the argument with the ids; a one-row call's span carries ml.prediction.id."""

    @otel_mlmon.monitor(model="m", prediction_id="request_id", **telemetry.providers)
    def predict(X, request_id):
        return X[:, 0]

    predict(np.ones((1, 2)), request_id="req-42")
    assert otel_mlmon.last_prediction_ids() == ("req-42",)
    assert telemetry.spans()[0].attributes[conv.ATTR_PREDICTION_ID] == "req-42"
    predict(np.ones((2, 2)), request_id=np.array([7, 8]))
    assert otel_mlmon.last_prediction_ids() == ["7", "8"]
    assert conv.ATTR_PREDICTION_ID not in telemetry.spans()[1].attributes


def test_prediction_records_carry_ids_values_probabilities_and_trace(telemetry):
    """Each row of a recorded call becomes an ml.prediction record with its class, probabilities and span."""

    class Model:
        classes_ = np.array(["no", "yes"])

        @otel_mlmon.monitor(model="churn", version="2", record_predictions=1.0, **telemetry.providers)
        def predict_proba(self, X):
            p = X[:, 0]
            return np.column_stack([1 - p, p])

    Model().predict_proba(np.array([[0.9, 1.0], [0.2, 1.0]]))
    ids = otel_mlmon.last_prediction_ids()
    records = telemetry.records(conv.EVENT_PREDICTION)
    assert len(records) == 2
    (span,) = telemetry.spans()
    by_id = {r.attributes[conv.ATTR_PREDICTION_ID]: r for r in records}
    assert set(by_id) == set(ids)
    first = by_id[ids[0]]
    assert first.attributes[conv.ATTR_MODEL_NAME] == "churn"
    assert first.attributes[conv.ATTR_MODEL_VERSION] == "2"
    assert first.attributes[conv.ATTR_PREDICTION_VALUE] == "yes"
    assert first.attributes[conv.ATTR_PREDICTION_CONFIDENCE] == pytest.approx(0.9)
    assert list(first.attributes[conv.ATTR_PREDICTION_CLASSES]) == ["no", "yes"]
    assert list(first.attributes[conv.ATTR_PREDICTION_PROBABILITIES]) == pytest.approx([0.1, 0.9])
    assert (first.trace_id, first.span_id) == (span.context.trace_id, span.context.span_id)
    assert by_id[ids[1]].attributes[conv.ATTR_PREDICTION_VALUE] == "no"


def test_records_never_hold_feature_values(telemetry):
    """A record has the prediction only: no attribute carries the input features."""

    @otel_mlmon.monitor(model="m", record_predictions=1.0, **telemetry.providers)
    def predict(X):
        return X[:, 0] * 0 + 5.0

    predict(np.array([[123.456, 789.0]]))
    (record,) = telemetry.records(conv.EVENT_PREDICTION)
    values = [v for v in record.attributes.values() if isinstance(v, float)]
    assert values == [5.0]


def test_record_share_follows_the_rate(telemetry):
    """record_predictions=0.2 records about a fifth of the calls."""

    @otel_mlmon.monitor(model="m", record_predictions=0.2, **telemetry.providers)
    def predict(X):
        return X[:, 0]

    for _ in range(1000):
        predict(np.ones((1, 1)))
    assert 140 <= len(telemetry.records(conv.EVENT_PREDICTION)) <= 260  # binomial(1000, 0.2): sd 12.6


def test_record_ground_truth_single_and_batch(telemetry):
    """record_ground_truth emits one ml.ground_truth record per id, labels as strings, targets as doubles."""
    assert (
        otel_mlmon.record_ground_truth(
            model="churn", prediction_id="a", value=1, logger_provider=telemetry.logger_provider
        )
        == 1
    )
    otel_mlmon.record_ground_truth(
        model="churn",
        version="2",
        prediction_id=["b", "c"],
        value=np.array([2.5, 3.5]),
        logger_provider=telemetry.logger_provider,
    )
    records = telemetry.records(conv.EVENT_GROUND_TRUTH)
    values = {
        r.attributes[conv.ATTR_PREDICTION_ID]: r.attributes[conv.ATTR_GROUND_TRUTH_VALUE] for r in records
    }
    assert values == {"a": "1", "b": 2.5, "c": 3.5}
    assert records[1].attributes[conv.ATTR_MODEL_VERSION] == "2"


def test_record_ground_truth_rejects_mismatched_lengths():
    """Ids and values of different lengths are refused with a clear error."""
    with pytest.raises(ValueError, match="2 prediction ids but 1 values"):
        otel_mlmon.record_ground_truth(model="m", prediction_id=["a", "b"], value=[1])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_never_repeats_the_parents_ids():
    """After fork the child generates ids with a new prefix."""
    from otel_mlmon._records import generate_ids

    parent = generate_ids(1)[0]
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_fd, generate_ids(1)[0].encode())
        os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    child = os.read(read_fd, 1000).decode()
    os.close(read_fd)
    assert child.split("-")[0] != parent.split("-")[0]
