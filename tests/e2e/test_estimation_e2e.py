"""Estimates before labels end to end: a profile built with labels → the collector's references; SDK summaries and
prediction records over OTLP → calibrated estimates with their standard errors; labels → estimation gap gauges."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon.profile import Profile

pytestmark = pytest.mark.e2e


def _true_p(X: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(1.5 * X[:, 0] - X[:, 1])))


def _overconfident(X: np.ndarray) -> np.ndarray:
    """The model's probabilities: the right ranking, but sharpened (raw confidence over-promises)."""
    p = 1 / (1 + np.exp(-3 * (1.5 * X[:, 0] - X[:, 1])))
    return np.column_stack([1 - p, p])


def _price(X: np.ndarray) -> np.ndarray:
    return 100 + 20 * X[:, 0]


def test_calibrated_estimates_and_gap_gauges_are_emitted(
    tmp_path: Path, labelled_collector: Callable[..., Any]
) -> None:
    rng = np.random.default_rng(11)
    profiles = tmp_path / "profiles"
    X_ref = rng.normal(size=(4000, 2))
    y_ref = (rng.random(4000) < _true_p(X_ref)).astype(int)
    Profile.from_data(
        X_ref, _overconfident(X_ref), model="churn", feature_names=["a", "b"], classes=[0, 1], labels=y_ref
    ).save(profiles / "churn.json")
    X_reg = rng.normal(size=(4000, 2))
    y_reg = _price(X_reg) + rng.normal(size=4000) * (2 + 3 * np.abs(X_reg[:, 0]))
    Profile.from_data(X_reg, _price(X_reg), model="price", feature_names=["a", "b"], labels=y_reg).save(
        profiles / "price.json"
    )

    run = labelled_collector(drift={"references": {"directory": str(profiles)}})
    sdk = run.sdk

    @otel_mlmon.monitor(
        model="churn", classes=[0, 1], feature_names=["a", "b"], record_predictions=1.0, **sdk
    )
    def predict_proba(X):
        return _overconfident(X)

    @otel_mlmon.monitor(model="price", feature_names=["a", "b"], **sdk)
    def predict_price(X):
        return _price(X)

    X = rng.normal(size=(1000, 2))
    X[:, 0] += 0.7  # covariate shift: the live rows are not the reference rows
    ids, scores = [], []
    for part in np.array_split(np.arange(1000), 4):
        scores.append(predict_proba(X[part])[:, 1])
        ids += list(otel_mlmon.last_prediction_ids())
    score = np.concatenate(scores)
    truth = (rng.random(1000) < _true_p(X)).astype(int)
    X_live = rng.normal(size=(1000, 2))
    X_live[:, 0] *= 1.5  # wider inputs: larger errors than in the reference
    price = predict_price(X_live)
    price_truth = _price(X_live) + rng.normal(size=1000) * (2 + 3 * np.abs(X_live[:, 0]))
    otel_mlmon.flush()
    otel_mlmon.record_ground_truth(
        model="churn", prediction_id=ids, value=[str(t) for t in truth], logger_provider=run.loggers
    )
    gauges = (
        run.evaluate()
    )  # the drift evaluation loads the profiles and fills the windows the estimates read

    def one(name: str, model: str, **attrs: str) -> float:
        (value,) = [
            v
            for a, v in gauges[name]
            if a[conv.ATTR_MODEL_NAME] == model and all(a.get(k) == x for k, x in attrs.items())
        ]
        return value

    realized = accuracy_score(truth, (score > 0.5).astype(int))
    assert one(conv.METRIC_PERFORMANCE_ACCURACY, "churn") == pytest.approx(realized)
    estimated = one(conv.METRIC_PERFORMANCE_ESTIMATED_ACCURACY, "churn")
    stderr = one(
        conv.METRIC_PERFORMANCE_ESTIMATED_STDERR, "churn", **{conv.ATTR_PERFORMANCE_METRIC: "accuracy"}
    )
    assert 0 < stderr < 0.03
    assert abs(estimated - realized) < 4 * stderr  # calibrated: the raw scores would promise ~0.1 more
    assert np.mean(np.maximum(score, 1 - score)) - realized > 0.05  # ... as the raw scores do
    auc = one(conv.METRIC_PERFORMANCE_ESTIMATED_ROC_AUC, "churn")
    assert auc == pytest.approx(roc_auc_score(truth, score), abs=0.04)
    for metric in ("accuracy", "f1_macro", "roc_auc"):
        attrs = {conv.ATTR_PERFORMANCE_METRIC: metric}
        gap = one(conv.METRIC_PERFORMANCE_ESTIMATION_GAP, "churn", **attrs)
        assert abs(gap) < 0.05
        assert abs(one(conv.METRIC_PERFORMANCE_ESTIMATION_GAP_Z, "churn", **attrs)) < 4
    rmse = float(np.sqrt(mean_squared_error(price_truth, price)))
    assert one(conv.METRIC_PERFORMANCE_ESTIMATED_RMSE, "price") == pytest.approx(rmse, rel=0.1)
    mae = float(np.mean(np.abs(price_truth - price)))
    assert one(conv.METRIC_PERFORMANCE_ESTIMATED_MAE, "price") == pytest.approx(mae, rel=0.1)


