"""CategoricalSketch against exact counts: random streams, random merge trees, deltas and reloads keep the bounds."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_mlmon.sketch import CategoricalSketch

# Batches of small integers drawn with skew, so streams are sometimes within K distinct and sometimes far over.
batch = st.lists(st.integers(0, 40).map(lambda v: v % (1 + v // 3)), max_size=60)


def _truth(batches: list[list[int]]) -> Counter:
    return Counter(str(v) for part in batches for v in part)


def _check(sketch: CategoricalSketch, truth: Counter, same_k: bool = True) -> None:
    """Every true count lies in its interval; unlisted counts are at most error_bound; MG bound when same K."""
    listed = {key: (low, high) for key, low, high in sketch.bounds()}
    bound = sketch.error_bound
    assert sketch.count == sum(truth.values())
    assert sketch.other_count == sketch.count - sum(low for low, _ in listed.values()) >= 0
    assert len(listed) <= sketch.max_categories
    for key, true_count in truth.items():
        low, high = listed.get(key, (0, bound))
        assert low <= true_count <= high <= low + bound, (key, true_count, low, high, bound)
    assert set(listed) <= set(truth)
    if same_k:  # a sketch built by updates and merges of one K, not rebuilt from exported points
        assert (sketch.max_categories + 1) * bound <= sketch.count - sum(
            h - bound for _, h in listed.values()
        )
    if same_k and len(truth) <= sketch.max_categories:
        assert sketch.exact and sketch.other_count == 0 and dict(sketch.top()) == dict(truth)


@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(batch, min_size=1, max_size=10),
    k=st.integers(1, 16),
    order=st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100), st.booleans()), max_size=12),
)
def test_random_merge_trees_keep_every_count_in_its_interval(
    batches: list[list[int]], k: int, order: list[tuple[int, int, bool]]
) -> None:
    """Any tree of merges (some through a JSON round trip) of per-batch sketches brackets every exact count."""
    pool = []
    for part in batches:
        sketch = CategoricalSketch(max_categories=k)
        sketch.update(np.array(part, dtype=np.int64))
        pool.append((sketch, [part]))
    for i, j, reload in order:
        if len(pool) < 2:
            break
        a = pool.pop(i % len(pool))
        b = pool.pop(j % len(pool))
        merged = a[0].copy()
        right = CategoricalSketch.from_dict(json.loads(json.dumps(b[0].to_dict()))) if reload else b[0]
        merged.merge(right)
        pool.append((merged, a[1] + b[1]))
    while len(pool) > 1:
        a, b = pool.pop(), pool.pop()
        merged = a[0].copy()
        merged.merge(b[0])
        pool.append((merged, a[1] + b[1]))
    sketch, parts = pool[0]
    _check(sketch, _truth(parts))


@settings(max_examples=100, deadline=None)
@given(batches=st.lists(batch, min_size=1, max_size=12), k=st.integers(1, 16))
def test_streams_of_batches_keep_every_count_in_its_interval(batches: list[list[int]], k: int) -> None:
    """Updating one sketch batch by batch brackets every exact count, in both the exact and overflowed regimes."""
    sketch = CategoricalSketch(max_categories=k)
    for part in batches:
        sketch.update([str(v) for v in part])
    _check(sketch, _truth(batches))


@settings(max_examples=100, deadline=None)
@given(
    before=st.lists(batch, max_size=6),
    after=st.lists(batch, max_size=6),
    k=st.integers(1, 12),
)
def test_delta_of_two_cumulative_states_brackets_the_exact_delta(
    before: list[list[int]], after: list[list[int]], k: int
) -> None:
    """newer.subtract(older) of one cumulative sketch brackets what was counted in between, and is exact when newer is."""
    sketch = CategoricalSketch(max_categories=k)
    for part in before:
        sketch.update(np.array(part, dtype=np.int64))
    older = sketch.copy()
    for part in after:
        sketch.update(np.array(part, dtype=np.int64))
    delta = sketch.subtract(older)
    assert delta is not None
    _check(delta, _truth(after), same_k=False)
    if sketch.exact:
        assert delta.exact and dict(delta.top()) == dict(_truth(after))
    assert older.subtract(sketch) is None or sketch.count == older.count


@settings(max_examples=80, deadline=None)
@given(batches=st.lists(batch, min_size=1, max_size=8), k=st.integers(1, 12), budget=st.integers(1, 20))
def test_exported_counts_rebuild_a_sketch_with_valid_bounds(
    batches: list[list[int]], k: int, budget: int
) -> None:
    """from_counts of exported points (top counts + other), with or without the exporter's bound, stays valid."""
    sketch = CategoricalSketch(max_categories=k)
    for part in batches:
        sketch.update(np.array(part, dtype=np.int64))
    truth = _truth(batches)
    shown = dict(sketch.top(budget))  # an exporter may send fewer categories than it keeps
    other = sketch.count - sum(shown.values())
    _check(CategoricalSketch.from_counts(shown, other_count=other), truth, same_k=False)
    if len(shown) == len(sketch.top()):
        rebuilt = CategoricalSketch.from_counts(shown, other_count=other, error_bound=sketch.error_bound)
        _check(rebuilt, truth, same_k=False)


