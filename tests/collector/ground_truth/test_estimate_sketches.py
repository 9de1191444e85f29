"""Estimates before labels from sketches, calibrated by the reference profile (otel_mlmon.estimation and the
collector's _estimate_sketches): close to the realized values under covariate shift, and only with calibration."""

from __future__ import annotations

import numpy as np
import pytest
from otel_mlmon_collector._ground_truth._estimate_sketches import estimate_rows, estimate_view, estimation_gap
from otel_mlmon_collector._ground_truth._records import GroundTruthRecord, JoinedRow, PredictionRecord
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from otel_mlmon import conventions as conv
from otel_mlmon._calibration_blocks import cell_blocks
from otel_mlmon._estimation_regression import basis
from otel_mlmon.adapters import read_features, read_outputs
from otel_mlmon.estimation import (
    ClassifierCalibration,
    EstimationModel,
    estimate_classification,
)
from otel_mlmon.profile import Profile
from otel_mlmon.summary import Summary

NAMES = ["a", "b", "c"]


def _true_logit(X: np.ndarray) -> np.ndarray:
    return 1.5 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] ** 2 - 0.5


def _model(X: np.ndarray) -> np.ndarray:
    """Right ranking, miscalibrated: overconfident (sharpened logits) -- the raw confidence over-promises."""
    p = 1 / (1 + np.exp(-2.5 * _true_logit(X)))
    return np.column_stack([1 - p, p])


def _draw(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(n, 3))
    X[:, 0] += shift
    y = (rng.random(n) < 1 / (1 + np.exp(-_true_logit(X)))).astype(int)
    return X, y


def _summary(X: np.ndarray, outputs: np.ndarray, classes: list | None = None) -> Summary:
    """What the SDK exports for one window."""
    summary = Summary()
    summary.add_features(read_features(X, names=NAMES))
    summary.add_outputs(read_outputs(outputs, classes=classes))
    return summary


@pytest.fixture(scope="module")
def binary_profile() -> Profile:
    X, y = _draw(np.random.default_rng(0), 6000, 0.0)
    return Profile.from_data(X, _model(X), model="m", feature_names=NAMES, classes=[0, 1], labels=y)


@pytest.mark.parametrize("shift", [0.0, 0.8, -1.0])
def test_calibrated_estimate_is_close_to_realized_under_covariate_shift(
    binary_profile: Profile, shift: float
) -> None:
    X, y = _draw(np.random.default_rng(1 + int(10 * abs(shift))), 4000, shift)
    proba = _model(X)
    pred = proba.argmax(1)
    est = estimate_view(_summary(X, proba, [0, 1]), binary_profile.estimation)["prediction"]
    assert est.calibrated and est.n == 4000
    assert est.values["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=0.02)
    assert est.values["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"), abs=0.02)
    assert est.values["roc_auc"] == pytest.approx(roc_auc_score(y, proba[:, 1]), abs=0.02)
    assert est.per_class["1"]["f1"] == pytest.approx(f1_score(y, pred), abs=0.03)
    assert 0 < est.stderr["accuracy"] < 0.01


def test_skipping_the_calibration_misses_the_realized_values(binary_profile: Profile) -> None:
    """The same sketches without the profile's calibration: the overconfident scores over-promise."""
    X, y = _draw(np.random.default_rng(7), 4000, 0.8)
    proba = _model(X)
    summary = _summary(X, proba, [0, 1])
    realized = accuracy_score(y, proba.argmax(1))
    calibrated = estimate_view(summary, binary_profile.estimation)["prediction"]
    raw = estimate_view(summary, None)["prediction"]
    assert not raw.calibrated
    assert raw.values["accuracy"] - realized > 0.05
    assert abs(calibrated.values["accuracy"] - realized) < 0.02
    assert abs(raw.values["roc_auc"] - roc_auc_score(y, proba[:, 1])) > 3 * abs(
        calibrated.values["roc_auc"] - roc_auc_score(y, proba[:, 1])
    )


