"""Realized performance from joined prediction/label rows, per model, version, output and prediction-time window."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from otel_mlmon import conventions as conv
from otel_mlmon_collector._ground_truth._records import JoinedRow, Value

__all__ = [
    "ClassMetrics",
    "ClassificationMetrics",
    "MetricPoint",
    "RegressionMetrics",
    "WindowKey",
    "WindowPerformance",
    "as_class_label",
    "classification_metrics",
    "regression_metrics",
    "window_metrics",
    "window_performance",
    "window_start",
]

#: ``(model, version, output, window start in Unix ns)``.
WindowKey = tuple[str, str, str, int]

_LOG_LOSS_EPS = float(np.finfo(np.float64).eps)


def as_class_label(value: Value) -> str:
    """A value as a class label: text as is, integral numbers without a fraction (``1.0`` → ``"1"``)."""
    if isinstance(value, str):
        return value
    if math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def window_start(time_unix_nano: int, window_seconds: float) -> int:
    """Start (Unix ns) of the tumbling window of ``window_seconds`` (aligned on the epoch) holding the time."""
    width = int(window_seconds * 1e9)
    return (int(time_unix_nano) // width) * width


@dataclass(frozen=True)
class ClassMetrics:
    """One class's one-vs-rest metrics (0.0 where a denominator is zero, as sklearn's ``zero_division=0``)."""

    precision: float
    recall: float
    f1: float
    support: int  # rows whose true label is this class


@dataclass(frozen=True)
class ClassificationMetrics:
    """Classification metrics over ``n`` rows.

    ``labels`` is the sorted union of true and predicted labels; ``confusion[i][j]`` counts rows of true label
    ``labels[i]`` predicted as ``labels[j]``. Macro averages are unweighted means over ``labels``.
    ``roc_auc`` / ``log_loss`` are ``None`` unless every row carries probabilities over one class set that
    contains every true label (``probability_note`` says why not); ROC AUC is binary for two classes (positive
    class = the later of the two in sorted order) and one-vs-rest macro for more, over classes that have both
    positive and negative rows.
    """

    n: int
    accuracy: float
    labels: tuple[str, ...]
    per_class: Mapping[str, ClassMetrics]
    macro_precision: float
    macro_recall: float
    macro_f1: float
    confusion: tuple[tuple[int, ...], ...]
    roc_auc: float | None = None
    log_loss: float | None = None
    probability_note: str = ""


@dataclass(frozen=True)
class RegressionMetrics:
    """Regression metrics over ``n`` rows; error = prediction − truth.

    ``mape`` is the mean of ``|error| / |truth|`` (a fraction, not a percentage) over the ``n_mape`` rows whose
    truth is not zero (rows with a zero target have no percentage error and are skipped); ``None`` when none.
    """

    n: int
    rmse: float
    mae: float
    mean_error: float
    mape: float | None
    n_mape: int


def classification_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    probabilities: Sequence[Mapping[str, float] | None] | None = None,
) -> ClassificationMetrics:
    """Accuracy, per-class and macro precision/recall/F1, confusion counts, ROC AUC and log loss.

    Args:
        y_true: True class labels.
        y_pred: Predicted class labels, same length.
        probabilities: Optional per-row mapping class → probability (rows normalised to sum 1 for log loss).

    Raises:
        ValueError: empty input or lengths differ.
    """
    n = len(y_true)
    if n == 0 or len(y_pred) != n:
        raise ValueError(f"y_true and y_pred must be non-empty and of one length, got {n} and {len(y_pred)}")
    labels = tuple(sorted(set(y_true) | set(y_pred)))
    index = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, ([index[t] for t in y_true], [index[p] for p in y_pred]), 1)
    tp = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0).astype(np.float64)
    actual = confusion.sum(axis=1).astype(np.float64)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, actual)
    f1 = _ratio(2 * tp, predicted + actual)
    per_class = {
        label: ClassMetrics(float(precision[i]), float(recall[i]), float(f1[i]), int(actual[i]))
        for i, label in enumerate(labels)
    }
    roc_auc = log_loss = None
    note = "no probabilities"
    if probabilities is not None:
        roc_auc, log_loss, note = _probability_metrics(y_true, probabilities)
    return ClassificationMetrics(
        n=n,
        accuracy=float(tp.sum() / n),
        labels=labels,
        per_class=per_class,
        macro_precision=float(precision.mean()),
        macro_recall=float(recall.mean()),
        macro_f1=float(f1.mean()),
        confusion=tuple(tuple(int(c) for c in row) for row in confusion),
        roc_auc=roc_auc,
        log_loss=log_loss,
        probability_note=note,
    )


def regression_metrics(y_true: Sequence[float], y_pred: Sequence[float]) -> RegressionMetrics:
    """RMSE, MAE, mean error (prediction − truth) and MAPE (zero targets skipped).

    Raises:
        ValueError: empty input or lengths differ.
    """
    truth = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if truth.size == 0 or truth.shape != pred.shape:
        raise ValueError(
            f"y_true and y_pred must be non-empty and of one length, got {truth.size} and {pred.size}"
        )
    error = pred - truth
    nonzero = truth != 0
    n_mape = int(nonzero.sum())
    mape = float(np.mean(np.abs(error[nonzero]) / np.abs(truth[nonzero]))) if n_mape else None
    return RegressionMetrics(
        n=int(truth.size),
        rmse=float(np.sqrt(np.mean(error**2))),
        mae=float(np.mean(np.abs(error))),
        mean_error=float(np.mean(error)),
        mape=mape,
        n_mape=n_mape,
    )


@dataclass(frozen=True)
class MetricPoint:
    """One gauge value of a ground-truth report: metric name, value and extra attributes (emitted as a gauge)."""

    name: str
    value: float
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowPerformance:
    """Realized performance of one (model, version, output) over one prediction-time window.

    Attributes:
        key: ``(model, version, output, window start in Unix ns)``.
        window_seconds: Window width.
        n_labelled: Joined rows in the window.
        n_predicted: Prediction records seen in the window (``None`` when predictions were not counted).
        label_coverage: ``n_labelled / n_predicted`` (``None`` without ``n_predicted``).
        label_delay_mean_seconds / label_delay_max_seconds: Label time − prediction time over the joined rows.
        classification / regression: Metrics of the rows of each kind (a string prediction is a class label,
            a numeric one a regression output).
        skipped: Rows not usable (a regression row whose label is not a number).
    """

    key: WindowKey
    window_seconds: float
    n_labelled: int
    n_predicted: int | None
    label_coverage: float | None
    label_delay_mean_seconds: float
    label_delay_max_seconds: float
    classification: ClassificationMetrics | None
    regression: RegressionMetrics | None
    skipped: int = 0

    def points(self) -> list[MetricPoint]:
        """Flatten into gauge points named ``ml.performance.*`` (per-class points carry ``ml.prediction.class``;
        confusion points carry ``ml.ground_truth.class`` and ``ml.prediction.class``)."""
        out = [
            MetricPoint(conv.METRIC_PERFORMANCE_LABELLED, float(self.n_labelled)),
            MetricPoint(conv.METRIC_PERFORMANCE_LABEL_DELAY_MEAN, self.label_delay_mean_seconds),
            MetricPoint(conv.METRIC_PERFORMANCE_LABEL_DELAY_MAX, self.label_delay_max_seconds),
        ]
        if self.label_coverage is not None:
            out.append(MetricPoint(conv.METRIC_PERFORMANCE_LABEL_COVERAGE, self.label_coverage))
        c = self.classification
        if c is not None:
            out += [
                MetricPoint(conv.METRIC_PERFORMANCE_ACCURACY, c.accuracy),
                MetricPoint(conv.METRIC_PERFORMANCE_PRECISION_MACRO, c.macro_precision),
                MetricPoint(conv.METRIC_PERFORMANCE_RECALL_MACRO, c.macro_recall),
                MetricPoint(conv.METRIC_PERFORMANCE_F1_MACRO, c.macro_f1),
            ]
            for label, m in c.per_class.items():
                attrs = {conv.ATTR_PREDICTION_CLASS: label}
                out += [
                    MetricPoint(conv.METRIC_PERFORMANCE_PRECISION, m.precision, attrs),
                    MetricPoint(conv.METRIC_PERFORMANCE_RECALL, m.recall, attrs),
                    MetricPoint(conv.METRIC_PERFORMANCE_F1, m.f1, attrs),
                ]
            for i, true in enumerate(c.labels):
                for j, pred in enumerate(c.labels):
                    attrs = {conv.ATTR_GROUND_TRUTH_CLASS: true, conv.ATTR_PREDICTION_CLASS: pred}
                    out.append(
                        MetricPoint(conv.METRIC_PERFORMANCE_CONFUSION, float(c.confusion[i][j]), attrs)
                    )
            if c.roc_auc is not None:
                out.append(MetricPoint(conv.METRIC_PERFORMANCE_ROC_AUC, c.roc_auc))
            if c.log_loss is not None:
                out.append(MetricPoint(conv.METRIC_PERFORMANCE_LOG_LOSS, c.log_loss))
        r = self.regression
        if r is not None:
            out += [
                MetricPoint(conv.METRIC_PERFORMANCE_RMSE, r.rmse),
                MetricPoint(conv.METRIC_PERFORMANCE_MAE, r.mae),
                MetricPoint(conv.METRIC_PERFORMANCE_MEAN_ERROR, r.mean_error),
            ]
            if r.mape is not None:
                out.append(MetricPoint(conv.METRIC_PERFORMANCE_MAPE, r.mape))
        return out

    def summary(self) -> dict[str, float]:
        """Headline metrics by short name (``accuracy``, ``f1_macro``, ``roc_auc``, ``rmse``...), for comparison
        with a reference profile's performance."""
        out: dict[str, float] = {}
        c = self.classification
        if c is not None:
            out.update(
                accuracy=c.accuracy,
                precision_macro=c.macro_precision,
                recall_macro=c.macro_recall,
                f1_macro=c.macro_f1,
            )
            if c.roc_auc is not None:
                out["roc_auc"] = c.roc_auc
            if c.log_loss is not None:
                out["log_loss"] = c.log_loss
        r = self.regression
        if r is not None:
            out.update(rmse=r.rmse, mae=r.mae, mean_error=r.mean_error)
            if r.mape is not None:
                out["mape"] = r.mape
        return out


