"""Proof: labelled data replayed through configure()'s defaults and a real collector with its default ground-truth
settings — every record joins, and the realized metrics equal scikit-learn's on the same rows.

A synthetic loan set (a logistic model deployed with a 0.8 threshold) and a price regression, in chunks of 700 to
5 000 rows, each chunk predicted in one call and labelled in one ``record_ground_truth`` call, over OTLP/HTTP.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._service import Collector
from sklearn import metrics
from sklearn.linear_model import LinearRegression, LogisticRegression

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon._faults import faults
from otel_mlmon._log_pipeline import DROP_FAULT
from tests.collector.conftest import collector_config, wait_until

CHUNKS = (700, 5000, 1500, 2500)


def _gauges(exporter: InMemoryExporter, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for request in exporter.requests("metrics"):
        for rm in request.decoded().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        for point in metric.gauge.data_points:
                            attrs = {kv.key: kv.value.string_value for kv in point.attributes}
                            out.append((attrs, point.as_double))
    return out


def _loans(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(n, 4))
    p = 1 / (1 + np.exp(-(1.5 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] - 1.0)))
    return X, (rng.uniform(size=n) < p).astype(int)


def _prices(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(n, 3))
    return X, 850 + 120 * X[:, 0] - 60 * X[:, 1] + rng.normal(0, 40, n)


@pytest.mark.e2e
def test_replay_with_default_settings_joins_every_record(tmp_path: Path) -> None:
    rng = np.random.default_rng(18)
    loan_model = LogisticRegression().fit(*_loans(rng, 3000))
    price_model = LinearRegression().fit(*_prices(rng, 3000))
    captured = InMemoryExporter("captured")
    # The collector's ground_truth section at its defaults (the store's path aside); evaluation on request.
    config = collector_config(
        ground_truth={"path": str(tmp_path / "gt.sqlite"), "evaluation_interval_seconds": 0}
    )
    collector = Collector(config, exporters={"captured": captured})
    collector.start()
    telemetry = otel_mlmon.configure(
        service_name="replay", endpoint=f"http://{collector.http_endpoint}", set_global=False
    )
    providers = {
        "tracer_provider": telemetry.tracer_provider,
        "meter_provider": telemetry.meter_provider,
        "logger_provider": telemetry.logger_provider,
    }
    dropped_before = faults.counts().get(DROP_FAULT, 0)
    threshold = otel_mlmon.Threshold(0.8)
    loan_proba = otel_mlmon.instrument(
        loan_model, model="loans", version="1", record_predictions=1.0, decision=threshold, **providers
    ).predict_proba
    price_predict = otel_mlmon.instrument(
        price_model, model="prices", version="1", record_predictions=1.0, **providers
    ).predict
    seen: dict[str, list[np.ndarray]] = {"y": [], "p": [], "t": [], "r": []}
    try:
        for n in CHUNKS:
            X, y = _loans(rng, n)
            p = loan_proba(X)
            ids = otel_mlmon.last_prediction_ids()
            assert len(ids) == n
            otel_mlmon.record_ground_truth(
                model="loans", prediction_id=ids, value=y, logger_provider=telemetry.logger_provider
            )
            Xp, target = _prices(rng, n)
            predicted = price_predict(Xp)
            otel_mlmon.record_ground_truth(
                model="prices",
                prediction_id=otel_mlmon.last_prediction_ids(),
                value=target,
                logger_provider=telemetry.logger_provider,
            )
            seen["y"].append(y)
            seen["p"].append(p)
            seen["t"].append(target)
            seen["r"].append(predicted)
            assert telemetry.force_flush(
                30_000
            )  # the receiver has stored every record once the exports returned
            collector.performance.evaluate_now()
            wait_until(lambda: _gauges(captured, conv.METRIC_PERFORMANCE_RMSE), 10)
            _check_window(captured, seen)
            captured.clear()
        counts = collector.performance.label_join.store.counts()
    finally:
        telemetry.shutdown()
        collector.shutdown(5)
    total = 2 * sum(CHUNKS)
    assert counts["predictions"] == counts["labels"] == counts["joined"] == total
    assert counts["pending_predictions"] == counts["pending_labels"] == 0
    assert not any(k.startswith("malformed") and v for k, v in counts.items())
    assert faults.counts().get(DROP_FAULT, 0) == dropped_before


def _check_window(captured: InMemoryExporter, seen: dict[str, list[np.ndarray]]) -> None:
    """The window (every chunk so far: all fall in one default 3 600 s window) equals scikit-learn's metrics."""
    y, p = np.concatenate(seen["y"]), np.concatenate(seen["p"])
    decided = (p[:, 1] >= 0.8).astype(int)  # the deployed decision, not argmax
    t, r = np.concatenate(seen["t"]), np.concatenate(seen["r"])

    def value(name: str, model: str) -> float:
        (v,) = [v for a, v in _gauges(captured, name) if a[conv.ATTR_MODEL_NAME] == model]
        return v

    expected = {
        conv.METRIC_PERFORMANCE_ACCURACY: metrics.accuracy_score(y, decided),
        conv.METRIC_PERFORMANCE_PRECISION_MACRO: metrics.precision_score(y, decided, average="macro"),
        conv.METRIC_PERFORMANCE_RECALL_MACRO: metrics.recall_score(y, decided, average="macro"),
        conv.METRIC_PERFORMANCE_F1_MACRO: metrics.f1_score(y, decided, average="macro"),
        conv.METRIC_PERFORMANCE_ROC_AUC: metrics.roc_auc_score(y, p[:, 1]),
        conv.METRIC_PERFORMANCE_LOG_LOSS: metrics.log_loss(y, p),
        conv.METRIC_PERFORMANCE_LABELLED: float(y.size),
        conv.METRIC_PERFORMANCE_PREDICTED: float(y.size),
    }
    for name, want in expected.items():
        assert value(name, "loans") == pytest.approx(want, abs=1e-12), name
    regression = {
        conv.METRIC_PERFORMANCE_RMSE: metrics.root_mean_squared_error(t, r),
        conv.METRIC_PERFORMANCE_MAE: metrics.mean_absolute_error(t, r),
        conv.METRIC_PERFORMANCE_MAPE: metrics.mean_absolute_percentage_error(t, r),
    }
    for name, want in regression.items():
        assert value(name, "prices") == pytest.approx(want, rel=1e-12), name
    start = value(conv.METRIC_PERFORMANCE_WINDOW_START, "loans")
    assert value(conv.METRIC_PERFORMANCE_WINDOW_END, "loans") - start == 3600.0
    assert value(conv.METRIC_LABEL_COVERAGE, "loans") == 1.0
