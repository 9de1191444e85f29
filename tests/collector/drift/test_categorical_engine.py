"""A categorical column with more categories than the SDK counts exactly, end to end: SDK -> OTLP -> drift engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._windows import WindowConfig

import otel_mlmon
from otel_mlmon import Profile
from otel_mlmon.sketch.categorical import DEFAULT_CAPACITY
from otel_mlmon.testing import InMemoryTelemetry

LEVELS = 3_000
NAMES = np.array([f"city-{i}" for i in range(LEVELS)])
SHARES = 1.0 / np.arange(1, LEVELS + 1)
SHARES /= SHARES.sum()


def _frame(rng: np.random.Generator, n: int, new_share: float = 0.0) -> pd.DataFrame:
    """Rows of a numeric feature and a 3 000-level Zipf city; ``new_share`` of the cities are a brand-new one."""
    city = NAMES[rng.choice(LEVELS, size=n, p=SHARES)].astype(object)
    city[rng.random(n) < new_share] = "city-new"
    return pd.DataFrame({"x": rng.normal(size=n), "city": city})


def _export(telemetry: InMemoryTelemetry) -> OtlpRequest:
    from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics

    message = encode_metrics(telemetry.collect())
    return OtlpRequest("metrics", message.SerializeToString(), message)


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
@pytest.mark.parametrize("new_share", [0.0, 0.05])
def test_column_past_the_exact_budget_compares_within_its_bounds(
    tmp_path: Path, temporality: str, new_share: float
) -> None:
    """3 000 cities (more than the SDK counts exactly): no drift stays quiet, a 5 % new city is found."""
    rng = np.random.default_rng(17)
    reference = _frame(rng, 60_000)
    Profile.from_data(
        reference, np.zeros(len(reference)), model="geo", version="1", categorical=["city"]
    ).save(tmp_path / "geo.json")
    engine = DriftProcessor(
        DriftConfig(
            references_directory=str(tmp_path),
            evaluation_interval_seconds=0,
            reference_poll_seconds=0,
            windows=WindowConfig(window_seconds=3600, evaluation_windows=1),
        ),
        lambda _request: None,
    )
    telemetry = InMemoryTelemetry(temporality)
    predict = otel_mlmon.monitor(
        model="geo", version="1", categorical=["city"], max_rows=None, trace=False, **telemetry.providers
    )(lambda frame: np.zeros(len(frame)))
    for _ in range(2):  # two exports: a cumulative series is turned into deltas by subtraction
        for _ in range(4):
            predict(_frame(rng, 10_000, new_share))
        engine.process(_export(telemetry))
    stream = engine.evaluate_now().stream("geo")
    city = next(c for c in stream.columns if c.name == "city")
    distribution = city.results["distribution"]
    # Compared category by category, or in the one cell of categories below both sketches' resolution: never
    # pooled because one side did not list them.
    details = distribution.details
    assert details["columns"] + details["below_resolution"] > DEFAULT_CAPACITY, details
    assert details["below_resolution"] < details["columns"], details
    assert city.detected == (new_share > 0), {k: (r.score, r.p_value) for k, r in city.results.items()}
    telemetry.shutdown()
