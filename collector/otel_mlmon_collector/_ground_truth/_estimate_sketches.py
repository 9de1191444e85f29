"""Performance before labels from the SDK's sketches, calibrated by the reference profile, and its gap to the
realized performance once labels arrive.

:func:`estimate_view` reads a window's summaries -- the per-predicted-class confidence histograms of a classifier
output (and of its complement, finer near a confidence of 1; with more than two classes, of each class's probability
on the rows predicted another), the value histogram of a regression output and the feature histograms -- and applies the reference
profile's :class:`~otel_mlmon.estimation.EstimationModel` (beta calibration / additive expected-error model).
:func:`estimate_rows` applies the same model to the joined rows of a realized window, so that
:func:`estimation_gap` compares an estimate and a realized value over exactly the same predictions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from otel_mlmon import conventions as conv
from otel_mlmon.estimation import (
    ClassifierCalibration,
    EstimationModel,
    RegressionErrorModel,
    basis_means,
    bucket_basis_means,
    bucket_term_variance,
    estimate_classification,
    histogram_buckets,
    joint_buckets,
    term_variance,
)
from otel_mlmon_collector._ground_truth._metrics import MetricPoint

__all__ = ["Estimate", "estimate_rows", "estimate_view", "estimation_gap", "realized_span"]

#: Headline estimate → its gauge.
_GAUGES = {
    "accuracy": conv.METRIC_PERFORMANCE_ESTIMATED_ACCURACY,
    "precision_macro": conv.METRIC_PERFORMANCE_ESTIMATED_PRECISION_MACRO,
    "recall_macro": conv.METRIC_PERFORMANCE_ESTIMATED_RECALL_MACRO,
    "f1_macro": conv.METRIC_PERFORMANCE_ESTIMATED_F1_MACRO,
    "roc_auc": conv.METRIC_PERFORMANCE_ESTIMATED_ROC_AUC,
    "rmse": conv.METRIC_PERFORMANCE_ESTIMATED_RMSE,
    "mae": conv.METRIC_PERFORMANCE_ESTIMATED_MAE,
}
_PER_CLASS = {
    "precision": conv.METRIC_PERFORMANCE_ESTIMATED_PRECISION,
    "recall": conv.METRIC_PERFORMANCE_ESTIMATED_RECALL,
    "f1": conv.METRIC_PERFORMANCE_ESTIMATED_F1,
}


@dataclass(frozen=True)
class Estimate:
    """Expected performance of ``n`` predictions of one output.

    Attributes:
        n: Predictions behind the estimate.
        values: Headline metric (``accuracy``, ``f1_macro``, ``roc_auc``, ``rmse``, ``mae``...) → estimate.
        stderr: Metric → standard error of the realized value around the estimate.
        per_class: Class → ``{"precision", "recall", "f1"}`` (classifiers).
        calibrated: Whether a reference calibration was applied (else the model's confidence was taken as is).
    """

    n: int
    values: Mapping[str, float]
    stderr: Mapping[str, float] = field(default_factory=dict)
    per_class: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    calibrated: bool = False

    def points(self) -> list[MetricPoint]:
        """``ml.performance.estimated.*`` gauges, and ``ml.performance.estimated.stderr`` per metric."""
        out = [MetricPoint(_GAUGES[name], value) for name, value in self.values.items() if name in _GAUGES]
        out.append(MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATED_PREDICTED, float(self.n)))
        for label, metrics in self.per_class.items():
            attrs = {conv.ATTR_PREDICTION_CLASS: label}
            out += [MetricPoint(_PER_CLASS[m], v, attrs) for m, v in metrics.items() if m in _PER_CLASS]
        out += [
            MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATED_STDERR, se, {conv.ATTR_PERFORMANCE_METRIC: name})
            for name, se in self.stderr.items()
            if name in self.values and math.isfinite(se)
        ]
        return out


def estimate_view(view: Any, model: EstimationModel | None) -> dict[str, Estimate]:
    """Estimates per output from a window's :class:`~otel_mlmon.summary.Summary` (the drift engine's view).

    Classifier outputs (those with confidence histograms) are estimated with the reference calibration when the
    model has one for the output, else from the raw confidence; regression outputs only with a reference
    error model (there is nothing to estimate their error from otherwise).
    """
    outputs = model.outputs if model is not None else {}
    groups: dict[str, dict[str, tuple[np.ndarray, ...]]] = {}
    complements = getattr(view, "confidence_complement", {})
    for key, column in getattr(view, "confidence", {}).items():
        if column.numeric is not None and column.numeric.count:
            # The cells between the bounds of the confidence histogram and of the complement's (finer near 1).
            # The exact sum tilts the rows within coarse buckets; with the complement's fine ones it over-corrects.
            other = complements.get(key)
            buckets = joint_buckets(column.numeric, other.numeric if other is not None else None)
            exact_sum = (column.numeric.sum,) if other is None else ()
            groups.setdefault(key[0], {})[key[1]] = (*buckets, *exact_sum)
    # More than two classes: each class's probability on the rows predicted something else (one-vs-rest).
    rest: dict[str, dict[str, tuple[np.ndarray, ...]]] = {}
    for (output, label), column in getattr(view, "class_probability", {}).items():
        if column.numeric is not None and column.numeric.count:
            rest.setdefault(output, {})[label] = (*histogram_buckets(column.numeric), column.numeric.sum)
    out = {}
    for output, by_class in groups.items():
        calibration = outputs.get(output)
        out[output] = _classification(
            by_class,
            calibration if isinstance(calibration, ClassifierCalibration) else None,
            rest.get(output),
        )
    for output, error_model in outputs.items():
        column = view.outputs.get(output)
        if output in out or not isinstance(error_model, RegressionErrorModel) or column is None:
            continue
        if column.numeric is None or not column.numeric.count:
            continue
        rows = int(column.numeric.count + column.missing + column.infinite)
        means, variances = [], []
        for i, (section, name) in enumerate(error_model.columns):
            source = view.outputs if section == "outputs" else view.features
            column_view = source.get(name)
            means.append(_histogram_means(column_view, error_model.knots[i]))
            variances.append(_histogram_variance(column_view, error_model.knots[i], error_model.coef_abs[i]))
        out[output] = _regression(error_model, means, rows, variances)
    return out


def realized_span(
    realized_seconds: float, drift_seconds: float, drift_windows: int, now: float
) -> tuple[int, float, float]:
    """The drift windows that make up the realized (ground-truth) window holding ``now``.

    Both kinds of window are aligned on the Unix epoch, so when ``drift_seconds`` divides ``realized_seconds`` the
    drift windows from the realized window's start up to the one holding ``now`` hold exactly its rows (to the
    SDK's export interval: a summary point counts in the window of its interval's middle). Returns ``(count,
    start, end)``: how many drift windows to merge, ending with the current one (at most ``drift_windows``, those
    the drift engine keeps), and the realized window's bounds in Unix seconds.
    """
    start = math.floor(now / realized_seconds) * realized_seconds
    first = math.floor(start / drift_seconds)
    last = math.floor(now / drift_seconds)
    return max(1, min(last - first + 1, drift_windows)), start, start + realized_seconds


def estimate_rows(
    rows: Iterable[Any], calibration: ClassifierCalibration | RegressionErrorModel | None
) -> Estimate | None:
    """The estimate for the joined rows of one realized window (same rows as the realized metrics).

    Classifier rows need their confidence (the ``ml.prediction`` record's max probability), and give every
    class's probability on the rows predicted another (as the window's ``class_probability`` sketches) when their
    records carry the probabilities; regression rows use the prediction only, the features being taken at their
    reference means. None when nothing applies.
    """
    by_class: dict[str, list[float]] = {}
    rest: dict[str, list[float]] = {}
    values: list[float] = []
    for row in rows:
        prediction = row.prediction
        if isinstance(prediction.value, str):
            confidence = prediction.confidence
            if confidence is None and prediction.probabilities:
                confidence = max(prediction.probabilities)
            if confidence is not None and math.isfinite(confidence):
                by_class.setdefault(prediction.value, []).append(float(confidence))
                for label, p in zip(prediction.classes, prediction.probabilities):
                    if label != prediction.value and math.isfinite(p):
                        rest.setdefault(label, []).append(float(p))
        elif isinstance(prediction.value, float):
            values.append(prediction.value)
    if by_class:
        groups = {c: (np.asarray(v), np.ones(len(v))) for c, v in by_class.items()}
        return _classification(
            groups,
            calibration if isinstance(calibration, ClassifierCalibration) else None,
            {c: (np.asarray(v), np.ones(len(v))) for c, v in rest.items()},
        )
    if values and isinstance(calibration, RegressionErrorModel):
        array = np.asarray(values)
        means: list[np.ndarray | None] = [basis_means(array, calibration.knots[0])]
        means += [None] * (len(calibration.columns) - 1)
        variances = [term_variance(array, calibration.knots[0], calibration.coef_abs[0])]
        return _regression(calibration, means, array.size, variances)
    return None


def estimation_gap(estimate: Estimate, realized: Mapping[str, float]) -> list[MetricPoint]:
    """``ml.performance.estimation.gap`` (estimated − realized) per metric known on both sides, and
    ``ml.performance.estimation.gap.z``: the gap in standard errors of the estimate (``|z| > 3``: the reference
    calibration no longer holds for these predictions -- a sign of concept drift)."""
    out = []
    for name, value in estimate.values.items():
        if name not in realized or not math.isfinite(realized[name]):
            continue
        difference = value - realized[name]
        attrs = {conv.ATTR_PERFORMANCE_METRIC: name}
        out.append(MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATION_GAP, difference, attrs))
        se = estimate.stderr.get(name)
        if se is not None and math.isfinite(se) and se > 0:  # a zero error (all certain) gives no finite z
            out.append(MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATION_GAP_Z, difference / se, attrs))
    return out


def _classification(
    groups: Mapping[str, tuple[np.ndarray, ...]],
    calibration: ClassifierCalibration | None,
    rest: Mapping[str, tuple[np.ndarray, ...]] | None = None,
) -> Estimate:
    result = estimate_classification(calibration, groups, rest)
    names = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")
    values = {k: float(result[k]) for k in names if result[k] is not None}
    return Estimate(
        n=int(result["n"]),
        values=values,
        stderr=dict(result["stderr"]),
        per_class=result["per_class"],
        calibrated=calibration is not None,
    )


def _regression(
    model: RegressionErrorModel,
    means: list[np.ndarray | None],
    rows: int,
    variances: list[float | None] | None = None,
) -> Estimate:
    result = model.estimate(means, rows, variances)
    return Estimate(
        n=rows,
        values={"rmse": result["rmse"], "mae": result["mae"]},
        stderr=dict(result["stderr"]),
        calibrated=True,
    )


def _histogram_means(column: Any, knots: np.ndarray) -> np.ndarray | None:
    """A window's mean basis of one column (see ``otel_mlmon._estimation_regression``) from its histogram; missing
    and infinite values count as zeros, as in the reference. None when the column is not numeric here."""
    if column is None or column.numeric is None or not column.numeric.count:
        return None
    histogram = column.numeric
    lower, upper, counts = histogram_buckets(histogram)
    rows = int(histogram.count + column.missing + column.infinite)
    return bucket_basis_means(lower, upper, counts, histogram.sum, knots, rows)


def _histogram_variance(column: Any, knots: np.ndarray, coef: np.ndarray) -> float | None:
    """A window's variance of one column's error term from its histogram (missing values: a term of 0); None
    when the column is not numeric here."""
    if column is None or column.numeric is None or not column.numeric.count:
        return None
    lower, upper, counts = histogram_buckets(column.numeric)
    rows = int(column.numeric.count + column.missing + column.infinite)
    return bucket_term_variance(lower, upper, counts, knots, coef, rows)
