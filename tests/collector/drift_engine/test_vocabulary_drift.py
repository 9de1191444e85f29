"""A text classifier through the SDK, OTLP and the drift engine: its texts' vocabulary is one column, compared
with the profile's hashed token counts; a shifted vocabulary is found where the descriptors see nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor

import otel_mlmon
from otel_mlmon import Profile
from otel_mlmon.testing import InMemoryTelemetry

from ._helpers import collected_request

#: Two vocabularies of the same shape: 400 words each, every word four letters and three digits long, so that
#: every descriptor (length, words, digit and letter shares) has the same distribution in both.
USUAL = np.array([f"w{i:03d}" for i in range(400)])
OTHER = np.array([f"v{i:03d}" for i in range(400)])
_ZIPF = 1.0 / np.arange(1, 401) ** 1.1
_ZIPF /= _ZIPF.sum()


def _texts(rng: np.random.Generator, n: int, new_share: float) -> list[str]:
    out = []
    for _ in range(n):
        words = rng.choice(USUAL, 1 + rng.poisson(11), p=_ZIPF)
        swap = rng.random(words.size) < new_share
        words[swap] = rng.choice(OTHER, int(swap.sum()), p=_ZIPF)
        out.append(" ".join(words))
    return out


def _columns(tmp_path: Path, new_share: float) -> dict:
    rng = np.random.default_rng(12)
    Profile.from_data([{"review": t} for t in _texts(rng, 4000, 0.0)], model="clf", version="1").save(
        tmp_path / "clf-1.json"
    )
    engine = DriftProcessor(
        DriftConfig(
            references_directory=str(tmp_path), evaluation_interval_seconds=0, reference_poll_seconds=0
        ),
        lambda request: None,  # type: ignore[arg-type]
    )
    telemetry = InMemoryTelemetry("delta")

    @otel_mlmon.monitor(model="clf", version="1", max_rows=None, trace=False, **telemetry.providers)
    def classify(rows):
        return np.array(["positive" if "w000" in r["review"] else "negative" for r in rows])

    for _ in range(2):  # two export intervals, merged by the collector's window
        classify([{"review": t} for t in _texts(rng, 600, new_share)])
        engine.process(collected_request(telemetry))
    evaluation = engine.evaluate_now()
    telemetry.shutdown()
    return {column.name: column for column in evaluation.stream("clf", "1").columns}


def test_same_vocabulary_is_not_flagged(tmp_path: Path) -> None:
    columns = _columns(tmp_path, new_share=0.0)
    vocabulary = columns["review.vocabulary"]
    result = vocabulary.results["distribution"]
    assert (vocabulary.kind, result.method) == ("vocabulary", "vocabulary")
    assert result.n_reference == 4000 and result.n_current == 1200  # texts, from the profile and review.words
    assert result.details["design_effect"] > 0 and not vocabulary.detected
    assert not any(c.detected for c in columns.values())


def test_a_shifted_vocabulary_is_flagged_on_the_vocabulary_only(tmp_path: Path) -> None:
    """A fifth of the words replaced by words of another vocabulary with the same lengths and shape."""
    columns = _columns(tmp_path, new_share=0.2)
    assert columns["review.vocabulary"].detected
    assert columns["review.vocabulary"].results["distribution"].p_value < 1e-6
    assert not columns["review.chars"].detected and not columns["review.words"].detected
