"""The vector drift tests hold their false-alarm rate under no drift and find the three drifts of issue 12.

Quick cells here (few windows, loose bounds that still fail a broken test); ``python -m tests.collector.drift.vector_sim``
and the e2e-marked grid below give the tables of docs/drift.md.
"""

from __future__ import annotations

import math

import pytest
from otel_mlmon_collector.drift import Centroid, MeanDistance, Projections, SlicedKS

from tests.collector.drift.vector_sim import SCENARIOS, alarm_rate

DRIFTS = [s for s in SCENARIOS if s != "none"]


def _upper(rate: float, windows: int) -> float:
    """The nominal rate plus three binomial standard errors."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / windows)


@pytest.mark.parametrize(
    "method", [Projections(), Centroid(), MeanDistance(), SlicedKS()], ids=lambda m: m.name
)
def test_no_drift_false_alarms_stay_at_the_nominal_level(method) -> None:
    """1 000 live rows against a 5 000-row reference of the same clustered embeddings, 120 windows."""
    assert alarm_rate(method, "none", 5_000, 1_000, 120, seed=11) <= _upper(0.05, 120)


@pytest.mark.parametrize("scenario", DRIFTS)
def test_the_default_finds_each_drift_of_2000_rows(scenario) -> None:
    """Mixture weights, a mean shift along one direction, a new cluster on 5 % of rows: 2 000 live rows against a
    20 000-row reference (power 0.99 to 1 in the full simulation)."""
    assert alarm_rate(Projections(), scenario, 20_000, 2_000, 30, seed=5) >= 0.9


def test_the_default_finds_the_mixture_change_against_a_reference_as_small_as_the_window() -> None:
    """Cluster 12.5 % -> 20 % of 2 000 rows against a 2 000-row reference: the mean-distance part finds it (the
    full simulation: power 0.99; Hotelling's 64 degrees of freedom alone, 0.86)."""
    scenario = DRIFTS[0]
    assert alarm_rate(Projections(), scenario, 2_000, 2_000, 40, seed=21) >= 0.9


@pytest.mark.e2e
@pytest.mark.parametrize("n", [100, 1_000, 10_000, 100_000])
def test_full_grid_no_drift(n) -> None:
    """The calibration grid of docs/drift.md: 20 000-row reference, 400 windows per size."""
    assert alarm_rate(Projections(), "none", 20_000, n, 400, seed=n) <= _upper(0.05, 400)


@pytest.mark.e2e
@pytest.mark.parametrize("scenario", DRIFTS)
def test_full_grid_power(scenario) -> None:
    assert alarm_rate(Projections(), scenario, 20_000, 2_000, 200, seed=7) >= 0.9
