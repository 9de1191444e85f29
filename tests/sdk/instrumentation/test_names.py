"""Model names and versions from the model itself: its ml_model_name / ml_model_version attributes, or the MLflow
registry entry it was loaded from (against a real MLflow server)."""

from __future__ import annotations

import pickle
import uuid

import numpy as np
import pytest

from otel_mlmon import conventions as conv
from otel_mlmon._faults import faults
from otel_mlmon.instrumentation._identity import identity_of, registry_identity
from tests.sdk.mlflow.conftest import mlflow_server  # noqa: F401 - the real server fixture

from ._helpers import predictions_by_model, span_names

pytest.importorskip("sklearn")

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

_rng = np.random.default_rng(3)
X = _rng.normal(size=(80, 3))
Y = (X[:, 0] > 0).astype(int)


def test_name_and_version_attributes_name_the_instance(telemetry, instrumented):
    """A model carrying ml_model_name / ml_model_version is monitored under them; another instance of the same
    class without them keeps the class name, and the version setting applies only where the instance gives none."""
    instrumented(model_version="9")
    named = LogisticRegression().fit(X, Y)
    named.ml_model_name = "churn"
    named.ml_model_version = 4  # an int version is taken as its string
    plain = LogisticRegression().fit(X, Y)
    named.predict(X[:5])
    plain.predict(X[:3])
    named.predict_proba(X[:2])
    assert span_names(telemetry) == ["predict churn", "predict LogisticRegression", "predict churn"]
    versions = [s.attributes[conv.ATTR_MODEL_VERSION] for s in telemetry.spans()]
    assert versions == ["4", "9", "4"]
    assert predictions_by_model(telemetry) == {"churn": 7, "LogisticRegression": 3}


def test_attributes_travel_with_the_pickled_model(telemetry, instrumented):
    """Named before saving, a model keeps its name in the process that loads it (the serving script is unchanged);
    a name set after the first call starts the new series from the next call."""
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
    model.ml_model_name = "fraud"
    loaded = pickle.loads(pickle.dumps(model))
    instrumented()
    loaded.predict(X[:4])
    loaded.ml_model_name = "fraud-v2"
    loaded.predict(X[:4])
    assert span_names(telemetry) == ["predict fraud", "predict fraud-v2"]
    assert conv.ATTR_MODEL_VERSION not in telemetry.spans()[0].attributes


def test_unusable_attributes_are_ignored():
    """A name that is not a non-empty string, or a version that is not a string or int, is ignored."""

    class Model:
        pass

    model = Model()
    assert identity_of(model) == (None, None)
    model.ml_model_name, model.ml_model_version = "", True
    assert identity_of(model) == (None, None)
    model.ml_model_name, model.ml_model_version = ["x"], 2.5
    assert identity_of(model) == (None, None)
    model.ml_model_name, model.ml_model_version = "m", "7"
    assert identity_of(model) == ("m", "7")
    assert identity_of(3) == (None, None)  # no __dict__


def test_registry_uris_give_the_registered_name_and_version():
    """models:/name/N is read as is; an alias, a stage or latest is resolved; other URIs are refused."""

    def resolve(uri: str) -> tuple[str, str]:
        return "churn", "12"

    assert registry_identity("models:/churn/3") == ("churn", "3")
    assert registry_identity("models:/churn@champion", resolve) == ("churn", "12")
    assert registry_identity("models:/churn/latest", resolve) == ("churn", "12")
    assert registry_identity("models:/churn/Production", resolve) == ("churn", "12")
    for uri in ("runs:/abc/model", "models:/m-0123abcd", "/tmp/model"):
        with pytest.raises(ValueError):
            registry_identity(uri)


def test_a_failed_resolution_keeps_the_name_and_counts_a_fault():
    """If the registry cannot resolve an alias, the model keeps its registered name without a version."""

    def unreachable(uri: str) -> tuple[str, str]:
        raise ConnectionError("registry down")

    before = faults.counts().get("instrumentation", 0)
    assert registry_identity("models:/churn@champion", unreachable) == ("churn", None)
    assert faults.counts().get("instrumentation", 0) == before + 1


@pytest.mark.e2e
def test_models_loaded_from_the_mlflow_registry_are_named_by_it(
    telemetry,
    instrumented,
    mlflow_server,  # noqa: F811 - the fixture imported above
    monkeypatch,
):
    """mlflow.sklearn.load_model / mlflow.pyfunc.load_model from models:/name/N, models:/name@alias and
    models:/name/latest (a real server's registry) give spans and metrics under the registered name and version;
    a runs:/ URI keeps the class name; uninstrument() puts the loaders back."""
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("mlflow.pyfunc")
    pytest.importorskip("mlflow.sklearn")

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MLFLOW_ENABLE_TELEMETRY", "false")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    mlflow.set_tracking_uri(mlflow_server)
    name = f"churn-{uuid.uuid4().hex[:8]}"
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
    mlflow.set_experiment(f"zero-code-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",  # the default (skops) needs a package the client lacks
            pip_requirements=["scikit-learn"],  # skips MLflow's slow requirement inference
        )
    for _ in range(2):  # versions 1 and 2
        mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", "2")

    original = mlflow.sklearn.__dict__["load_model"]
    instrumentor = instrumented()
    assert mlflow.sklearn.__dict__["load_model"] is not original
    mlflow.sklearn.load_model(f"models:/{name}/1").predict(X[:5])
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    pyfunc.predict(X[:3])
    mlflow.sklearn.load_model(f"models:/{name}/latest").predict(X[:1])
    mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model").predict(X[:2])

    spans = telemetry.spans()
    assert [s.name for s in spans] == [f"predict {name}"] * 3 + ["predict Pipeline"]
    assert [s.attributes.get(conv.ATTR_MODEL_VERSION) for s in spans] == ["1", "2", "2", None]
    assert predictions_by_model(telemetry) == {name: 9, "Pipeline": 2}
    instrumentor.uninstrument()
    assert mlflow.sklearn.__dict__["load_model"] is original
