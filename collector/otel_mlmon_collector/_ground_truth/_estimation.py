"""Classification performance before labels arrive, from confidence sums per predicted class (CBPE on sketches)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from otel_mlmon import conventions as conv
from otel_mlmon_collector._ground_truth._metrics import ClassificationMetrics, MetricPoint

__all__ = ["EstimatedPerformance", "PerformanceGap", "confidence_sums", "estimate_performance", "gap"]


@dataclass(frozen=True)
class EstimatedPerformance:
    """Expected classification performance of ``n`` predictions, assuming calibrated probabilities.

    Attributes:
        n: Predictions behind the estimate.
        accuracy / accuracy_se: Expected accuracy and an upper bound of its standard error.
        precision / precision_se: Per predicted class.
        recall / recall_se: Per predicted class (``recall_method`` says how the denominator was obtained).
        f1: Per class, from the expected precision and recall.
        macro_precision / macro_recall / macro_f1: Unweighted means over the predicted classes.
        recall_method: ``"binary_exact"``, ``"class_probability_sums"`` or ``"proportional"``.
    """

    n: int
    accuracy: float
    accuracy_se: float
    precision: Mapping[str, float]
    precision_se: Mapping[str, float]
    recall: Mapping[str, float]
    recall_se: Mapping[str, float]
    f1: Mapping[str, float]
    macro_precision: float
    macro_recall: float
    macro_f1: float
    recall_method: str

    def points(self) -> list[MetricPoint]:
        """Gauge points ``ml.performance.estimated.*`` (per-class ones carry ``ml.prediction.class``)."""
        out = [
            MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATED_ACCURACY, self.accuracy),
            MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATED_PRECISION_MACRO, self.macro_precision),
            MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATED_RECALL_MACRO, self.macro_recall),
            MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATED_F1_MACRO, self.macro_f1),
        ]
        for c in self.precision:
            attrs = {conv.ATTR_PREDICTION_CLASS: c}
            out += [
                MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATED_PRECISION, self.precision[c], attrs),
                MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATED_RECALL, self.recall[c], attrs),
                MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATED_F1, self.f1[c], attrs),
            ]
        return out


@dataclass(frozen=True)
class PerformanceGap:
    """Estimated minus realized performance (positive: the model's confidence promised more than it delivered).

    ``accuracy_z`` is the accuracy gap in units of the estimate's standard error (combined with the realized
    accuracy's binomial error): ``|z| > 3`` on a window is strong evidence that the probabilities are no longer
    calibrated for the current data, which is itself a sign of concept drift.
    """

    accuracy: float
    accuracy_z: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    precision: Mapping[str, float] = field(default_factory=dict)
    recall: Mapping[str, float] = field(default_factory=dict)
    n_estimated: int = 0
    n_realized: int = 0

    def points(self) -> list[MetricPoint]:
        """Gauge points ``ml.performance.estimation.gap`` with the metric in ``ml.performance.metric``."""
        out = [
            MetricPoint(conv.METRIC_PERFORMANCE_ESTIMATION_GAP, v, {conv.ATTR_PERFORMANCE_METRIC: name})
            for name, v in (
                ("accuracy", self.accuracy),
                ("precision_macro", self.macro_precision),
                ("recall_macro", self.macro_recall),
                ("f1_macro", self.macro_f1),
            )
        ]
        out.append(
            MetricPoint(
                conv.METRIC_PERFORMANCE_ESTIMATION_GAP_Z,
                self.accuracy_z,
                {conv.ATTR_PERFORMANCE_METRIC: "accuracy"},
            )
        )
        return out


def confidence_sums(predicted: Iterable[str], confidence: Iterable[float]) -> dict[str, tuple[float, int]]:
    """Per predicted class: (sum of max-class probabilities, count) -- what the SDK's per-class
    ``ml.prediction.confidence`` histograms carry exactly in their ``sum`` and ``count``."""
    out: dict[str, list[float]] = {}
    for c, p in zip(predicted, confidence):
        entry = out.setdefault(c, [0.0, 0])
        entry[0] += float(p)
        entry[1] += 1
    return {c: (s, int(n)) for c, (s, n) in out.items()}


def estimate_performance(
    sums: Mapping[str, tuple[float, int]],
    class_probability_sums: Mapping[str, float] | None = None,
) -> EstimatedPerformance:
    """Expected accuracy, precision, recall and F1 from confidence sums, assuming calibrated probabilities.

    With ``S_c`` the sum and ``N_c`` the count of the max-class probability over predictions of class ``c``
    (calibration: a prediction made with confidence ``p`` is right with probability ``p``), the expected
    confusion matrix has ``E[TP_c] = S_c`` and ``E[FP_c] = N_c − S_c``, hence

    ``accuracy = Σ_c S_c / Σ_c N_c``,  ``precision_c = S_c / N_c``,  ``recall_c = S_c / E[rows of true class c]``.

    The recall denominator:

    * two classes ``a``, ``b`` (``binary_exact``): a row predicted ``b`` with confidence ``q`` is of class ``a``
      with probability ``1 − q``, so ``E[true a] = S_a + (N_b − S_b)`` and ``recall_a = S_a / (S_a + N_b − S_b)``
      -- the expected confusion matrix is exact; the recall is its ratio, as in NannyML's CBPE.
    * ``class_probability_sums`` given (``Σ_i P_i(c)`` over all rows, e.g. from a per-class probability sum
      the SDK exports): ``E[true c] = Σ_i P_i(c)`` exactly, for any number of classes.
    * otherwise (``proportional``, more than two classes): the expected errors of predicted class ``k``,
      ``N_k − S_k``, are spread over the other classes in proportion to their predicted counts,
      ``E[true c] ≈ S_c + Σ_{k≠c} (N_k − S_k) · N_c / Σ_{j≠k} N_j``. This is exact when errors fall on the other
      classes as often as those classes are predicted; it is biased when a class absorbs a larger share of the
      errors than its share of the predictions.

    Standard errors (rows independent, calibration holding): ``Var(accuracy) = Σ p_i (1 − p_i) / n² ≤
    A (1 − A) / n`` by Jensen, so ``accuracy_se = sqrt(A (1 − A) / n)`` is an upper bound (the sums alone
    cannot give Σ p_i²); likewise ``precision_se_c = sqrt(P_c (1 − P_c) / N_c)``, and ``recall_se_c =
    sqrt(R_c (1 − R_c) / E[true c])`` (binomial approximation).

    Args:
        sums: Predicted class → (sum of max-class probability, count); classes with count 0 are ignored.
        class_probability_sums: Optional class → Σ of that class's probability over all rows.

    Raises:
        ValueError: no predictions, a negative count, or a sum outside ``[0, count]``.

    Example:
        >>> from otel_mlmon_collector._ground_truth._estimation import estimate_performance
        >>> est = estimate_performance({"yes": (72.0, 80), "no": (18.0, 20)})
        >>> round(est.accuracy, 3), est.precision["yes"], round(est.recall["yes"], 3), est.recall_method
        (0.9, 0.9, 0.973, 'binary_exact')

    References:
        NannyML, Confidence-based Performance Estimation (CBPE), https://nannyml.readthedocs.io.
        Guo, C., Pleiss, G., Sun, Y., Weinberger, K. Q. (2017). On calibration of modern neural networks. ICML.
    """
    clean: dict[str, tuple[float, int]] = {}
    for c, (s, n) in sums.items():
        if n < 0 or not 0.0 <= s <= n or not math.isfinite(s):
            raise ValueError(f"sums[{c!r}] must be (sum, count) with 0 <= sum <= count, got ({s}, {n})")
        if n:
            clean[c] = (float(s), int(n))
    total = sum(n for _, n in clean.values())
    if total == 0:
        raise ValueError("sums must hold at least one prediction")
    correct = sum(s for s, _ in clean.values())
    accuracy = correct / total
    precision = {c: s / n for c, (s, n) in clean.items()}
    actual, method = _expected_actual(clean, class_probability_sums)
    recall = {c: (clean[c][0] / actual[c] if actual[c] > 0 else 0.0) for c in clean}
    f1 = {c: _f1(precision[c], recall[c]) for c in clean}
    return EstimatedPerformance(
        n=total,
        accuracy=accuracy,
        accuracy_se=math.sqrt(accuracy * (1 - accuracy) / total),
        precision=precision,
        precision_se={c: math.sqrt(precision[c] * (1 - precision[c]) / clean[c][1]) for c in clean},
        recall=recall,
        recall_se={
            c: math.sqrt(recall[c] * (1 - recall[c]) / actual[c]) if actual[c] > 0 else math.inf
            for c in clean
        },
        f1=f1,
        macro_precision=sum(precision.values()) / len(clean),
        macro_recall=sum(recall.values()) / len(clean),
        macro_f1=sum(f1.values()) / len(clean),
        recall_method=method,
    )


def gap(estimated: EstimatedPerformance, realized: ClassificationMetrics) -> PerformanceGap:
    """Estimated minus realized performance, per metric and per class present on both sides.

    Macro gaps compare the estimate's classes (the predicted ones) with the realized ones (true ∪ predicted);
    per-class gaps are reported for the classes both sides know. The two sides should cover the same
    predictions (or the labelled ones should be a random sample of them) for the gap to mean miscalibration.
    """
    realized_precision = {c: m.precision for c, m in realized.per_class.items()}
    realized_recall = {c: m.recall for c, m in realized.per_class.items()}
    se = math.sqrt(estimated.accuracy_se**2 + realized.accuracy * (1 - realized.accuracy) / realized.n)
    difference = estimated.accuracy - realized.accuracy
    return PerformanceGap(
        accuracy=difference,
        accuracy_z=difference / se
        if se > 0
        else (0.0 if difference == 0 else math.copysign(math.inf, difference)),
        macro_precision=estimated.macro_precision - realized.macro_precision,
        macro_recall=estimated.macro_recall - realized.macro_recall,
        macro_f1=estimated.macro_f1 - realized.macro_f1,
        precision={
            c: estimated.precision[c] - realized_precision[c]
            for c in estimated.precision
            if c in realized_precision
        },
        recall={
            c: estimated.recall[c] - realized_recall[c] for c in estimated.recall if c in realized_recall
        },
        n_estimated=estimated.n,
        n_realized=realized.n,
    )


def _expected_actual(
    sums: dict[str, tuple[float, int]], class_probability_sums: Mapping[str, float] | None
) -> tuple[dict[str, float], str]:
    if class_probability_sums is not None:
        return {c: float(class_probability_sums.get(c, 0.0)) for c in sums}, "class_probability_sums"
    if len(sums) == 2:
        (a, (s_a, n_a)), (b, (s_b, n_b)) = sums.items()
        return {a: s_a + (n_b - s_b), b: s_b + (n_a - s_a)}, "binary_exact"
    total = sum(n for _, n in sums.values())
    actual = {c: s for c, (s, _) in sums.items()}
    for k, (s_k, n_k) in sums.items():
        others = total - n_k
        if others <= 0:
            continue
        for c, (_, n_c) in sums.items():
            if c != k:
                actual[c] += (n_k - s_k) * n_c / others
    return actual, "proportional"


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