def window_performance(
    rows: Iterable[JoinedRow],
    window_seconds: float,
    predicted_counts: Mapping[WindowKey, int] | None = None,
) -> dict[WindowKey, WindowPerformance]:
    """Group joined rows by (model, version, output, prediction-time window) and compute each group's metrics.

    Args:
        rows: Joined rows.
        window_seconds: Width of the tumbling windows (aligned on the Unix epoch).
        predicted_counts: Prediction records per window key, for label coverage.
    """
    groups: dict[WindowKey, list[JoinedRow]] = defaultdict(list)
    for row in rows:
        model, version, output = row.series_key
        groups[(model, version, output, window_start(row.prediction_time_unix_nano, window_seconds))].append(
            row
        )
    counts = predicted_counts or {}
    return {
        key: window_metrics(key, group, window_seconds, counts.get(key))
        for key, group in sorted(groups.items())
    }


def window_metrics(
    key: WindowKey, rows: Sequence[JoinedRow], window_seconds: float, n_predicted: int | None = None
) -> WindowPerformance:
    """Metrics of one window's joined rows (``n_predicted``: prediction records in the window, for coverage).

    Raises:
        ValueError: no rows.
    """
    if not rows:
        raise ValueError("a window needs at least one joined row")
    delays = np.array([r.label_delay_seconds for r in rows], dtype=np.float64)
    cls_true: list[str] = []
    cls_pred: list[str] = []
    cls_prob: list[Mapping[str, float] | None] = []
    reg_true: list[float] = []
    reg_pred: list[float] = []
    skipped = 0
    for row in rows:
        predicted, truth = row.prediction.value, row.label.value
        if isinstance(predicted, str):
            cls_pred.append(predicted)
            cls_true.append(as_class_label(truth))
            p = row.prediction
            cls_prob.append(dict(zip(p.classes, p.probabilities)) if p.probabilities else None)
        else:
            number = _as_number(truth)
            if number is None:
                skipped += 1
                continue
            reg_pred.append(float(predicted))
            reg_true.append(number)
    coverage = None
    if n_predicted:
        coverage = min(1.0, len(rows) / n_predicted)
    return WindowPerformance(
        key=key,
        window_seconds=window_seconds,
        n_labelled=len(rows),
        n_predicted=n_predicted,
        label_coverage=coverage,
        label_delay_mean_seconds=float(delays.mean()),
        label_delay_max_seconds=float(delays.max()),
        classification=classification_metrics(cls_true, cls_pred, cls_prob) if cls_true else None,
        regression=regression_metrics(reg_true, reg_pred) if reg_true else None,
        skipped=skipped,
    )


