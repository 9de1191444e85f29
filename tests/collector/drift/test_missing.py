"""Missing-rate method: the two-proportion z-test equals a 2x2 chi-square, with an effect-size gate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from otel_mlmon_collector.drift import MissingCounts, MissingRate
from otel_mlmon_collector.drift._chi2 import fisher_two_sided
from scipy import stats


def test_z_test_p_value_equals_the_2x2_chi_square() -> None:
    """The two-sided z-test p-value equals chi2_contingency without continuity correction on the 2x2 table."""
    result = MissingRate(threshold=0.0).compare(
        MissingCounts(2000, missing=60), MissingCounts(1500, missing=70)
    )
    _, p, _, _ = stats.chi2_contingency(np.array([[60, 1940], [70, 1430]]), correction=False)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.score == pytest.approx(abs(70 / 1500 - 60 / 2000))


def test_tiny_but_significant_change_at_a_million_rows_is_gated_out() -> None:
    """1.00 % -> 1.05 % missing at 10^6 rows is significant but below the one-point gate: not drift."""
    result = MissingRate().compare(MissingCounts(10**6, missing=10_000), MissingCounts(10**6, missing=10_500))
    assert result.p_value < 0.001 and not result.detected


def test_infinite_counts_are_tested_when_asked() -> None:
    """counts='infinite' compares the inf shares and 'either' the sum of both."""
    ref, cur = MissingCounts(1000, missing=10, infinite=0), MissingCounts(1000, missing=10, infinite=80)
    assert not MissingRate().compare(ref, cur).detected
    assert MissingRate(counts="infinite").compare(ref, cur).detected
    assert MissingRate(counts="either").compare(ref, cur).score == pytest.approx(0.08)


def test_all_missing_and_empty_windows_do_not_crash() -> None:
    """All-missing windows on both sides give p = 1; an empty window is skipped; all-missing vs none is drift."""
    both = MissingRate().compare(MissingCounts(100, missing=100), MissingCounts(50, missing=50))
    assert both.p_value == 1.0 and not both.detected
    empty = MissingRate().compare(MissingCounts(100), MissingCounts(0))
    assert empty.skipped and math.isnan(empty.score)
    assert MissingRate().compare(MissingCounts(100), MissingCounts(100, missing=100)).detected


def test_missing_counts_validate_their_totals() -> None:
    """More missing than total rows, or an unknown counts mode, is rejected at construction."""
    with pytest.raises(ValueError, match="exceed total"):
        MissingCounts(10, missing=8, infinite=3)
    with pytest.raises(ValueError, match="counts must be"):
        MissingRate(counts="nan")  # type: ignore[arg-type]


@pytest.mark.parametrize("rows", [30, 41, 60, 100])
def test_one_missing_value_in_a_small_window_is_not_drift_after_correction(rows) -> None:
    """1 missing in 30-100 rows vs a clean reference of 891: Fisher's exact p, not flagged across 10 columns."""
    from otel_mlmon_collector.drift import correct

    result = MissingRate().compare(MissingCounts(891), MissingCounts(rows, missing=1))
    assert result.details["test"] == "fisher"
    assert result.p_value == pytest.approx(stats.fisher_exact([[0, 891], [1, rows - 1]]).pvalue)
    clean = [MissingRate().compare(MissingCounts(891), MissingCounts(rows)) for _ in range(9)]
    assert not any(r.detected for r in correct([result, *clean]))


def test_ten_missing_values_in_a_hundred_rows_are_drift_after_correction() -> None:
    """10 missing in 100 rows vs a clean reference of 900 is flagged, even after correction across 10 columns."""
    from otel_mlmon_collector.drift import correct

    result = MissingRate().compare(MissingCounts(900), MissingCounts(100, missing=10))
    clean = [MissingRate().compare(MissingCounts(900), MissingCounts(100)) for _ in range(9)]
    corrected = correct([result, *clean])
    assert corrected[0].detected and corrected[0].p_value < 1e-8
    assert not any(r.detected for r in corrected[1:])


def test_the_titanic_fare_cell_is_no_longer_drift() -> None:
    """The case from issue 11 (41 rows with 1 missing vs 891 with none): exact p = 0.044 instead of z's 3e-6."""
    result = MissingRate().compare(MissingCounts(891), MissingCounts(41, missing=1))
    assert result.p_value == pytest.approx(0.044, abs=0.001)


def test_fisher_two_sided_equals_scipy_on_random_tables() -> None:
    rng = np.random.default_rng(7)
    for _ in range(2_000):
        table = rng.integers(0, rng.choice([4, 20, 300, 5_000]), size=(2, 2))
        if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
            continue
        expected = stats.fisher_exact(table)
        p_value, odds = fisher_two_sided(*(int(c) for c in table.ravel()))
        assert p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
        assert odds == expected.statistic


def test_a_point_with_a_huge_count_is_tested_at_once() -> None:
    """Found by the wire fuzz suite (seed 5): scipy's Fisher test on 10^12 rows held the interpreter lock for
    minutes, freezing the receivers. The exact p-value only needs the support around the mode."""
    result = MissingRate().compare(MissingCounts(500, missing=0), MissingCounts(10**12, missing=1))
    assert result.p_value == 1.0 and not result.detected
    shifted = MissingRate().compare(MissingCounts(500, missing=0), MissingCounts(10**12, missing=10**11))
    assert shifted.detected and shifted.p_value < 1e-6
