"""The mean-distance test of vector columns: its null distribution, its parts in the default, what it skips."""

from __future__ import annotations

import numpy as np
import pytest
from otel_mlmon_collector.drift import MeanDistance, Projections, VectorColumn
from otel_mlmon_collector.drift._mean_distance import weighted_chi2_sf
from scipy import stats

from otel_mlmon.sketch import ExponentialHistogram
from otel_mlmon.sketch.vector import Projection


@pytest.mark.parametrize("dof", [1, 7, 64])
@pytest.mark.parametrize("q", [0.5, 0.05, 1e-3, 1e-9])
def test_equal_weights_give_the_chi_square_tail(dof, q) -> None:
    """With all weights 1 the sum is chi-square: Imhof's integral (and Liu's approximation, below 1e-6 or for
    one weight) match scipy's."""
    x = float(stats.chi2.isf(q, dof))
    assert weighted_chi2_sf(x, np.ones(dof)) == pytest.approx(q, rel=0.02)
    # Units do not matter: weights c and a statistic c * x give the same probability.
    assert weighted_chi2_sf(1e-4 * x, np.full(dof, 1e-4)) == pytest.approx(q, rel=0.02)


def test_unequal_weights_match_a_monte_carlo_tail() -> None:
    """Seven heavy directions and 57 unit ones (the clustered embeddings' spectrum): the tail at four points
    matches 200 000 draws of the weighted sum within three Monte Carlo standard errors."""
    rng = np.random.default_rng(0)
    weights = np.r_[np.full(7, 3.9), np.ones(57), np.zeros(3)]
    draws = (rng.standard_normal((200_000, weights.size)) ** 2 * weights).sum(axis=1)
    for x in (90.0, 110.0, 130.0, 160.0):
        expected = float((draws > x).mean())
        se = np.sqrt(expected * (1 - expected) / draws.size)
        assert abs(weighted_chi2_sf(x, weights) - expected) < 3 * se + 1e-5


def test_edge_cases_of_the_tail() -> None:
    assert weighted_chi2_sf(0.0, np.ones(3)) == 1.0 and weighted_chi2_sf(5.0, np.zeros(3)) == 1.0
    assert 0.0 <= weighted_chi2_sf(1e6, np.ones(64)) < 1e-100


def test_reference_without_covariance_is_skipped_and_the_default_uses_the_other_two() -> None:
    """A reference the collector built from past windows has histograms only: mean_distance says why it skips,
    and projections corrects over the two tests it could make."""
    rng = np.random.default_rng(3)
    full = VectorColumn.from_values(rng.normal(size=(3000, 64)))
    bare = VectorColumn(full.projections, full.norm)
    current = VectorColumn.from_values(rng.normal(size=(1000, 64)) + 0.2)
    assert MeanDistance().compare(bare, current).skipped == "no reference covariance"
    with_cov = Projections(alpha=None).compare(full, current)
    without = Projections(alpha=None).compare(bare, current)
    assert set(with_cov.details) >= {"centroid_p_value", "mean_distance_p_value", "sliced_ks_p_value"}
    assert "mean_distance_p_value" not in without.details and without.p_value is not None


def test_empty_or_mismatched_windows_are_skipped() -> None:
    rng = np.random.default_rng(4)
    reference = VectorColumn.from_values(rng.normal(size=(500, 64)))
    empty = VectorColumn(tuple(ExponentialHistogram() for _ in range(64)), ExponentialHistogram())
    assert MeanDistance().compare(reference, empty).skipped == "empty window"
    other = VectorColumn.from_values(rng.normal(size=(500, 32)), Projection(dim=32, k=8))
    assert MeanDistance().compare(reference, other).skipped == "different projection sets"


def test_score_is_the_shift_as_a_share_of_the_spread() -> None:
    """A shift of 0.5 in every one of 64 unit-variance dimensions is half the root-mean-square spread."""
    rng = np.random.default_rng(5)
    reference = VectorColumn.from_values(rng.normal(size=(20_000, 64)))
    current = VectorColumn.from_values(rng.normal(size=(20_000, 64)) + 0.5)
    result = MeanDistance(threshold=0.4).compare(reference, current)
    assert result.score == pytest.approx(0.5, abs=0.02) and result.detected
    assert not MeanDistance(threshold=0.6).compare(reference, current).detected
