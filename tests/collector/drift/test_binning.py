"""Tests for binning: bucket indices against the OTel SDK, alignment of two histograms, regrouping, moments."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from opentelemetry.sdk.metrics._internal.exponential_histogram.mapping.exponent_mapping import ExponentMapping
from opentelemetry.sdk.metrics._internal.exponential_histogram.mapping.logarithm_mapping import (
    LogarithmMapping,
)
from otel_mlmon_collector.drift import Binned, align, bucket_index, kish_n_eff


@dataclass
class Hist:
    """A hand-built object with the ExponentialHistogram attributes that align() reads."""

    scale: int
    positive_offset: int = 0
    positive_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    negative_offset: int = 0
    negative_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    zero_count: int = 0
    sum: float = 0.0
    min: float = math.nan
    max: float = math.nan

    @property
    def count(self) -> int:
        return int(self.positive_counts.sum() + self.negative_counts.sum() + self.zero_count)


def right_closed_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of values in the bins (edges[i], edges[i+1]] (the first bin also holds its lower edge)."""
    idx = np.searchsorted(edges, values, side="left") - 1
    idx = np.clip(idx, 0, edges.size - 2)
    return np.bincount(idx, minlength=edges.size - 1)


@pytest.mark.parametrize("scale", [-2, 0, 3, 8])
def test_bucket_index_matches_the_otel_sdk_mapping(scale: int) -> None:
    """bucket_index gives the SDK's bucket for random values and exact powers of two at every scale."""
    rng = np.random.default_rng(scale + 10)
    values = np.concatenate([np.exp(rng.uniform(-20, 20, 2000)), 2.0 ** np.arange(-10, 11)])
    mapping = LogarithmMapping(scale) if scale > 0 else ExponentMapping(scale)
    expected = np.array([mapping.map_to_index(float(v)) for v in values])
    np.testing.assert_array_equal(bucket_index(values, scale), expected)


def test_align_lays_out_negative_zero_and_positive_buckets_in_ascending_order() -> None:
    """Negative buckets (by decreasing magnitude), a zero-width zero bin and positive buckets come out contiguous."""
    ref = Hist(
        scale=0,
        positive_offset=0,
        positive_counts=np.array([2, 3]),
        negative_offset=1,
        negative_counts=np.array([4]),
        zero_count=1,
        min=-4.0,
        max=4.0,
    )
    cur = Hist(scale=0, positive_offset=1, positive_counts=np.array([5]), min=3.0, max=4.0)
    b = align(ref, cur)
    # bins: [-4,-2) | gap [-2,0) | {0} | gap (0,1] | (1,2] | (2,4]
    np.testing.assert_allclose(b.edges, [-4, -2, 0, 0, 1, 2, 4])
    np.testing.assert_array_equal(b.reference, [4, 0, 1, 0, 2, 3])
    np.testing.assert_array_equal(b.current, [0, 0, 0, 0, 0, 5])
    assert (b.n_reference, b.n_current) == (10, 5)


def test_align_downscales_the_finer_histogram_to_the_coarser_scale() -> None:
    """At scale 1 buckets 2 and 3 both fall in bucket 1 at scale 0; counts are merged, nothing lost."""
    fine = Hist(scale=1, positive_offset=2, positive_counts=np.array([1, 2, 3]), min=2.1, max=3.5)
    coarse = Hist(scale=0, positive_offset=1, positive_counts=np.array([7, 1]), min=2.5, max=5.0)
    b = align(fine, coarse)
    np.testing.assert_allclose(b.edges, [2.1, 4, 5.0])
    np.testing.assert_array_equal(b.reference, [3, 3])
    np.testing.assert_array_equal(b.current, [7, 1])


def test_align_tightens_outer_edges_to_the_exact_extremes() -> None:
    """The outermost occupied bins end at the smaller minimum and the larger maximum of the two sides."""
    rng = np.random.default_rng(1)
    ref, cur = rng.uniform(3, 7, 500), rng.uniform(2.5, 6, 500)
    b = Binned.from_values(ref, cur, scale=3)
    assert b.edges[0] == cur.min() and b.edges[-1] == ref.max()
    assert b.reference_min == ref.min() and b.current_max == cur.max()


@pytest.mark.parametrize("scale", [0, 4, 8])
def test_from_values_counts_equal_a_right_closed_histogram_on_the_same_edges(scale: int) -> None:
    """Every raw positive value lands in the bin (lo, hi] that align() reports, at several scales."""
    rng = np.random.default_rng(scale)
    ref, cur = rng.lognormal(2, 1, 3000), rng.lognormal(2.1, 1, 2000)
    b = Binned.from_values(ref, cur, scale=scale)
    np.testing.assert_array_equal(b.reference, right_closed_counts(ref, b.edges))
    np.testing.assert_array_equal(b.current, right_closed_counts(cur, b.edges))
    assert b.reference_sum == pytest.approx(ref.sum())


