"""otel-mlmon demo: the end-to-end run finds exactly the drift it injects."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.e2e
def test_demo_detects_exactly_the_injected_features():
    """A fast demo run (model → SDK → OTLP → collector → drift engine) names the injected features, no others."""
    result = subprocess.run(
        [sys.executable, "-m", "otel_mlmon.cli", "demo", "--fast", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Drift injected into: amount, country" in result.stdout
    assert "Drift detected in:   amount, country\n" in result.stdout
    assert "The collector found exactly the injected drift." in result.stdout
    assert "Outputs compared:    output prediction, confidence prediction[" in result.stdout
    assert "ERROR" not in result.stdout + result.stderr and "failed" not in result.stderr


def test_demo_population_drifts_only_the_injected_features():
    """The demo's traffic generator changes amount and country after drift and leaves the rest alone."""
    import numpy as np
    from otel_mlmon_collector.demo import DRIFTED, population

    rng = np.random.default_rng(0)
    before, after = population(rng, 20_000), population(rng, 20_000, drifted=True)
    assert np.median(after["amount"]) / np.median(before["amount"]) == pytest.approx(1.6, rel=0.05)
    assert (after["country"] == "US").mean() > 0.5 > (before["country"] == "US").mean()
    for name in ("age", "transactions_24h", "hour"):
        assert abs(after[name].mean() - before[name].mean()) < 0.05 * before[name].std()
    assert set(DRIFTED) == {"amount", "country"}


def test_demo_compares_confidence_without_errors(caplog: pytest.LogCaptureFixture) -> None:
    """A short in-process demo run logs no ERROR and compares the output and per-class confidence columns."""
    import logging

    from otel_mlmon_collector.demo import run_demo

    with caplog.at_level(logging.INFO):
        result = run_demo(duration=4.0, live=False)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert "output prediction" in [o.removesuffix(" (drift)") for o in result.outputs]
    assert any(o.startswith("confidence prediction[") for o in result.outputs), result.outputs
