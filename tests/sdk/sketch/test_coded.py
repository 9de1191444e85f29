"""CodedStrings: an object array of category strings that also counts itself from its codes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from otel_mlmon.sketch import CategoricalSketch
from otel_mlmon.sketch._coded import CodedStrings, coded_counts, coded_strings
from otel_mlmon.sketch._values import count_values


def _coded(seed: int = 0, rows: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    categories = ["a", "b", None, "a", "c", "d"]  # a repeat and a missing category: renumbered
    codes = rng.integers(-1, len(categories), rows).astype(np.int8)
    plain = np.array([*categories, None], dtype=object)[codes]
    return coded_strings(categories, codes), plain


def test_values_and_counts_are_the_plain_arrays():
    values, plain = _coded()
    assert type(values) is CodedStrings and values.dtype == object
    assert values.tolist() == plain.tolist()
    assert not values.flags.writeable
    present = plain[plain != None]  # noqa: E711
    assert coded_counts(values[values != None]) == count_values(present)  # noqa: E711
    assert coded_counts(values) == count_values(present)
    assert coded_counts(plain) is None


def test_missing_comparison_and_selections_keep_the_codes():
    values, plain = _coded(1)
    missing = values == None  # noqa: E711
    assert type(missing) is np.ndarray and missing.tolist() == (plain == None).tolist()  # noqa: E711
    for key in (slice(3, 700, 3), np.flatnonzero(~missing)[::2], ~missing):
        part = values[key]
        assert type(part) is CodedStrings and part.codes is not None and not part.flags.writeable
        assert part.tolist() == plain[key].tolist()
        assert coded_counts(part) == count_values(plain[key][plain[key] != None])  # noqa: E711
    assert values[5] == plain[5]


def test_derived_arrays_forget_the_codes():
    values, plain = _coded(2)
    copy = values.copy()
    assert copy.codes is None and copy.flags.writeable
    copy[0] = "changed"
    assert coded_counts(copy) is None
    assert type(values != values) is np.ndarray  # other ufuncs: plain results
    assert values.reshape(-1, 1)[:, 0].codes is None
    restored = pickle.loads(pickle.dumps(values))
    assert type(restored) is np.ndarray and restored.tolist() == plain.tolist()
    with pytest.raises(ValueError):
        values[0] = "x"


def test_concatenation_unifies_categories():
    one, plain_one = _coded(3)
    two = coded_strings(["d", "e", "a"], np.array([0, 1, 2, -1, 2]))
    joined = np.concatenate([one, two])
    expected = np.concatenate([plain_one, np.array(["d", "e", "a", None, "a"], dtype=object)])
    assert type(joined) is CodedStrings and joined.codes is not None
    assert joined.tolist() == expected.tolist()
    assert coded_counts(joined) == count_values(expected[expected != None])  # noqa: E711
    mixed = np.concatenate([one, plain_one])  # a part without codes: a plain concatenation
    assert coded_counts(mixed) is None and mixed.tolist() == [*plain_one, *plain_one]


def test_sketch_of_coded_strings_equals_sketch_of_plain_strings():
    """Past the capacity, truncated, and through a merge: the same sketch."""
    rng = np.random.default_rng(4)
    categories = [f"category_{k}" for k in range(50)]
    one, two = CategoricalSketch(max_categories=8, max_length=10), CategoricalSketch(8, 10)
    for _ in range(3):
        codes = np.minimum(rng.zipf(1.5, 500) - 1, 49)
        one.update(coded_strings(categories, codes))
        two.update(np.array(categories, dtype=object)[codes])
    assert one == two and one.to_dict() == two.to_dict()
