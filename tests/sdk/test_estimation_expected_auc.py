"""The expected and the median ROC AUC of calibrated labels (``otel_mlmon._expected_auc``) against exact
enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from otel_mlmon._expected_auc import LARGE, expected_auc, median_auc, ratio_auc


def _exact(score: np.ndarray, q: np.ndarray) -> float:
    """E[AUC | both classes occur] by enumerating every labelling (ties count half)."""
    total, mass = 0.0, 0.0
    for labels in itertools.product((0, 1), repeat=score.size):
        y = np.asarray(labels, dtype=np.float64)
        if y.sum() in (0, y.size):
            continue
        p = float(np.prod(np.where(y == 1, q, 1 - q)))
        total += p * ratio_auc([(score, y, 1 - y)])
        mass += p
    return total / mass


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_exact_expectation_on_a_small_window(seed: int) -> None:
    rng = np.random.default_rng(seed)
    score = np.round(rng.random(12), 1)  # ties included
    q = np.clip(score**2 + rng.normal(0, 0.05, score.size), 0.01, 0.99)
    exact = _exact(score, q)
    ratio = ratio_auc([(score, q, 1 - q)])
    estimate = expected_auc([(score, q, 1 - q)])
    assert abs(estimate - exact) < 0.004
    # The ratio of expected pair counts is measurably off on so few rows: the expectation is what is estimated.
    assert abs(estimate - exact) < abs(ratio - exact)


def test_pieces_of_several_rows_equal_the_rows() -> None:
    rng = np.random.default_rng(3)
    score = rng.random(15)
    q = rng.uniform(0.05, 0.95, 15)
    rows = expected_auc([(np.repeat(score, 3), np.repeat(q, 3), np.repeat(1 - q, 3))])
    pieces = expected_auc([(score, 3 * q, 3 * (1 - q))])
    assert pieces == pytest.approx(rows, abs=0.003)


def test_reproducible_and_the_ratio_on_large_windows() -> None:
    rng = np.random.default_rng(4)
    score = rng.random(300)
    q = np.clip(score, 0.01, 0.99)
    parts = [(score, q, 1 - q)]
    assert expected_auc(parts) == expected_auc(parts)
    big = [(score, q * 4 * LARGE / q.sum(), (1 - q) * 4 * LARGE / q.sum())]
    assert expected_auc(big) == ratio_auc(big)


def test_no_estimate_without_both_classes() -> None:
    score = np.array([0.2, 0.7])
    assert expected_auc([(score, np.zeros(2), np.ones(2))]) is None
    assert expected_auc([(score, np.ones(2), np.zeros(2))]) is None


def _exact_median(score: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """The median AUC's interval (lower, upper) over every labelling with both classes, by enumeration."""
    values, masses = [], []
    for labels in itertools.product((0, 1), repeat=score.size):
        y = np.asarray(labels, dtype=np.float64)
        if y.sum() in (0, y.size):
            continue
        values.append(ratio_auc([(score, y, 1 - y)]))
        masses.append(float(np.prod(np.where(y == 1, q, 1 - q))))
    order = np.argsort(values)
    cdf = np.cumsum(np.asarray(masses)[order]) / np.sum(masses)
    sorted_values = np.asarray(values)[order]
    return float(sorted_values[np.searchsorted(cdf, 0.45)]), float(sorted_values[np.searchsorted(cdf, 0.55)])


@pytest.mark.parametrize("seed", [0, 1])
def test_median_on_a_skewed_window(seed: int) -> None:
    # Twelve rows, nearly all positive: the AUC is skewed (mostly near 1, a tail below), the median above the mean.
    rng = np.random.default_rng(seed)
    score = np.round(rng.random(12), 1)
    q = np.clip(0.75 + 0.25 * score + rng.normal(0, 0.02, score.size), 0.5, 0.995)
    low, high = _exact_median(score, q)
    median = median_auc([(score, q, 1 - q)])
    assert low - 1e-9 <= median <= high + 1e-9
    assert median > _exact(score, q)


def test_the_estimator_reports_the_median() -> None:
    # Two classes, 57 rows of which about 3 negative (a breast-cancer chunk): the estimate is the median.
    from otel_mlmon.estimation import estimate_classification

    rng = np.random.default_rng(5)
    confidence = np.round(rng.uniform(0.8, 1.0, 57), 2)
    groups = {"1": (confidence, np.ones(57))}
    estimate = estimate_classification(None, {**groups, "0": (np.array([0.6]), np.ones(1))})
    parts = [(confidence, confidence, 1 - confidence), (np.array([0.4]), np.array([0.4]), np.array([0.6]))]
    assert estimate["roc_auc"] == pytest.approx(median_auc(parts))
    assert estimate["roc_auc"] != pytest.approx(expected_auc(parts))
    score = np.array([0.2, 0.7])
    assert median_auc([(score, np.zeros(2), np.ones(2))]) is None
    big = [(score, np.full(2, LARGE), np.full(2, LARGE))]
    assert median_auc(big) == ratio_auc(big)
