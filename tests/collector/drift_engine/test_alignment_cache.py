"""The engine's alignment cache never changes a finding: reloaded references and changed windows are seen."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor, Evaluation
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._windows import WindowConfig

from otel_mlmon.profile import Profile

from ._helpers import FEATURES, Replica, make_data

_CLOCK = 1_000_000.0


def _engine(directory: Path) -> DriftProcessor:
    config = DriftConfig(
        windows=WindowConfig(window_seconds=3600, evaluation_windows=1),
        evaluation_interval_seconds=0,
        references_directory=str(directory),
        reference_poll_seconds=0,
    )
    return DriftProcessor(config, emit=lambda request: True, clock=lambda: _CLOCK)


def _save(directory: Path, X: np.ndarray, stamp: int) -> None:
    path = directory / "fraud.json"
    Profile.from_data(X, model="fraud", version="1", feature_names=FEATURES, categorical=["country"]).save(
        path
    )
    os.utime(path, ns=(stamp, stamp))  # a new mtime even on coarse file systems


def _findings(evaluation: Evaluation) -> list[str]:
    """Every column's results and decision, exactly (repr keeps every float's bits; nan compares equal)."""
    return [repr((c.target, c.name, c.detected, c.results)) for s in evaluation.streams for c in s.columns]


def _fresh(directory: Path, requests: list[OtlpRequest]) -> list[str]:
    engine = _engine(directory)
    for request in requests:
        engine.process(request)
    try:
        return _findings(engine.evaluate_now())
    finally:
        engine.shutdown()


def test_reloaded_reference_and_changed_windows_give_what_a_fresh_engine_gives(tmp_path: Path) -> None:
    """The same engine, evaluated again and again, finds what a new engine finds on the same data."""
    rng = np.random.default_rng(5)
    _save(tmp_path, make_data(rng, 3000), 1)
    replica = Replica("delta")
    engine = _engine(tmp_path)
    requests: list[OtlpRequest] = []

    def feed(X: np.ndarray) -> None:
        replica.predict(X)
        request = replica.export()
        requests.append(request)
        engine.process(request)

    try:
        feed(make_data(rng, 500))
        first = _findings(engine.evaluate_now())
        assert first and _findings(engine.evaluate_now()) == first  # the cached layout: the same findings
        assert first == _fresh(tmp_path, requests)
        _save(tmp_path, make_data(rng, 3000, shift=0.5), 2)  # reloaded: same columns, other counts
        reloaded = _findings(engine.evaluate_now())
        assert reloaded != first
        assert reloaded == _fresh(tmp_path, requests)
        feed(make_data(rng, 200, shift=3.0))  # the window reaches further: another layout
        changed = _findings(engine.evaluate_now())
        assert changed != reloaded
        assert changed == _fresh(tmp_path, requests)
        assert _findings(engine.evaluate_now()) == changed
    finally:
        engine.shutdown()
        replica.shutdown()
