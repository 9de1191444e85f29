"""CodedStrings: an object array of category strings that also counts itself from its codes."""

from __future__ import annotations

import pickle
import sys

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


# -- the C gather (take_objects) behind coded_strings ----------------------------------------------------------


def _kernel_take():
    from otel_mlmon.sketch._kernel import kernel

    take = getattr(kernel(), "take_objects", None)
    if take is None:
        pytest.skip("the C extension is not built here")
    return take


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_c_gather_equals_numpy_item_for_item_and_keeps_references_balanced(dtype):
    take = _kernel_take()
    items = [f"level {k}" * (k % 3 + 1) for k in range(57)] + [None]
    lookup = np.empty(len(items), dtype=object)
    lookup[:] = items
    codes = np.random.default_rng(3).integers(-1, 57, 10_000).astype(dtype)
    strings = items[:-1]
    before = [sys.getrefcount(item) for item in strings]
    out = np.empty(len(codes), dtype=object)
    take(items, codes, out)
    assert _same_objects(out, lookup[codes])
    after = [sys.getrefcount(item) for item in strings]  # (not inside a zip: its tuple holds a reference)
    counts = np.bincount(codes[codes >= 0], minlength=57)
    assert (np.array(after) - before).tolist() == counts.tolist()
    del out
    assert [sys.getrefcount(item) for item in strings] == before


def _same_objects(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a.tolist(), b.tolist()))


def test_c_gather_refuses_what_it_cannot_take_and_leaves_out_untouched():
    take = _kernel_take()
    items = ["a", "b", None]
    out = np.empty(3, dtype=object)
    with pytest.raises(ValueError, match="outside"):
        take(items, np.array([0, 1, 3], dtype=np.int32), out)
    with pytest.raises(ValueError, match="outside"):
        take(items, np.array([0, -4, 1], dtype=np.int64), out)
    assert out.tolist() == [None, None, None]
    for codes, target in [
        (np.array([0, 1, 2], dtype=np.int16), out),  # codes of another width
        (np.array([0.0, 1.0, 2.0]), out),  # not integers
        (np.array([0, 1, 2], dtype=np.int32), np.empty(3)),  # out not of objects
        (np.array([0, 1, 2], dtype=np.int32), np.empty(2, dtype=object)),  # out too short
    ]:
        with pytest.raises(ValueError):
            take(items, codes, target)
    with pytest.raises(ValueError, match="contiguous"):
        take(items, np.arange(6, dtype=np.int64)[::2], out)  # not contiguous


def test_coded_strings_are_the_same_with_and_without_the_extension():
    from otel_mlmon.sketch._kernel import disabled

    codes = np.random.default_rng(5).integers(-1, 40, 5000).astype(np.int32)
    categories = [f"c{k}" for k in range(40)]
    compiled = coded_strings(categories, codes)
    with disabled():
        plain = coded_strings(categories, codes)
    assert compiled.tolist() == plain.tolist()
    assert np.array_equal(compiled.codes, plain.codes)
    assert compiled.categories.tolist() == plain.categories.tolist()
