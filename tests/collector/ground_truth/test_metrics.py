"""Realized performance metrics: exact values against sklearn.metrics on the same rows, windows, coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from otel_mlmon_collector._ground_truth._metrics import (
    as_class_label,
    classification_metrics,
    regression_metrics,
    window_performance,
    window_start,
)
from otel_mlmon_collector._ground_truth._performance_windows import PerformanceWindows
from otel_mlmon_collector._ground_truth._records import JoinedRow
from sklearn import metrics as skm

from tests.collector.ground_truth._helpers import SECOND, label, prediction

Y_TRUE = ["cat", "dog", "dog", "bird", "cat", "dog", "bird", "cat", "dog", "fish"]
Y_PRED = ["cat", "dog", "cat", "bird", "dog", "dog", "cat", "cat", "bird", "dog"]


def test_classification_matches_sklearn() -> None:
    """Accuracy, per-class and macro precision/recall/F1 and the confusion matrix equal sklearn's."""
    m = classification_metrics(Y_TRUE, Y_PRED)
    labels = sorted(set(Y_TRUE) | set(Y_PRED))
    assert m.labels == tuple(labels) and m.n == len(Y_TRUE)
    assert m.accuracy == pytest.approx(skm.accuracy_score(Y_TRUE, Y_PRED), abs=1e-15)
    p, r, f, s = skm.precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=labels, zero_division=0)
    for i, c in enumerate(labels):
        got = m.per_class[c]
        assert (got.precision, got.recall, got.f1, got.support) == pytest.approx(
            (p[i], r[i], f[i], s[i]), abs=1e-15
        )
    mp, mr, mf, _ = skm.precision_recall_fscore_support(Y_TRUE, Y_PRED, average="macro", zero_division=0)
    assert (m.macro_precision, m.macro_recall, m.macro_f1) == pytest.approx((mp, mr, mf), abs=1e-15)
    assert np.array_equal(np.array(m.confusion), skm.confusion_matrix(Y_TRUE, Y_PRED, labels=labels))
    assert m.roc_auc is None and m.log_loss is None


def test_binary_auc_and_log_loss_match_sklearn() -> None:
    """Binary ROC AUC (with tied scores) and log loss equal sklearn's on the same probabilities."""
    y_true = ["no", "yes", "yes", "no", "yes", "no", "no", "yes", "yes", "no"]
    p_yes = [0.1, 0.8, 0.4, 0.4, 0.9, 0.6, 0.2, 0.4, 0.7, 0.3]
    y_pred = ["yes" if p > 0.5 else "no" for p in p_yes]
    probs = [{"no": 1 - p, "yes": p} for p in p_yes]
    m = classification_metrics(y_true, y_pred, probs)
    assert m.roc_auc == pytest.approx(skm.roc_auc_score([t == "yes" for t in y_true], p_yes), abs=1e-12)
    assert m.log_loss == pytest.approx(
        skm.log_loss(y_true, [[1 - p, p] for p in p_yes], labels=["no", "yes"]), abs=1e-12
    )


def test_multiclass_ovr_auc_and_log_loss_match_sklearn() -> None:
    """One-vs-rest macro ROC AUC and multiclass log loss equal sklearn's on random probabilities."""
    rng = np.random.default_rng(3)
    classes = ["a", "b", "c", "d"]
    matrix = rng.dirichlet(np.ones(4), size=200)
    y_true = [classes[i] for i in rng.integers(0, 4, size=200)]
    y_pred = [classes[i] for i in matrix.argmax(axis=1)]
    probs = [
        dict(zip(classes[::-1], row[::-1])) for row in matrix
    ]  # class order in the record does not matter
    m = classification_metrics(y_true, y_pred, probs)
    assert m.roc_auc == pytest.approx(
        skm.roc_auc_score(y_true, matrix, multi_class="ovr", average="macro", labels=classes), abs=1e-12
    )
    assert m.log_loss == pytest.approx(skm.log_loss(y_true, matrix, labels=classes), abs=1e-12)


def test_probability_metrics_need_consistent_rows() -> None:
    """ROC AUC and log loss are withheld, with a reason, when rows lack probabilities or disagree on classes."""
    partial = classification_metrics(["a", "b"], ["a", "b"], [{"a": 0.9, "b": 0.1}, None])
    assert partial.roc_auc is None and "no probabilities" in partial.probability_note
    mixed = classification_metrics(["a", "b"], ["a", "b"], [{"a": 0.9, "b": 0.1}, {"a": 0.5, "c": 0.5}])
    assert mixed.log_loss is None and "different class sets" in mixed.probability_note
    unknown = classification_metrics(["a", "z"], ["a", "b"], [{"a": 0.9, "b": 0.1}, {"a": 0.5, "b": 0.5}])
    assert unknown.roc_auc is None and "not among" in unknown.probability_note
    single = classification_metrics(["a", "a"], ["a", "b"], [{"a": 0.9, "b": 0.1}, {"a": 0.5, "b": 0.5}])
    assert single.roc_auc is None and single.log_loss is not None


