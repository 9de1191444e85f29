"""Property tests: alignment keeps every count and valid edges, and binned KS brackets the raw statistic."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from otel_mlmon_collector.drift import Binned, KolmogorovSmirnov, Wasserstein, align
from scipy import stats

from otel_mlmon.sketch.exponential import ExponentialHistogram

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
samples = arrays(np.float64, st.integers(0, 200), elements=finite)


@settings(max_examples=60, deadline=None)
@given(samples, samples, st.integers(2, 160), st.integers(2, 160))
def test_align_keeps_all_counts_and_produces_valid_edges(ref, cur, size_a, size_b) -> None:
    """For any two histograms, aligned counts sum to their counts and the edges pass Binned's validation."""
    a, b = ExponentialHistogram(max_size=size_a), ExponentialHistogram(max_size=size_b)
    a.update(ref)
    b.update(cur)
    binned = align(a, b)
    assert binned.n_reference == ref.size and binned.n_current == cur.size
    Binned(binned.edges, binned.reference, binned.current)  # validates shape, order, finiteness
    if ref.size:
        assert binned.edges[0] <= ref.min() and ref.max() <= binned.edges[-1]


@settings(max_examples=60, deadline=None)
@given(samples, samples, st.integers(0, 8))
def test_binned_ks_never_exceeds_the_raw_statistic_and_d_upper_bounds_it(ref, cur, scale) -> None:
    """D(binned) <= D(raw) <= D_upper for any data and scale."""
    if ref.size == 0 or cur.size == 0:
        return
    result = KolmogorovSmirnov().compare(Binned.from_values(ref, cur, scale=scale))
    with np.errstate(divide="ignore"):  # scipy's asymptotic p-value warns on some tiny samples
        raw = stats.ks_2samp(ref, cur, method="asymp").statistic
    assert result.score <= raw + 1e-9 <= result.details["d_upper"] + 2e-9


@settings(max_examples=60, deadline=None)
@given(samples, samples, st.integers(0, 8))
def test_binned_wasserstein_is_within_its_bound_of_the_raw_distance(ref, cur, scale) -> None:
    """|W1(binned) - W1(raw)| <= error bound for any data and scale."""
    if ref.size == 0 or cur.size == 0:
        return
    result = Wasserstein().compare(Binned.from_values(ref, cur, scale=scale))
    raw = stats.wasserstein_distance(ref, cur)
    bound = result.details["error_bound"] * result.details["normaliser"]
    assert math.isfinite(result.score)
    assert abs(result.details["distance"] - raw) <= bound + 1e-9 * max(1.0, abs(raw))


def test_extreme_magnitudes_do_not_overflow() -> None:
    """Values near the largest and smallest doubles give finite edges and scores."""
    ref = np.array([1e-300, 1.0, 1e300, 1.7e308, 2.2e-313])
    cur = np.array([-1.7e308, 2.0, 3.0, 5e-324])
    for scale in (0, 8):
        binned = Binned.from_values(ref, cur, scale=scale)
        assert np.all(np.isfinite(binned.edges))
        assert math.isfinite(KolmogorovSmirnov().compare(binned).score)


def test_subnormal_values_in_the_sdk_lowest_bucket_stay_inside_the_edges() -> None:
    """A subnormal value (the SDK puts it in the lowest normal bucket) still lies within the aligned edges."""
    a, b = ExponentialHistogram(max_size=2), ExponentialHistogram(max_size=2)
    a.update(np.array([2.22507386e-313]))
    binned = align(a, b)
    assert binned.edges[0] <= 2.22507386e-313 <= binned.edges[-1] and binned.n_reference == 1


def test_far_apart_single_values_are_downscaled_to_a_bounded_number_of_bins() -> None:
    """Two one-value histograms at scale 20 (1.0 and 1e-182) align into at most MAX_BINS bins per sign."""
    from otel_mlmon_collector.drift._binning import MAX_BINS

    a, b = ExponentialHistogram(), ExponentialHistogram()
    a.update(np.array([1.0, -1.0]))
    b.update(np.array([2.06759662e-182, -3e150]))
    binned = align(a, b)
    assert binned.reference.size <= 2 * MAX_BINS + 3
    assert (binned.n_reference, binned.n_current) == (2, 2)
    assert KolmogorovSmirnov().compare(binned).score == 0.5


def test_subnormal_reference_spread_gives_a_finite_wasserstein_score() -> None:
    """A reference whose spread is subnormal (about 1e-308) still gives a finite normalised score."""
    ref = np.array([0.0, 1e-308, 2e-308])
    cur = np.array([1.0, 2.0])
    result = Wasserstein().compare(Binned.from_values(ref, cur, scale=0))
    assert math.isfinite(result.score) and result.detected
