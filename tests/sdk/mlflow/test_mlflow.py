"""Profiles logged to a real MLflow server next to a registered model version, and resolved by the collector."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid

import numpy as np
import pytest
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._mlflow_references import MlflowReferenceStore
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._references import ReferenceProvider

from otel_mlmon import Profile
from otel_mlmon import conventions as conv
from otel_mlmon.mlflow import PROFILE_TAG, MlflowError, load_profile, log_profile
from tests.collector.drift_engine._helpers import CATEGORICAL, FEATURES, Replica, gauges, make_data
from tests.sdk.mlflow.conftest import free_port, rest


def _profile(rng: np.random.Generator, version: str) -> Profile:
    X = make_data(rng, 5_000)
    profile = Profile.from_data(
        X, X[:, 0] > 100, model="fraud", version=version, feature_names=FEATURES, categorical=CATEGORICAL
    )
    profile.created_at = dt.datetime.fromtimestamp(time.time() - 3600, dt.timezone.utc).replace(microsecond=0)
    profile.metadata = {"training": "synthetic"}
    return profile


def _registered_version(uri: str, name: str) -> tuple[str, str]:
    """Create an experiment, a run and a version of registered model ``name`` from it: (run id, version)."""
    experiment = rest(uri, "experiments/create", {"name": f"exp-{uuid.uuid4().hex[:8]}"})["experiment_id"]
    run = rest(uri, "runs/create", {"experiment_id": experiment, "start_time": int(time.time() * 1000)})[
        "run"
    ]
    run_id = run["info"]["run_id"]
    rest(uri, "registered-models/create", {"name": name})
    created = rest(
        uri,
        "model-versions/create",
        {"name": name, "source": run["info"]["artifact_uri"] + "/model", "run_id": run_id},
    )
    return run_id, created["model_version"]["version"]


@pytest.mark.e2e
def test_logged_profile_is_resolved_from_the_model_version(mlflow_server: str) -> None:
    """log_profile uploads the file and tags the run; the store resolves model/version to an equal profile."""
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    run_id, version = _registered_version(mlflow_server, name)
    profile = _profile(np.random.default_rng(1), version)
    path = log_profile(profile, mlflow_server, run_id)
    assert path == "otel-mlmon/profile.json.gz"
    tags = {
        t["key"]: t["value"] for t in rest(mlflow_server, f"runs/get?run_id={run_id}")["run"]["data"]["tags"]
    }
    assert tags[PROFILE_TAG] == path
    artifacts = rest(mlflow_server, f"artifacts/list?run_id={run_id}&path=otel-mlmon")["files"]
    assert [f["path"] for f in artifacts] == [path]

    assert load_profile(mlflow_server, run_id=run_id).to_dict() == profile.to_dict()
    assert load_profile(mlflow_server, model=name, version=version).to_dict() == profile.to_dict()

    store = MlflowReferenceStore(mlflow_server, model_names={"fraud": name})
    assert isinstance(store, ReferenceProvider)
    reference = store.lookup("fraud", version)
    assert reference is not None
    assert reference.model == "fraud" and reference.version == version
    assert reference.created_at == profile.created_at
    assert reference.summary.to_dict() == profile.summary.to_dict()
    assert reference.source == f"mlflow:{mlflow_server}#models:/{name}/{version}"
    assert store.lookup("fraud", version) is reference  # cached
    assert store.lookup("fraud", None) is None


@pytest.mark.e2e
def test_drift_is_evaluated_against_the_registry_profile(mlflow_server: str) -> None:
    """A DriftProcessor reading references from MLflow flags a shifted feature and reports the reference present."""
    rng = np.random.default_rng(2)
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    run_id, version = _registered_version(mlflow_server, name)
    log_profile(_profile(rng, version), mlflow_server, run_id)
    sink: list[OtlpRequest] = []
    engine = DriftProcessor(
        DriftConfig(evaluation_interval_seconds=0),
        sink.append,  # type: ignore[arg-type]
        references=MlflowReferenceStore(mlflow_server, model_names={"fraud": name}),
    )
    replica = Replica("delta", version=version)
    for _ in range(3):
        replica.predict(make_data(rng, 1_000, shift=1.0))
        engine.process(replica.export())
    stream = engine.evaluate_now().stream("fraud", version)
    assert stream.drifted() == ["amount"]
    assert gauges(sink, conv.METRIC_DRIFT_REFERENCE_MISSING)[0][1] == 0.0
    assert 3600 <= gauges(sink, conv.METRIC_MODEL_AGE)[0][1] < 3600 + 120
    engine.shutdown()
    replica.shutdown()


@pytest.mark.e2e
def test_missing_profile_is_a_logged_miss_then_picked_up(
    mlflow_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A version whose run has no profile (or an unknown version) is a miss with one log line; refresh finds it later."""
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    run_id, version = _registered_version(mlflow_server, name)
    now = [0.0]
    store = MlflowReferenceStore(mlflow_server, model_names={"fraud": name}, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="otel_mlmon_collector._mlflow_references"):
        assert store.lookup("fraud", version) is None
        assert store.lookup("fraud", "999") is None
        assert not store.refresh()  # within the poll interval: nothing re-fetched
    assert PROFILE_TAG in store.errors[("fraud", version)]
    assert "999" in store.errors[("fraud", "999")]
    assert len(caplog.records) == 2

    log_profile(_profile(np.random.default_rng(3), version), mlflow_server, run_id)
    assert store.lookup("fraud", version) is None  # cached miss until the next poll
    now[0] += store.poll_interval_seconds
    assert store.refresh()
    assert store.lookup("fraud", version) is not None
    assert ("fraud", version) not in store.errors
    with pytest.raises(MlflowError, match="run"):
        load_profile(mlflow_server, run_id=uuid.uuid4().hex)