def _as_number(value: Value) -> float | None:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return float(value)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _probability_metrics(
    y_true: Sequence[str], probabilities: Sequence[Mapping[str, float] | None]
) -> tuple[float | None, float | None, str]:
    if len(probabilities) != len(y_true) or any(p is None for p in probabilities):
        return None, None, "some rows carry no probabilities"
    classes = tuple(sorted(probabilities[0]))  # type: ignore[arg-type]
    if any(tuple(sorted(p)) != classes for p in probabilities):  # type: ignore[arg-type]
        return None, None, "rows carry probabilities over different class sets"
    if len(classes) < 2:
        return None, None, "fewer than two classes"
    if not set(y_true) <= set(classes):
        return None, None, "a true label is not among the probability classes"
    matrix = np.array([[p[c] for c in classes] for p in probabilities], dtype=np.float64)  # type: ignore[index]
    truth = np.array([classes.index(t) for t in y_true])
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.full_like(matrix, 1.0 / len(classes)), where=totals > 0)
    p_true = np.clip(normalised[np.arange(truth.size), truth], _LOG_LOSS_EPS, 1 - _LOG_LOSS_EPS)
    log_loss = float(-np.mean(np.log(p_true)))
    if len(classes) == 2:
        auc = _binary_auc(truth == 1, matrix[:, 1])
        return auc, log_loss, "" if auc is not None else "one class only among the true labels"
    aucs = [_binary_auc(truth == k, matrix[:, k]) for k in range(len(classes))]
    defined = [a for a in aucs if a is not None]
    return (float(np.mean(defined)) if defined else None), log_loss, ""


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """Mann–Whitney AUC with mid-ranks for ties; ``None`` without both positives and negatives."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    from scipy.stats import rankdata

    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
