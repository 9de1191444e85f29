"""Zero-code instrumentation of CatBoost (not a scikit-learn estimator: its classes are patched by name)."""

from __future__ import annotations

import numpy as np
import pytest

from otel_mlmon import conventions as conv
from otel_mlmon._faults import faults

from ._helpers import predictions_by_model, span_names

pytestmark = pytest.mark.heavy
catboost = pytest.importorskip("catboost")

_rng = np.random.default_rng(2)
X = _rng.normal(size=(300, 4))
Y = (X[:, 0] + X[:, 3] > 0).astype(int)


def test_classifier_calls_are_one_span_each_and_fitting_makes_none(telemetry, instrumented):
    """CatBoostClassifier.predict / predict_proba are one span each, summarised like the decorator's; fitting with
    an eval set and early stopping, and score() (which predicts inside), make none."""
    instrumented()
    model = catboost.CatBoostClassifier(
        iterations=30, depth=3, verbose=False, thread_count=1, random_seed=0, allow_writing_files=False
    )
    model.fit(X[:200], Y[:200], eval_set=(X[200:], Y[200:]), early_stopping_rounds=3)
    assert 0.5 < model.score(X[200:], Y[200:]) <= 1
    assert telemetry.spans() == []
    assert model.predict(X[:7]).shape == (7,)
    model.predict_proba(X[:3])
    assert span_names(telemetry) == ["predict CatBoostClassifier"] * 2
    spans = telemetry.spans()
    assert [s.attributes[conv.ATTR_OPERATION] for s in spans] == ["predict", "predict_proba"]
    assert spans[0].attributes[conv.ATTR_BATCH_SIZE] == 7
    assert predictions_by_model(telemetry) == {"CatBoostClassifier": 10}
    assert telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION)  # the summaries, as with the decorator


def test_regressor_on_a_pool_is_counted_by_its_rows(telemetry, instrumented):
    """A CatBoostRegressor predicting on a Pool is one span counting the Pool's rows (a Pool is not summarised)."""
    before = dict(faults.counts())
    instrumented(model_names={"CatBoostRegressor": "demand"})
    model = catboost.CatBoostRegressor(
        iterations=10, depth=2, verbose=False, thread_count=1, random_seed=0, allow_writing_files=False
    )
    model.fit(X, X[:, 1])
    assert model.predict(catboost.Pool(X[:9])).shape == (9,)
    (span,) = telemetry.spans()
    assert span.name == "predict demand" and span.attributes[conv.ATTR_BATCH_SIZE] == 9
    assert predictions_by_model(telemetry) == {"demand": 9}
    telemetry.collect()
    assert faults.counts() == before


def test_uninstrument_restores_catboost(telemetry, instrumented):
    """uninstrument() puts CatBoost's methods back."""
    from catboost.core import CatBoostClassifier

    original = CatBoostClassifier.__dict__["predict"]
    instrumentor = instrumented()
    assert CatBoostClassifier.__dict__["predict"] is not original
    instrumentor.uninstrument()
    assert CatBoostClassifier.__dict__["predict"] is original
