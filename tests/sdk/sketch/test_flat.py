"""The flat passes over row-major chunks (``sketch/_flat.py``) leave exactly the state of per-column updates.

Compared on random and adversarial columns (powers of two and their neighbours at every scale, subnormals,
+-0.0, infinities and NaN, integers beyond 2**53, float32 data, narrow and heavy-tailed data, both signs), into
histograms already holding other data, against ``ExponentialHistogram.update`` column by column and, on a few
tables and on values next to every bucket boundary, against the OpenTelemetry SDK's own aggregation fed value by
value. Every comparison runs twice: with the compiled passes (``_flatkernel.c``) and with the numpy passes.
"""

from __future__ import annotations

import contextlib
import sysconfig
from collections.abc import Iterator
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_mlmon.sketch import ExponentialHistogram, _flat, _kernel
from otel_mlmon.sketch import columns as columns_module
from otel_mlmon.sketch._pairwise import column_sums
from otel_mlmon.sketch.columns import update_columns

from ._oracle import assert_same, sdk_aggregate

ROWS = st.integers(_flat.MIN_ROWS, _flat.MIN_ROWS + 3000)
PASSES = pytest.mark.parametrize("passes", ["compiled", "numpy"])


@contextlib.contextmanager
def _passes(which: str) -> Iterator[None]:
    """The compiled passes (which must be built wherever a C compiler is: CI's install builds them) or numpy's."""
    if which == "numpy":
        with _kernel.disabled():
            yield
        return
    if _kernel.kernel() is None:
        pytest.skip("the C passes are not built here (no C compiler at install time)")
    # With the extension built, update_columns counts column by column (_column.py); these tests are about the
    # flat passes, so update_columns is kept on them (their own kernel() still returns the C module).
    with mock.patch.object(columns_module, "kernel", lambda: None):
        yield


def test_compiled_passes_are_built_where_a_compiler_is() -> None:
    """An install with a C compiler (CI's, a developer's) builds and loads the extension: the compiled runs of
    the tests below are not skipped there."""
    if not sysconfig.get_config_var("CC"):
        pytest.skip("no C compiler configured for this Python")
    assert _kernel.kernel() is not None
    with _kernel.disabled():
        assert _kernel.kernel() is None


