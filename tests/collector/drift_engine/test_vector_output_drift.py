"""Embedding outputs through the SDK, OTLP and the drift engine: one vector output, compared as a whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor

import otel_mlmon
from otel_mlmon import Profile
from otel_mlmon.testing import InMemoryTelemetry
from tests.collector.drift.vector_sim import full_rows, mixture

from ._helpers import collected_request


def _output_columns(tmp_path: Path, drift: bool):
    """An embedder whose inputs never change and whose embeddings come from a clustered space: the reference is
    a profile of its training inputs and embeddings, the live side two export intervals of 1 000 rows."""
    rng = np.random.default_rng(9)
    mix = mixture(rng)
    inputs = rng.normal(size=(4000, 2))
    Profile.from_data(inputs, full_rows(rng, mix, 4000), model="embed", version="1").save(
        tmp_path / "embed-1.json"
    )
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
        return full_rows(rng, live, len(X))

    for _ in range(2):  # two export intervals, merged by the collector's window
        embed(rng.normal(size=(1000, 2)))
        engine.process(collected_request(telemetry))
    evaluation = engine.evaluate_now()
    telemetry.shutdown()
    columns = evaluation.stream("embed", "1").columns
    return {(c.target, c.name): c for c in columns}


def test_an_embedding_output_is_one_output_column_compared_with_the_profile(tmp_path: Path) -> None:
    """The 65 output series are one vector column, tested with the reference covariance; no drift, no alarm."""
    columns = _output_columns(tmp_path, drift=False)
    assert set(columns) == {("feature", "f0"), ("feature", "f1"), ("output", "prediction")}
    column = columns[("output", "prediction")]
    result = column.results["distribution"]
    assert (column.kind, result.method) == ("vector", "projections")
    assert result.n_reference == 4000 and result.n_current == 2000
    assert not column.detected and "centroid_p_value" in result.details


def test_a_change_of_mixture_weights_in_the_outputs_is_flagged(tmp_path: Path) -> None:
    """One cluster of eight going from 12.5 % to 30 % of the embeddings; the inputs stay quiet."""
    columns = _output_columns(tmp_path, drift=True)
    column = columns[("output", "prediction")]
    assert column.detected and column.results["distribution"].p_value < 1e-6
    assert not columns[("feature", "f0")].detected and not columns[("feature", "f1")].detected
