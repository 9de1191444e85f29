"""CategoricalSketch: exact and bounded top-K counts, other mass, distinct estimate, keys, hashing, merge, serialisation."""

from __future__ import annotations

import doctest
import hashlib
import json
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_mlmon.sketch import CategoricalSketch, categorical
from otel_mlmon.sketch._kmv import KMinValues, hash64

small_alphabet = st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"]), max_size=200)


def _check_bound(sketch: CategoricalSketch, truth: Counter) -> None:
    """Every true count lies in its interval, unlisted ones below error_bound, and the Misra–Gries bound holds."""
    kept = {key: (low, high) for key, low, high in sketch.bounds()}
    assert sketch.count == sum(truth.values())
    assert sketch.other_count == sketch.count - sum(low for low, _ in kept.values()) >= 0
    assert len(kept) <= sketch.max_categories
    bound = sketch.error_bound
    assert (sketch.max_categories + 1) * bound <= sketch.count - sum(
        high - bound for _, high in kept.values()
    )
    for key, true_count in truth.items():
        low, high = kept.get(key, (0, bound))
        assert low <= true_count <= high <= low + bound, key


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(small_alphabet, max_size=5))
def test_counts_are_exact_when_distinct_fits(batches: list[list[str]]) -> None:
    """With at most K distinct categories every count is exact and the other mass is zero."""
    sketch = CategoricalSketch(max_categories=8)
    for batch in batches:
        sketch.update(np.array(batch, dtype=str) if batch else batch)
    truth = Counter(v for batch in batches for v in batch)
    assert dict(sketch.top()) == dict(truth)
    assert sketch.other_count == 0 and sketch.error_bound == 0
    assert sketch.distinct_estimate() == len(truth)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    exponent=st.floats(1.1, 3.0),
    max_categories=st.integers(1, 30),
    batches=st.integers(1, 6),
)
def test_error_bound_holds_on_zipf_data(
    seed: int, exponent: float, max_categories: int, batches: int
) -> None:
    """On heavy-tailed data with more categories than K, counts stay within the documented bound."""
    rng = np.random.default_rng(seed)
    data = rng.zipf(exponent, 3000) % 500
    sketch = CategoricalSketch(max_categories=max_categories)
    for part in np.array_split(data, batches):
        sketch.update(part)
    truth = Counter(str(v) for v in data.tolist())
    _check_bound(sketch, truth)
    heavy = [key for key, n in truth.items() if n > sketch.count / (max_categories + 1)]
    assert set(heavy) <= set(dict(sketch.top()))  # every heavy hitter is kept


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_categories=st.integers(1, 20))
def test_merge_orders_all_respect_the_bound(seed: int, max_categories: int) -> None:
    """(a+b)+c and a+(b+c) both keep the guarantee; count, distinct hashes and exact cases agree."""
    rng = np.random.default_rng(seed)
    parts = [rng.zipf(1.6, int(rng.integers(1, 800))) % 200 for _ in range(3)]
    a, b, c = (CategoricalSketch(max_categories=max_categories) for _ in range(3))
    for sketch, part in zip((a, b, c), parts):
        sketch.update(part)
    left = a.copy()
    left.merge(b)
    left.merge(c)
    inner = b.copy()
    inner.merge(c)
    right = a.copy()
    right.merge(inner)
    truth = Counter(str(v) for part in parts for v in part.tolist())
    for merged in (left, right):
        _check_bound(merged, truth)
    assert left.count == right.count
    assert left.distinct_estimate() == right.distinct_estimate()
    if len(truth) <= max_categories:
        assert left == right and dict(left.top()) == dict(truth)


def test_merging_different_k_keeps_counts_within_error_bound() -> None:
    """Merging a small-K sketch into a large-K one still brackets every true count by the tracked bound."""
    rng = np.random.default_rng(12)
    parts = [rng.zipf(1.4, 2000) % 300 for _ in range(2)]
    big, small = CategoricalSketch(max_categories=40), CategoricalSketch(max_categories=3)
    big.update(parts[0])
    small.update(parts[1])
    big.merge(small)
    truth = Counter(str(v) for part in parts for v in part.tolist())
    kept = dict(big.top())
    assert big.error_bound >= small.error_bound > 0
    for key, true_count in truth.items():
        assert kept.get(key, 0) <= true_count <= kept.get(key, 0) + big.error_bound


