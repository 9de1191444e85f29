"""Numeric methods from binned sketches agree with the same statistics computed exactly on the raw values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from otel_mlmon_collector.drift import (
    PSI,
    Binned,
    Hellinger,
    JensenShannon,
    KolmogorovSmirnov,
    OutOfRange,
    Wasserstein,
)
from otel_mlmon_collector.drift._ks import ks_statistic
from otel_mlmon_collector.drift._out_of_range import out_of_range_share, out_of_range_shares
from scipy import stats
from scipy.spatial.distance import jensenshannon

from .test_binning import right_closed_counts

SAMPLES = [
    ("normal", lambda r, n: r.normal(100, 10, n), lambda r, n: r.normal(101, 10, n)),
    ("signed", lambda r, n: r.normal(0, 1, n), lambda r, n: r.normal(0.1, 1.2, n)),
    ("lognormal", lambda r, n: r.lognormal(0, 1, n), lambda r, n: r.lognormal(0.05, 1, n)),
    (
        "with zeros",
        lambda r, n: np.where(r.random(n) < 0.2, 0.0, r.exponential(3, n)),
        lambda r, n: r.exponential(3, n),
    ),
]


@pytest.mark.parametrize(("label", "draw_ref", "draw_cur"), SAMPLES, ids=[s[0] for s in SAMPLES])
@pytest.mark.parametrize("n", [100, 5_000])
def test_ks_brackets_the_raw_statistic_and_its_p_value_is_conservative(label, draw_ref, draw_cur, n) -> None:
    """Binned D <= scipy's raw D <= D_upper, and the binned p-value is >= ks_2samp's (within 0.01 asymp. error)."""
    rng = np.random.default_rng(n)
    ref, cur = draw_ref(rng, n), draw_cur(rng, n // 2)
    result = KolmogorovSmirnov().compare(Binned.from_values(ref, cur, scale=5))
    raw = stats.ks_2samp(ref, cur)
    assert result.score <= raw.statistic + 1e-12
    assert raw.statistic <= result.details["d_upper"] + 1e-12
    assert result.p_value >= raw.pvalue - 0.01
    assert (result.n_reference, result.n_current) == (n, n // 2)


def test_ks_converges_to_scipy_when_the_buckets_are_fine() -> None:
    """At scale 12 (buckets 0.017 % wide) D is within 0.001 of scipy's and p between the raw p and p(D - 0.001)."""
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(10, 1, 20_000), rng.normal(10.05, 1, 20_000)
    result = KolmogorovSmirnov().compare(Binned.from_values(ref, cur, scale=12))
    raw = stats.ks_2samp(ref, cur, method="asymp")
    assert result.score == pytest.approx(raw.statistic, abs=1e-3)
    assert (
        raw.pvalue <= result.p_value <= float(stats.kstwobign.sf(math.sqrt(10_000) * (raw.statistic - 1e-3)))
    )


def test_ks_uses_the_effective_sample_size_for_sampled_data() -> None:
    """Halving the effective sizes (Kish n_eff) keeps D and raises the p-value to the one of the smaller n."""
    rng = np.random.default_rng(6)
    b = Binned.from_values(rng.normal(0, 1, 4000), rng.normal(0.1, 1, 4000), scale=6)
    full = KolmogorovSmirnov().compare(b)
    sampled = KolmogorovSmirnov().compare(
        Binned(b.edges, b.reference, b.current, n_eff_reference=2000, n_eff_current=2000)
    )
    assert sampled.score == full.score
    assert sampled.p_value == pytest.approx(float(stats.kstwobign.sf(math.sqrt(1000) * full.score)))
    assert sampled.p_value > full.p_value


def test_ks_statistic_bounds_on_a_hand_computed_table() -> None:
    """D and D_upper of a 3-bin table match the hand computation."""
    d, d_upper = ks_statistic(np.array([5, 5, 0]), np.array([0, 5, 5]))
    # CDF gaps at the edges: 0.5, 0.5, 0; inside bin 2: 0.5 + 0.5 = 1.0 at most
    assert d == pytest.approx(0.5) and d_upper == pytest.approx(1.0)


