"""Zero-code instrumentation of LightGBM and XGBoost: scikit-learn wrappers and native Boosters."""

from __future__ import annotations

import numpy as np
import pytest

from otel_mlmon import conventions as conv

from ._helpers import predictions_by_model, span_names

_rng = np.random.default_rng(1)
X = _rng.normal(size=(300, 5))
Y = (X[:, 0] - X[:, 2] > 0).astype(int)


def test_lightgbm_classifier_is_one_span_and_early_stopping_is_not_counted(telemetry, instrumented):
    """LGBMClassifier.predict / predict_proba are one span each (its Booster's predict inside is not counted),
    and fitting with a validation set and early stopping makes none."""
    lightgbm = pytest.importorskip("lightgbm")
    instrumented()
    model = lightgbm.LGBMClassifier(n_estimators=30, verbose=-1).fit(
        X[:200],
        Y[:200],
        eval_set=[(X[200:], Y[200:])],
        callbacks=[lightgbm.early_stopping(3, verbose=False)],
    )
    assert telemetry.spans() == []
    model.predict(X[:8])
    model.predict_proba(X[:2])
    assert span_names(telemetry) == ["predict LGBMClassifier"] * 2
    assert [s.attributes[conv.ATTR_OPERATION] for s in telemetry.spans()] == ["predict", "predict_proba"]
    assert predictions_by_model(telemetry) == {"LGBMClassifier": 10}


def test_lightgbm_native_booster_predict(telemetry, instrumented):
    """A Booster from lightgbm.train() is monitored as ``predict Booster``."""
    lightgbm = pytest.importorskip("lightgbm")
    instrumented()
    booster = lightgbm.train(
        {"objective": "binary", "verbose": -1}, lightgbm.Dataset(X, Y), num_boost_round=5
    )
    assert telemetry.spans() == []
    assert booster.predict(X[:6]).shape == (6,)
    (span,) = telemetry.spans()
    assert span.name == "predict Booster" and span.attributes[conv.ATTR_BATCH_SIZE] == 6


def test_xgboost_classifier_and_booster(telemetry, instrumented):
    """XGBClassifier.predict is one span (its Booster's inplace_predict inside is not counted); a native
    Booster's predict on a DMatrix is one span; fitting with early stopping makes none."""
    xgboost = pytest.importorskip("xgboost")
    instrumented(model_names={"xgboost.core.Booster": "xgb-native"})
    model = xgboost.XGBClassifier(n_estimators=20, early_stopping_rounds=3).fit(
        X[:200], Y[:200], eval_set=[(X[200:], Y[200:])], verbose=False
    )
    assert telemetry.spans() == []
    model.predict(X[:5])
    model.get_booster().predict(xgboost.DMatrix(X[:3]))
    assert span_names(telemetry) == ["predict XGBClassifier", "predict xgb-native"]
    assert predictions_by_model(telemetry) == {"XGBClassifier": 5, "xgb-native": 3}
