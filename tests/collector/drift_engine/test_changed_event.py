"""The ``ml.drift.changed`` event a user reads in their log backend: plain evidence and a window that has ended."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._otlp import OtlpRequest

from otel_mlmon import Profile
from otel_mlmon import conventions as conv

from ._helpers import CATEGORICAL, FEATURES, Replica, events, make_data


def _changed_events(tmp_path: Path, rows: int = 300) -> list[tuple[str, dict, str]]:
    rng = np.random.default_rng(21)
    X = make_data(rng, 20_000)
    Profile.from_data(
        X, X[:, 0] > 100, model="fraud", version="1", feature_names=FEATURES, categorical=CATEGORICAL
    ).save(tmp_path / "fraud-1.json")
    sink: list[OtlpRequest] = []
    engine = DriftProcessor(
        DriftConfig(
            references_directory=str(tmp_path), evaluation_interval_seconds=0, reference_poll_seconds=0
        ),
        sink.append,
    )
    replica = Replica("delta")
    for _ in range(3):
        replica.predict(make_data(rng, rows, shift=1.0, swap=True))
        engine.process(replica.export())
    engine.evaluate_now()
    replica.shutdown()
    engine.shutdown()
    return [e for e in events(sink) if e[0] == conv.EVENT_DRIFT_CHANGED]


def test_event_text_states_the_decision_without_a_zero_threshold(tmp_path: Path) -> None:
    """A KS finding reads "ks D, p P < alpha A", not "threshold 0"; a distance reads "score ≥ threshold T"."""
    small = {a.get(conv.ATTR_FEATURE_NAME): body for _, a, body in _changed_events(tmp_path)}
    amount = small["amount"]
    assert "ks " in amount and "threshold" not in amount, amount
    assert " < alpha 0.05" in amount and "900 current vs 20000 reference rows" in amount, amount
    large = {a.get(conv.ATTR_FEATURE_NAME): body for _, a, body in _changed_events(tmp_path, rows=2_000)}
    amount = large["amount"]
    assert "wasserstein " in amount and " ≥ threshold 0.1" in amount and "alpha" not in amount, amount


def test_event_window_ends_at_the_evaluation_not_in_the_future(tmp_path: Path) -> None:
    """``ml.window.end`` of an event is no later than when it was emitted (the newest window is still open)."""
    before = time.time()
    changed = _changed_events(tmp_path)
    assert changed
    for _, attrs, _ in changed:
        end = dt.datetime.fromisoformat(attrs["ml.window.end"].replace("Z", "+00:00")).timestamp()
        start = dt.datetime.fromisoformat(attrs["ml.window.start"].replace("Z", "+00:00")).timestamp()
        assert start < end <= time.time() + 1e-3 and end >= before - 1, (start, end)
