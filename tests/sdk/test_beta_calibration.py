"""Beta calibration (``otel_mlmon._beta_calibration``): where scores of exactly 0 and 1 are put."""

from __future__ import annotations

import numpy as np
import pytest

from otel_mlmon._beta_calibration import EPS, fit_beta_calibration, score_bounds


def test_bounds_follow_the_scores_resolution() -> None:
    forest = np.array([0.0, 0.01, 0.5, 0.99, 1.0])  # a 100-tree forest: steps of 0.01
    assert score_bounds(forest) == pytest.approx((0.005, 0.995))
    boosted = np.array([1e-9, 0.3, 1 - 1e-9])  # continuous scores keep their reach
    assert score_bounds(boosted) == pytest.approx((5e-10, 1 - 5e-10))
    assert score_bounds(np.array([0.0, 1.0, np.nan])) == (EPS, 1 - EPS)


def test_one_wrong_row_at_a_score_of_one_does_not_flatten_the_top() -> None:
    # A forest's scores in steps of 0.01, P(y = 1 | s) = s^1.5; a third of the rows unanimous (s = 1), one of them
    # negative. Clipped at 1 - EPS, that row sits at -ln(1 - s) = 36 against 4.6 for 0.99 and pulls the slope b to
    # 0.07: P(0.99) = 0.92 instead of 0.985.
    rng = np.random.default_rng(0)
    score = np.concatenate([np.round(rng.beta(5, 1, 200), 2), np.ones(100)])
    truth = (rng.random(score.size) < score**1.5).astype(float)
    top = np.flatnonzero(score >= 1)
    truth[top] = 1.0
    truth[top[0]] = 0.0
    fit = fit_beta_calibration(score, truth)
    p = fit(np.array([0.9, 0.99, 1.0]))
    assert p[0] == pytest.approx(0.9**1.5, abs=0.03)
    assert p[1] == pytest.approx(0.99**1.5, abs=0.02)
    assert p[2] == pytest.approx(0.99, abs=0.01)  # 99 of the 100 unanimous rows are positive
    assert p[1] < p[2]


def test_continuous_scores_fit_as_before() -> None:
    rng = np.random.default_rng(1)
    score = rng.uniform(1e-6, 1 - 1e-6, 20_000)
    truth = (rng.random(score.size) < 1 / (1 + (1 / score - 1) ** 2)).astype(float)
    fit = fit_beta_calibration(score, truth)
    assert fit.low < score.min() and fit.high > score.max()  # no score inside (0, 1) is clipped
    assert (fit.a, fit.b) == pytest.approx((2.0, 2.0), rel=0.15)
