"""Under no drift the alarm rate stays at or below the nominal level at 100, 10 000 and 10^6 rows; shifts are found.

Windows are simulated cheaply as multinomial draws over exponential-histogram bins (tests/collector/drift/sim.py). The fast
tests use a few hundred windows per cell; the e2e-marked ones use 20 000 and are the numbers in docs/drift.md.
A rate "at or below nominal" means: not significantly above alpha by a one-sided binomial test at level 0.001.
"""

from __future__ import annotations

import numpy as np
import pytest
from otel_mlmon_collector.drift import (
    PSI,
    ChiSquare,
    DriftMethod,
    KolmogorovSmirnov,
    MissingRate,
    default_method,
)
from scipy import stats

from .sim import (
    CATEGORY_SHARES,
    alarm_rate,
    categorical_windows,
    fine_bins,
    missing_windows,
    numeric_windows,
    swap_shares,
)

SIZES = [100, 10_000, 1_000_000]
ALPHA = 0.05
BINS = fine_bins(stats.norm(100, 10), scale=4)
SKEWED = fine_bins(stats.lognorm(0.8, scale=20), scale=3)


def _default(kind: str):
    def make(n: int, m: int) -> DriftMethod:
        return default_method(kind, n, m)  # type: ignore[arg-type]

    return make


def _numeric(bins, n):
    return lambda rng: (numeric_windows(rng, bins, n, n), None)


def _categorical(n, top_k=None):
    return lambda rng: categorical_windows(rng, n, n, top_k=top_k)


def _missing(n):
    return lambda rng: missing_windows(rng, n, n)


CASES = {
    "ks normal": (KolmogorovSmirnov(), lambda n: _numeric(BINS, n)),
    "ks lognormal": (KolmogorovSmirnov(), lambda n: _numeric(SKEWED, n)),
    "psi gated": (PSI(), lambda n: _numeric(BINS, n)),
    "default numeric": (_default("numeric"), lambda n: _numeric(SKEWED, n)),
    "chi2": (ChiSquare(), _categorical),
    "chi2 top-5": (ChiSquare(), lambda n: _categorical(n, top_k=5)),
    "default categorical": (_default("categorical"), _categorical),
    "missing rate": (MissingRate(), _missing),
}


def _assert_not_above_alpha(rate: float, windows: int) -> None:
    hits = round(rate * windows)
    assert stats.binom.sf(hits - 1, windows, ALPHA) > 0.001, f"{hits}/{windows} alarms"


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", list(CASES))
def test_no_drift_alarm_rate_is_at_most_nominal(case, n) -> None:
    """Over 300 no-drift windows the alarm rate is not significantly above alpha = 0.05."""
    method, draw = CASES[case]
    rate = alarm_rate(method, draw(n), 300, seed=n)
    _assert_not_above_alpha(rate, 300)


@pytest.mark.e2e
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", list(CASES))
def test_no_drift_alarm_rate_is_at_most_nominal_over_20000_windows(case, n) -> None:
    """Over 20 000 no-drift windows the alarm rate is not significantly above alpha = 0.05."""
    method, draw = CASES[case]
    rate = alarm_rate(method, draw(n), 20_000, seed=n + 7)
    _assert_not_above_alpha(rate, 20_000)


def test_mean_shift_of_a_fifth_sigma_is_detected_at_10000_rows() -> None:
    """+0.2 sigma at 10 000 rows a side: the default (Wasserstein) and KS flag at least 95 % of 100 windows."""
    shifted = BINS.shifted(stats.norm(102, 10))

    def draw(rng):
        return numeric_windows(rng, BINS, 10_000, 10_000, shifted), None

    assert alarm_rate(_default("numeric"), draw, 100, seed=1) >= 0.95
    assert alarm_rate(KolmogorovSmirnov(), draw, 100, seed=2) >= 0.95


@pytest.mark.parametrize("n", [1_000, 10_000])
def test_category_frequency_swap_is_detected(n) -> None:
    """Swapping the shares of two categories (0.30 <-> 0.10) is flagged by the default in >= 95 % of windows."""
    swapped = swap_shares(CATEGORY_SHARES)

    def draw(rng):
        return categorical_windows(rng, n, n, swapped)

    assert alarm_rate(_default("categorical"), draw, 100, seed=3) >= 0.95


def test_missing_rate_doubling_is_detected_at_10000_rows() -> None:
    """2 % -> 4 % missing at 10 000 rows is flagged in every one of 100 windows."""

    def draw(rng):
        return missing_windows(rng, 10_000, 10_000, 0.02, 0.04)

    assert alarm_rate(MissingRate(), draw, 100, seed=4) == 1.0


def test_tests_flag_irrelevant_shifts_at_large_n_but_the_default_does_not() -> None:
    """A 0.02 sigma shift at 10^6 rows: KS flags nearly every window, the default (Wasserstein 0.1) none."""
    tiny = BINS.shifted(stats.norm(100.2, 10))

    def draw(rng):
        return numeric_windows(rng, BINS, 1_000_000, 1_000_000, tiny), None

    assert alarm_rate(KolmogorovSmirnov(), draw, 50, seed=5) >= 0.9
    assert alarm_rate(_default("numeric"), draw, 50, seed=6) == 0.0


def test_simulated_bins_cover_the_distribution() -> None:
    """The simulation's fine bins carry all the probability mass and the shifted copy too."""
    assert BINS.probabilities.sum() == pytest.approx(1.0)
    assert BINS.shifted(stats.norm(102, 10)).sum() == pytest.approx(1.0)
    assert np.all(BINS.probabilities >= 0)
