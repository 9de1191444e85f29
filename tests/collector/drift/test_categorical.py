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
from otel_mlmon_collector.drift._chi2 import merge_sparse
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


def test_chi_square_pools_by_cochrans_rule_and_equals_scipy_on_the_pooled_table() -> None:
    """Smallest columns are pooled until 80 % of expected counts are >= 5 and none < 1; p equals scipy's."""
    ref = CategoricalCounts({"a": 60, "b": 30, "c": 20, "d": 6, "e": 2, "g": 1})
    cur = CategoricalCounts({"a": 50, "b": 40, "c": 25, "d": 5, "e": 0, "f": 2})
    pooled = merge_sparse(ContingencyTable.build(ref, cur))
    expected = np.outer([pooled.reference.sum(), pooled.current.sum()], pooled.reference + pooled.current)
    expected /= pooled.reference.sum() + pooled.current.sum()
    assert expected.min() >= 1 and np.mean(expected >= 5) >= 0.8
    # e, f and g (totals 2, 2, 1) share one cell; its expected counts (about 2.5) are the allowed 20 %.
    assert pooled.columns == ("a", "b", "c", "d", "__rest__pooled")
    result = ChiSquare().compare(ref, cur)
    stat, p, dof, _ = stats.chi2_contingency(np.vstack([pooled.reference, pooled.current]))
    assert result.p_value == pytest.approx(p) and result.details["statistic"] == pytest.approx(stat)
    assert result.details["pooled"] and result.details["test"] == "pearson" and dof == 4


def test_two_by_two_tables_use_fisher_when_sparse_and_yates_otherwise() -> None:
    """A 2 x 2 table with an expected count < 5 gets scipy's Fisher exact p; a dense one chi2 with Yates."""
    sparse = ChiSquare().compare(CategoricalCounts({"a": 40, "b": 1}), CategoricalCounts({"a": 880, "b": 11}))
    assert sparse.details["test"] == "fisher"
    assert sparse.p_value == pytest.approx(stats.fisher_exact([[40, 1], [880, 11]]).pvalue)
    dense = ChiSquare().compare(
        CategoricalCounts({"a": 400, "b": 100}), CategoricalCounts({"a": 350, "b": 150})
    )
    _, p, _, _ = stats.chi2_contingency([[400, 100], [350, 150]])  # Yates' correction is scipy's default
    assert dense.details["test"] == "yates" and dense.p_value == pytest.approx(p, rel=1e-9)


def test_category_unseen_in_the_reference_gives_a_finite_test() -> None:
    """A new category (count 0 in a complete reference) yields a finite statistic and a detection, never inf."""
    ref = CategoricalCounts({"a": 500, "b": 500})
    cur = CategoricalCounts({"a": 400, "b": 400, "new": 200})
    result = ChiSquare().compare(ref, cur)
    assert math.isfinite(result.details["statistic"]) and result.detected and result.p_value < 1e-10


def test_categories_listed_on_one_side_keep_their_own_column() -> None:
    """A category missing from one side's top-K is a column of its own, moved only within that side's bound."""
    ref = Sketch([("a", 50), ("b", 30)], other=20)
    cur = Sketch([("a", 40), ("c", 35)], other=25)
    table = ContingencyTable.build(CategoricalCounts.from_sketch(ref), CategoricalCounts.from_sketch(cur))
    assert table.columns == ("a", "b", "c")  # both rests went into the columns they could belong to
    assert table.reference.sum() == pytest.approx(100) and table.current.sum() == pytest.approx(100)
    raw_gap = np.abs(np.array([40, 0, 35]) - np.array([50, 30, 0])) / 100
    gap = np.abs(table.current / 100 - table.reference / 100)
    assert (gap <= raw_gap + 1e-12).all() and gap[2] == pytest.approx(0.15)  # c: 35 % vs at most 20 %
    assert ChiSquare().compare(ref, cur).n_reference == 100


def test_misra_gries_reference_stays_quiet_against_an_exact_current_window() -> None:
    """Lower-bound reference counts (error_bound > 0) against exact current counts raise no alarm under no drift."""
    from .categorical_sim import Column, alarm_rates

    rates = alarm_rates(Column(40), "none", 100_000, 40, approximate=True, decisions=("chi2", "unseen"))
    assert rates["chi2"] <= 0.1 and rates["unseen"] == 0.0


