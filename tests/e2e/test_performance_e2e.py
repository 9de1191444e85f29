"""Label joins end to end: SDK prediction records + late labels over OTLP → collector → performance gauges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._service import Collector
from sklearn.metrics import accuracy_score

import otel_mlmon
from otel_mlmon import conventions as conv
from tests.collector.conftest import collector_config


def _gauges(exporter: InMemoryExporter) -> dict[str, list[tuple[dict, float]]]:
    out: dict[str, list[tuple[dict, float]]] = {}
    for request in exporter.requests("metrics"):
        for rm in request.decoded().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.gauge.data_points:
                        attrs = {kv.key: kv.value.string_value for kv in point.attributes}
                        out.setdefault(metric.name, []).append((attrs, point.as_double))
    return out


def test_labels_join_to_predictions_and_performance_is_exported(tmp_path: Path) -> None:
    """Predictions recorded by the SDK and labels reported later give the realized accuracy, coverage and an estimate."""
    captured = InMemoryExporter("captured")
    config = collector_config(
        ground_truth={
            "path": str(tmp_path / "gt.sqlite"),
            "window_seconds": 3600,
            "evaluation_interval_seconds": 0,
        },
        drift={"evaluation_interval_seconds": 0},
    )
    collector = Collector(config, exporters={"captured": captured})
    collector.start()
    url = f"http://{collector.http_endpoint}"
    loggers = LoggerProvider()
    loggers.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs")))
    meters = MeterProvider(
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{url}/v1/metrics"), export_interval_millis=3_600_000
            )
        ]
    )
    rng = np.random.default_rng(5)
    try:

        @otel_mlmon.monitor(
            model="churn",
            version="2",
            classes=["stay", "leave"],
            record_predictions=1.0,
            trace=False,
            meter_provider=meters,
            logger_provider=loggers,
        )
        def predict_proba(X):
            p = 1 / (1 + np.exp(-X[:, 0]))
            return np.column_stack([1 - p, p])

        ids, predicted, truth = [], [], []
        for _ in range(4):
            X = rng.normal(size=(100, 2))
            proba = predict_proba(X)
            ids += list(otel_mlmon.last_prediction_ids())
            predicted += ["leave" if p > 0.5 else "stay" for p in proba[:, 1]]
            truth += ["leave" if u < p else "stay" for u, p in zip(rng.random(100), proba[:, 1])]
        otel_mlmon.flush()
        assert meters.force_flush()
        labelled = 300  # a quarter of the predictions never get a label
        otel_mlmon.record_ground_truth(
            model="churn", prediction_id=ids[:labelled], value=truth[:labelled], logger_provider=loggers
        )
        assert collector.performance is not None and collector.drift is not None
        collector.drift.evaluate_now()  # fills the windows the estimate reads
        collector.performance.evaluate_now()
        assert collector.pipeline.shutdown(10)
        gauges = _gauges(captured)
    finally:
        loggers.shutdown()
        meters.shutdown()
        collector.shutdown(5)

    (accuracy,) = [v for a, v in gauges["ml.performance.accuracy"] if a[conv.ATTR_MODEL_NAME] == "churn"]
    assert accuracy == pytest.approx(accuracy_score(truth[:labelled], predicted[:labelled]))
    (coverage,) = [v for _, v in gauges[conv.METRIC_LABEL_COVERAGE]]
    assert coverage == pytest.approx(labelled / 400)
    (estimated,) = [v for _, v in gauges["ml.performance.estimated.accuracy"]]
    assert estimated == pytest.approx(accuracy, abs=0.1)  # calibrated probabilities: the estimate is close
    assert [v for _, v in gauges[conv.METRIC_CONCEPT_DRIFT_DETECTED]] == [0.0]
