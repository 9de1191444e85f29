"""Label joins end to end: SDK prediction records + late labels over OTLP → collector → performance gauges."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

import otel_mlmon
from otel_mlmon import conventions as conv


def test_labels_join_to_predictions_and_performance_is_exported(
    labelled_collector: Callable[..., Any],
) -> None:
    """Predictions recorded by the SDK and labels reported later give the realized accuracy, coverage and an estimate."""
    run = labelled_collector()
    rng = np.random.default_rng(5)

    @otel_mlmon.monitor(
        model="churn", version="2", classes=["stay", "leave"], record_predictions=1.0, **run.sdk
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
    labelled = 300  # a quarter of the predictions never get a label
    otel_mlmon.record_ground_truth(
        model="churn", prediction_id=ids[:labelled], value=truth[:labelled], logger_provider=run.loggers
    )
    gauges = run.evaluate()

    (accuracy,) = [v for a, v in gauges["ml.performance.accuracy"] if a[conv.ATTR_MODEL_NAME] == "churn"]
    assert accuracy == pytest.approx(accuracy_score(truth[:labelled], predicted[:labelled]))
    (coverage,) = [v for _, v in gauges[conv.METRIC_LABEL_COVERAGE]]
    assert coverage == pytest.approx(labelled / 400)
    (estimated,) = [v for _, v in gauges["ml.performance.estimated.accuracy"]]
    assert estimated == pytest.approx(accuracy, abs=0.1)  # calibrated probabilities: the estimate is close
    assert [v for _, v in gauges[conv.METRIC_CONCEPT_DRIFT_DETECTED]] == [0.0]