def test_new_category_against_an_exact_reference_is_never_pooled() -> None:
    """5 % of rows in a new category among 40 Zipf levels: JS equals scipy on the raw counts (about 0.16)."""
    rng = np.random.default_rng(11)
    shares = 1.0 / np.arange(1, 41)
    shares /= shares.sum()
    ref = rng.multinomial(100_000, shares)
    cur = rng.multinomial(100_000, np.append(shares * 0.95, 0.05))
    names = [f"v{i}" for i in range(41)]
    result = JensenShannonCategorical().compare(
        CategoricalCounts(dict(zip(names, ref.tolist()))), CategoricalCounts(dict(zip(names, cur.tolist())))
    )
    raw = jensenshannon(np.append(ref, 0), cur, base=2)
    assert result.score == pytest.approx(raw, rel=1e-9) and 0.15 < raw < 0.17 and result.detected


@pytest.mark.parametrize("levels", [100, 200])
def test_many_levels_do_not_collapse_to_zero(levels) -> None:
    """Columns of 100 and 200 levels with swapped mid-ranked shares give the raw-data JS, not 0."""
    shares = 1.0 / np.arange(1, levels + 1)
    shares /= shares.sum()
    ref = np.rint(shares * 1e6).astype(int)
    cur = ref.copy()
    cur[[2, 9]] = ref[[9, 2]]
    names = [f"v{i}" for i in range(levels)]
    result = JensenShannonCategorical().compare(
        CategoricalCounts(dict(zip(names, ref.tolist()))), CategoricalCounts(dict(zip(names, cur.tolist())))
    )
    assert result.score == pytest.approx(jensenshannon(ref, cur, base=2), rel=1e-9) and result.score > 0.05


def test_complete_sketch_lets_absent_categories_count_as_zero() -> None:
    """With other == 0 on the reference, a current category absent from it is a known zero column."""
    table = ContingencyTable.build(CategoricalCounts({"a": 10}), CategoricalCounts({"a": 5, "z": 5}))
    assert table.columns == ("a", "z")
    np.testing.assert_array_equal(table.reference, [10, 0])


def test_single_category_on_both_sides_is_no_drift() -> None:
    """A constant categorical column gives V = 0, p = 1 and no drift, not an error."""
    result = ChiSquare().compare(CategoricalCounts({"x": 100}), CategoricalCounts({"x": 7}))
    assert result.score == 0.0 and result.p_value == 1.0 and not result.detected


def test_chi_square_effective_size_scales_the_table() -> None:
    """With Kish n_eff at a quarter of the counts, the test runs on the table scaled to a quarter."""
    ref = CategoricalCounts({"a": 600, "b": 400, "c": 300}, n_eff=325)
    cur = CategoricalCounts({"a": 540, "b": 460, "c": 300}, n_eff=325)
    result = ChiSquare().compare(ref, cur)
    assert result.details["design_factor"] == pytest.approx(0.25)
    table = np.array([[600, 400, 300], [540, 460, 300]]) / 4
    _, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert result.p_value == pytest.approx(p)


def test_jensen_shannon_categorical_equals_scipy() -> None:
    """The categorical JS distance equals scipy's jensenshannon on the table, base 2 by default."""
    ref, cur = CategoricalCounts({"a": 5, "b": 3, "c": 2}), CategoricalCounts({"a": 2, "b": 2, "c": 6})
    result = JensenShannonCategorical().compare(ref, cur)
    assert result.score == pytest.approx(jensenshannon([5, 3, 2], [2, 2, 6], base=2))
    assert JensenShannonCategorical(base=math.e).compare(ref, cur).score == pytest.approx(
        jensenshannon([5, 3, 2], [2, 2, 6])
    )


def test_categorical_hellinger_compares_every_category_including_new_ones() -> None:
    """Categorical Hellinger equals sqrt(1 - sum sqrt(p q)) on the raw counts, a new category included."""
    from otel_mlmon_collector.drift._hellinger import HellingerCategorical

    ref, cur = np.array([500, 300, 200, 0]), np.array([450, 280, 170, 100])
    result = HellingerCategorical().compare(
        CategoricalCounts(dict(zip("abc", ref[:3].tolist()))),
        CategoricalCounts(dict(zip("abcz", cur.tolist()))),
    )
    expected = math.sqrt(1 - np.sqrt(ref / ref.sum() * cur / cur.sum()).sum())
    assert result.score == pytest.approx(expected) and result.detected and result.details["columns"] == 4
    assert not HellingerCategorical().compare({"a": 30, "b": 70}, {"a": 3, "b": 7}).detected


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
    """Real CategoricalSketches over 300 categories (K=20, fed in calls of 1 000 rows) stay quiet under no drift."""
    from otel_mlmon.sketch.categorical import CategoricalSketch

    rng = np.random.default_rng(3)
    shares = 1.0 / np.arange(1, 301) ** 1.1
    shares /= shares.sum()
    names = np.array([f"v{i}" for i in range(300)])
    alarms = slack = 0
    for _ in range(40):
        ref, cur = CategoricalSketch(max_categories=20), CategoricalSketch(max_categories=20)
        for _ in range(20):
            ref.update(names[rng.choice(300, 1_000, p=shares)])
        for _ in range(2):
            cur.update(names[rng.choice(300, 1_000, p=shares)])
        assert not ref.exact and not cur.exact
        result = ChiSquare().compare(ref, cur)
        slack += result.details["count_error_slack"] > 0
        alarms += result.detected
    assert alarms <= 5 and slack == 40


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


