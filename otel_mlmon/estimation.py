"""What a reference profile carries so the collector can estimate performance before labels arrive.

Built from reference predictions and their labels (``Profile.from_data(..., labels=...)`` or ``otel-mlmon profile
build --target``), applied by the collector to the sketches the SDK exports:

* **Classifiers** (:class:`ClassifierCalibration`): per predicted class, a beta calibration (Kull et al. 2017) from
  the exported confidence (the max class probability) to the probability that the prediction is right, and which
  classes the errors of that predicted class were (the confidence-based performance estimation of NannyML's CBPE,
  on the per-predicted-class confidence histograms the SDK exports; CBPE calibrates with an isotonic fit, whose
  steps follow the noise of a small reference). Accuracy, per-class and macro precision, recall and
  F1 come from the expected confusion matrix; ROC AUC from the expected positives above each score.
* **Regressors** (:class:`RegressionErrorModel`): an additive model of the expected absolute and squared error on
  quantile bins of the prediction and of the most informative numeric features (like NannyML's DLE, but additive
  so that its mean over a window needs only each column's marginal histogram -- exactly what the SDK exports).

Both carry the spread of their metrics over random reference chunks, the estimate's standard error at ``n`` rows
being ``spread / sqrt(n)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ClassifierCalibration",
    "EstimationModel",
    "RegressionErrorModel",
    "basis_means",
    "bucket_basis_means",
    "bucket_term_variance",
    "class_label",
    "estimate_classification",
    "fit_classifier",
    "fit_estimation",
    "fit_regression",
    "histogram_buckets",
    "joint_buckets",
    "term_variance",
]

from otel_mlmon._beta_calibration import fit_beta_calibration
from otel_mlmon._calibration_blocks import (
    cell_blocks,
    histogram_buckets,
    joint_buckets,
    spread_over_blocks,
)
from otel_mlmon._estimation_regression import (
    SPREAD_CHUNK_ROWS,
    RegressionErrorModel,
    basis_means,
    bucket_basis_means,
    bucket_term_variance,
    fit_regression,
    floats,
    term_variance,
)
from otel_mlmon._expected_auc import median_auc, ratio_auc
from otel_mlmon._one_vs_rest import fit_rest_blocks, rest_auc, rest_pieces


def class_label(value: Any) -> str:
    """A value as a class label, as the collector spells it (``1.0`` and ``1`` → ``"1"``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return str(value)


# ---------------------------------------------------------------------------------------------------- classifiers


@dataclass
class ClassifierCalibration:
    """Calibration of a classifier's confidence, learned on reference predictions and labels.

    Attributes:
        classes: Every class seen in the reference (predicted or true), sorted.
        blocks: Predicted class → the calibration from confidence to P(correct), as constant blocks (one per cell
            of the exported histograms, P(correct) the mean over its reference rows): rows ``(lowest confidence,
            highest confidence, P(correct), reference rows)``.
        errors: Predicted class → true class → share of that predicted class's reference errors.
        auc_offset: Realized minus estimated ROC AUC on the reference itself when the estimate is approximate (more
            than two classes: the sketches hold only the max probability); 0 for two classes.
        spread: Metric → standard deviation over reference chunks times ``sqrt(chunk rows)``.
        rest: More than two classes, from the probability matrix: class ``c`` → the calibration from ``p_c`` to
            P(the label is ``c``) on the rows predicted something else, as blocks like ``blocks``
            (:mod:`otel_mlmon._one_vs_rest`); empty when the profile had only the predicted class's confidence.
    """

    classes: tuple[str, ...]
    blocks: dict[str, np.ndarray]
    errors: dict[str, dict[str, float]]
    auc_offset: float | None = 0.0
    spread: dict[str, float] = field(default_factory=dict)
    rest: dict[str, np.ndarray] = field(default_factory=dict)

    def p_correct(self, predicted: str, confidence: np.ndarray) -> np.ndarray:
        """Calibrated probability that a prediction of ``predicted`` made with ``confidence`` is right."""
        confidence = np.asarray(confidence, dtype=np.float64)
        blocks = self.blocks.get(predicted)
        if blocks is None:  # a class the reference never predicted: trust the model's own confidence
            return np.clip(confidence, 0.0, 1.0)
        x = np.column_stack([blocks[:, 0], blocks[:, 1]]).ravel()
        y = np.repeat(blocks[:, 2], 2)
        return np.interp(confidence, x, y)

    def spread_buckets(
        self,
        predicted: str,
        lower: np.ndarray,
        upper: np.ndarray,
        counts: np.ndarray,
        total: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Histogram buckets ``(lower, upper]`` of confidence → ``(confidence, rows, P(correct))`` pieces.

        Within a bucket the rows are assumed spread like the reference rows (each block's reference rows evenly
        over the block), so a bucket becomes one piece per block it overlaps, at that block's accuracy: near a
        confidence of 1 a bucket can straddle blocks of very different accuracy, and its midpoint would say little
        about where its rows are. A bucket overlapping no reference row is one piece at its midpoint.

        ``total``, the histogram's exact sum of confidences, corrects that assumption where the window's rows sit
        elsewhere within their buckets than the reference's (under a shift, rows crowd towards a confidence of
        1 inside the top bucket): every bucket's spread is tilted by one factor ``exp(θ · position in the
        bucket)``, with θ chosen so that the pieces' sum equals ``total``.
        """
        lower = np.asarray(lower, dtype=np.float64)
        upper = np.asarray(upper, dtype=np.float64)
        counts = np.asarray(counts, dtype=np.float64)
        middle = (lower + upper) / 2
        blocks = self.blocks.get(predicted)
        if (
            blocks is None
        ):  # the confidence is its own calibration: the exact sum is the expected number right
            if total is not None and math.isfinite(total) and counts.sum() > 0:
                middle = np.clip(
                    middle + (total - float(np.dot(counts, middle))) / counts.sum(), lower, upper
                )
            return middle, counts, self.p_correct(predicted, middle)
        return spread_over_blocks(blocks, lower, upper, counts, total, lambda v: self.p_correct(predicted, v))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "classification",
            "classes": list(self.classes),
            "blocks": {c: [floats(row) for row in b] for c, b in self.blocks.items()},
            "errors": self.errors,
            "auc_offset": self.auc_offset,
            "spread": self.spread,
            **({"rest": {c: [floats(row) for row in b] for c, b in self.rest.items()}} if self.rest else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassifierCalibration:
        blocks, rest = _read_blocks(data.get("blocks"), "blocks"), _read_blocks(data.get("rest"), "rest")
        offset = data.get("auc_offset")
        return cls(
            classes=tuple(str(c) for c in data.get("classes") or ()),
            blocks=blocks,
            errors={
                str(k): {str(c): float(s) for c, s in v.items()}
                for k, v in (data.get("errors") or {}).items()
            },
            auc_offset=None if offset is None else float(offset),
            spread={str(k): float(v) for k, v in (data.get("spread") or {}).items()},
            rest=rest,
        )


def _read_blocks(data: Any, name: str) -> dict[str, np.ndarray]:
    """Class → blocks, checked (absent: none)."""
    out = {}
    for c, rows in dict(data or {}).items():
        b = np.asarray(rows, dtype=np.float64)
        if b.ndim != 2 or b.shape[1] != 4 or b.shape[0] == 0 or np.any(np.diff(b[:, 0]) < 0):
            raise ValueError(f"estimation {name} of class {c!r} must be ascending [low, high, p, rows] rows")
        out[str(c)] = b
    return out


def fit_classifier(
    predicted: Sequence[str],
    confidence: np.ndarray,
    truth: Sequence[str],
    probabilities: tuple[np.ndarray, Sequence[str]] | None = None,
    max_rest_classes: int = 32,
) -> ClassifierCalibration:
    """Fit the calibration from reference rows (predicted label, max probability, true label).

    ``probabilities`` (the rows × classes matrix and its column labels), when given for more than two classes,
    adds the one-vs-rest calibration of every class's probability (``rest``, used with the SDK's per-class
    probability sketches; only up to ``max_rest_classes`` classes, the SDK's ``max_categories``, beyond which
    it sketches none) and the correction of the proxy ROC AUC used without them; without it there is no
    multiclass ROC AUC estimate.
    """
    predicted_arr = np.asarray(predicted, dtype=object)
    truth_arr = np.asarray(truth, dtype=object)
    confidence = np.asarray(confidence, dtype=np.float64)
    keep = np.isfinite(confidence)
    predicted_arr, truth_arr, confidence = predicted_arr[keep], truth_arr[keep], confidence[keep]
    if confidence.size == 0:
        raise ValueError("no reference row carries a confidence (probabilities) to calibrate")
    classes = tuple(sorted(set(predicted_arr.tolist()) | set(truth_arr.tolist())))
    blocks: dict[str, np.ndarray] = {}
    errors: dict[str, dict[str, float]] = {}
    for k in sorted(set(predicted_arr.tolist())):
        rows = predicted_arr == k
        correct = (truth_arr[rows] == k).astype(np.float64)
        calibration = fit_beta_calibration(confidence[rows], correct)
        blocks[k] = cell_blocks(confidence[rows], calibration(confidence[rows]))
        wrong = truth_arr[rows][correct == 0]
        if wrong.size:
            values, counts = np.unique(wrong.astype(str), return_counts=True)
            errors[k] = {str(v): float(n / wrong.size) for v, n in zip(values, counts)}
    if len(classes) == 2 and len(blocks) == 2:
        blocks = _binary_blocks(classes[1], predicted_arr, confidence, truth_arr)
    model = ClassifierCalibration(classes, blocks, errors)
    rows_by_class = {
        k: (confidence[predicted_arr == k], np.ones(int((predicted_arr == k).sum())))
        for k in set(predicted_arr.tolist())
    }
    if len(classes) > 2:
        model.auc_offset = None
        matrix = _sorted_matrix(probabilities, classes, keep.size)
        if matrix is not None:
            realized = _macro_auc(truth_arr, matrix[keep], classes)
            model.auc_offset = 0.0
            estimated = estimate_classification(model, rows_by_class).get("roc_auc")
            model.auc_offset = None if realized is None or estimated is None else realized - estimated
            if len(classes) <= max_rest_classes:
                model.rest = fit_rest_blocks(matrix[keep], classes, predicted_arr, truth_arr)
    model.spread = _classification_spread(model, predicted_arr, confidence, truth_arr)
    return model


def _binary_blocks(
    positive: str, predicted: np.ndarray, confidence: np.ndarray, truth: np.ndarray
) -> dict[str, np.ndarray]:
    """Two classes: one calibration of "the label is positive" on the positive-class score over all rows (as CBPE
    calibrates), re-expressed per predicted class (P(correct) is ``1 - P(positive)`` for the other class)."""
    is_positive = predicted == positive
    score = np.where(is_positive, confidence, 1 - confidence)
    calibration = fit_beta_calibration(score, (truth == positive).astype(np.float64))
    out = {}
    for rows, p_positive in ((is_positive, True), (~is_positive, False)):
        k = positive if p_positive else str(predicted[rows][0])
        p = calibration(score[rows])
        blocks = cell_blocks(confidence[rows], p if p_positive else 1 - p)
        if blocks[0, 0] > 0.5:
            # The calibration at the decision, as a block without rows at a confidence of 0.5: a window's row
            # predicted with less confidence than any reference row of its class is not taken as right as that
            # class's least confident reference rows.
            middle = float(calibration(np.array([0.5]))[0])
            edge = (0.5, 0.5, middle if p_positive else 1 - middle, 0.0)
            blocks = np.vstack([np.asarray([edge]), blocks])
        out[k] = blocks
    return out


def _sorted_matrix(
    probabilities: tuple[np.ndarray, Sequence[str]] | None, classes: Sequence[str], rows: int
) -> np.ndarray | None:
    """The probability matrix with its columns in ``classes`` order, or None if it does not cover them."""
    if probabilities is None:
        return None
    matrix, names = probabilities
    if np.shape(matrix) != (rows, len(names)) or set(names) != set(classes):
        return None
    return np.asarray(matrix, dtype=np.float64)[:, [list(names).index(c) for c in classes]]


def estimate_classification(
    model: ClassifierCalibration | None,
    groups: Mapping[str, tuple[np.ndarray, ...]],
    rest: Mapping[str, tuple[np.ndarray, ...]] | None = None,
) -> dict[str, Any]:
    """Expected metrics of predictions given per predicted class as ``(confidence values, rows)`` or, from a
       histogram, ``(bucket lower bounds, bucket upper bounds, rows)``.
    Without a
       model the confidence is taken as calibrated (the estimate NannyML's CBPE would make without its calibration
       step). ``rest`` (more than two classes): class ``c`` → its probability ``p_c`` on the rows predicted
       something else, in the same two forms; with the model's ``rest`` calibrations and covering every row it
       adds the per-class missed rows, a second count of the errors and the one-vs-rest ROC AUC
       (:mod:`otel_mlmon._one_vs_rest`). Returns ``{"n", "accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc" (or None),
       "per_class": {class: {"precision", "recall", "f1"}}, "stderr": {metric: value}}``.
    """
    tp: dict[str, float] = {}
    count: dict[str, float] = {}
    actual: dict[str, float] = {}
    variance = 0.0
    scored: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for k, group in groups.items():
        weights = np.asarray(group[2] if len(group) >= 3 else group[1], dtype=np.float64)
        if len(group) >= 3 and model is not None:  # histogram buckets, spread like the reference rows
            total = float(group[3]) if len(group) > 3 else None
            values, weights, q = model.spread_buckets(k, group[0], group[1], weights, total)
        elif len(group) >= 3:  # without a reference: each bucket at its midpoint
            values = (np.asarray(group[0], dtype=np.float64) + np.asarray(group[1], dtype=np.float64)) / 2
            q = np.clip(values, 0.0, 1.0)
        else:
            values = np.asarray(group[0], dtype=np.float64)
            q = model.p_correct(k, values) if model is not None else np.clip(values, 0.0, 1.0)
        scored[k] = (values, weights, q)
        tp[k] = float(np.dot(q, weights))
        count[k] = float(weights.sum())
        variance += float(np.dot(q * (1 - q), weights))
    n = sum(count.values())
    if n <= 0:
        raise ValueError("no predictions to estimate from")
    known = set(model.classes) if model is not None else set()
    classes = sorted(set(count) | known)
    for c in classes:
        actual[c] = actual.get(c, 0.0) + tp.get(c, 0.0)
    missed = _rest_pieces(model, rest, classes, count, n)
    if missed is not None:  # the rows of each class predicted as another, from its own probability
        for c, (_, weights, r) in missed.items():
            actual[c] += float(np.dot(weights, r))
    else:  # the errors of each predicted class, in the reference's shares of true classes
        for k in count:
            wrong = count[k] - tp[k]
            shares = _error_shares(model, k, classes, count)
            for c, share in shares.items():
                actual[c] = actual.get(c, 0.0) + wrong * share
    # A class neither predicted nor expected among the true labels is not "seen" (as in the realized metrics).
    seen = [c for c in classes if count.get(c, 0.0) > 0 or actual.get(c, 0.0) >= 0.5]
    per_class = {}
    for c in seen:
        t, p, a = tp.get(c, 0.0), count.get(c, 0.0), actual.get(c, 0.0)
        per_class[c] = {
            "precision": t / p if p > 0 else 0.0,
            "recall": t / a if a > 0 else 0.0,
            "f1": 2 * t / (p + a) if p + a > 0 else 0.0,
        }
    accuracy = sum(tp.values()) / n
    if missed is not None:  # the mean of two counts of the errors: per predicted class, and per true class
        accuracy = (accuracy + 1 - sum(actual.values()) / n + sum(tp.values()) / n) / 2
    out: dict[str, Any] = {
        "n": round(n),
        "accuracy": accuracy,
        "precision_macro": float(np.mean([m["precision"] for m in per_class.values()])),
        "recall_macro": float(np.mean([m["recall"] for m in per_class.values()])),
        "f1_macro": float(np.mean([m["f1"] for m in per_class.values()])),
        "roc_auc": rest_auc(scored, missed, seen)
        if missed is not None
        else _estimated_auc(model, scored, seen),
        "per_class": per_class,
    }
    stderr = {"accuracy": math.sqrt(variance) / n}
    if model is not None:
        for metric, spread in model.spread.items():
            if metric != "accuracy":
                stderr[metric] = spread / math.sqrt(n)
    out["stderr"] = stderr
    return out


def _rest_pieces(
    model: ClassifierCalibration | None,
    rest: Mapping[str, tuple[np.ndarray, ...]] | None,
    classes: list[str],
    count: Mapping[str, float],
    n: float,
) -> dict[str, Any] | None:
    """The rows not predicted each class as calibrated pieces, or None unless the model has the one-vs-rest
    calibrations and ``rest`` covers every such row (a window missing a series, or an SDK or profile without
    them, uses the confidence alone)."""
    if model is None or not model.rest or not rest or len(classes) <= 2:
        return None
    pieces = rest_pieces(model.rest, rest, classes)
    for c in classes:
        expected = n - count.get(c, 0.0)
        got = float(pieces[c][1].sum()) if c in pieces else 0.0
        if abs(got - expected) > 0.5:
            return None
    return pieces


def _error_shares(
    model: ClassifierCalibration | None, k: str, classes: list[str], count: Mapping[str, float]
) -> dict[str, float]:
    """Where the errors of predicted class ``k`` go: the reference shares, else the other classes' prediction
    shares (for two classes both are the other class)."""
    if model is not None and model.errors.get(k):
        return model.errors[k]
    others = {c: count.get(c, 0.0) for c in classes if c != k}
    total = sum(others.values())
    if total <= 0:
        return {c: 1.0 / len(others) for c in others} if others else {}
    return {c: v / total for c, v in others.items()}


def _estimated_auc(
    model: ClassifierCalibration | None,
    scored: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    classes: list[str],
) -> float | None:
    """ROC AUC expected from the calibrated labels ordered by the model's score (as CBPE, but the median AUC over
    label draws rather than a ratio of expected pair counts, see :mod:`otel_mlmon._expected_auc`): for two
    classes on the positive-class score; for more, the one-vs-rest mean over a proxy score (a row not predicted
    ``c`` scores its expected share of ``c``), corrected by its reference error."""
    if len(classes) < 2:
        return None
    if len(classes) == 2:
        positive = classes[1]
        parts = []
        for k, (values, weights, q) in scored.items():
            if k == positive:
                parts.append((values, weights * q, weights * (1 - q)))
            else:
                parts.append((1 - values, weights * (1 - q), weights * q))
        return median_auc(parts)
    if model is None or model.auc_offset is None:
        return None
    aucs = []
    for c in classes:
        parts = []
        for k, (values, weights, q) in scored.items():
            if k == c:
                parts.append((1 + values, weights * q, weights * (1 - q)))
            else:
                share = model.errors.get(k, {}).get(c, 0.0)
                p_c = (1 - q) * share
                parts.append(((1 - values) * share, weights * p_c, weights * (1 - p_c)))
        auc = median_auc(parts)
        if auc is not None:
            aucs.append(auc)
    if not aucs:
        return None
    return float(np.clip(np.mean(aucs) + model.auc_offset, 0.0, 1.0))


def _classification_spread(
    model: ClassifierCalibration, predicted: np.ndarray, confidence: np.ndarray, truth: np.ndarray
) -> dict[str, float]:
    """Standard deviation of each realized metric over random reference chunks, times sqrt(chunk rows)."""
    chunk = min(SPREAD_CHUNK_ROWS, predicted.size // 4)
    if chunk < 20:
        return {}
    rng = np.random.default_rng(0)
    order = rng.permutation(predicted.size)
    values: dict[str, list[float]] = {}
    for start in range(0, order.size - chunk + 1, chunk):
        rows = order[start : start + chunk]
        realized = _realized_classification(predicted[rows], truth[rows], model.classes)
        if len(model.classes) == 2:
            positive = predicted[rows] == model.classes[1]
            score = np.where(positive, confidence[rows], 1 - confidence[rows])
            is_pos = (truth[rows] == model.classes[1]).astype(np.float64)
            auc = ratio_auc([(score, is_pos, 1 - is_pos)])
            if auc is not None:
                realized["roc_auc"] = auc
        for metric, value in realized.items():
            values.setdefault(metric, []).append(value)
    return {m: float(np.std(v, ddof=1) * math.sqrt(chunk)) for m, v in values.items() if len(v) >= 2}


def _realized_classification(
    predicted: np.ndarray, truth: np.ndarray, classes: Sequence[str]
) -> dict[str, float]:
    seen = sorted(set(predicted.tolist()) | set(truth.tolist()))
    p, r, f = [], [], []
    for c in seen:
        tp = float(np.sum((predicted == c) & (truth == c)))
        n_p, n_a = float(np.sum(predicted == c)), float(np.sum(truth == c))
        p.append(tp / n_p if n_p else 0.0)
        r.append(tp / n_a if n_a else 0.0)
        f.append(2 * tp / (n_p + n_a) if n_p + n_a else 0.0)
    return {
        "accuracy": float(np.mean(predicted == truth)),
        "precision_macro": float(np.mean(p)),
        "recall_macro": float(np.mean(r)),
        "f1_macro": float(np.mean(f)),
    }


def _macro_auc(truth: np.ndarray, matrix: np.ndarray, classes: Sequence[str]) -> float | None:
    aucs = []
    for i, c in enumerate(classes):
        positive = truth == c
        n_pos = int(positive.sum())
        n_neg = positive.size - n_pos
        if n_pos and n_neg:
            aucs.append(ratio_auc([(matrix[:, i], positive.astype(float), (~positive).astype(float))]))
    return float(np.mean(aucs)) if aucs else None


# ---------------------------------------------------------------------------------------------------- the model


@dataclass
class EstimationModel:
    """Per output of a model, what the collector needs to estimate its performance before labels.

    Serialised as a profile's ``estimation`` field: ``{"outputs": {name: {...}}}``.
    """

    outputs: dict[str, ClassifierCalibration | RegressionErrorModel] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"outputs": {name: m.to_dict() for name, m in self.outputs.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> EstimationModel:
        """Rebuild from :meth:`to_dict` output (``None`` or ``{}``: no outputs).

        Raises:
            ValueError: an entry of unknown kind or inconsistent arrays.
        """
        outputs: dict[str, ClassifierCalibration | RegressionErrorModel] = {}
        for name, entry in dict((data or {}).get("outputs") or {}).items():
            kind = entry.get("kind")
            if kind == "classification":
                outputs[str(name)] = ClassifierCalibration.from_dict(entry)
            elif kind == "regression":
                outputs[str(name)] = RegressionErrorModel.from_dict(entry)
            else:
                raise ValueError(f"estimation output {name!r} has unknown kind {kind!r}")
        return cls(outputs)


def fit_estimation(
    table: Any,
    outputs: Any,
    labels: Any,
    probabilities: tuple[np.ndarray, Sequence[str]] | None = None,
    max_rest_classes: int = 32,
) -> EstimationModel:
    """Fit an :class:`EstimationModel` from what the SDK's adapters read (a feature ``Table`` and ``Outputs``).

    Args:
        table: The reference features as read by ``otel_mlmon.adapters.read_features``.
        outputs: The reference predictions as read by ``otel_mlmon.adapters.read_outputs``.
        labels: One true value per row (one output), or a mapping output name → true values.
        probabilities: Optionally ``(matrix, column class labels)``: the probabilities of a single classifier
            output (for the multiclass ROC AUC estimate).
        max_rest_classes: The most classes whose one-vs-rest calibrations are kept (the SDK's ``max_categories``:
            wider outputs have no ``class_probability`` sketches to apply them to).

    Raises:
        ValueError: the labels do not match the rows.
    """
    columns = list(outputs.table.columns)
    by_output = dict(labels) if isinstance(labels, Mapping) else {columns[0].name: labels} if columns else {}
    numeric = {c.name: np.asarray(c.values, dtype=np.float64) for c in table.columns if c.kind == "numeric"}
    model = EstimationModel()
    for column in columns:
        if column.name not in by_output:
            continue
        truth = np.asarray(by_output[column.name], dtype=object).ravel()
        if truth.size != len(column.values):
            raise ValueError(
                f"labels have {truth.size} rows but output {column.name!r} has {len(column.values)}"
            )
        if column.name in outputs.confidence:
            predicted = [class_label(v) for v in column.values]
            model.outputs[column.name] = fit_classifier(
                predicted,
                outputs.confidence[column.name],
                [class_label(v) for v in truth],
                probabilities,
                max_rest_classes,
            )
        elif column.kind == "numeric":
            model.outputs[column.name] = fit_regression(
                column.name, np.asarray(column.values, dtype=np.float64), truth.astype(np.float64), numeric
            )
    return model
