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


def test_reinstrumenting_a_returned_function_or_proxy_replaces_it(telemetry):
    """instrument() on what instrument() returned (a monitored function, a proxy) monitors the original once,
    under the new configuration."""
    predict = otel_mlmon.instrument(lambda X: len(X), model="f1", **telemetry.providers)
    predict = otel_mlmon.instrument(predict, model="f2", **telemetry.providers)
    net = otel_mlmon.instrument(Net(), model="n1", **telemetry.providers)
    net = otel_mlmon.instrument(net, model="n2", **telemetry.providers)
    assert predict([1, 2]) == 2 and net(3) == 6
    assert [s.attributes["ml.model.name"] for s in telemetry.spans()] == ["f2", "n2"]


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


# -- real scikit-learn estimators -------------------------------------------------------------------------------

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from otel_mlmon import conventions as conv  # noqa: E402

_RNG = np.random.default_rng(7)
_X = _RNG.normal(size=(60, 4))
_Y = (_X[:, 0] + _X[:, 1] > 0).astype(int)

ESTIMATORS = {
    "random_forest": lambda: RandomForestClassifier(n_estimators=5, random_state=0).fit(_X, _Y),
    "logistic_regression": lambda: LogisticRegression().fit(_X, _Y),
    "pipeline": lambda: make_pipeline(StandardScaler(), LogisticRegression()).fit(_X, _Y),
    "regressor": lambda: RandomForestRegressor(n_estimators=5, random_state=0).fit(_X, _X[:, 0]),
}


def _predictions(telemetry) -> int:
    return sum(point.value for point in telemetry.points(conv.METRIC_PREDICTIONS))


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_sklearn_predict_is_one_span_and_one_count(telemetry, kind):
    """predict on an instrumented estimator or pipeline is one span and counts its rows once, even though
    scikit-learn's predict calls the (also monitored) predict_proba or decision_function inside."""
    model = otel_mlmon.instrument(ESTIMATORS[kind](), model=kind, **telemetry.providers)
    model.predict(_X[:5])
    (span,) = telemetry.spans()
    assert span.attributes["ml.operation"] == "predict"
    assert _predictions(telemetry) == 5
    (rows,) = telemetry.points(conv.METRIC_SUMMARY_ROWS)
    assert rows.value == 5


@pytest.mark.parametrize("kind", ["random_forest", "logistic_regression", "pipeline"])
def test_sklearn_predict_proba_called_directly_is_monitored(telemetry, kind):
    """A direct predict_proba call is its own user call: one span with ml.operation predict_proba."""
    model = otel_mlmon.instrument(ESTIMATORS[kind](), model=kind, **telemetry.providers)
    model.predict_proba(_X[:3])
    model.predict(_X[:3])
    assert [s.attributes["ml.operation"] for s in telemetry.spans()] == ["predict_proba", "predict"]
    assert _predictions(telemetry) == 6


def test_nested_call_keeps_the_outer_calls_records_and_ids(telemetry):
    """Records, prediction ids and summaries come from the outer predict (the classes the user saw), once per row."""
    model = otel_mlmon.instrument(
        ESTIMATORS["random_forest"](), model="rf", record_predictions=1.0, **telemetry.providers
    )
    predicted = model.predict(_X[:4])
    ids = otel_mlmon.last_prediction_ids()
    records = telemetry.records(conv.EVENT_PREDICTION)
    assert len(ids) == 4 and len(records) == 4
    assert [r.attributes[conv.ATTR_PREDICTION_ID] for r in records] == list(ids)
    assert {r.attributes["ml.operation"] for r in records} == {"predict"}
    classes = telemetry.points(conv.METRIC_PREDICTION_CLASS_COUNT)
    counted = {p.attributes[conv.ATTR_PREDICTION_CLASS]: p.value for p in classes if p.value}
    assert counted == {str(c): int((predicted == c).sum()) for c in set(predicted.tolist())}


def test_instrumented_step_and_pipeline_are_two_nested_spans(telemetry):
    """Monitoring a pipeline and, separately, its final estimator gives a span for each (different objects),
    the estimator's inside the pipeline's."""
    pipeline = ESTIMATORS["pipeline"]()
    otel_mlmon.instrument(pipeline, model="pipeline", **telemetry.providers)
    otel_mlmon.instrument(pipeline[-1], model="classifier", **telemetry.providers)
    pipeline.predict(_X[:2])
    inner, outer = telemetry.spans()
    assert (outer.attributes["ml.model.name"], inner.attributes["ml.model.name"]) == (
        "pipeline",
        "classifier",
    )
    assert inner.parent.span_id == outer.context.span_id


def test_failed_call_does_not_hide_the_next_one(telemetry):
    """After a call that raised, the next call on the same object is counted (the nesting mark is cleared)."""
    model = otel_mlmon.instrument(ESTIMATORS["logistic_regression"](), model="lr", **telemetry.providers)
    with pytest.raises(ValueError):
        model.predict(np.zeros((2, 9)))  # wrong number of features
    model.predict(_X[:2])
    assert len(telemetry.spans()) == 2
    assert _predictions(telemetry) == 2


