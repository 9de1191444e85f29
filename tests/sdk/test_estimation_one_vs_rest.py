"""More than two classes: every class's probability on the rows predicted another (otel_mlmon/_one_vs_rest.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, recall_score, roc_auc_score

from otel_mlmon.estimation import (
    ClassifierCalibration,
    EstimationModel,
    estimate_classification,
    histogram_buckets,
)
from otel_mlmon.profile import Profile
from otel_mlmon.summary import Summary, SummaryConfig


def _draw(
    rng: np.random.Generator, n: int, m1: float, m2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A calibrated three-class model (labels drawn from its probabilities); class 0 is the default, 1 and 2
    take over as their feature grows."""
    X = rng.normal(size=(n, 2)) + np.array([m1, m2])
    logits = np.column_stack([np.zeros(n), 1.5 * X[:, 0], 1.5 * X[:, 1]])
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    y = (p.cumsum(1) < rng.random((n, 1))).sum(1)
    return X, y, p


def _groups(P: np.ndarray) -> tuple[dict, dict]:
    pred, conf = P.argmax(1), P.max(1)
    k = range(P.shape[1])
    groups = {str(c): (conf[pred == c], np.ones(int((pred == c).sum()))) for c in k if (pred == c).any()}
    rest = {str(c): (P[pred != c, c], np.ones(int((pred != c).sum()))) for c in k}
    return groups, rest


@pytest.fixture(scope="module")
def shifted() -> tuple[ClassifierCalibration, np.ndarray, np.ndarray]:
    """A reference where class 2 is rare (predicted-0 errors are mostly class 1) and a window where class 1 is
    (they are mostly class 2): the reference's shares of each predicted class's errors no longer hold."""
    rng = np.random.default_rng(3)
    X, y, P = _draw(rng, 6000, 0.0, -2.0)
    profile = Profile.from_data(X, P, model="m", feature_names=["a", "b"], classes=[0, 1, 2], labels=y)
    model = profile.estimation.outputs["prediction"]
    assert isinstance(model, ClassifierCalibration)
    _, y, P = _draw(rng, 3000, -2.0, 0.0)
    return model, y, P


def test_the_profile_calibrates_every_class_on_the_rows_predicted_another() -> None:
    rng = np.random.default_rng(0)
    X, y, P = _draw(rng, 3000, 0.0, 0.0)
    profile = Profile.from_data(X, P, model="m", feature_names=["a", "b"], classes=[0, 1, 2], labels=y)
    model = profile.estimation.outputs["prediction"]
    assert isinstance(model, ClassifierCalibration) and set(model.rest) == {"0", "1", "2"}
    pred = P.argmax(1)
    for c, blocks in model.rest.items():
        assert blocks[:, 3].sum() == (pred != int(c)).sum()  # every reference row not predicted c, once
        assert np.all(np.diff(blocks[:, 2]) >= -1e-12)  # P(c | p_c) does not fall as p_c grows
    again = EstimationModel.from_dict(profile.estimation.to_dict()).outputs["prediction"]
    assert isinstance(again, ClassifierCalibration)
    assert {c: b.tolist() for c, b in again.rest.items()} == {c: b.tolist() for c, b in model.rest.items()}
    # A profile written before: no rest, the confidence alone.
    older = profile.estimation.to_dict()
    del older["outputs"]["prediction"]["rest"]
    assert EstimationModel.from_dict(older).outputs["prediction"].rest == {}  # type: ignore[union-attr]


def test_binary_and_confidence_only_profiles_carry_no_rest() -> None:
    rng = np.random.default_rng(1)
    X, y, P = _draw(rng, 2000, 0.0, 0.0)
    binary = np.column_stack([P[:, 0], 1 - P[:, 0]])
    profile = Profile.from_data(
        X, binary, model="m", feature_names=["a", "b"], classes=[0, 1], labels=(y > 0).astype(int)
    )
    assert profile.estimation.outputs["prediction"].rest == {}  # type: ignore[union-attr]
    assert "rest" not in profile.estimation.to_dict()["outputs"]["prediction"]


def test_a_profile_keeps_no_rest_for_more_classes_than_the_sdk_sketches() -> None:
    """Beyond ``max_categories`` the SDK sends no class probabilities: the profile does not carry their
    calibrations (a 1 000-class model's would be most of the file)."""
    rng = np.random.default_rng(2)
    X, y, P = _draw(rng, 2000, 0.0, 0.0)
    narrow = SummaryConfig(max_categories=2)
    profile = Profile.from_data(
        X, P, model="m", feature_names=["a", "b"], classes=[0, 1, 2], labels=y, config=narrow
    )
    model = profile.estimation.outputs["prediction"]
    assert isinstance(model, ClassifierCalibration) and model.rest == {}
    assert model.auc_offset is not None  # the confidence alone still estimates the ROC AUC


def test_every_class_probability_finds_where_the_errors_went(shifted) -> None:
    model, y, P = shifted
    pred = P.argmax(1)
    groups, rest = _groups(P)
    with_rest = estimate_classification(model, groups, rest)
    confidence_only = estimate_classification(model, groups)
    realized = recall_score(y, pred, average=None)
    # The reference's shares send predicted-0 errors to class 1; here they are class 2's rows.
    assert abs(confidence_only["per_class"]["2"]["recall"] - realized[2]) > 0.1
    for c in range(3):
        assert with_rest["per_class"][str(c)]["recall"] == pytest.approx(realized[c], abs=0.04)
    auc = roc_auc_score(y, P, multi_class="ovr")
    assert abs(confidence_only["roc_auc"] - auc) > 0.04
    assert with_rest["roc_auc"] == pytest.approx(auc, abs=0.02)
    assert abs(with_rest["accuracy"] - accuracy_score(y, pred)) < abs(
        confidence_only["accuracy"] - accuracy_score(y, pred)
    )


def test_histogram_buckets_of_each_class_probability_give_the_exact_values_estimate(shifted) -> None:
    model, _, P = shifted
    groups, rest = _groups(P)
    exact = estimate_classification(model, groups, rest)
    bucketed = {}
    for c, (values, _) in rest.items():
        column = Summary().config.new_column("numeric")  # the SDK's sketch of a numeric column
        column.update(values)
        bucketed[c] = (*histogram_buckets(column.numeric), column.numeric.sum)
    sketched = estimate_classification(model, groups, bucketed)
    assert sketched["accuracy"] == pytest.approx(exact["accuracy"], abs=0.002)
    assert sketched["f1_macro"] == pytest.approx(exact["f1_macro"], abs=0.002)
    # p_c spans 15 octaves here (1e-5 to 0.5), so the 160 buckets are coarse (scale 3-4, 4-9 % wide), and the
    # AUC orders rows within them by where the reference rows were.
    assert sketched["roc_auc"] == pytest.approx(exact["roc_auc"], abs=0.008)


def test_a_window_without_every_class_series_uses_the_confidence_alone(shifted) -> None:
    model, _, P = shifted
    groups, rest = _groups(P)
    partial = {c: v for c, v in rest.items() if c != "1"}  # a lost point
    assert estimate_classification(model, groups, partial) == estimate_classification(model, groups)