def test_merge_equals_single_sketch_when_exact() -> None:
    """Merging exact per-part sketches equals sketching the concatenation."""
    parts = [["x", "y", "x"], ["z"], ["y", "y", None]]
    whole = CategoricalSketch(max_categories=5)
    merged = CategoricalSketch(max_categories=5)
    for part in parts:
        whole.update(part)
        one = CategoricalSketch(max_categories=5)
        one.update(part)
        merged.merge(one)
    assert merged == whole and whole.top() == [("y", 3), ("x", 2), ("z", 1)]
    with pytest.raises(TypeError, match="CategoricalSketch"):
        merged.merge({"x": 1})  # type: ignore[arg-type]


def test_values_are_stringified_by_the_documented_rule() -> None:
    """Booleans, integers, integral floats, other floats, bytes and None/NaN follow the documented rule."""
    sketch = CategoricalSketch()
    sketch.update([True, False, True, 3, 3.0, 0.5, b"caf\xc3\xa9", None, float("nan"), 1, "3", np.int64(7)])
    assert dict(sketch.top()) == {"true": 2, "false": 1, "3": 3, "0.5": 1, "café": 1, "1": 1, "7": 1}
    assert sketch.count == 10
    arrays = CategoricalSketch()
    arrays.update(np.array([True, False, False]))
    arrays.update(np.array([1, 2, 2], dtype=np.int32))
    arrays.update(np.array([2.0, np.nan, 2.5]))
    arrays.update(np.array([b"a", b"b"]))
    arrays.update(np.array(["a", None, True], dtype=object))
    assert dict(arrays.top()) == {"true": 2, "false": 2, "1": 1, "2": 3, "2.5": 1, "a": 2, "b": 1}


class _NoTruth:
    """Stands in for pandas.NA: comparing it gives a value without a truth value."""

    def __ne__(self, other: object) -> object:
        return self

    def __bool__(self) -> bool:
        raise TypeError("boolean value of NA is ambiguous")

    def __hash__(self) -> int:
        return 0


def test_missing_values_and_empty_batches_change_nothing() -> None:
    """Batches of only None/NaN/NaT/NA-like values, or empty, leave the sketch empty."""
    sketch = CategoricalSketch()
    nat = np.datetime64("NaT")
    for batch in (
        [],
        [None, None],
        np.array([np.nan]),
        np.array([], dtype=str),
        [nat, _NoTruth()],
        np.array([nat]),
    ):
        sketch.update(batch)
    assert sketch == CategoricalSketch() and sketch.count == 0 and sketch.top() == []


def test_long_strings_are_truncated() -> None:
    """Strings longer than max_length are cut, and values sharing the cut prefix share a count."""
    sketch = CategoricalSketch(max_length=5)
    sketch.update(np.array(["abcdefgh", "abcdezzz", "abc"]))
    sketch.update(["abcde-again"])
    assert dict(sketch.top()) == {"abcde": 3, "abc": 1}


def test_hashing_is_salted_stable_and_private() -> None:
    """With hash_salt, keys are stable keyed hashes; raw values and the salt never appear in to_dict."""
    sketch = CategoricalSketch(hash_salt="pepper")
    sketch.update(["alice@example.com", "alice@example.com", "bob"])
    keys = dict(sketch.top())
    assert keys == {"759f36d3634beccb": 2, "b694b3b1c1bdf848": 1}  # golden: must never change
    key = hashlib.blake2b(b"pepper", digest_size=32, person=b"otelmlmon-salt").digest()
    assert hashlib.blake2b(b"bob", key=key, digest_size=8).hexdigest() == "b694b3b1c1bdf848"
    text = json.dumps(sketch.to_dict())
    assert "alice" not in text and "pepper" not in text
    other = CategoricalSketch(hash_salt="salt")
    other.update(["alice@example.com"])
    assert set(dict(other.top())).isdisjoint(keys)
    with pytest.raises(ValueError, match="different hash_salt"):
        sketch.merge(other)
    with pytest.raises(ValueError, match="different hash_salt"):
        sketch.merge(CategoricalSketch())


