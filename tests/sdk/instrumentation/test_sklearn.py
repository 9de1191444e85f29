"""Zero-code instrumentation of scikit-learn: unchanged estimator code gets the decorator's telemetry."""

from __future__ import annotations

import numpy as np
import pytest

from otel_mlmon import conventions as conv
from otel_mlmon._faults import faults

from ._helpers import predictions_by_model, span_names

sklearn = pytest.importorskip("sklearn")

from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.ensemble import RandomForestClassifier, StackingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

_rng = np.random.default_rng(0)
X = _rng.normal(size=(120, 4))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


def test_estimator_calls_are_one_span_each_named_by_class(telemetry, instrumented):
    """Each user-level predict / predict_proba on a plain estimator is one span ``predict <ClassName>`` with the
    decorator's attributes, and the rows are counted under ml.model.name = the class name."""
    instrumented()
    model = LogisticRegression().fit(X, Y)
    predicted = model.predict(X[:10])
    model.predict_proba(X[:5])
    assert predicted.shape == (10,)
    spans = telemetry.spans()
    assert span_names(telemetry) == ["predict LogisticRegression"] * 2
    assert [s.attributes[conv.ATTR_OPERATION] for s in spans] == ["predict", "predict_proba"]
    assert spans[0].attributes[conv.ATTR_MODEL_NAME] == "LogisticRegression"
    assert spans[0].attributes[conv.ATTR_BATCH_SIZE] == 10
    assert predictions_by_model(telemetry) == {"LogisticRegression": 15}


def test_summaries_use_the_estimator_feature_names_and_classes(telemetry, instrumented):
    """The features and predictions of an instrumented call are summarised as with the decorator."""
    instrumented()
    model = LogisticRegression().fit(X, Y)
    model.predict(X[:20])
    (rows,) = telemetry.points(conv.METRIC_SUMMARY_ROWS)
    assert rows.value == 20 and rows.attributes[conv.ATTR_MODEL_NAME] == "LogisticRegression"
    assert telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION)
    counted = sum(p.value for p in telemetry.points(conv.METRIC_PREDICTION_CLASS_COUNT))
    assert counted == 20


def test_pipeline_is_one_span_and_its_steps_are_not_counted(telemetry, instrumented):
    """A Pipeline's predict is the user's call: one span named Pipeline; its scaler and (nested) classifier steps run
    inside it uncounted."""
    instrumented()
    pipe = make_pipeline(StandardScaler(), CalibratedClassifierCV(LogisticRegression(), cv=3)).fit(X, Y)
    pipe.predict(X[:7])
    pipe.predict_proba(X[:3])
    assert span_names(telemetry) == ["predict Pipeline", "predict Pipeline"]
    assert predictions_by_model(telemetry) == {"Pipeline": 10}


def test_parallel_forest_trees_are_not_counted(telemetry, instrumented):
    """A forest predicting with worker threads (n_jobs=2) is one span: its trees' predict_proba in joblib
    threads belong to the user's call."""
    instrumented()
    forest = RandomForestClassifier(n_estimators=12, n_jobs=2, random_state=0).fit(X, Y)
    forest.predict(X[:9])
    assert span_names(telemetry) == ["predict RandomForestClassifier"]
    assert predictions_by_model(telemetry) == {"RandomForestClassifier": 9}


def test_fitting_is_never_monitored_nor_the_predictions_inside_it(telemetry, instrumented):
    """fit is not a span, and the predictions a fit makes (a stacking ensemble's cross-validated
    predict_proba, fit_transform's transform) are not counted; predicting afterwards is."""
    instrumented()
    stack = StackingClassifier(
        [("lr", LogisticRegression()), ("rf", RandomForestClassifier(n_estimators=5, random_state=0))], cv=3
    ).fit(X, Y)
    StandardScaler().fit_transform(X)
    assert telemetry.spans() == []
    stack.predict(X[:4])
    assert span_names(telemetry) == ["predict StackingClassifier"]
    assert predictions_by_model(telemetry) == {"StackingClassifier": 4}


def test_transform_called_by_the_user_counts(telemetry, instrumented):
    """A transformer's transform called directly is inference (ml.operation transform)."""
    instrumented()
    scaler = StandardScaler().fit(X)
    scaler.transform(X[:6])
    (span,) = telemetry.spans()
    assert span.name == "predict StandardScaler" and span.attributes[conv.ATTR_OPERATION] == "transform"


