"""Categorical methods: chi-square homogeneity against scipy, top-K sketch handling, JS, L-infinity, unseen share."""

from __future__ import annotations

import math

import numpy as np
import pytest
from otel_mlmon_collector.drift import (
    CategoricalCounts,
    ChiSquare,
    ContingencyTable,
    JensenShannonCategorical,
    LInfinity,
    UnseenCategories,
)
from otel_mlmon_collector.drift.categorical import REST
from otel_mlmon_collector.drift.chi2 import merge_sparse
from scipy import stats
from scipy.spatial.distance import jensenshannon


class Sketch:
    """A stand-in with the CategoricalSketch interface: top() and other_count."""

    def __init__(self, top: list[tuple[str, int]], other: int) -> None:
        self._top, self.other_count = top, other
        self.count = sum(c for _, c in top) + other

    def top(self) -> list[tuple[str, int]]:
        return list(self._top)


def test_chi_square_equals_scipy_chi2_contingency_on_a_dense_table() -> None:
    """Statistic, p-value and dof equal chi2_contingency(correction=False) when no column needs pooling."""
    rng = np.random.default_rng(1)
    ref = rng.multinomial(5000, [0.4, 0.3, 0.2, 0.1])
    cur = rng.multinomial(3000, [0.35, 0.3, 0.22, 0.13])
    names = list("abcd")
    result = ChiSquare().compare(
        CategoricalCounts(dict(zip(names, ref.tolist()))), CategoricalCounts(dict(zip(names, cur.tolist())))
    )
    stat, p, dof, _ = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert result.details["statistic"] == pytest.approx(stat, rel=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.details["degrees_of_freedom"] == dof
    assert result.score == pytest.approx(math.sqrt(stat / 8000))


def test_chi_square_pools_sparse_columns_and_equals_scipy_on_the_pooled_table() -> None:
    """Columns with expected counts < 5 are pooled; the result equals scipy on the pooled table."""
    ref = CategoricalCounts({"a": 60, "b": 30, "c": 3, "d": 2, "e": 1})
    cur = CategoricalCounts({"a": 50, "b": 40, "c": 1, "d": 0, "f": 2})
    table = ContingencyTable.build(ref, cur)
    pooled = merge_sparse(table)
    expected = np.outer([pooled.reference.sum(), pooled.current.sum()], pooled.reference + pooled.current)
    assert (expected / (pooled.reference.sum() + pooled.current.sum())).min() >= 5
    result = ChiSquare().compare(ref, cur)
    stat, p, _, _ = stats.chi2_contingency(np.vstack([pooled.reference, pooled.current]), correction=False)
    assert result.p_value == pytest.approx(p) and result.details["statistic"] == pytest.approx(stat)
    assert result.details["pooled"]


def test_category_unseen_in_the_reference_gives_a_finite_test() -> None:
    """A new category (count 0 in a complete reference) yields a finite statistic and a detection, never inf."""
    ref = CategoricalCounts({"a": 500, "b": 500})
    cur = CategoricalCounts({"a": 400, "b": 400, "new": 200})
    result = ChiSquare().compare(ref, cur)
    assert math.isfinite(result.details["statistic"]) and result.detected and result.p_value < 1e-10


def test_top_k_sketches_pool_categories_unknown_on_one_side() -> None:
    """A category outside one side's top-K (with other > 0) is pooled into the rest column, never guessed."""
    ref = Sketch([("a", 50), ("b", 30)], other=20)
    cur = Sketch([("a", 40), ("c", 35)], other=25)
    table = ContingencyTable.build(CategoricalCounts.from_sketch(ref), CategoricalCounts.from_sketch(cur))
    assert table.columns == ("a", REST)
    np.testing.assert_array_equal(table.reference, [50, 50])
    np.testing.assert_array_equal(table.current, [40, 60])
    assert ChiSquare().compare(ref, cur).n_reference == 100


def test_complete_sketch_lets_absent_categories_count_as_zero() -> None:
    """With other == 0 on the reference, a current category absent from it is a known zero column."""
    table = ContingencyTable.build(CategoricalCounts({"a": 10}), CategoricalCounts({"a": 5, "z": 5}))
    assert table.columns == ("a", "z")
    np.testing.assert_array_equal(table.reference, [10, 0])


def test_single_category_on_both_sides_is_no_drift() -> None:
    """A constant categorical column gives V = 0, p = 1 and no drift, not an error."""
    result = ChiSquare().compare(CategoricalCounts({"x": 100}), CategoricalCounts({"x": 7}))
    assert result.score == 0.0 and result.p_value == 1.0 and not result.detected


def test_chi_square_effective_size_scales_the_statistic() -> None:
    """With Kish n_eff at a quarter of the counts, the p-value is that of a quarter of the statistic."""
    ref = CategoricalCounts({"a": 600, "b": 400}, n_eff=250)
    cur = CategoricalCounts({"a": 540, "b": 460}, n_eff=250)
    result = ChiSquare().compare(ref, cur)
    assert result.details["design_factor"] == pytest.approx(0.25)
    assert result.p_value == pytest.approx(stats.chi2.sf(result.details["statistic"] / 4, 1))


def test_jensen_shannon_categorical_equals_scipy() -> None:
    """The categorical JS distance equals scipy's jensenshannon on the table, base 2 by default."""
    ref, cur = CategoricalCounts({"a": 5, "b": 3, "c": 2}), CategoricalCounts({"a": 2, "b": 2, "c": 6})
    result = JensenShannonCategorical().compare(ref, cur)
    assert result.score == pytest.approx(jensenshannon([5, 3, 2], [2, 2, 6], base=2))
    assert JensenShannonCategorical(base=math.e).compare(ref, cur).score == pytest.approx(
        jensenshannon([5, 3, 2], [2, 2, 6])
    )


def test_l_infinity_names_the_category_that_moved_most() -> None:
    """L-inf is the largest share change and details name its category."""
    result = LInfinity().compare({"a": 70, "b": 20, "c": 10}, {"a": 70, "b": 5, "c": 25})
    assert result.score == pytest.approx(0.15) and result.details["category"] in ("b", "c")


def test_unseen_share_is_exact_with_a_complete_reference_and_flagged_otherwise() -> None:
    """Share of current mass in categories absent from the reference; exact only when its other is 0."""
    cur = CategoricalCounts({"a": 80, "new1": 15, "new2": 5})
    exact = UnseenCategories().compare(CategoricalCounts({"a": 100}), cur)
    assert exact.score == pytest.approx(0.2) and exact.details["exact"] and exact.detected
    assert exact.details["categories"] == ["new1", "new2"]
    topk = UnseenCategories().compare(CategoricalCounts({"a": 90}, other=10), cur)
    assert not topk.details["exact"]


@pytest.mark.parametrize("method", [ChiSquare(), JensenShannonCategorical(), LInfinity(), UnseenCategories()])
def test_identical_and_empty_categorical_windows(method) -> None:
    """Identical windows are not drift; an empty side is skipped with nan, not a crash."""
    same = method.compare(CategoricalCounts({"a": 30, "b": 70}), CategoricalCounts({"a": 3, "b": 7}))
    assert not same.detected and same.score == pytest.approx(0.0, abs=1e-12)
    empty = method.compare(CategoricalCounts({"a": 30}), CategoricalCounts({}))
    assert empty.skipped == "empty current window" and math.isnan(empty.score) and not empty.detected


def test_bad_categorical_inputs_are_rejected() -> None:
    """Negative counts and unknown input types raise clear errors."""
    with pytest.raises(ValueError, match="non-negative"):
        CategoricalCounts({"a": -1})
    with pytest.raises(TypeError, match="CategoricalCounts"):
        ChiSquare().compare([1, 2], [1, 2])


def test_misra_gries_sketches_with_count_error_do_not_raise_false_alarms() -> None:
    """Real CategoricalSketches over 300 categories (K=20, counts are lower bounds) stay quiet under no drift."""
    from otel_mlmon.sketch.categorical import CategoricalSketch

    rng = np.random.default_rng(3)
    shares = 1.0 / np.arange(1, 301) ** 1.1
    shares /= shares.sum()
    names = np.array([f"v{i}" for i in range(300)])
    alarms = 0
    for _ in range(40):
        ref, cur = CategoricalSketch(max_categories=20), CategoricalSketch(max_categories=20)
        ref.update(names[rng.choice(300, 20_000, p=shares)])
        cur.update(names[rng.choice(300, 2_000, p=shares)])
        result = ChiSquare().compare(ref, cur)
        assert result.details["count_error_slack"] > 0
        alarms += result.detected
    assert alarms <= 5


def test_misra_gries_sketches_still_detect_a_real_shift() -> None:
    """With count error present, swapping the shares of the top and the fifth category is still detected."""
    from otel_mlmon.sketch.categorical import CategoricalSketch

    rng = np.random.default_rng(4)
    shares = 1.0 / np.arange(1, 301) ** 1.1
    shares /= shares.sum()
    swapped = shares.copy()
    swapped[[0, 4]] = shares[[4, 0]]
    names = np.array([f"v{i}" for i in range(300)])
    ref, cur = CategoricalSketch(max_categories=20), CategoricalSketch(max_categories=20)
    ref.update(names[rng.choice(300, 20_000, p=shares)])
    cur.update(names[rng.choice(300, 2_000, p=swapped)])
    result = ChiSquare().compare(ref, cur)
    assert result.details["count_error_slack"] > 0 and result.detected
    assert LInfinity().compare(ref, cur).detected