def test_empty_and_non_finite_inputs_give_empty_bins() -> None:
    """Two empty histograms (or only NaN/inf values) give zero bins, not an error."""
    b = Binned.from_values(np.array([np.nan, np.inf]), np.array([]))
    assert b.reference.size == 0 and b.n_reference == 0 and b.n_current == 0


def test_regroup_cuts_at_reference_deciles() -> None:
    """Each of ten groups holds a tenth of the reference to within one fine bin; totals and edges are preserved."""
    rng = np.random.default_rng(2)
    b = Binned.from_values(rng.normal(50, 5, 20_000), rng.normal(52, 5, 10_000), scale=6)
    g = b.regroup(10)
    assert g.reference.size == 10
    widest = b.reference.max() / b.reference.sum()
    np.testing.assert_allclose(g.reference / g.reference.sum(), 0.1, atol=widest)
    assert g.n_reference == b.n_reference and g.n_current == b.n_current
    assert set(g.edges.tolist()) <= set(b.edges.tolist())


def test_regroup_of_a_constant_reference_gives_one_group() -> None:
    """A reference in a single bin yields one group that also holds every current value."""
    b = Binned.from_values(np.full(100, 3.0), np.linspace(1, 9, 50), scale=4)
    g = b.regroup(10)
    assert g.reference.size == 1 and g.n_current == 50


def test_reference_moments_match_numpy_within_bucket_error() -> None:
    """The binned mean is exact (from the sum) and the binned std is within 0.1 % of numpy's at scale 8."""
    rng = np.random.default_rng(3)
    ref = rng.normal(-3, 2, 50_000)
    mean, std = Binned.from_values(ref, ref[:10], scale=8).reference_moments()
    assert mean == pytest.approx(ref.mean(), rel=1e-12)
    assert std == pytest.approx(ref.std(), rel=1e-3)


def test_binned_rejects_inconsistent_shapes() -> None:
    """Edges must be one longer than the counts, and counts non-negative."""
    with pytest.raises(ValueError, match="edges"):
        Binned(np.array([0.0, 1.0]), np.array([1, 2]), np.array([1, 2]))
    with pytest.raises(ValueError, match="non-negative"):
        Binned(np.array([0.0, 1.0, 2.0]), np.array([1, -2]), np.array([1, 2]))


def test_kish_n_eff_of_equal_weights_is_the_count_and_shrinks_with_unequal_weights() -> None:
    """Equal weights give n; one dominant weight gives close to 1."""
    assert kish_n_eff(np.ones(40)) == pytest.approx(40)
    assert kish_n_eff(np.array([100.0, 1, 1, 1])) < 1.1


@pytest.mark.parametrize(("ref_size", "cur_size"), [(160, 160), (160, 40), (20, 160)])
def test_align_of_sdk_exponential_histograms_equals_bucketing_the_raw_values(ref_size, cur_size) -> None:
    """Two ExponentialHistograms (different max_size, so different scales) align to the raw values' buckets."""
    from otel_mlmon.sketch.exponential import ExponentialHistogram

    rng = np.random.default_rng(ref_size + cur_size)
    ref = np.concatenate([rng.normal(0, 3, 4000), np.zeros(50)])
    cur = rng.lognormal(0.5, 1.0, 3000)
    h_ref, h_cur = ExponentialHistogram(max_size=ref_size), ExponentialHistogram(max_size=cur_size)
    h_ref.update(ref)
    h_cur.update(cur)
    b = align(h_ref, h_cur)
    expected = Binned.from_values(ref, cur, scale=min(h_ref.scale, h_cur.scale))
    np.testing.assert_allclose(b.edges, expected.edges)
    np.testing.assert_array_equal(b.reference, expected.reference)
    np.testing.assert_array_equal(b.current, expected.current)
    assert (b.reference_min, b.current_max) == (ref.min(), cur.max())


def test_a_zeros_only_histogram_does_not_coarsen_the_other_side() -> None:
    """A histogram of only zeros reports scale 0 but imposes no scale: the other side keeps its resolution."""
    from otel_mlmon.sketch.exponential import ExponentialHistogram

    zeros, values = ExponentialHistogram(), ExponentialHistogram()
    zeros.update(np.zeros(10))
    values.update(np.linspace(1, 2, 100))
    b = align(zeros, values)
    assert b.reference.sum() == 10 and b.current.sum() == 100
    assert b.current.size > 50


def test_effective_sizes_must_be_positive() -> None:
    """A zero or negative Kish n_eff is rejected by Binned, align and the count records."""
    from otel_mlmon_collector.drift import CategoricalCounts, MissingCounts

    with pytest.raises(ValueError, match="n_eff_reference"):
        Binned(np.array([0.0, 1.0]), np.array([1]), np.array([1]), n_eff_reference=0)
    with pytest.raises(ValueError, match="n_eff_current"):
        Binned.from_values(np.ones(3), np.ones(3), n_eff_current=-1.0)
    with pytest.raises(ValueError, match="n_eff"):
        CategoricalCounts({"a": 1}, n_eff=0)
    with pytest.raises(ValueError, match="n_eff"):
        MissingCounts(10, n_eff=0)