def test_multiclass_estimates_accuracy_f1_and_roc_auc() -> None:
    rng = np.random.default_rng(3)

    def draw(n: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = rng.normal(size=(n, 3))
        X[:, 0] += shift
        logits = np.column_stack([2 * X[:, 0], X[:, 1] - X[:, 0], X[:, 2] ** 2 - 1])
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        y = (p.cumsum(1) < rng.random((n, 1))).sum(1)
        sharp = p**2.5
        return X, y, sharp / sharp.sum(1, keepdims=True)

    X, y, proba = draw(8000, 0.0)
    profile = Profile.from_data(X, proba, model="m", feature_names=NAMES, classes=[0, 1, 2], labels=y)
    calibration = profile.estimation.outputs["prediction"]
    assert isinstance(calibration, ClassifierCalibration) and calibration.auc_offset is not None
    X, y, proba = draw(4000, 0.6)
    pred = proba.argmax(1)
    est = estimate_view(_summary(X, proba, [0, 1, 2]), profile.estimation)["prediction"]
    assert est.values["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=0.02)
    assert est.values["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"), abs=0.03)
    assert est.values["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"), abs=0.03)


def test_regression_estimate_follows_a_covariate_shift() -> None:
    rng = np.random.default_rng(5)

    def draw(n: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = rng.normal(size=(n, 3))
        X[:, 0] *= scale
        prediction = 50 + 10 * X[:, 1]
        return X, prediction, prediction + rng.normal(size=n) * (1 + 2 * np.abs(X[:, 0]))

    X, prediction, y = draw(6000, 1.0)
    profile = Profile.from_data(X, prediction, model="m", feature_names=NAMES, labels=y)
    X, prediction, y = draw(4000, 1.8)  # wider inputs, larger errors
    est = estimate_view(_summary(X, prediction), profile.estimation)["prediction"]
    rmse = float(np.sqrt(np.mean((prediction - y) ** 2)))
    mae = float(np.mean(np.abs(prediction - y)))
    assert est.values["rmse"] == pytest.approx(rmse, rel=0.06)
    assert est.values["mae"] == pytest.approx(mae, rel=0.06)
    reference_rmse = float(np.sqrt(profile.estimation.outputs["prediction"].mean_sq))
    assert rmse > 1.3 * reference_rmse  # the shift matters: a constant estimate would miss it
    assert est.stderr["rmse"] > 0


def test_the_estimation_model_survives_a_profile_round_trip(binary_profile: Profile, tmp_path) -> None:
    X, _ = _draw(np.random.default_rng(9), 2000, 0.5)
    summary = _summary(X, _model(X), [0, 1])
    loaded = Profile.load(binary_profile.save(tmp_path / "p.json.gz"))
    before = estimate_view(summary, binary_profile.estimation)["prediction"].values
    after = estimate_view(summary, loaded.estimation)["prediction"].values
    assert after == pytest.approx(before)
    assert EstimationModel.from_dict(None).outputs == {}
    with pytest.raises(ValueError, match="unknown kind"):
        EstimationModel.from_dict({"outputs": {"prediction": {"kind": "ranking"}}})


def test_gap_compares_the_estimate_of_the_labelled_rows_with_their_realized_values(
    binary_profile: Profile,
) -> None:
    X, y = _draw(np.random.default_rng(4), 3000, 0.3)
    proba = _model(X)
    rows = [
        JoinedRow(
            PredictionRecord(
                "m", "", "prediction", str(i), 0, str(int(p.argmax())), confidence=float(p.max())
            ),
            GroundTruthRecord("m", "", "prediction", str(i), 0, str(t)),
        )
        for i, (p, t) in enumerate(zip(proba, y))
    ]
    est = estimate_rows(rows, binary_profile.estimation.outputs["prediction"])
    assert est is not None and est.n == 3000
    realized = {
        "accuracy": accuracy_score(y, proba.argmax(1)),
        "f1_macro": f1_score(y, proba.argmax(1), average="macro"),
    }
    points = {
        (p.name, p.attributes[conv.ATTR_PERFORMANCE_METRIC]): p.value for p in estimation_gap(est, realized)
    }
    gap = points[(conv.METRIC_PERFORMANCE_ESTIMATION_GAP, "accuracy")]
    assert gap == pytest.approx(est.values["accuracy"] - realized["accuracy"])
    assert abs(gap) < 0.03
    assert abs(points[(conv.METRIC_PERFORMANCE_ESTIMATION_GAP_Z, "accuracy")]) < 4
    assert (conv.METRIC_PERFORMANCE_ESTIMATION_GAP, "f1_macro") in points
    assert (conv.METRIC_PERFORMANCE_ESTIMATION_GAP, "roc_auc") not in points  # nothing realized to compare


def test_gap_z_flags_a_calibration_that_no_longer_holds(binary_profile: Profile) -> None:
    """Concept drift: the labels now follow another rule; the estimate (from the old calibration) is far off."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(3000, 3))
    proba = _model(X)
    y = (rng.random(3000) < 0.5).astype(int)  # the inputs no longer say anything about the label
    rows = [
        JoinedRow(
            PredictionRecord(
                "m", "", "prediction", str(i), 0, str(int(p.argmax())), confidence=float(p.max())
            ),
            GroundTruthRecord("m", "", "prediction", str(i), 0, str(t)),
        )
        for i, (p, t) in enumerate(zip(proba, y))
    ]
    est = estimate_rows(rows, binary_profile.estimation.outputs["prediction"])
    assert est is not None
    points = {
        (p.name, p.attributes[conv.ATTR_PERFORMANCE_METRIC]): p.value
        for p in estimation_gap(est, {"accuracy": accuracy_score(y, proba.argmax(1))})
    }
    assert points[(conv.METRIC_PERFORMANCE_ESTIMATION_GAP_Z, "accuracy")] > 10


def test_cell_blocks_keep_every_reference_row_and_its_mean_p_correct() -> None:
    """One block per cell between histogram bounds: every row in exactly one block, P(correct) its rows' mean."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.0, 2000)
    p = x**2
    blocks = cell_blocks(x, p)
    assert blocks[:, 3].sum() == 2000
    assert np.all(blocks[:, 0] <= blocks[:, 1]) and np.all(blocks[1:, 0] > blocks[:-1, 1])
    assert np.all(np.diff(blocks[:, 2]) > 0)  # a rising calibration stays rising
    for lo, hi, mean, n in blocks:
        inside = (x >= lo) & (x <= hi)
        assert inside.sum() == n and p[inside].mean() == pytest.approx(mean)
    # Cells are finer near 1 (the complement histogram's bounds) than a scale-8 histogram alone would cut.
    assert len(blocks) > len(cell_blocks(x, p, complement_scale=None))


def test_the_estimate_points_use_the_conventions(binary_profile: Profile) -> None:
    X, _ = _draw(np.random.default_rng(2), 500, 0.0)
    est = estimate_view(_summary(X, _model(X), [0, 1]), binary_profile.estimation)["prediction"]
    names = {p.name for p in est.points()}
    assert {
        conv.METRIC_PERFORMANCE_ESTIMATED_ACCURACY,
        conv.METRIC_PERFORMANCE_ESTIMATED_ROC_AUC,
        conv.METRIC_PERFORMANCE_ESTIMATED_F1,
        conv.METRIC_PERFORMANCE_ESTIMATED_F1_MACRO,
        conv.METRIC_PERFORMANCE_ESTIMATED_STDERR,
    } <= names


def test_the_calibration_corrects_an_overconfident_model(binary_profile: Profile) -> None:
    """The model's logits are 2.5 times too sharp: the reference calibration maps its confidence back to the true
    probability of being right (a beta calibration holds that map exactly)."""
    calibration = binary_profile.estimation.outputs["prediction"]
    confidence = np.array([0.6, 0.8, 0.95, 0.99])
    true_p = 1 / (1 + np.exp(-np.log(confidence / (1 - confidence)) / 2.5))
    for k in ("0", "1"):
        np.testing.assert_allclose(calibration.p_correct(k, confidence), true_p, atol=0.03)


def test_the_histogram_sum_places_rows_within_their_buckets(binary_profile: Profile) -> None:
    """Under a shift that crowds rows towards a confidence of 1 inside the top bucket, the estimate from the
    histogram with its exact sum is closer to the estimate from the exact confidences than without the sum."""
    X, _ = _draw(np.random.default_rng(8), 3000, 1.5)
    proba = _model(X)
    calibration = binary_profile.estimation.outputs["prediction"]
    predicted, confidence = proba.argmax(1), proba.max(1)
    exact = {str(k): (confidence[predicted == k], np.ones((predicted == k).sum())) for k in (0, 1)}
    summary = _summary(X, proba, [0, 1])
    with_sum, without_sum = {}, {}
    for (_, label), column in summary.confidence.items():
        lower, upper, counts = column.numeric.bucket_edges()
        keep = counts > 0
        lo = np.clip(lower[keep], column.numeric.min, column.numeric.max)
        hi = np.clip(upper[keep], column.numeric.min, column.numeric.max)
        with_sum[label] = (lo, hi, counts[keep].astype(float), column.numeric.sum)
        without_sum[label] = (lo, hi, counts[keep].astype(float))
    target = estimate_classification(calibration, exact)
    tilted = estimate_classification(calibration, with_sum)
    spread = estimate_classification(calibration, without_sum)
    for metric in ("accuracy", "roc_auc"):
        assert abs(tilted[metric] - target[metric]) < abs(spread[metric] - target[metric])
    assert abs(tilted["accuracy"] - target["accuracy"]) < 0.005


def test_regression_rmse_of_an_older_profile_keeps_the_reference_ratio_to_the_mae() -> None:
    """A profile written before term variances: the estimated RMSE is the MAE times the reference's RMSE / MAE."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(4000, 3))
    y = 10 * X[:, 0] + rng.normal(size=4000) * (1 + np.abs(X[:, 0]) + np.abs(X[:, 1]))
    profile = Profile.from_data(X, 10 * X[:, 0], model="m", feature_names=NAMES, labels=y)
    entry = profile.estimation.outputs["prediction"].to_dict()
    assert len(entry.pop("term_variances")) == len(entry["columns"])
    older = EstimationModel.from_dict({"outputs": {"prediction": entry}})
    model = older.outputs["prediction"]
    assert model.term_variances is None
    X_live = rng.normal(size=(2000, 3)) * np.array([1.5, 1.5, 1.0])
    est = estimate_view(_summary(X_live, 10 * X_live[:, 0]), older)["prediction"]
    ratio = np.sqrt(model.mean_sq) / model.mean_abs
    assert est.values["rmse"] == pytest.approx(est.values["mae"] * ratio)
    assert est.values["mae"] > 1.2 * model.mean_abs  # wider inputs, larger errors


@pytest.mark.parametrize(
    ("window", "direction"),
    [
        (
            "split",
            1,
        ),  # half the rows at x = 0 (small errors), half at |x| = 2.5 (large): more spread than the reference
        ("narrow", -1),  # every row at |x| = 0.8: one error scale, less spread than the reference
    ],
)
def test_regression_rmse_follows_the_spread_of_the_rows_error_scales(window: str, direction: int) -> None:
    """``E e² = k (MAE² + Var m)``: the same MAE with more (less) spread error scales has a larger (smaller)
    RMSE, which the reference's RMSE / MAE ratio misses."""
    rng = np.random.default_rng(6)

    def draw(x0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = rng.normal(size=(x0.size, 3))
        X[:, 0] = x0
        prediction = 50 + 10 * X[:, 1]
        return X, prediction, prediction + rng.normal(size=x0.size) * (1 + 2 * np.abs(x0))

    X, prediction, y = draw(rng.normal(size=6000))
    profile = Profile.from_data(X, prediction, model="m", feature_names=NAMES, labels=y)
    model = profile.estimation.outputs["prediction"]
    n = 4000
    if window == "split":
        x0 = np.where(rng.random(n) < 0.5, 0.0, rng.choice([-2.5, 2.5], n)) + rng.normal(0, 0.1, n)
    else:
        x0 = rng.choice([-1.0, 1.0], n) * (0.8 + rng.normal(0, 0.05, n))
    X, prediction, y = draw(x0)
    est = estimate_view(_summary(X, prediction), profile.estimation)["prediction"]
    rmse = float(np.sqrt(np.mean((prediction - y) ** 2)))
    by_ratio = est.values["mae"] * np.sqrt(model.mean_sq) / model.mean_abs
    assert est.values["rmse"] == pytest.approx(rmse, rel=0.04)
    assert direction * (est.values["rmse"] - by_ratio) > 0.05 * rmse
    assert abs(est.values["rmse"] - rmse) < abs(by_ratio - rmse)


def test_regression_estimate_of_a_small_reference_does_not_depend_on_the_order_of_its_rows() -> None:
    """150 reference rows give the same estimate whatever their order: the error model's penalty is fixed, not
    chosen on a held-out part of the rows (on so few rows that choice follows which rows were held out)."""
    names = [f"f{i}" for i in range(8)]
    rng = np.random.default_rng(3)

    def draw(n: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = rng.normal(size=(n, 8))
        X[:, 0] += shift
        prediction = 50 + 10 * X[:, 1]
        return X, prediction, prediction + rng.normal(size=n) * 10 * (1 + 0.5 * np.abs(X[:, 0]))

    X, prediction, y = draw(150, 0.0)
    X_live, prediction_live, _ = draw(3000, 1.5)
    summary = Summary()
    summary.add_features(read_features(X_live, names=names))
    summary.add_outputs(read_outputs(prediction_live))
    estimates = []
    for rows in (np.arange(150), np.random.default_rng(99).permutation(150)):
        profile = Profile.from_data(X[rows], prediction[rows], model="m", feature_names=names, labels=y[rows])
        estimates.append(estimate_view(summary, profile.estimation)["prediction"].values)
    assert estimates[1]["mae"] == pytest.approx(estimates[0]["mae"], rel=1e-9)
    assert estimates[1]["rmse"] == pytest.approx(estimates[0]["rmse"], rel=1e-9)


@pytest.mark.parametrize("scale", [0.5, 1.8])
def test_regression_rmse_counts_the_covariance_of_columns_that_move_together(scale: float) -> None:
    """Errors that grow with two features moving together: the spread of the rows' error scales ``Var m``
    behind the RMSE includes the covariance of the two columns' terms (their reference share), which the
    marginal histograms cannot show."""
    rng = np.random.default_rng(1)

    def draw(n: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = rng.normal(size=(n, 3))
        X[:, 0] *= scale
        X[:, 1] = X[:, 0] + 0.3 * rng.normal(size=n)
        prediction = 50 + 10 * X[:, 2]
        return X, prediction, prediction + rng.normal(size=n) * (1 + np.abs(X[:, 0]) + np.abs(X[:, 1]))

    X, prediction, y = draw(6000, 1.0)
    profile = Profile.from_data(X, prediction, model="m", feature_names=NAMES, labels=y)
    model = profile.estimation.outputs["prediction"]
    X, prediction, _ = draw(4000, scale)
    est = estimate_view(_summary(X, prediction), profile.estimation)["prediction"].values
    # The model's error scale of each window row, from the rows themselves, and its variance.
    columns = {
        ("outputs", "prediction"): prediction,
        **{("features", n): X[:, i] for i, n in enumerate(NAMES)},
    }
    m = sum(basis(columns[c], k) @ b for c, k, b in zip(model.columns, model.knots, model.coef_abs))
    reference_var = getattr(model, "variance_ratio", 1.0) * sum(model.term_variances)
    shape = model.mean_sq / (model.mean_abs**2 + reference_var)
    # Within 15 %: narrower inputs loosen the two columns' correlation (the reference's share: 1.88, the
    # window's: 1.68 at scale 0.5); the sum of the terms' variances alone is 40-50 % low.
    assert est["rmse"] ** 2 / shape - est["mae"] ** 2 == pytest.approx(float(np.var(m)), rel=0.15)


def test_regression_profile_before_the_variance_ratio_still_loads() -> None:
    """A profile written before ``variance_ratio`` loads with a ratio of 1 (the sum of the terms' variances), and
    a new one keeps its ratio through a round trip."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 3))
    X[:, 1] = X[:, 0] + 0.3 * rng.normal(size=3000)
    y = 10 * X[:, 2] + rng.normal(size=3000) * (1 + np.abs(X[:, 0]) + np.abs(X[:, 1]))
    profile = Profile.from_data(X, 10 * X[:, 2], model="m", feature_names=NAMES, labels=y)
    entry = profile.estimation.outputs["prediction"].to_dict()
    assert entry["variance_ratio"] > 1.2  # the two columns' terms move together
    same = EstimationModel.from_dict({"outputs": {"prediction": entry}}).outputs["prediction"]
    assert same.variance_ratio == entry["variance_ratio"]
    del entry["variance_ratio"]
    older = EstimationModel.from_dict({"outputs": {"prediction": entry}})
    assert older.outputs["prediction"].variance_ratio == 1.0
    X_live = rng.normal(size=(2000, 3)) * 1.5
    assert estimate_view(_summary(X_live, 10 * X_live[:, 2]), older)["prediction"].values["rmse"] > 0
    with pytest.raises(ValueError, match="variance_ratio"):
        EstimationModel.from_dict({"outputs": {"prediction": {**entry, "variance_ratio": float("nan")}}})
