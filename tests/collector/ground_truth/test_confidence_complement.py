"""The confidence complement (``1 - max probability``, sketched beside the confidence): what the SDK keeps, how the
estimator joins the two histograms, and that it brings sketch estimates closer to the exact-confidence ones for a
model whose confidences crowd near 1; and the binary calibration, one fit across the decision as CBPE's."""

from __future__ import annotations

import numpy as np
import pytest
from otel_mlmon_collector._ground_truth._estimate_sketches import estimate_view
from sklearn.linear_model import LogisticRegression

from otel_mlmon.adapters import read_features, read_outputs
from otel_mlmon.estimation import (
    estimate_classification,
    fit_classifier,
    histogram_buckets,
    joint_buckets,
)
from otel_mlmon.profile import Profile
from otel_mlmon.summary import Summary

NAMES = ["a", "b"]


def _draw(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sharp model (most confidences above 0.99) of a noisier truth."""
    X = rng.normal(size=(n, 2))
    X[:, 0] += shift
    logit = 2 * X[:, 0] - X[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    p = 1 / (1 + np.exp(-4 * logit))
    return X, y, np.column_stack([1 - p, p])


def _summary(X: np.ndarray, proba: np.ndarray) -> Summary:
    summary = Summary()
    summary.add_features(read_features(X, names=NAMES))
    summary.add_outputs(read_outputs(proba, classes=[0, 1]))
    return summary


def test_the_complement_counts_the_same_rows_and_survives_a_round_trip() -> None:
    X, _, proba = _draw(np.random.default_rng(1), 500, 0.0)
    summary = _summary(X, proba)
    assert (
        set(summary.confidence_complement)
        == set(summary.confidence)
        == {("prediction", "0"), ("prediction", "1")}
    )
    for key, column in summary.confidence.items():
        complement = summary.confidence_complement[key].numeric
        assert complement.count == column.numeric.count
        assert abs(complement.sum - (column.numeric.count - column.numeric.sum)) < 1e-9
        assert complement.scale < column.numeric.scale  # a wider relative range: coarser, but fine near 0
    again = Summary.from_dict(summary.to_dict())
    assert again.confidence_complement[("prediction", "1")].numeric.count == complement.count
    old = summary.to_dict()
    del old["confidence_complement"]  # a summary written before the complement existed still loads
    assert Summary.from_dict(old).confidence_complement == {}


def test_joint_buckets_keep_every_row_and_are_finer_near_one() -> None:
    X, _, proba = _draw(np.random.default_rng(2), 2000, 0.0)
    summary = _summary(X, proba)
    key = ("prediction", "1")
    confidence = summary.confidence[key].numeric
    complement = summary.confidence_complement[key].numeric
    lower, upper, counts = joint_buckets(confidence, complement)
    assert counts.sum() == confidence.count
    assert np.all(lower <= upper) and np.all(np.diff(lower) >= 0)
    assert lower.min() >= confidence.min - 1e-12 and upper.max() <= confidence.max + 1e-12
    only = joint_buckets(confidence, None)
    near_one = lambda lo, hi, c: float(np.max((hi - lo)[(lo > 0.99) & (c > 0)]))  # noqa: E731
    assert near_one(lower, upper, counts) < near_one(*only) / 2
    assert counts.max() < only[2].max() / 4  # the top bucket's rows, spread over many
    # The complement of other rows (a window that lost one of the two series): the confidence alone.
    other = _summary(*_draw(np.random.default_rng(3), 100, 0.0)[::2]).confidence_complement[key].numeric
    np.testing.assert_array_equal(joint_buckets(confidence, other)[2], only[2])


def test_joint_buckets_count_the_rows_between_the_bounds_of_both_histograms() -> None:
    """Both histograms count the same rows, so every bound of either gives the exact rows below it: each cell
    between consecutive bounds holds exactly the rows whose confidence is there, and where both are about as
    coarse (around the cut p*) the cells are finer than either histogram's buckets."""
    rng = np.random.default_rng(5)
    for sharp in (1.0, 4.0):
        X, _, proba = _draw(rng, 3000, 0.0)
        proba = np.column_stack([1 - proba[:, 1] ** (1 / sharp), proba[:, 1] ** (1 / sharp)])
        proba[:7] = [0.0, 1.0]  # rows exactly at 1: the complement's zero bucket, a cell [1, 1]
        summary = _summary(X, proba)
        key = ("prediction", "1")
        confidence = summary.confidence[key].numeric
        complement = summary.confidence_complement[key].numeric
        rows = proba[proba[:, 1] >= 0.5, 1]
        lower, upper, counts = joint_buckets(confidence, complement)
        assert counts.sum() == rows.size and np.all(np.diff(lower) >= 0) and np.all(upper >= lower)
        assert np.all(upper[:-1] <= lower[1:])  # cells do not overlap
        inside = np.where(
            lower == upper,
            [np.sum(rows == a) for a in lower],
            [np.sum((rows > a) & (rows <= b)) for a, b in zip(lower, upper)],
        )
        inside[0] += np.sum(rows == lower[0]) * (
            lower[0] < upper[0]
        )  # the lowest row sits on the lowest bound
        np.testing.assert_array_equal(inside, counts)
        assert counts[-1] == 7 and lower[-1] == upper[-1] == 1.0
        # Every cell lies within one bucket of each histogram (it refines both), so the cells are finer than
        # either's buckets.
        c_lo, c_hi, _ = histogram_buckets(confidence)
        d_lo, d_hi, _ = histogram_buckets(complement)
        for buckets in ((c_lo, c_hi), (1.0 - d_hi[::-1], 1.0 - d_lo[::-1])):
            for a, b in zip(lower, upper):
                assert np.any((buckets[0] <= a + 1e-12) & (b <= buckets[1] + 1e-12)), (a, b)
        assert counts.size > max(c_lo.size, d_lo.size)


def test_the_complement_brings_the_estimate_closer_to_the_exact_confidences() -> None:
    rng = np.random.default_rng(4)
    X, y, proba = _draw(rng, 3000, 0.0)
    profile = Profile.from_data(X, proba, model="m", feature_names=NAMES, classes=[0, 1], labels=y)
    calibration = profile.estimation.outputs["prediction"]
    gains = []
    for shift in (0.0, 0.8, -1.2):
        Xc, _, pc = _draw(rng, 2000, shift)
        predicted, confidence = pc.argmax(1), pc.max(1)
        exact = estimate_classification(
            calibration,
            {str(k): (confidence[predicted == k], np.ones((predicted == k).sum())) for k in (0, 1)},
        )
        view = _summary(Xc, pc)
        both = estimate_view(view, profile.estimation)["prediction"].values
        view.confidence_complement = {}
        alone = estimate_view(view, profile.estimation)["prediction"].values
        for metric in ("accuracy", "roc_auc"):
            gains.append(abs(alone[metric] - exact[metric]) - abs(both[metric] - exact[metric]))
            assert abs(both[metric] - exact[metric]) < 0.002
    assert np.mean(gains) > 0


def test_binary_calibration_is_one_beta_calibration_across_the_decision() -> None:
    """Both predicted classes are calibrated by one fit of the positive-class score over all rows (as CBPE fits its
    calibration), Kull et al.'s beta calibration: a logistic regression on ``(ln s, -ln(1 - s))``, here sklearn's;
    a row predicted with less confidence than any reference row of its class takes the fit at 0.5."""
    rng = np.random.default_rng(6)
    score = np.concatenate([rng.uniform(0.0, 0.45, 300), rng.uniform(0.7, 1.0, 300)])
    truth = (rng.random(600) < score**1.5).astype(int)
    predicted = np.where(score > 0.5, "1", "0")
    model = fit_classifier(list(predicted), np.maximum(score, 1 - score), [str(t) for t in truth])

    def features(s: np.ndarray) -> np.ndarray:
        s = np.clip(s, 1e-12, 1 - 1e-12)
        return np.column_stack([np.log(s), -np.log(1 - s)])

    beta = LogisticRegression(C=1e9, tol=1e-12, max_iter=10_000).fit(features(score), truth)
    # Each block holds the mean of the fit over its reference rows: compare where the rows are.
    for k, rows in (("1", score > 0.5), ("0", score < 0.5)):
        blocks = model.blocks[k]
        p_positive = beta.predict_proba(features(score[rows]))[:, 1]
        p_correct = p_positive if k == "1" else 1 - p_positive
        confidence = np.maximum(score[rows], 1 - score[rows])
        for lo, hi, value, n in blocks[blocks[:, 3] > 0]:
            inside = (confidence >= lo) & (confidence <= hi)
            assert inside.sum() == n
            assert value == pytest.approx(p_correct[inside].mean(), abs=1e-6)
    at_half = beta.predict_proba(features(np.array([0.5])))[0, 1]
    assert model.p_correct("1", np.array([0.5]))[0] == pytest.approx(at_half, abs=1e-6)
    # Class "1"'s reference rows have confidences of 0.7 and more: at 0.6, between the fit at 0.5 and their blocks.
    assert model.p_correct("1", np.array([0.6]))[0] == pytest.approx(
        np.interp(0.6, [0.5, model.blocks["1"][1, 0]], [at_half, model.blocks["1"][1, 2]])
    )