def _round_trips():
    import copy

    import joblib

    def via_joblib(model, tmp_path):
        path = tmp_path / "model.joblib"
        joblib.dump(model, path)
        return joblib.load(path)

    return {
        "pickle": lambda model, tmp_path: pickle.loads(pickle.dumps(model)),
        "joblib": via_joblib,
        "deepcopy": lambda model, tmp_path: copy.deepcopy(model),
    }


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
@pytest.mark.parametrize("how", sorted(_round_trips()))
def test_round_trip_gives_a_working_unmonitored_model(telemetry, tmp_path, kind, how):
    """An instrumented estimator or pipeline saved and loaded (pickle, joblib) or deep-copied predicts the same,
    carries no monitoring and no leftover instance attributes; the original stays monitored."""
    model = otel_mlmon.instrument(ESTIMATORS[kind](), model=kind, **telemetry.providers)
    expected = model.predict(_X[:5])
    loaded = _round_trips()[how](model, tmp_path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(_X[:5]), expected)
    assert not {"predict", "predict_proba", "decision_function", "__reduce_ex__"} & set(vars(loaded))
    assert len(telemetry.spans()) == 1  # the copy's call was not monitored
    model.predict(_X[:5])
    assert len(telemetry.spans()) == 2
    # The loaded model can be instrumented on its own.
    otel_mlmon.instrument(loaded, model="loaded", **telemetry.providers)
    loaded.predict(_X[:1])
    assert telemetry.spans()[-1].attributes["ml.model.name"] == "loaded"


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_clone_gives_an_unfitted_unmonitored_estimator(telemetry, kind):
    """sklearn.base.clone of an instrumented model has the same parameters, no monitoring, and fits and predicts."""
    model = otel_mlmon.instrument(ESTIMATORS[kind](), model=kind, **telemetry.providers)
    copy = clone(model)
    assert copy.get_params().keys() == model.get_params().keys()
    assert not {"predict", "__reduce_ex__"} & set(vars(copy))
    copy.fit(_X, _Y if kind != "regressor" else _X[:, 0]).predict(_X[:3])
    assert telemetry.spans() == []


def test_reinstrument_replaces_the_configuration(telemetry):
    """A second instrument() with a new model name takes over: one span per call, under the new name only."""
    model = ESTIMATORS["random_forest"]()
    otel_mlmon.instrument(model, model="churn", version="1", **telemetry.providers)
    otel_mlmon.instrument(model, model="churn-v2", version="2", **telemetry.providers)
    model.predict(_X[:3])
    model.predict_proba(_X[:3])
    assert [(s.attributes["ml.model.name"], s.attributes["ml.model.version"]) for s in telemetry.spans()] == [
        ("churn-v2", "2"),
        ("churn-v2", "2"),
    ]
    assert {p.attributes["ml.model.name"] for p in telemetry.points(conv.METRIC_PREDICTIONS)} == {"churn-v2"}


def test_reinstrument_with_fewer_methods_drops_the_others(telemetry):
    """Re-instrumenting with methods=[...] monitors exactly those methods afterwards."""
    model = ESTIMATORS["logistic_regression"]()
    otel_mlmon.instrument(model, model="lr", **telemetry.providers)
    otel_mlmon.instrument(model, model="lr", methods=["predict_proba"], **telemetry.providers)
    model.predict(_X[:2])  # no longer monitored
    model.predict_proba(_X[:2])
    assert [s.attributes["ml.operation"] for s in telemetry.spans()] == ["predict_proba"]
    otel_mlmon.uninstrument(model)
    assert "__reduce_ex__" not in vars(model)


def test_reinstrument_same_series_with_new_summary_options_says_why_not(telemetry, caplog):
    """Changing summary options but not the series' name logs that the series keeps its first options."""
    model = ESTIMATORS["logistic_regression"]()
    otel_mlmon.instrument(model, model="lr", summary_config=otel_mlmon.SummaryConfig(), **telemetry.providers)
    with caplog.at_level("WARNING", logger="otel_mlmon"):
        otel_mlmon.instrument(
            model, model="lr", summary_config=otel_mlmon.SummaryConfig(), **telemetry.providers
        )
    assert caplog.records == []  # equal options: nothing to say
    with caplog.at_level("WARNING", logger="otel_mlmon"):
        otel_mlmon.instrument(model, model="lr", feature_names=["a", "b", "c", "d"], **telemetry.providers)
    (message,) = [r.getMessage() for r in caplog.records]
    assert "feature_names=" in message and "version=" in message
    caplog.clear()
    with caplog.at_level("WARNING", logger="otel_mlmon"):
        otel_mlmon.instrument(
            model, model="lr", version="2", feature_names=["a", "b", "c", "d"], **telemetry.providers
        )
    assert caplog.records == []