def test_hashed_sketch_loads_with_and_without_its_salt() -> None:
    """A hashed sketch reloads for reading without the salt, and for updating only with the right salt."""
    sketch = CategoricalSketch(hash_salt="pepper")
    sketch.update(["a", "b", "a"])
    data = json.loads(json.dumps(sketch.to_dict()))
    read_only = CategoricalSketch.from_dict(data)
    assert read_only == sketch
    with pytest.raises(ValueError, match="load it with its hash_salt"):
        read_only.update(["a"])
    with pytest.raises(ValueError, match="does not match"):
        CategoricalSketch.from_dict(data, hash_salt="wrong")
    writable = CategoricalSketch.from_dict(data, hash_salt="pepper")
    writable.update(["a"])
    sketch.update(["a"])
    assert writable == sketch


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.lists(st.text(max_size=12), max_size=60), max_size=4), k=st.integers(1, 10))
def test_dict_round_trip_through_json(batches: list[list[str]], k: int) -> None:
    """to_dict survives strict JSON and from_dict rebuilds an equal sketch that keeps working."""
    sketch = CategoricalSketch(max_categories=k, max_length=8, distinct_k=16)
    for batch in batches:
        sketch.update(batch)
    loaded = CategoricalSketch.from_dict(json.loads(json.dumps(sketch.to_dict(), allow_nan=False)))
    assert loaded == sketch
    loaded.update(["new"])
    sketch.update(["new"])
    assert loaded == sketch


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "x"}, "format must be"),
        ({"version": 3}, "unsupported categorical sketch version"),
        ({"counts": [["a", 1, 1]]}, "exceeds error_bound"),
        ({"version": 1, "counts": [["a", 1, 1]]}, "positive int"),
        ({"count": 1}, "add up to more than count"),
        ({"counts": [["a", 0]]}, "positive int"),
        ({"counts": [["a", 1], ["a", 1]]}, "twice"),
        ({"max_categories": 0}, "max_categories must be"),
        ({"distinct": {"k": 16, "hashes": "***"}}, "base64"),
        ({"distinct": None}, "distinct must be a mapping"),
        ({"error_bound": -1}, "error_bound must be >= 0"),
    ],
)
def test_from_dict_names_the_problem(change: dict, message: str) -> None:
    """Corrupt or unknown-version dictionaries raise ValueError naming the offending field."""
    sketch = CategoricalSketch(max_categories=3, distinct_k=16)
    sketch.update(["a", "b", "b"])
    with pytest.raises(ValueError, match=message):
        CategoricalSketch.from_dict({**sketch.to_dict(), **change})


class _Str(str):
    """A str subclass: valid as a category, read by the entry-by-entry loop."""


