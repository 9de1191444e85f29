"""Reference performance in profiles: Profile.from_data(labels=...) and profile build --target store the model's
metrics on the reference data (equal to scikit-learn's) and their spread over chunks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

import otel_mlmon
from otel_mlmon.cli import main
from otel_mlmon.profile import Profile


def _binary(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    p = 1 / (1 + np.exp(-2 * X[:, 0]))
    y = (rng.uniform(size=n) < p).astype(int)
    return X, np.column_stack([1 - p, p]), y


def test_binary_performance_equals_sklearn_and_has_a_spread():
    X, P, y = _binary(4000)
    profile = Profile.from_data(X, P, labels=y, model="m", classes=[0, 1])
    pred = P.argmax(axis=1)
    perf = profile.performance
    assert perf["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred), abs=1e-12)
    assert perf["f1_macro"] == pytest.approx(metrics.f1_score(y, pred, average="macro"), abs=1e-12)
    assert perf["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, P[:, 1]), abs=1e-12)
    assert perf["log_loss"] == pytest.approx(metrics.log_loss(y, P), abs=1e-12)
    spread = profile.performance_spread["accuracy"]
    assert spread["chunks"] == 10 and spread["chunk_rows"] == 400
    chunk_acc = [metrics.accuracy_score(y[i : i + 400], pred[i : i + 400]) for i in range(0, 4000, 400)]
    assert spread["std"] == pytest.approx(np.std(chunk_acc, ddof=1), abs=1e-12)
    again = Profile.from_dict(profile.to_dict())
    assert again.performance == perf and again.performance_spread == profile.performance_spread


def test_threshold_decision_and_given_numbers_win():
    X, P, y = _binary(2000, seed=1)
    profile = Profile.from_data(
        X, P, labels=y, model="m", decision=otel_mlmon.Threshold(0.8), performance={"accuracy": 0.5}
    )
    decided = (P[:, 1] >= 0.8).astype(int)
    assert profile.performance["accuracy"] == 0.5  # given numbers win
    assert profile.performance["recall_macro"] == pytest.approx(
        metrics.recall_score(y, decided, average="macro"), abs=1e-12
    )
    assert dict(profile.summary.outputs["prediction"].categorical.top())["1"] == int(decided.sum())


def test_regression_and_multiclass():
    rng = np.random.default_rng(2)
    truth = rng.normal(850, 100, 3000)
    pred = truth + rng.normal(0, 30, 3000)
    profile = Profile.from_data(rng.normal(size=(3000, 1)), pred, labels=truth, model="price", chunk_rows=500)
    assert profile.performance["rmse"] == pytest.approx(
        metrics.root_mean_squared_error(truth, pred), rel=1e-12
    )
    assert profile.performance["mape"] == pytest.approx(metrics.mean_absolute_percentage_error(truth, pred))
    assert profile.performance_spread["mae"]["chunks"] == 6
    P = rng.dirichlet([1, 1, 1], size=1500)
    y = np.array([rng.choice(3, p=row) for row in P])
    profile = Profile.from_data(np.ones((1500, 1)), P, labels=y, model="m3")
    assert profile.performance["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, P, multi_class="ovr"))
    with pytest.raises(ValueError, match="predictions"):
        Profile.from_data(np.ones((3, 1)), labels=[1, 0, 1], model="m")


def test_profile_build_target(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    X, P, y = _binary(1500, seed=3)
    pred = P.argmax(axis=1)
    path = tmp_path / "data.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "pred": pred, "label": y}).to_csv(path, index=False)
    out = tmp_path / "p.json"
    code = main(
        [
            "profile",
            "build",
            str(path),
            "--model",
            "m",
            "--prediction",
            "pred",
            "--target",
            "label",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    profile = Profile.load(out)
    assert set(profile.summary.features) == {"a", "b"}
    assert profile.performance["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred), abs=1e-12)
    assert profile.performance_spread["accuracy"]["chunks"] == 10
    assert main(["profile", "build", str(path), "--model", "m", "--target", "label", "-o", str(out)]) == 2


def test_decision_and_scores_columns():
    X, P, y = _binary(1000, seed=4)
    decided = np.where(P[:, 1] >= 0.7, "yes", "no")
    labels = np.where(y == 1, "yes", "no")
    out = {"approved": decided, "proba": P}
    profile = Profile.from_data(
        X,
        out,
        labels=labels,
        model="m",
        classes={"proba": ["no", "yes"]},
        decision=otel_mlmon.Columns(decision="approved", scores="proba"),
    )
    assert profile.performance["accuracy"] == pytest.approx(
        metrics.accuracy_score(labels, decided), abs=1e-12
    )
    assert profile.performance["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, P[:, 1]), abs=1e-12)
    assert set(profile.summary.outputs) == {"approved"}
