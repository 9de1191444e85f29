"""Texts and embeddings through the unchanged drift engine: their descriptors are compared like numeric features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._otlp import OtlpRequest

import otel_mlmon
from otel_mlmon import Profile
from otel_mlmon.testing import InMemoryTelemetry

WORDS = np.array(["late", "parcel", "great", "support", "refund", "broken", "fine", "kind", "box", "fast"])


def _reviews(rng: np.random.Generator, n: int, longest: int) -> list[str]:
    return [" ".join(rng.choice(WORDS, rng.integers(1, longest))) for _ in range(n)]


def _run(tmp_path: Path, longest: int, embedding_scale: float) -> list[str]:
    rng = np.random.default_rng(21)
    reference = [
        {"review": r, "country": c} for r, c in zip(_reviews(rng, 3000, 12), rng.choice(["FR", "DE"], 3000))
    ]
    Profile.from_data(reference, model="bot", version="1").save(tmp_path / "bot-1.json")
    Profile.from_data(rng.normal(size=(3000, 128)), model="embed", version="1").save(
        tmp_path / "embed-1.json"
    )
    sink: list[OtlpRequest] = []
    engine = DriftProcessor(
        DriftConfig(
            references_directory=str(tmp_path), evaluation_interval_seconds=0, reference_poll_seconds=0
        ),
        sink.append,  # type: ignore[arg-type]
    )
    telemetry = InMemoryTelemetry("delta")

    @otel_mlmon.monitor(model="bot", version="1", max_rows=None, trace=False, **telemetry.providers)
    def answer(rows):
        return np.zeros(len(rows))

    @otel_mlmon.monitor(model="embed", version="1", max_rows=None, trace=False, **telemetry.providers)
    def embed(X):
        return np.zeros(len(X))

    for _ in range(3):
        live = _reviews(rng, 1000, longest)
        answer([{"review": r, "country": c} for r, c in zip(live, rng.choice(["FR", "DE"], 1000))])
        embed(rng.normal(size=(1000, 128)) * embedding_scale)
        message = encode_metrics(telemetry.collect())
        engine.process(OtlpRequest("metrics", message.SerializeToString(), message))
    evaluation = engine.evaluate_now()
    telemetry.shutdown()
    bot, vectors = evaluation.stream("bot", "1"), evaluation.stream("embed", "1")
    compared = {c.name for c in bot.columns} | {c.name for c in vectors.columns}
    assert {"review.chars", "review.words", "country", "vector"} <= compared  # a vector column as a whole
    return sorted(bot.drifted() + vectors.drifted())


def test_text_and_vector_descriptors_match_their_reference_when_nothing_changed(tmp_path: Path) -> None:
    """Live texts and embeddings drawn like the reference: every descriptor is compared and none drifts."""
    assert _run(tmp_path, longest=12, embedding_scale=1.0) == []


def test_longer_texts_and_scaled_embeddings_drift_on_their_descriptors(tmp_path: Path) -> None:
    """Texts twice as long and embeddings twice as large are flagged on their length descriptors and as a vector column."""
    drifted = _run(tmp_path, longest=24, embedding_scale=2.0)
    assert {"review.chars", "review.words", "vector"} <= set(drifted)
    assert "country" not in drifted