@pytest.mark.parametrize(("label", "draw_ref", "draw_cur"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_wasserstein_is_within_its_error_bound_of_scipy(label, draw_ref, draw_cur) -> None:
    """|W1(binned) - wasserstein_distance(raw)| <= the reported bound, and the bound is small at scale 8."""
    rng = np.random.default_rng(7)
    ref, cur = draw_ref(rng, 20_000), draw_cur(rng, 10_000)
    result = Wasserstein().compare(Binned.from_values(ref, cur, scale=8))
    std = result.details["reference_std"]
    raw = stats.wasserstein_distance(ref, cur)
    assert abs(result.details["distance"] - raw) <= result.details["error_bound"] * std + 1e-12
    assert result.details["error_bound"] * std <= 0.003 * np.mean(np.abs(np.concatenate([ref, cur]))) + 1e-12
    assert result.score == pytest.approx(raw / ref.std(), rel=0.01, abs=1e-4)


def test_wasserstein_of_a_mean_shift_is_the_shift_in_standard_deviations() -> None:
    """A +0.2 sigma mean shift scores 0.2 (+- 0.05 sampling noise) at 10 000 rows and is detected."""
    rng = np.random.default_rng(8)
    result = Wasserstein().compare(Binned.from_values(rng.normal(3, 2, 10_000), rng.normal(3.4, 2, 10_000)))
    assert result.score == pytest.approx(0.2, abs=0.05) and result.detected


@pytest.mark.parametrize(("label", "draw_ref", "draw_cur"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_psi_equals_numpy_psi_on_the_same_bins(label, draw_ref, draw_cur) -> None:
    """Binned PSI equals PSI computed with numpy on raw values histogrammed at the reported group edges."""
    rng = np.random.default_rng(9)
    ref, cur = draw_ref(rng, 10_000), draw_cur(rng, 3_000)
    result = PSI().compare(Binned.from_values(ref, cur, scale=6))
    edges = np.asarray(result.details["edges"])
    p = np.maximum(right_closed_counts(ref, edges) / ref.size, 1e-4)
    q = np.maximum(right_closed_counts(cur, edges) / cur.size, 1e-4)
    assert result.score == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-9, abs=1e-12)
    assert result.details["bins"] <= 10


def test_psi_p_value_gate_suppresses_small_sample_noise() -> None:
    """At 100 rows a side a PSI above 0.1 from noise alone is not drift unless its chi-square p < alpha."""
    rng = np.random.default_rng(10)
    results = [
        PSI().compare(Binned.from_values(rng.normal(size=100), rng.normal(size=100))) for _ in range(200)
    ]
    assert np.mean([r.score >= 0.1 for r in results]) > 0.3
    assert np.mean([r.detected for r in results]) <= 0.1


@pytest.mark.parametrize(("method", "base"), [(JensenShannon(), 2.0), (JensenShannon(base=math.e), math.e)])
def test_jensen_shannon_equals_scipy_on_the_same_bins(method, base) -> None:
    """JS distance over the reference-decile groups equals scipy's jensenshannon in the stated base."""
    rng = np.random.default_rng(11)
    ref, cur = rng.gamma(2, 2, 5_000), rng.gamma(2.3, 2, 5_000)
    b = Binned.from_values(ref, cur, scale=6)
    g = b.regroup(10)
    result = method.compare(b)
    expected = jensenshannon(g.reference / g.reference.sum(), g.current / g.current.sum(), base=base)
    assert result.score == pytest.approx(float(expected), rel=1e-9)
    assert result.details["log_base"] == base


def test_hellinger_matches_its_definition_and_the_psi_relation() -> None:
    """Hellinger equals ||sqrt p - sqrt q|| / sqrt 2 on the groups, and H^2 ~ PSI/8 for a small shift."""
    rng = np.random.default_rng(12)
    b = Binned.from_values(rng.normal(0, 1, 50_000), rng.normal(0.1, 1, 50_000), scale=7)
    g = b.regroup(10)
    p, q = g.reference / g.reference.sum(), g.current / g.current.sum()
    result = Hellinger().compare(b)
    assert result.score == pytest.approx(np.linalg.norm(np.sqrt(p) - np.sqrt(q)) / math.sqrt(2), rel=1e-9)
    assert result.score**2 == pytest.approx(PSI().compare(b).score / 8, rel=0.1)


def test_out_of_range_counts_values_beyond_the_reference_extremes() -> None:
    """The estimated share lies within its bounds and within one bucket's share of the raw share."""
    rng = np.random.default_rng(13)
    ref, cur = rng.uniform(1, 2, 10_000), rng.uniform(1.5, 2.5, 4_000)
    result = OutOfRange().compare(Binned.from_values(ref, cur, scale=6))
    raw = np.mean((cur < ref.min()) | (cur > ref.max()))
    assert result.details["lower"] <= raw <= result.details["upper"]
    assert result.score == pytest.approx(raw, abs=0.01) and result.detected


def test_out_of_range_is_zero_when_current_stays_inside() -> None:
    """Current values inside the reference range give exactly 0 thanks to the exact extremes."""
    result = OutOfRange().compare(Binned.from_values(np.linspace(1, 10, 100), np.linspace(2, 9, 100)))
    assert result.score == 0.0 and result.details["upper"] == 0.0 and not result.detected


ALL_NUMERIC = [KolmogorovSmirnov(), PSI(), Wasserstein(), JensenShannon(), Hellinger(), OutOfRange()]


@pytest.mark.parametrize("method", ALL_NUMERIC, ids=lambda m: m.name)
def test_constant_columns_do_not_crash_and_a_moved_constant_is_seen_by_ks_and_wasserstein(method) -> None:
    """Equal constants give no drift; a constant that moves gives a finite score (KS/Wasserstein flag it)."""
    same = method.compare(Binned.from_values(np.full(500, 7.0), np.full(300, 7.0)))
    assert not same.detected and math.isfinite(same.score)
    moved = method.compare(Binned.from_values(np.full(500, 7.0), np.full(300, 9.0)))
    assert math.isfinite(moved.score)
    if method.name in ("ks", "wasserstein", "out_of_range"):
        assert moved.detected


@pytest.mark.parametrize("method", ALL_NUMERIC, ids=lambda m: m.name)
@pytest.mark.parametrize(("ref_n", "cur_n"), [(0, 50), (50, 0), (0, 0)])
def test_empty_windows_are_skipped_not_crashed(method, ref_n, cur_n) -> None:
    """An empty side gives a skipped result: nan score, not detected, the reason in details."""
    rng = np.random.default_rng(14)
    result = method.compare(Binned.from_values(rng.normal(size=ref_n), rng.normal(size=cur_n)))
    assert result.skipped is not None and math.isnan(result.score) and not result.detected
    assert (result.n_reference, result.n_current) == (ref_n, cur_n)


def test_compare_accepts_two_histogram_objects() -> None:
    """compare(reference, current) aligns two histogram-like objects itself."""
    from otel_mlmon_collector.drift._binning import _BucketCounts

    rng = np.random.default_rng(15)
    ref, cur = _BucketCounts.of(rng.normal(size=1000), 5), _BucketCounts.of(rng.normal(1, 1, 1000), 4)
    assert KolmogorovSmirnov().compare(ref, cur).detected
    with pytest.raises(ValueError, match="Binned alone"):
        KolmogorovSmirnov().compare(Binned.from_values(np.ones(3), np.ones(3)), ref)


@pytest.mark.parametrize("method", [KolmogorovSmirnov(), Wasserstein(), PSI()], ids=lambda m: m.name)
def test_compare_many_equals_one_by_one(method) -> None:
    """compare_many over features of different bin counts (and an empty one) equals compare on each."""
    from otel_mlmon.sketch.exponential import ExponentialHistogram

    rng = np.random.default_rng(16)
    pairs = []
    for i in range(12):
        ref, cur = ExponentialHistogram(max_size=20 + 20 * i), ExponentialHistogram()
        ref.update(rng.normal(i, 1 + i, 500 + 100 * i))
        cur.update(rng.normal(i + 0.1 * i, 1 + i, 0 if i == 5 else 300))
        pairs.append((ref, cur))
    pairs.append(Binned.from_values(np.full(50, 2.0), np.full(40, 3.0)))
    many = method.compare_many(pairs)
    one = [method.compare(p) if isinstance(p, Binned) else method.compare(*p) for p in pairs]
    assert [r.skipped for r in many] == [r.skipped for r in one]
    for a, b in zip(many, one):
        if a.skipped:
            continue
        assert a.score == pytest.approx(b.score, rel=1e-12, abs=1e-15)
        assert (a.p_value is None) == (b.p_value is None)
        assert a.detected == b.detected and (a.n_reference, a.n_current) == (b.n_reference, b.n_current)
        assert a.details.keys() == b.details.keys()


def test_out_of_range_shares_equal_one_by_one_bit_for_bit() -> None:
    """The batched out-of-range shares equal out_of_range_share exactly, for any scale, sign and extremes."""
    rng = np.random.default_rng(17)
    binneds = []
    for i in range(200):
        ref = rng.normal(rng.normal(), rng.uniform(0.1, 10), rng.integers(1, 3000))
        cur = rng.normal(rng.normal(), rng.uniform(0.1, 10), rng.integers(1, 3000))
        if i % 3 == 0:  # exact zeros and ties
            ref, cur = np.round(ref), np.round(cur)
        binned = Binned.from_values(ref, cur, scale=int(rng.integers(-2, 9)))
        if i % 7 == 0:  # current extremes unknown
            binned = Binned(
                binned.edges, binned.reference, binned.current, binned.reference_min, binned.reference_max
            )
        binneds.append(binned)
    one = [out_of_range_share(b) for b in binneds]
    assert out_of_range_shares(binneds) == one
    assert sum(estimate > 0 for estimate, _, _ in one) > 50  # the shares are not trivially zero


def test_out_of_range_shares_of_fractional_counts_equal_one_by_one_bit_for_bit() -> None:
    """Counts that are not whole (weighted rows) take the dot products one by one: still bit for bit."""
    rng = np.random.default_rng(23)
    binneds = []
    for _ in range(60):
        base = Binned.from_values(rng.normal(size=400), rng.normal(rng.normal(), 1.5, size=400), scale=4)
        weights = rng.uniform(0.3, 2.0, size=base.current.size)
        binneds.append(
            Binned(
                base.edges,
                base.reference,
                base.current * weights,
                base.reference_min,
                base.reference_max,
                base.current_min,
                base.current_max,
            )
        )
    one = [out_of_range_share(b) for b in binneds]
    assert out_of_range_shares(binneds) == one
    assert sum(estimate > 0 for estimate, _, _ in one) > 10
