"""Default method per kind and size, per-feature overrides, and multiple-testing correction."""

from __future__ import annotations

import numpy as np
import pytest
from otel_mlmon_collector.drift import (
    LARGE_N_EFF,
    PSI,
    ChiSquare,
    DriftPolicy,
    DriftResult,
    JensenShannonCategorical,
    KolmogorovSmirnov,
    MissingRate,
    NullMethod,
    Wasserstein,
    adjust_p_values,
    build_method,
    correct,
    default_method,
)


@pytest.mark.parametrize(
    ("kind", "n", "expected"),
    [
        ("numeric", 100, KolmogorovSmirnov),
        ("numeric", 3000, KolmogorovSmirnov),
        ("numeric", 3002, Wasserstein),
        ("numeric", 10**6, Wasserstein),
        ("categorical", 100, ChiSquare),
        ("categorical", 10_000, JensenShannonCategorical),
        ("missing", 100, MissingRate),
        ("missing", 10**6, MissingRate),
    ],
)
def test_default_method_switches_from_tests_to_distances_with_sample_size(kind, n, expected) -> None:
    """Tests up to n*m/(n+m) = 1500 (3000 rows a side), distances above it; missing always the z-test."""
    assert isinstance(default_method(kind, n, n), expected)
    assert LARGE_N_EFF == 1500


def test_default_method_rejects_unknown_kinds() -> None:
    """An unknown kind raises ValueError naming the valid kinds."""
    with pytest.raises(ValueError, match="numeric"):
        default_method("text", 10, 10)  # type: ignore[arg-type]


def test_policy_overrides_method_threshold_or_disables_a_feature() -> None:
    """Overrides by name, by mapping, threshold-only, by instance and 'none' all resolve per feature."""
    policy = DriftPolicy(
        {
            "a": "psi",
            "b": {"method": "psi", "threshold": 0.25, "n_bins": 20},
            "c": {"threshold": 0.3},
            "d": KolmogorovSmirnov(alpha=0.01),
            "e": "none",
        }
    )
    assert policy.method_for("a", "numeric", 10, 10) == PSI()
    assert policy.method_for("b", "numeric", 10, 10) == PSI(threshold=0.25, n_bins=20)
    assert policy.method_for("c", "numeric", 10**5, 10**5) == Wasserstein(threshold=0.3)
    assert policy.method_for("d", "numeric", 10, 10).alpha == 0.01
    assert isinstance(policy.method_for("e", "categorical", 10, 10), NullMethod)
    assert isinstance(policy.method_for("other", "numeric", 10, 10), KolmogorovSmirnov)


def test_bad_overrides_name_the_valid_choices() -> None:
    """Unknown method names, wrong kinds and bad parameters raise ValueError with the valid values."""
    with pytest.raises(ValueError, match="ks, psi, wasserstein"):
        build_method("numeric", "chi2")
    with pytest.raises(ValueError, match="bad parameters"):
        build_method("numeric", "ks", bins=3)
    with pytest.raises(ValueError, match="alpha"):
        build_method("numeric", "ks", alpha=2.0)
    with pytest.raises(ValueError, match="categorical method"):
        DriftPolicy({"x": ChiSquare()}).method_for("x", "numeric", 10, 10)
    with pytest.raises(ValueError, match="correction"):
        DriftPolicy(correction="holm")  # type: ignore[arg-type]


def test_adjusted_p_values_match_hand_computed_bh_and_bonferroni() -> None:
    """BH and Bonferroni adjustments of a small set equal the textbook values and keep the order."""
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    bh = adjust_p_values(p)
    np.testing.assert_allclose(bh, [0.008, 0.032, 0.0672, 0.0672, 0.0672, 0.08, 0.0845714, 0.205], rtol=1e-6)
    np.testing.assert_allclose(adjust_p_values(p, "bonferroni"), np.minimum(np.array(p) * 8, 1))
    with pytest.raises(ValueError, match="benjamini-hochberg"):
        adjust_p_values(p, "holm")  # type: ignore[arg-type]


def _result(p: float | None, score: float = 0.5, alpha: float | None = 0.05) -> DriftResult:
    return DriftResult("ks", score, 0.0, p is not None and p < 0.05, p, 100, 100, alpha=alpha)


def test_correct_redecides_tested_results_and_leaves_distances_alone() -> None:
    """Only p-valued results are adjusted; raw p-values are kept in details; distances pass through."""
    results = [_result(0.01), _result(0.04), _result(0.03), _result(None, alpha=None)]
    out = correct(results, "bonferroni")
    assert [r.detected for r in out] == [True, False, False, False]
    assert out[0].p_value == pytest.approx(0.03) and out[0].details["p_value_raw"] == 0.01
    assert out[3] is results[3]
    assert DriftPolicy(correction="none").correct(results) == results


def test_correction_keeps_the_family_false_alarm_rate_at_alpha() -> None:
    """With 50 null features, Bonferroni keeps P(any alarm) <= 5 % while uncorrected tests alarm almost always."""
    rng = np.random.default_rng(0)
    any_raw = any_bonf = any_bh = 0
    trials = 400
    for _ in range(trials):
        results = [_result(float(p)) for p in rng.uniform(size=50)]
        any_raw += any(r.detected for r in results)
        any_bonf += any(r.detected for r in correct(results, "bonferroni"))
        any_bh += any(r.detected for r in correct(results, "benjamini-hochberg"))
    assert any_raw / trials > 0.9
    assert any_bonf / trials <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials)
    assert any_bh / trials <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials)


def test_evaluate_checks_each_feature_with_its_method_and_corrects_across_them() -> None:
    """evaluate() picks the size-based default per feature, honours overrides and applies the correction."""
    from otel_mlmon_collector.drift import CategoricalCounts, MissingCounts

    from otel_mlmon.sketch.categorical import CategoricalSketch
    from otel_mlmon.sketch.exponential import ExponentialHistogram

    rng = np.random.default_rng(5)
    small_ref, small_cur = ExponentialHistogram(), ExponentialHistogram()
    small_ref.update(rng.normal(0, 1, 200))
    small_cur.update(rng.normal(1, 1, 200))
    big_ref, big_cur = ExponentialHistogram(), ExponentialHistogram()
    big_ref.update(rng.normal(0, 1, 20_000))
    big_cur.update(rng.normal(0, 1, 20_000))
    colour_ref, colour_cur = CategoricalSketch(), CategoricalSketch()
    colour_ref.update(rng.choice(["red", "blue"], 500))
    colour_cur.update(rng.choice(["red", "blue"], 500))
    policy = DriftPolicy({"ignored": "none"}, correction="bonferroni")
    results = policy.evaluate(
        {
            "small": ("numeric", small_ref, small_cur),
            "big": ("numeric", big_ref, big_cur),
            "colour": ("categorical", colour_ref, colour_cur),
            "ignored": ("categorical", CategoricalCounts({"a": 1}), CategoricalCounts({"b": 1})),
            "small.missing": ("missing", MissingCounts(200, missing=2), MissingCounts(200, missing=60)),
        }
    )
    assert list(results) == ["small", "big", "colour", "ignored", "small.missing"]
    assert [r.method for r in results.values()] == ["ks", "wasserstein", "chi2", "none", "missing_rate"]
    assert {name for name, r in results.items() if r.detected} == {"small", "small.missing"}
    assert results["small"].details["correction"] == "bonferroni"
    assert results["small"].details["hypotheses"] == 3