def test_from_sketch_reads_each_categorys_own_bounds_and_exact_counts_never_move() -> None:
    """A sketch past its budget: categories listed from the start keep slack 0 and their table cells stay exact."""
    from otel_mlmon.sketch.categorical import CategoricalSketch

    sketch = CategoricalSketch(max_categories=3)
    sketch.update(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    sketch.update(["d"] * 40 + ["e"] * 2 + ["a"] * 5)  # overflows: c and e leave, error_bound 20
    sketch.update(["f"] * 60)  # enters late: it may have missed up to 20
    counts = CategoricalCounts.from_sketch(sketch)
    assert not counts.exact and counts.error_bound == sketch.error_bound > 0
    assert {k: counts.counts[k] + counts.slack(k) for k in counts.counts} == {
        k: upper for k, _, upper in sketch.bounds()
    }
    assert counts.slack("a") == 0 and counts.knows("a") and counts.slack("f") == 20
    table = ContingencyTable.build(counts, CategoricalCounts({"a": 30, "b": 10, "d": 20, "f": 40}))
    assert table.reference[table.columns.index("a")] == counts.counts["a"]  # exact: never moved


def test_otlp_category_points_bound_each_category_by_count_over_listed_plus_one() -> None:
    """Rebuilt from OTLP points (lower ends + __other__), an unlisted category is bounded by count / (L + 1)."""
    from otel_mlmon_collector._points import read_points

    from otel_mlmon import conventions as conv
    from tests.collector.drift_engine._helpers import category_request

    class Counters:
        points = invalid_points = 0

    listed = {f"c{i}": 100 for i in range(10)}
    [point] = list(
        read_points(
            category_request({**listed, conv.OTHER_CATEGORY: 200}, 1, 2).message,
            admit=lambda attrs: True,
            counters=Counters(),
        )
    )
    sketch = point.value
    assert sketch.count == 1200 and sketch.other_count == 200 and sketch.top() == sorted(listed.items())
    assert sketch.error_bound == 1200 // 11  # not the 200 of __other__
    [exact] = list(
        read_points(category_request(listed, 1, 2).message, admit=lambda a: True, counters=Counters())
    )
    assert exact.value.exact


def test_categories_below_both_sides_resolution_share_one_cell_chosen_alike_for_both() -> None:
    """With a reference bound of 10 in 1 000 (1 %), current categories of at most 10 values are pooled with the
    rest whether or not the reference lists them; larger ones, new or not, keep their own column."""
    from otel_mlmon_collector.drift._categorical import REST

    # Listed counts exact (as CategoricalSketch.bounds() gives them for categories listed from the start).
    ref = CategoricalCounts({"a": 590, "b": 300, "c": 4}, other=106, error_bound=10, slacks={})
    cur = CategoricalCounts({"a": 600, "b": 290, "c": 6, "d": 8, "e": 50, "f": 46})
    table = ContingencyTable.build(ref, cur)
    # c and d: at most 10 values on both sides
    assert table.columns == ("a", "b", "e", "f", REST) and table.tail == 2
    assert table.current[-1] == 6 + 8 and table.reference.sum() == ref.total
    assert ChiSquare().compare(ref, cur).details["below_resolution"] == 2
    exact = ContingencyTable.build(CategoricalCounts({"a": 5, "c": 1}), CategoricalCounts({"a": 4, "d": 2}))
    assert (
        exact.columns == ("a", "c", "d") and exact.tail == 0
    )  # exact counts: nothing is below the resolution


def test_pooled_intervals_are_searched_after_pooling() -> None:
    """A reference whose every listed count may be short by its bound (no per-category slacks) against the same
    population, sparse: once ~28 % of such windows alarmed; pooling the intervals before the search keeps chi2 quiet."""
    from tests.collector.drift.categorical_sim import Column, draw_pair

    rng = np.random.default_rng(1)
    p_values = [
        ChiSquare()
        .compare(*draw_pair(rng, Column(1000, "uniform"), "none", 1_000, "misra-gries")[:2])
        .p_value
        for _ in range(6)
    ]
    assert min(p_values) > 0.05, p_values


def test_top_k_lists_without_an_error_bound_are_not_pooled_by_their_other_count() -> None:
    """Two top-5 lists naming the same levels (no error bound) are an exact table: no level goes to the rest.

    Their only bound on an unlisted level is ``other`` itself, a cell under test; pooling the listed levels below
    the larger ``other`` share chose the columns by the tested difference (5.5 % alarms at 10 000 rows)."""
    from otel_mlmon_collector.drift._categorical import REST

    levels = ("c0", "c1", "c2", "c3", "c4")
    ref = CategoricalCounts(dict(zip(levels, (3000, 2000, 1450, 1000, 1000), strict=True)), other=1550)
    cur = CategoricalCounts(dict(zip(levels, (3000, 2000, 1520, 1000, 1000), strict=True)), other=1480)
    table = ContingencyTable.build(ref, cur)
    assert table.columns == (*levels, REST) and table.tail == 0
    result = ChiSquare().compare(ref, cur)
    expected = stats.chi2_contingency(np.vstack([table.reference, table.current]))
    assert result.details["below_resolution"] == 0 and result.details["degrees_of_freedom"] == 5
    assert result.p_value == pytest.approx(expected.pvalue)


def test_checks_sharing_converted_sides_give_the_results_of_sketches_read_by_each() -> None:
    """The engine reads a column's two sketches once into a CategoricalSides and hands it to the distribution
    method and the unseen test in turn (both use its one table): every result equals the one each method gives
    from the sketches alone, directly or through the policy, also when other comparisons come in between or the
    sides change."""
    from otel_mlmon_collector.drift import CategoricalSides, DriftPolicy

    from otel_mlmon.sketch import CategoricalSketch

    rng = np.random.default_rng(5)
    methods = [JensenShannonCategorical(alpha=0.05), ChiSquare(), LInfinity(), UnseenCategories()]
    columns = []
    for levels, k in ((5, 64), (120, 64), (200, 16), (30, 8)):
        sides = []
        for shift in (0.0, 0.7):
            weights = 1.0 / np.arange(1, levels + 1) ** (1.1 - shift)
            values = rng.choice(levels, size=4000, p=weights / weights.sum())
            sketch = CategoricalSketch(max_categories=k)
            sketch.update([f"v{v}" for v in values])
            sides.append(sketch)
        columns.append(sides)
    policy = DriftPolicy()
    for reference, current in columns:
        shared = CategoricalSides(reference, current)
        for method in methods:
            alone = method.compare(reference, current)
            for together in (method.compare_sides(shared), method.compare_sides(shared)):
                assert repr(together) == repr(alone)
        # Through the policy, every method on the one CategoricalSides: the same results, one table for all.
        results = policy.compare([(method, shared, None) for method in methods])
        assert [repr(r) for r in results] == [repr(m.compare(reference, current)) for m in methods]
    # One side kept, the other changed, in every order: each comparison reads its own sides' table.
    sketches = [side for column in columns for side in column]
    pairs = [(r, c, m) for r in sketches for c in sketches for m in methods]
    alone = [repr(m.compare(r, c)) for r, c, m in pairs]
    shared_sides = {(id(r), id(c)): CategoricalSides(r, c) for r in sketches for c in sketches}
    together = [repr(m.compare_sides(shared_sides[id(r), id(c)])) for r, c, m in pairs]
    assert together == alone


def test_categorical_sides_read_the_sketches_and_build_the_table_once(
    categorical_work: tuple[list, list],
) -> None:
    """A CategoricalSides converts each sketch once and builds its table on first use only; checks given it
    never read the sketches again, and a method without compare_sides gets its counts through the policy."""
    from otel_mlmon_collector.drift import CategoricalSides, DriftPolicy

    from otel_mlmon.sketch import CategoricalSketch

    reference, current = CategoricalSketch(max_categories=8), CategoricalSketch(max_categories=8)
    reference.update(["a"] * 500 + ["b"] * 300 + [f"r{i}" for i in range(40)])
    current.update(["a"] * 300 + ["b"] * 500 + [f"c{i}" for i in range(40)])
    builds, reads = categorical_work
    sides = CategoricalSides(reference, current)
    assert len(reads) == 2 and builds == []
    table = sides.table
    assert sides.table is table and len(builds) == 1
    for method in (JensenShannonCategorical(alpha=0.05), LInfinity(), UnseenCategories()):
        method.compare_sides(sides)
    assert len(reads) == 2 and len(builds) == 1
    LInfinity().compare(reference, current)  # on its own, a comparison reads and builds its own
    assert len(reads) == 4 and len(builds) == 2

    class Counting:
        """A categorical method of a user's own, with only compare()."""

        name, kind, threshold = "counting", "categorical", 0.0

        def compare(self, ref: object, cur: object) -> object:
            return (ref, cur)

    (got,) = DriftPolicy().compare([(Counting(), sides, None)])
    assert got == (sides.reference, sides.current)
