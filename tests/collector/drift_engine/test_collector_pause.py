"""An evaluation pauses the cyclic garbage collector only while it runs, and makes no reference cycles (the pause
loses nothing)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._windows import WindowConfig

from otel_mlmon import Profile

from ._helpers import FEATURES, Replica, make_data


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DriftProcessor]:
    rng = np.random.default_rng(3)
    Profile.from_data(make_data(rng, 3_000), model="fraud", version="1", feature_names=FEATURES).save(
        tmp_path / "fraud.json.gz"
    )
    config = DriftConfig(
        windows=WindowConfig(window_seconds=3600, evaluation_windows=1),
        evaluation_interval_seconds=0,
        references_directory=str(tmp_path),
        reference_poll_seconds=0,
    )
    processor = DriftProcessor(config, emit=lambda request: True)
    replica = Replica(temporality="delta")
    replica.predict(make_data(rng, 2_000, shift=0.5, missing=0.01))
    processor.process(replica.export())
    yield processor
    processor.shutdown()
    replica.shutdown()


def test_collector_state_is_restored(engine: DriftProcessor) -> None:
    """Enabled before, enabled after (and off during the evaluation); disabled before, still disabled after."""
    seen = []
    original = engine._checks.compare

    def compare(*args: object) -> object:
        seen.append(gc.isenabled())
        return original(*args)  # type: ignore[arg-type]

    engine._checks.compare = compare  # type: ignore[method-assign]
    was = gc.isenabled()
    try:
        gc.enable()
        assert engine.evaluate_now().streams
        assert gc.isenabled() and seen == [False]
        gc.disable()
        engine.evaluate_now()
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


def test_evaluations_make_no_reference_cycles(engine: DriftProcessor) -> None:
    """Everything an evaluation drops is freed by reference counting: a collection afterwards finds nothing."""
    engine.evaluate_now()  # first evaluation: caches, layouts, imports
    was = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        for _ in range(3):
            evaluation = engine.evaluate_now()
            assert evaluation.stream("fraud").drifted()  # the shift is found: a real evaluation ran
            assert gc.collect() == 0
    finally:
        if was:
            gc.enable()