def test_issue_11_stream_counts_exactly() -> None:
    """Ten calls of 10k rows of a 40-level Zipf column: every count exact and no 'other' mass (was 28.8 %)."""
    rng = np.random.default_rng(11)
    levels = np.array([f"level_{i}" for i in range(40)], dtype=object)
    sketch = CategoricalSketch(max_categories=2048)
    parts = [levels[(rng.zipf(1.3, 10_000) - 1) % 40] for _ in range(10)]
    for part in parts:
        sketch.update(part)
    truth = Counter(v for part in parts for v in part.tolist())
    assert sketch.other_count == 0 and sketch.error_bound == 0
    assert dict(sketch.top()) == dict(truth)


def test_overflowed_heavy_hitters_stay_exact_and_tail_is_bounded() -> None:
    """Past K categories, levels present from the first batch keep exact counts; the bound stays <= count/(K+1)."""
    rng = np.random.default_rng(5)
    k = 64
    sketch = CategoricalSketch(max_categories=k)
    parts = [(rng.zipf(1.2, 20_000) - 1) % 5_000 for _ in range(10)]
    for part in parts:
        sketch.update(part)
    truth = _truth([p.tolist() for p in parts])
    _check(sketch, truth)
    assert not sketch.exact and sketch.error_bound <= sketch.count / (k + 1)
    for key, low, high in sketch.bounds(10):
        assert low == high == truth[key]


def test_version_1_files_load_with_their_misra_gries_bound() -> None:
    """A version 1 sketch (pairs of Misra–Gries lower bounds) loads with every count's slack = error_bound."""
    old = {
        "format": "otel-mlmon.categorical-sketch",
        "version": 1,
        "max_categories": 2,
        "max_length": 128,
        "hashed": None,
        "count": 10,
        "error_bound": 2,
        "counts": [["a", 5], ["b", 1]],
        "distinct": {"k": 16, "hashes": ""},
    }
    sketch = CategoricalSketch.from_dict(old)
    assert sketch.bounds() == [("a", 5, 7), ("b", 1, 3)] and sketch.error_bound == 2
    assert sketch.other_count == 4 and CategoricalSketch.from_dict(sketch.to_dict()) == sketch
    assert sketch.to_dict()["version"] == 2


def test_merge_keeps_the_larger_capacity() -> None:
    """Merging a sketch with more categories into one with fewer keeps them all (the larger K wins)."""
    small, large = CategoricalSketch(max_categories=2), CategoricalSketch(max_categories=10)
    small.update(["a", "b"])
    large.update([f"v{i}" for i in range(8)])
    small.merge(large)
    assert small.max_categories == 10 and small.exact and len(small.top()) == 10
