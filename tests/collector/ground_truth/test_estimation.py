"""Performance estimated from confidence sums before labels: calibrated data agree, miscalibrated data show a gap."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from otel_mlmon_collector._ground_truth import _estimation as estimation
from otel_mlmon_collector._ground_truth._estimation import confidence_sums, estimate_performance, gap
from otel_mlmon_collector._ground_truth._metrics import classification_metrics


def binary_sample(seed: int, n: int, shrink: float = 1.0) -> tuple[list[str], list[str], np.ndarray]:
    """Model probabilities p of "yes"; true labels drawn with P(yes) = 0.5 + shrink · (p − 0.5) (1: calibrated)."""
    rng = np.random.default_rng(seed)
    p_yes = rng.beta(2, 2, n)
    truth = ["yes" if u < 0.5 + shrink * (p - 0.5) else "no" for u, p in zip(rng.random(n), p_yes)]
    predicted = ["yes" if p >= 0.5 else "no" for p in p_yes]
    return truth, predicted, p_yes


def test_binary_expected_positives_equal_the_probability_sum() -> None:
    """The binary recall denominator S_a + N_b − S_b equals the sum of P(a) over all rows (exact identity)."""
    _, predicted, p_yes = binary_sample(0, 1000)
    confidence = np.maximum(p_yes, 1 - p_yes)
    est = estimate_performance(confidence_sums(predicted, confidence))
    exact = estimate_performance(
        confidence_sums(predicted, confidence), {"yes": p_yes.sum(), "no": (1 - p_yes).sum()}
    )
    assert est.recall_method == "binary_exact" and exact.recall_method == "class_probability_sums"
    for c in ("yes", "no"):
        assert est.recall[c] == pytest.approx(exact.recall[c], rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_binary_calibrated_estimate_is_within_standard_errors(seed: int) -> None:
    """On calibrated binary data the estimated accuracy, precision and recall are within 4 standard errors."""
    truth, predicted, p_yes = binary_sample(seed, 4000)
    est = estimate_performance(confidence_sums(predicted, np.maximum(p_yes, 1 - p_yes)))
    real = classification_metrics(truth, predicted)
    assert abs(est.accuracy - real.accuracy) <= 4 * est.accuracy_se
    for c in ("yes", "no"):
        assert abs(est.precision[c] - real.per_class[c].precision) <= 4 * est.precision_se[c]
        assert abs(est.recall[c] - real.per_class[c].recall) <= 4 * est.recall_se[c]
    assert abs(gap(est, real).accuracy_z) < 4


def multiclass_sample(seed: int, n: int, k: int = 4) -> tuple[list[str], list[str], np.ndarray]:
    """Dirichlet probabilities over k classes, true labels drawn from them (calibrated by construction)."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(k, 0.7), n)
    classes = [f"c{i}" for i in range(k)]
    cumulative = probs.cumsum(axis=1)
    truth = [classes[min(int(np.searchsorted(row, u)), k - 1)] for row, u in zip(cumulative, rng.random(n))]
    predicted = [classes[i] for i in probs.argmax(axis=1)]
    return truth, predicted, probs


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_calibrated_estimate(seed: int) -> None:
    """On calibrated 4-class data accuracy and precision are within 4 SE; recall is within 4 SE with class
    probability sums and within 0.05 with the proportional approximation (symmetric classes)."""
    truth, predicted, probs = multiclass_sample(seed, 4000)
    sums = confidence_sums(predicted, probs.max(axis=1))
    real = classification_metrics(truth, predicted)
    approx = estimate_performance(sums)
    exact = estimate_performance(sums, {f"c{i}": probs[:, i].sum() for i in range(4)})
    assert approx.recall_method == "proportional"
    assert abs(approx.accuracy - real.accuracy) <= 4 * approx.accuracy_se
    for c in sums:
        assert abs(approx.precision[c] - real.per_class[c].precision) <= 4 * approx.precision_se[c]
        assert abs(exact.recall[c] - real.per_class[c].recall) <= 4 * exact.recall_se[c]
        assert abs(approx.recall[c] - real.per_class[c].recall) <= 0.05


def test_miscalibrated_model_shows_a_gap() -> None:
    """When the truth is half as far from 0.5 as the model says (overconfidence) the accuracy gap exceeds 5 SE."""
    truth, predicted, p_yes = binary_sample(1, 4000, shrink=0.5)
    est = estimate_performance(confidence_sums(predicted, np.maximum(p_yes, 1 - p_yes)))
    result = gap(est, classification_metrics(truth, predicted))
    assert result.accuracy > 0.05 and result.accuracy_z > 5
    assert min(result.precision.values()) > 0.05  # both classes are right less often than promised
    names = {p.name for p in result.points()}
    assert names == {"ml.performance.estimation.gap", "ml.performance.estimation.gap.z"}


def test_estimate_points_and_macro() -> None:
    """Estimated gauge points cover each class; macro values are means over the predicted classes."""
    est = estimate_performance({"a": (8.0, 10), "b": (3.0, 5), "c": (0.0, 0)})
    assert set(est.precision) == {"a", "b"}
    assert est.macro_precision == pytest.approx((0.8 + 0.6) / 2)
    per_class = [p for p in est.points() if p.name == "ml.performance.estimated.precision"]
    assert sorted(p.attributes["ml.prediction.class"] for p in per_class) == ["a", "b"]


@pytest.mark.parametrize("sums", [{}, {"a": (0.0, 0)}, {"a": (3.0, 2)}, {"a": (-1.0, 2)}, {"a": (1.0, -1)}])
def test_bad_sums_raise(sums: dict[str, tuple[float, int]]) -> None:
    """Empty input and sums outside [0, count] are rejected with the offending class named."""
    with pytest.raises(ValueError, match="sum"):
        estimate_performance(sums)


def test_doctest() -> None:
    """The seeded example in the estimation docstring runs as written."""
    result = doctest.testmod(estimation, raise_on_error=False)
    assert result.failed == 0 and result.attempted > 0
