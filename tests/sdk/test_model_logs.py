"""ml.* records under a per-model resource: one ResourceLogs per model, so a load balancer can route by model."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon._model_logs import model_logger


def _resource_attrs(resource_logs) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in resource_logs.resource.attributes}


_SDK = tuple(int(part) for part in importlib.metadata.version("opentelemetry-sdk").split(".")[:2])


@pytest.mark.skipif(
    _SDK < (1, 40),
    reason="opentelemetry-sdk 1.39 exports a record under its provider's resource: per-model resources need newer",
)
def test_records_of_two_models_and_their_labels_get_one_resource_each(telemetry):
    """Predictions of two models and labels from another process encode as one ResourceLogs per model, each
    keeping the process's resource attributes and adding ml.model.name."""

    @otel_mlmon.monitor(model="fraud", version="3", record_predictions=1.0, **telemetry.providers)
    def fraud(X):
        return X[:, 0]

    @otel_mlmon.monitor(model="churn", version="1", record_predictions=1.0, **telemetry.providers)
    def churn(X):
        return X[:, 1]

    fraud(np.ones((3, 2)))
    fraud_ids = list(otel_mlmon.last_prediction_ids())
    churn(np.ones((2, 2)))
    otel_mlmon.flush()
    labels_exporter = InMemoryLogRecordExporter()
    label_job = LoggerProvider(resource=Resource({"service.name": "label-job"}))
    label_job.add_log_record_processor(SimpleLogRecordProcessor(labels_exporter))
    otel_mlmon.record_ground_truth(
        model="fraud", prediction_id=fraud_ids, value=[1, 0, 1], logger_provider=label_job
    )

    request = encode_logs(telemetry.log_exporter.get_finished_logs())
    by_model = {_resource_attrs(rl)[conv.ATTR_MODEL_NAME]: rl for rl in request.resource_logs}
    assert sorted(by_model) == ["churn", "fraud"]
    process = set(telemetry.logger_provider.resource.attributes)
    for model, resource_logs in by_model.items():
        assert process <= set(_resource_attrs(resource_logs))  # the process's resource is kept
        records = [r for sl in resource_logs.scope_logs for r in sl.log_records]
        assert records and all(
            {kv.key: kv.value.string_value for kv in r.attributes}[conv.ATTR_MODEL_NAME] == model
            for r in records
        )
    (labels,) = encode_logs(labels_exporter.get_finished_logs()).resource_logs
    assert _resource_attrs(labels) == {"service.name": "label-job", conv.ATTR_MODEL_NAME: "fraud"}
    assert len(labels.scope_logs[0].log_records) == 3
    label_job.shutdown()


def test_a_logger_that_is_not_the_sdks_is_used_as_it_is():
    """No-op and foreign loggers are returned unchanged (their records keep whatever resource they have)."""
    from opentelemetry._logs import NoOpLogger

    logger = NoOpLogger("x")
    assert model_logger(logger, "fraud") is logger
