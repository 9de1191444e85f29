"""instrument(): monitoring existing model objects in place."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import otel_mlmon


class Estimator:
    """A scikit-learn style estimator (module level so it pickles)."""

    classes_ = np.array(["no", "yes"])

    def predict(self, X):
        return self.classes_[(np.asarray(X)[:, 0] > 0).astype(int)]

    def predict_proba(self, X):
        p = (np.asarray(X)[:, 0] > 0).astype(float)
        return np.column_stack([1 - p, p])


class Net:
    """A callable model without predict (torch-module style)."""

    def __call__(self, x):
        return x * 2


def test_instrument_wraps_predict_methods_in_place(telemetry):
    """predict and predict_proba on the instance are monitored; the class and other instances are not."""
    model = Estimator()
    same = otel_mlmon.instrument(model, model="churn", version="2", **telemetry.providers)
    assert same is model
    X = np.array([[1.0], [-1.0]])
    assert list(model.predict(X)) == ["yes", "no"]
    assert model.predict_proba(X).shape == (2, 2)
    Estimator().predict(X)  # another instance: not monitored
    operations = sorted(span.attributes["ml.operation"] for span in telemetry.spans())
    assert operations == ["predict", "predict_proba"]
    assert all(span.attributes["ml.batch.size"] == 2 for span in telemetry.spans())


def test_instrumented_estimator_still_pickles(telemetry):
    """An instrumented model pickles and unpickles (without monitoring) and predicts the same."""
    model = otel_mlmon.instrument(Estimator(), model="churn", **telemetry.providers)
    clone = pickle.loads(pickle.dumps(model))
    X = np.array([[2.0]])
    assert list(clone.predict(X)) == ["yes"]


def test_uninstrument_restores_the_original_methods(telemetry):
    """uninstrument() removes the monitoring from the instance."""
    model = otel_mlmon.instrument(Estimator(), model="churn", **telemetry.providers)
    otel_mlmon.uninstrument(model)
    model.predict(np.array([[1.0]]))
    assert telemetry.spans() == []


def test_instrument_twice_does_not_double_wrap(telemetry):
    """Instrumenting an already instrumented object leaves one span per call."""
    model = Estimator()
    otel_mlmon.instrument(model, model="churn", **telemetry.providers)
    otel_mlmon.instrument(model, model="churn", **telemetry.providers)
    model.predict(np.array([[1.0]]))
    assert len(telemetry.spans()) == 1


def test_instrument_callable_object_returns_monitored_proxy(telemetry):
    """A __call__-only model comes back as a transparent proxy whose calls are monitored."""
    net = Net()
    proxy = otel_mlmon.instrument(net, model="net", **telemetry.providers)
    assert proxy(3) == 6
    assert isinstance(proxy, Net)
    assert telemetry.spans()[0].attributes["ml.operation"] == "__call__"


def test_instrument_plain_function(telemetry):
    """A plain function is returned monitored."""
    predict = otel_mlmon.instrument(lambda X: len(X), model="f", **telemetry.providers)
    assert predict([1, 2]) == 2
    assert len(telemetry.spans()) == 1


def test_instrument_without_entry_points_is_a_clear_error():
    """An object with no predict methods and not callable raises ValueError naming what was looked for."""
    with pytest.raises(ValueError, match="predict"):
        otel_mlmon.instrument(object(), model="x")