class _Int(int):
    """An int subclass (not bool): valid as a count, read by the entry-by-entry loop."""


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    "counts",
    [
        [],
        [["a", 5], ["b", 3]],
        [["a", 5], ["b", 3, 2]],
        [["a", 5, 1], ["b", 3, 3]],
        [["a", 5], ["b", 3, 4]],  # slack above error_bound
        [["a", 5], ["b", 3, 0]],  # zero slack
        [["a", 5], ["b", 3, True]],
        [["a", 5], ["a", 3]],  # twice
        [["a", 5], ["a", 3, 1]],  # twice, one with slack
        [["a", 5], ["b", 0]],
        [["a", 5], ["b", -1]],
        [["a", 5], ["b", True]],
        [["a", 5], ["b", 2.0]],
        [["a", 5], ["b", "2"]],
        [["a", 5], [3, 2]],  # category not a str
        [["a", 5], [["x"], 2]],  # unhashable category
        [["a", 5], [["x"], 2, 1]],
        [["a", 5], ["b"]],
        [["a", 5], ["b", 1, 1, 1]],
        [["a", 5], []],
        [["a", 5], ("b", 2)],  # a tuple entry (valid)
        [["a", 5], "b2"],  # a string of two characters
        [["a", 5], {"b", 2}],
        [["a", 5], [_Str("b"), 2]],
        [["a", 5], ["b", _Int(2)]],
        [["a", 5], ["b", _Int(2), _Int(1)]],
    ],
)
def test_counts_field_fast_reading_equals_the_entry_by_entry_loop(counts: list, version: int) -> None:
    """The counts field read by whole-list passes gives what the entry-by-entry loop gives: the same counts and
    slacks, or the same error (the loop reads whatever the passes do not take)."""

    def loaded(fast: bool) -> tuple[str, Any]:
        data = {
            "format": "otel-mlmon.categorical-sketch",
            "version": version,
            "max_categories": 8,
            "max_length": 128,
            "hashed": None,
            "count": 40,
            "error_bound": 3,
            "counts": counts,
            "distinct": {"k": 16, "hashes": ""},
        }
        original = categorical._usual_counts
        try:
            if not fast:
                categorical._usual_counts = lambda *args: None  # type: ignore[assignment]
            sketch = CategoricalSketch.from_dict(data)
        except ValueError as exc:
            return "error", str(exc)
        finally:
            categorical._usual_counts = original  # type: ignore[assignment]
        return "ok", (list(sketch._counts.items()), list(sketch._slack.items()))

    assert loaded(fast=True) == loaded(fast=False)


def test_distinct_estimate_error_matches_its_documented_rse() -> None:
    """KMV estimates have relative error close to 1/sqrt(k-2), unbiased, and exact below k."""
    k = 256
    errors = []
    for trial in range(20):
        sketch = KMinValues(k)
        sketch.update(hash64(f"{trial}-{i}" for i in range(5000)))
        errors.append(sketch.estimate() / 5000 - 1)
    rse = 1 / np.sqrt(k - 2)
    assert 0.5 * rse < float(np.std(errors)) < 1.6 * rse
    assert abs(float(np.mean(errors))) < 3 * rse / np.sqrt(len(errors))
    exact = CategoricalSketch(distinct_k=k)
    exact.update([f"v{i}" for i in range(k - 1)] * 2)
    assert exact.distinct_estimate() == k - 1


def test_distinct_sketch_of_merge_is_sketch_of_union() -> None:
    """Merging distinct sketches gives exactly the sketch of the union, and 50k distinct within 10%."""
    a, b, whole = (CategoricalSketch(max_categories=4) for _ in range(3))
    left = [f"id{i}" for i in range(30_000)]
    right = [f"id{i}" for i in range(20_000, 50_000)]
    a.update(left)
    b.update(right)
    whole.update(left + right)
    a.merge(b)
    assert np.array_equal(a._distinct.hashes, whole._distinct.hashes)
    assert abs(a.distinct_estimate() / 50_000 - 1) < 0.1


def test_top_orders_by_count_then_category() -> None:
    """top() sorts by count descending, ties by category, and honours k."""
    sketch = CategoricalSketch()
    sketch.update(["b", "a", "c", "c"])
    assert sketch.top() == [("c", 2), ("a", 1), ("b", 1)]
    assert sketch.top(2) == [("c", 2), ("a", 1)] and sketch.top(0) == []


def test_copy_is_independent() -> None:
    """A copy does not share counters or distinct hashes with the original."""
    sketch = CategoricalSketch()
    sketch.update(["a"])
    clone = sketch.copy()
    clone.update(["b"])
    assert sketch.top() == [("a", 1)] and sketch.distinct_estimate() == 1 and clone.count == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_categories": 0},
        {"max_length": 0},
        {"hash_salt": ""},
        {"distinct_k": 2},
        {"max_categories": True},
    ],
)
def test_constructor_rejects_bad_configuration(kwargs: dict) -> None:
    """Invalid parameters raise ValueError at construction."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        CategoricalSketch(**kwargs)


def test_docstring_examples_run() -> None:
    """The seeded example in the class docstring holds."""
    assert doctest.testmod(categorical, raise_on_error=False).failed == 0
