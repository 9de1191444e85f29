"""The collector's estimate of a multiclass output reads every class's probability sketch when the window has them
(``ml.prediction.class_probability``), and the confidence alone when it does not (an older SDK)."""

from __future__ import annotations

import numpy as np
import pytest
from otel_mlmon_collector._ground_truth._estimate_sketches import estimate_rows, estimate_view
from otel_mlmon_collector._ground_truth._records import GroundTruthRecord, JoinedRow, PredictionRecord
from sklearn.metrics import recall_score, roc_auc_score

from otel_mlmon.adapters import read_features, read_outputs
from otel_mlmon.estimation import estimate_classification
from otel_mlmon.profile import Profile
from otel_mlmon.summary import Summary


def _draw(
    rng: np.random.Generator, n: int, m1: float, m2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A calibrated three-class model; class 1 and 2 take over from class 0 as their feature grows."""
    X = rng.normal(size=(n, 2)) + np.array([m1, m2])
    p = np.exp(np.column_stack([np.zeros(n), 1.5 * X[:, 0], 1.5 * X[:, 1]]))
    p /= p.sum(1, keepdims=True)
    return X, (p.cumsum(1) < rng.random((n, 1))).sum(1), p


@pytest.fixture(scope="module")
def window() -> tuple[Profile, Summary, np.ndarray, np.ndarray]:
    """Reference: class 2 rare. Window: class 1 rare, so predicted-0 errors are now mostly class 2."""
    rng = np.random.default_rng(3)
    X, y, P = _draw(rng, 6000, 0.0, -2.0)
    profile = Profile.from_data(X, P, model="m", feature_names=["a", "b"], classes=[0, 1, 2], labels=y)
    X, y, P = _draw(rng, 3000, -2.0, 0.0)
    summary = Summary()
    summary.add_features(read_features(X, names=["a", "b"]))
    summary.add_outputs(read_outputs(P, classes=[0, 1, 2]))
    return profile, summary, y, P


def test_the_window_estimate_reads_every_class_probability(window) -> None:
    profile, summary, y, P = window
    assert len(summary.class_probability) == 3
    estimate = estimate_view(summary, profile.estimation)["prediction"]
    pred, conf = P.argmax(1), P.max(1)
    exact = estimate_classification(
        profile.estimation.outputs["prediction"],  # type: ignore[arg-type]
        {str(k): (conf[pred == k], np.ones(int((pred == k).sum()))) for k in range(3)},
        {str(k): (P[pred != k, k], np.ones(int((pred != k).sum()))) for k in range(3)},
    )
    assert estimate.values["accuracy"] == pytest.approx(exact["accuracy"], abs=0.002)
    assert estimate.values["roc_auc"] == pytest.approx(exact["roc_auc"], abs=0.008)
    realized = recall_score(y, pred, average=None)
    for c in range(3):
        assert estimate.per_class[str(c)]["recall"] == pytest.approx(realized[c], abs=0.04)
    assert estimate.values["roc_auc"] == pytest.approx(roc_auc_score(y, P, multi_class="ovr"), abs=0.02)


def test_a_window_from_an_older_sdk_uses_the_confidence_alone(window) -> None:
    profile, summary, y, P = window
    older = Summary.from_dict({k: v for k, v in summary.to_dict().items() if k != "class_probability"})
    assert older.class_probability == {}
    estimate = estimate_view(older, profile.estimation)["prediction"]
    # The reference's shares of the errors: class 2's missed rows are not seen.
    assert abs(estimate.per_class["2"]["recall"] - recall_score(y, P.argmax(1), average=None)[2]) > 0.1
    assert (
        estimate.values["roc_auc"]
        != estimate_view(summary, profile.estimation)["prediction"].values["roc_auc"]
    )


def _rows(y: np.ndarray, P: np.ndarray, probabilities: bool) -> list[JoinedRow]:
    classes = ("0", "1", "2")
    return [
        JoinedRow(
            PredictionRecord(
                "m",
                "",
                "prediction",
                str(i),
                0,
                str(int(p.argmax())),
                confidence=float(p.max()),
                classes=classes if probabilities else (),
                probabilities=tuple(float(v) for v in p) if probabilities else (),
            ),
            GroundTruthRecord("m", "", "prediction", str(i), 0, str(t)),
        )
        for i, (p, t) in enumerate(zip(P, y))
    ]


def test_the_gap_estimates_labelled_rows_with_every_class_probability_their_records_carry(window) -> None:
    """The gap compares like with like: the labelled rows' estimate uses what the window's estimate uses."""
    profile, summary, y, P = window
    model = profile.estimation.outputs["prediction"]
    with_probabilities = estimate_rows(_rows(y, P, True), model)  # type: ignore[arg-type]
    confidence_only = estimate_rows(_rows(y, P, False), model)  # type: ignore[arg-type]
    assert with_probabilities is not None and confidence_only is not None
    window_estimate = estimate_view(summary, profile.estimation)["prediction"]
    assert with_probabilities.per_class["2"]["recall"] == pytest.approx(
        window_estimate.per_class["2"]["recall"], abs=0.005
    )
    realized = recall_score(y, P.argmax(1), average=None)[2]
    assert abs(with_probabilities.per_class["2"]["recall"] - realized) < 0.04
    assert abs(confidence_only.per_class["2"]["recall"] - realized) > 0.1