def test_regression_matches_sklearn_and_skips_zero_targets_in_mape() -> None:
    """RMSE, MAE and mean error equal sklearn's; MAPE equals sklearn's on the rows with non-zero targets."""
    y_true = [3.0, -0.5, 2.0, 7.0, 0.0, 4.5]
    y_pred = [2.5, 0.0, 2.0, 8.0, 0.3, 4.0]
    m = regression_metrics(y_true, y_pred)
    assert m.rmse == pytest.approx(math.sqrt(skm.mean_squared_error(y_true, y_pred)), abs=1e-15)
    assert m.mae == pytest.approx(skm.mean_absolute_error(y_true, y_pred), abs=1e-15)
    assert m.mean_error == pytest.approx(np.mean(np.subtract(y_pred, y_true)), abs=1e-15)
    keep = [i for i, t in enumerate(y_true) if t != 0]
    expected = skm.mean_absolute_percentage_error([y_true[i] for i in keep], [y_pred[i] for i in keep])
    assert m.mape == pytest.approx(expected, abs=1e-15) and m.n_mape == 5
    assert regression_metrics([0.0], [1.0]).mape is None


def test_empty_or_unequal_inputs_raise() -> None:
    """Metrics over no rows or rows of unequal length are refused."""
    with pytest.raises(ValueError):
        classification_metrics([], [])
    with pytest.raises(ValueError):
        regression_metrics([1.0], [1.0, 2.0])


def test_class_labels_from_numbers() -> None:
    """Numeric labels compare with text class labels: integral numbers lose their fraction."""
    assert [as_class_label(v) for v in ("1", 1.0, 2.5, -3.0)] == ["1", "1", "2.5", "-3"]


def test_rows_are_attributed_to_the_prediction_time_window() -> None:
    """A label arriving in a later window counts in the window in which the model predicted."""
    rows = [
        JoinedRow(prediction("a", "yes", 10 * SECOND), label("a", "yes", 500 * SECOND)),
        JoinedRow(prediction("b", "yes", 59 * SECOND), label("b", "no", 61 * SECOND)),
        JoinedRow(prediction("c", "no", 60 * SECOND), label("c", "no", 61 * SECOND)),
        JoinedRow(prediction("d", "no", 70 * SECOND, version="4"), label("d", "yes", 80 * SECOND)),
    ]
    result = window_performance(rows, window_seconds=60)
    assert list(result) == [
        ("fraud", "3", "prediction", 0),
        ("fraud", "3", "prediction", 60 * SECOND),
        ("fraud", "4", "prediction", 60 * SECOND),
    ]
    first = result[("fraud", "3", "prediction", 0)]
    assert first.n_labelled == 2 and first.classification is not None and first.classification.accuracy == 0.5
    assert first.label_delay_mean_seconds == (490 + 2) / 2 and first.label_delay_max_seconds == 490
    assert first.label_coverage is None
    assert window_start(119 * SECOND, 60) == 60 * SECOND


def test_coverage_regression_rows_and_points() -> None:
    """Coverage is labelled / predicted rows; numeric predictions give regression metrics; points are named."""
    windows = PerformanceWindows(window_seconds=60)
    preds = [prediction(f"r{i}", float(i), i * SECOND) for i in range(8)]
    windows.observe_predictions(preds)
    changed = windows.add(
        [JoinedRow(p, label(p.prediction_id, p.value + 1.0, 30 * SECOND)) for p in preds[:6]]
        + [JoinedRow(preds[6], label("r6", "not a number"))]
    )
    (key,) = changed
    result = windows.results()[key]
    assert result.n_predicted == 8 and result.label_coverage == 7 / 8 and result.skipped == 1
    assert (
        result.regression is not None
        and result.regression.mean_error == -1.0
        and result.regression.rmse == 1.0
    )
    names = {p.name for p in result.points()}
    assert {"ml.performance.rmse", "ml.performance.mae", "ml.performance.label.coverage"} <= names
    assert result.summary()["mae"] == 1.0
    assert windows.drop_before(60 * SECOND) == 1 and windows.results() == {}


def test_classification_points_cover_classes_and_confusion() -> None:
    """Gauge points hold one precision/recall/F1 per class and one confusion count per (true, predicted) pair."""
    rows = [
        JoinedRow(
            prediction(str(i), p, SECOND, classes=("no", "yes"), probabilities=(1 - s, s)), label(str(i), t)
        )
        for i, (p, t, s) in enumerate([("yes", "yes", 0.9), ("no", "yes", 0.4), ("no", "no", 0.2)])
    ]
    (result,) = window_performance(rows, 60).values()
    points = result.points()
    confusion = {
        (pt.attributes["ml.ground_truth.class"], pt.attributes["ml.prediction.class"]): pt.value
        for pt in points
        if pt.name == "ml.performance.confusion"
    }
    assert confusion == {("no", "no"): 1, ("no", "yes"): 0, ("yes", "no"): 1, ("yes", "yes"): 1}
    assert sum(pt.name == "ml.performance.recall" for pt in points) == 2
    assert {"accuracy", "f1_macro", "roc_auc", "log_loss"} <= set(result.summary())