def _three_classes(X: np.ndarray) -> np.ndarray:
    """A calibrated three-class model: class 1 and 2 take over from 0 as their feature grows."""
    p = np.exp(np.column_stack([np.zeros(len(X)), 1.5 * X[:, 0], 1.5 * X[:, 1]]))
    return p / p.sum(1, keepdims=True)


def _draw(rng: np.random.Generator, n: int, shift: list[float]) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(n, 2)) + np.array(shift)
    return X, (_three_classes(X).cumsum(1) < rng.random((n, 1))).sum(1)


def test_multiclass_estimates_read_every_class_probability_over_otlp(
    tmp_path: Path, labelled_collector: Callable[..., Any]
) -> None:
    """Live traffic where class 1 is rarer and class 2 more common than in the reference: the reference's shares of
    each predicted class's errors no longer hold. The SDK's ``ml.prediction.class_probability`` series, through a
    real collector, tell the estimate where the errors went (with the confidence alone class 1's recall is
    estimated 0.125 low, the ROC AUC 0.03 low)."""
    rng = np.random.default_rng(21)
    X_ref, y_ref = _draw(rng, 6000, [0.0, -1.0])
    profiles = tmp_path / "profiles"
    Profile.from_data(
        X_ref, _three_classes(X_ref), model="tri", feature_names=["a", "b"], classes=[0, 1, 2], labels=y_ref
    ).save(profiles / "tri.json")
    run = labelled_collector(drift={"references": {"directory": str(profiles)}})
    predict_proba = otel_mlmon.monitor(model="tri", classes=[0, 1, 2], feature_names=["a", "b"], **run.sdk)(
        _three_classes
    )
    X, truth = _draw(rng, 3000, [-1.5, 0.5])
    for part in np.array_split(np.arange(3000), 5):
        predict_proba(X[part])
    gauges = run.evaluate()

    def one(name: str, **attrs: str) -> float:
        (value,) = [v for a, v in gauges[name] if all(a.get(k) == x for k, x in attrs.items())]
        return value

    proba = _three_classes(X)
    predicted = proba.argmax(1)
    for c in range(3):
        estimated = one(conv.METRIC_PERFORMANCE_ESTIMATED_RECALL, **{conv.ATTR_PREDICTION_CLASS: str(c)})
        assert estimated == pytest.approx(np.mean(predicted[truth == c] == c), abs=0.04)
    auc = roc_auc_score(truth, proba, multi_class="ovr")
    assert one(conv.METRIC_PERFORMANCE_ESTIMATED_ROC_AUC) == pytest.approx(auc, abs=0.02)
    assert one(conv.METRIC_PERFORMANCE_ESTIMATED_ACCURACY) == pytest.approx(
        np.mean(predicted == truth), abs=0.03
    )