def test_unreachable_server_is_a_miss_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    """No server listening: lookup returns None with one warning, log_profile raises MlflowError."""
    uri = f"http://127.0.0.1:{free_port()}"
    store = MlflowReferenceStore(uri, timeout_seconds=2)
    with caplog.at_level(logging.WARNING, logger="otel_mlmon_collector._mlflow_references"):
        assert store.lookup("fraud", "1") is None
        store.refresh()
    assert len(caplog.records) == 1 and "fraud" in caplog.records[0].getMessage()
    with pytest.raises(MlflowError):
        log_profile(_profile(np.random.default_rng(4), "1"), uri, "0" * 32)


def test_arguments_are_checked() -> None:
    """A tracking URI that is not http(s), or a negative poll interval, is refused at construction."""
    with pytest.raises(ValueError, match="tracking_uri"):
        MlflowReferenceStore("file:///tmp/mlruns")
    with pytest.raises(ValueError, match="poll_interval_seconds"):
        MlflowReferenceStore("http://127.0.0.1:5000", poll_interval_seconds=-1)
    with pytest.raises(ValueError, match="tracking_uri"):
        log_profile(_profile(np.random.default_rng(5), "1"), "databricks", "run")
    with pytest.raises(ValueError, match="run_id"):
        load_profile("http://127.0.0.1:5000", model="fraud")


@pytest.mark.e2e
def test_drift_config_references_mlflow(mlflow_server: str) -> None:
    """drift.references.mlflow_tracking_uri in the collector's configuration resolves profiles from the registry."""
    from otel_mlmon_collector._config import parse_config

    rng = np.random.default_rng(4)
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    run_id, version = _registered_version(mlflow_server, name)
    profile = _profile(rng, version)
    profile.model = name
    log_profile(profile, mlflow_server, run_id)
    config = parse_config(
        {"drift": {"references": {"mlflow_tracking_uri": mlflow_server}, "evaluation_interval_seconds": 0}},
        env={},
    )
    assert config.drift is not None
    sink: list[OtlpRequest] = []
    engine = DriftProcessor(config.drift, sink.append)  # type: ignore[arg-type]
    replica = Replica("delta", model=name, version=version)
    replica.predict(make_data(rng, 3_000, shift=1.0))
    engine.process(replica.export())
    assert engine.evaluate_now().stream(name, version).drifted() == ["amount"]
    engine.shutdown()
    replica.shutdown()
