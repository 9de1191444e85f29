"""Embeddings through the SDK, OTLP and the drift engine: one vector column, compared as a whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor

import otel_mlmon
from otel_mlmon import Profile
from otel_mlmon.testing import InMemoryTelemetry
from tests.collector.drift.vector_sim import full_rows, mixture

from ._helpers import collected_request


def _vector_result(tmp_path: Path, drift: bool):
    rng = np.random.default_rng(8)
    mix = mixture(rng)
    Profile.from_data(full_rows(rng, mix, 4000), model="embed", version="1").save(tmp_path / "embed-1.json")
    live = mix.with_weights(np.r_[0.3, np.full(7, 0.1)]) if drift else mix
    engine = DriftProcessor(
        DriftConfig(
            references_directory=str(tmp_path), evaluation_interval_seconds=0, reference_poll_seconds=0
        ),
        lambda request: None,  # type: ignore[arg-type]
    )
    telemetry = InMemoryTelemetry("delta")

    @otel_mlmon.monitor(model="embed", version="1", max_rows=None, trace=False, **telemetry.providers)
    def embed(X):
        return np.zeros(len(X))

    for _ in range(2):  # two export intervals, merged by the collector's window
        embed(full_rows(rng, live, 1000))
        engine.process(collected_request(telemetry))
    evaluation = engine.evaluate_now()
    telemetry.shutdown()
    (column,) = evaluation.stream("embed", "1").columns  # the 66 series are one column
    return column


def test_an_embedding_column_is_one_column_compared_with_the_profile_covariance(tmp_path: Path) -> None:
    column = _vector_result(tmp_path, drift=False)
    result = column.results["distribution"]
    assert (column.name, column.kind, result.method) == ("vector", "vector", "projections")
    assert result.n_reference == 4000 and result.n_current == 2000
    assert not column.detected and "centroid_p_value" in result.details


def test_a_change_of_mixture_weights_is_flagged(tmp_path: Path) -> None:
    """One cluster of eight going from 12.5 % to 30 % of the rows."""
    column = _vector_result(tmp_path, drift=True)
    assert column.detected and column.results["distribution"].p_value < 1e-6