def _column(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return rng.normal(size=n) * 10.0 ** rng.uniform(-8, 8)
    if kind == "positive":
        return rng.lognormal(size=n) * 10.0 ** rng.uniform(-5, 5)
    if kind == "negative":
        return -rng.exponential(size=n) * 10.0 ** rng.uniform(-5, 5)
    if kind == "heavy":
        return rng.standard_cauchy(size=n) * np.where(rng.random(n) < 0.2, 0.0, 1.0)
    if kind == "zeros":  # one sign with exact zeros of both signs
        return (
            np.abs(rng.normal(size=n))
            * rng.choice([0.0, 1.0, 1.0, 1.0], size=n)
            * rng.choice([1.0, -0.0], size=n)
        )
    if kind == "powers":  # exact powers of two and their closest neighbours, across many octaves
        mantissa = rng.choice([1.0, 1.0 - 2**-53, 1.0 + 2**-52, 1.0 - 2**-40, 1.0 + 2**-40], size=n)
        return rng.choice([-1.0, 1.0], size=n) * np.ldexp(mantissa, rng.integers(-70, 70, size=n))
    if kind == "positive powers":
        return np.ldexp(rng.choice([1.0, 1.0 - 2**-53, 1.0 + 2**-52], size=n), rng.integers(-3, 3, size=n))
    if kind == "extremes":
        return rng.choice(
            [5e-324, -5e-324, 2.0**-1022, 2.0**-1021, -1e300, 1.7976931348623157e308, 1.0], size=n
        )
    if kind == "subnormal":
        return rng.uniform(1e-320, 1e-310, size=n) * rng.choice([1.0, -1.0], size=n)
    if kind == "narrow":
        return rng.choice([-1.0, 1.0], size=n) * (3.0 + rng.random(n) * 1e-3)
    if kind == "big integers":  # integers beyond 2**53, as float64
        return (rng.integers(2**53, 2**62, size=n) * rng.choice([1, -1], size=n)).astype(np.float64)
    if kind == "float32":
        return (rng.normal(size=n) * 100).astype(np.float32).astype(np.float64)
    if kind == "integers":
        return rng.integers(-20, 50, size=n).astype(np.float64)
    raise AssertionError(kind)


KINDS = [
    "normal", "positive", "negative", "heavy", "zeros", "powers", "positive powers", "extremes", "subnormal",
    "narrow", "big integers", "float32", "integers",
]  # fmt: skip


def _pair(
    table: np.ndarray, before: list[np.ndarray | None], max_size: int, max_scale: int
) -> tuple[list, list]:
    flat, one_by_one = [], []
    for earlier in before:
        for target in (flat, one_by_one):
            hist = ExponentialHistogram(max_size=max_size, max_scale=max_scale)
            if earlier is not None:
                hist.update(earlier)
            target.append(hist)
    update_columns(flat, table)
    for j, hist in enumerate(one_by_one):
        hist.update(table[:, j])
    return flat, one_by_one


@PASSES
@settings(max_examples=30, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=6),
    before=st.lists(st.sampled_from([None, *KINDS]), min_size=6, max_size=6),
    rows=ROWS,
    max_size=st.sampled_from([2, 20, 160, 1000]),
    max_scale=st.sampled_from([20, 10, 6, 3, 0, -4]),
    damage=st.sampled_from([None, np.nan, np.inf, -np.inf]),
    seed=st.integers(0, 2**32 - 1),
)
def test_flat_passes_equal_update_per_column(
    passes: str,
    kinds: list[str],
    before: list[str | None],
    rows: int,
    max_size: int,
    max_scale: int,
    damage: float | None,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    table = np.column_stack([_column(kind, rows, rng) for kind in kinds])
    if damage is not None:
        table[rng.integers(rows), rng.integers(len(kinds))] = damage
    earlier = [None if kind is None else _column(kind, int(rng.integers(1, 400)), rng) for kind in before]
    with _passes(passes):
        flat, one_by_one = _pair(table, earlier[: len(kinds)], max_size, max_scale)
    assert flat == one_by_one


@PASSES
@pytest.mark.parametrize("kinds", [["normal", "negative", "positive"], ["powers", "zeros", "integers"]])
def test_flat_passes_equal_the_sdk(passes: str, kinds: list[str]) -> None:
    """Against the OpenTelemetry SDK aggregation itself, value by value (the reference implementation)."""
    rng = np.random.default_rng(17)
    table = np.column_stack([_column(kind, _flat.MIN_ROWS, rng) for kind in kinds])
    flat = [ExponentialHistogram() for _ in kinds]
    with _passes(passes):
        update_columns(flat, table)
    for j, hist in enumerate(flat):
        data = table[:, j].tolist()
        point = sdk_aggregate(data)
        assert point is not None
        assert_same(hist, point, data)


def _handed_over(monkeypatch: pytest.MonkeyPatch) -> list:
    """The histograms whose chunks go to the general path from now on (the flat passes handing a column over)."""
    handed: list = []
    original = ExponentialHistogram._update_chunk
    monkeypatch.setattr(
        ExponentialHistogram, "_update_chunk", lambda self, *a: (handed.append(self), original(self, *a))[1]
    )
    return handed


@PASSES
@pytest.mark.parametrize("scale", [1, 3, 6])
def test_values_next_to_bucket_boundaries_equal_the_sdk(
    passes: str, scale: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every bucket boundary of a few octaves (powers of two among them), where the passes map values with the
    SDK's formula instead of a table, and its neighbours 1 and 2 ulps away, against the SDK value by value."""
    exponents = np.arange((-3 << scale) + 1, 3 << scale) / (1 << scale)  # extremes off powers of two
    boundaries = np.exp2(exponents)
    near = [np.nextafter(boundaries, 0.0), boundaries, np.nextafter(boundaries, np.inf)]
    near += [np.nextafter(near[0], 0.0), np.nextafter(near[2], np.inf)]
    values = np.resize(np.concatenate(near), _flat.MIN_ROWS)
    table = np.column_stack([values, -values[::-1]])
    flat = [ExponentialHistogram(max_size=1000, max_scale=scale) for _ in range(2)]
    handed = _handed_over(monkeypatch)
    with _passes(passes):
        update_columns(flat, table)
    assert handed == []  # counted by the flat passes themselves
    for j, hist in enumerate(flat):
        data = table[:, j].tolist()
        point = sdk_aggregate(data, max_size=1000, max_scale=scale)
        assert point is not None and point.scale == scale
        assert_same(hist, point, data)


def test_most_columns_take_the_flat_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above is not vacuous: ordinary columns are counted by the flat passes, not handed over."""
    handed = _handed_over(monkeypatch)
    rng = np.random.default_rng(5)
    table = np.column_stack(
        [_column(kind, 70_000, rng) for kind in ("normal", "positive", "negative", "zeros")]
    )
    flat = [ExponentialHistogram() for _ in range(4)]
    with mock.patch.object(columns_module, "kernel", lambda: None):  # the flat passes, C or numpy
        update_columns(flat, table)
    assert handed == []
    for j, hist in enumerate(flat):
        expected = ExponentialHistogram()
        expected.update(table[:, j])
        assert hist == expected


@pytest.mark.parametrize("rows", [1, 7, 8, 100, 128, 129, 1000, 4096, 5000, 65536])
def test_column_sums_are_numpys_own(rows: int) -> None:
    part = np.random.default_rng(rows).standard_cauchy(size=(rows, 5)) * np.array(
        [1e-9, 1.0, 1e3, 1e12, -1.0]
    )
    expected = [np.add.reduce(np.ascontiguousarray(part[:, j])) for j in range(5)]
    assert column_sums(part).tolist() == expected
    compiled = _kernel.kernel()
    if compiled is not None:  # the C pass sums as numpy does, to the last bit, at any length
        out = np.empty((6, 5))
        compiled.extremes(part, rows, 5, out)
        assert out[0].tolist() == expected


def test_float32_and_integer_tables_match_their_float64_columns() -> None:
    rng = np.random.default_rng(9)
    floats = (rng.normal(size=(6000, 3)) * 50).astype(np.float32)
    integers = rng.integers(-(2**60), 2**60, size=(6000, 3))
    for table in (floats, integers):
        flat = [ExponentialHistogram() for _ in range(3)]
        update_columns(flat, table)
        for j, hist in enumerate(flat):
            expected = ExponentialHistogram()
            expected.update(table[:, j].astype(np.float64))
            assert hist == expected


@PASSES
@settings(max_examples=12, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=5),
    rows=ROWS,
    max_scale=st.sampled_from([20, 6, 0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_per_column_tables_equal_update_per_column(
    passes: str, kinds: list[str], rows: int, max_scale: int, seed: int
) -> None:
    """The flat passes with one table per column (taken when one shared table cannot serve all columns)."""
    rng = np.random.default_rng(seed)
    table = np.column_stack([_column(kind, rows, rng) for kind in kinds])
    earlier = [_column(kind, 300, rng) for kind in kinds]
    original = _flat.count_shared
    _flat.count_shared = lambda *_: False
    try:
        with _passes(passes):
            flat, one_by_one = _pair(table, list(earlier), 160, max_scale)
    finally:
        _flat.count_shared = original
    assert flat == one_by_one


def test_compiled_count_refuses_a_plan_that_does_not_fit() -> None:
    """A table entry pointing past the counts raises instead of writing outside them."""
    compiled = _kernel.kernel()
    if compiled is None:
        pytest.skip("the C passes are not built here")
    part = np.ones((8, 2))
    params = np.zeros((9, 2), dtype=np.uint64)
    params[3] = np.uint64((1 << 64) - 1)  # no limit
    counts = np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match="outside counts"):
        compiled.count(part, 8, 2, params, np.ones(2), np.array([7], dtype=np.int64), counts)
    assert not counts.any()
    compiled.count(part, 8, 2, params, np.ones(2), np.array([3], dtype=np.int64), counts)
    assert counts.tolist() == [0, 0, 0, 16]