def test_uninstrument_restores_the_original_methods(telemetry, instrumented):
    """uninstrument() puts back the very attributes the classes had: no span afterwards, same objects."""
    import sklearn.linear_model._base as linear_base
    import sklearn.pipeline

    before = (
        linear_base.LinearClassifierMixin.__dict__["predict"],
        sklearn.pipeline.Pipeline.__dict__["predict"],
    )
    instrumentor = instrumented()
    model = LogisticRegression().fit(X, Y)
    assert linear_base.LinearClassifierMixin.__dict__["predict"] is not before[0]
    instrumentor.uninstrument()
    after = (
        linear_base.LinearClassifierMixin.__dict__["predict"],
        sklearn.pipeline.Pipeline.__dict__["predict"],
    )
    assert after[0] is before[0] and after[1] is before[1]
    model.predict(X[:3])
    assert telemetry.spans() == []


def test_model_names_and_methods_settings(telemetry, instrumented):
    """model_names maps a class to ml.model.name; methods limits what counts as inference."""
    instrumented(model_names={"LogisticRegression": "churn"}, methods=["predict"], model_version="7")
    model = LogisticRegression().fit(X, Y)
    model.predict_proba(X[:3])  # not an inference method here
    model.predict(X[:3])
    (span,) = telemetry.spans()
    assert span.name == "predict churn"
    assert span.attributes[conv.ATTR_MODEL_VERSION] == "7"
    assert predictions_by_model(telemetry) == {"churn": 3}


def test_environment_variables_configure_the_instrumentor(telemetry, instrumented, monkeypatch):
    """OTEL_MLMON_MODEL_NAMES and OTEL_MLMON_SUMMARIES apply when instrument() is given no arguments."""
    monkeypatch.setenv("OTEL_MLMON_MODEL_NAMES", "LogisticRegression=fraud, Pipeline=other")
    monkeypatch.setenv("OTEL_MLMON_SUMMARIES", "false")
    instrumented()
    LogisticRegression().fit(X, Y).predict(X[:2])
    assert span_names(telemetry) == ["predict fraud"]
    assert telemetry.points(conv.METRIC_SUMMARY_ROWS) == []


def test_libraries_setting_leaves_others_alone(telemetry, instrumented, monkeypatch):
    """A library left out of OTEL_MLMON_INSTRUMENT_LIBRARIES is not patched."""
    monkeypatch.setenv("OTEL_MLMON_INSTRUMENT_LIBRARIES", "torch")
    instrumented()
    LogisticRegression().fit(X, Y).predict(X[:2])
    assert telemetry.spans() == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_MLMON_INSTRUMENT_LIBRARIES", "sklearn,tensorflow"),
        ("OTEL_MLMON_SAMPLE_RATE", "half"),
        ("OTEL_MLMON_SAMPLE_RATE", "1.5"),
        ("OTEL_MLMON_SUMMARIES", "maybe"),
        ("OTEL_MLMON_MODEL_NAMES", "LogisticRegression"),
        ("OTEL_MLMON_INSTRUMENT_METHODS", "predict,fit"),
    ],
)
def test_invalid_settings_fail_at_instrument_time(variable, value, monkeypatch):
    """A wrong setting raises a ValueError naming the variable when instrumenting, not inside a model call."""
    from otel_mlmon.instrumentation._settings import settings_from

    with pytest.raises(ValueError, match=variable):
        settings_from({}, {variable: value})


def test_a_monitoring_fault_never_reaches_predict(telemetry, instrumented, monkeypatch):
    """If monitoring setup fails for a class, predict still returns its result and the fault is counted."""
    from otel_mlmon.instrumentation import _patch

    def broken(self, cls, wrapped):
        raise RuntimeError("injected")

    monkeypatch.setattr(_patch._Dispatch, "_call_for", broken)
    before = faults.counts().get("instrumentation", 0)
    instrumented()
    model = LogisticRegression().fit(X, Y)
    assert list(model.predict(X[:5])) == list(LogisticRegression().fit(X, Y).predict(X[:5]))
    assert faults.counts()["instrumentation"] > before


def test_errors_pass_through_and_are_recorded(telemetry, instrumented):
    """A predict that raises raises the same exception to the user, and its span records the error."""
    instrumented()
    model = LogisticRegression().fit(X, Y)
    with pytest.raises(ValueError):
        model.predict(np.ones((2, 9)))  # wrong number of features
    (span,) = telemetry.spans()
    assert span.attributes[conv.ATTR_ERROR_TYPE] == "ValueError"
