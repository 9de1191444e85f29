"""The fast paths (one bincount for both signs, the column sweep) leave exactly the state of the general path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_mlmon.sketch import ExponentialHistogram, exponential
from otel_mlmon.sketch.columns import update_columns


def _general(
    values: np.ndarray, max_size: int, max_scale: int, before: np.ndarray | None = None
) -> ExponentialHistogram:
    """The histogram built by the general path only (each mixed-sign chunk split by sign)."""
    original = exponential.insert_both_signs
    exponential.insert_both_signs = lambda *_: False
    try:
        hist = ExponentialHistogram(max_size=max_size, max_scale=max_scale)
        if before is not None:
            hist.update(before)
        hist.update(values)
    finally:
        exponential.insert_both_signs = original
    return hist


def _fast(
    values: np.ndarray, max_size: int, max_scale: int, before: np.ndarray | None = None
) -> ExponentialHistogram:
    hist = ExponentialHistogram(max_size=max_size, max_scale=max_scale)
    if before is not None:
        hist.update(before)
    hist.update(values)
    return hist


def _data(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return rng.normal(size=n) * 10.0 ** rng.uniform(-5, 5)
    if kind == "heavy":
        return rng.standard_cauchy(size=n) * np.where(rng.random(n) < 0.2, 0.0, 1.0)
    if kind == "integers":
        return rng.integers(-20, 50, size=n).astype(np.float64)
    if kind == "powers":
        return np.ldexp(
            rng.choice([-1.0, 1.0, -1.0 + 2**-52, 1.0 - 2**-53], size=n), rng.integers(-60, 60, size=n)
        )
    if kind == "extremes":
        return rng.choice(
            [5e-324, -5e-324, 2.0**-1022, -1e300, 1.7976931348623157e308, 0.0, -0.0, 1.0], size=n
        )
    if kind == "narrow":
        return rng.choice([-1.0, 1.0], size=n) * (1.0 + rng.random(n) * 1e-3)
    raise AssertionError(kind)


KINDS = ["normal", "heavy", "integers", "powers", "extremes", "narrow"]


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    before=st.sampled_from([None, *KINDS]),
    n=st.integers(1, 3000),
    max_size=st.sampled_from([2, 4, 20, 160, 1000]),
    max_scale=st.sampled_from([20, 12, 10, 5, 0, -3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_both_signs_path_equals_general_path(
    kind: str, before: str | None, n: int, max_size: int, max_scale: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    values = _data(kind, n, rng)
    earlier = None if before is None else _data(before, int(rng.integers(1, 500)), rng)
    assert _fast(values, max_size, max_scale, earlier) == _general(values, max_size, max_scale, earlier)


@pytest.mark.parametrize("kind", KINDS)
def test_both_signs_path_over_several_chunks(kind: str) -> None:
    values = _data(kind, 150_000, np.random.default_rng(7))
    assert _fast(values, 160, 20) == _general(values, 160, 20)


@pytest.mark.parametrize("shape", [(150_000, 3), (1000, 40), (1, 5), (0, 4), (500, 1)])
def test_update_columns_equals_update_per_column(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    table = rng.normal(size=shape) * rng.lognormal(size=shape[1])
    table[rng.random(shape) < 0.05] = 0.0
    if table.size:
        table.flat[:: max(1, table.size // 7)] = np.nan
    swept = [ExponentialHistogram() for _ in range(shape[1])]
    update_columns(swept, table)
    one_by_one = [ExponentialHistogram() for _ in range(shape[1])]
    for j, hist in enumerate(one_by_one):
        hist.update(table[:, j])
    assert swept == one_by_one
    fortran = [ExponentialHistogram() for _ in range(shape[1])]
    update_columns(fortran, np.asfortranarray(table))
    assert fortran == one_by_one


def test_update_columns_rejects_a_mismatched_table() -> None:
    with pytest.raises(ValueError, match="2 columns"):
        update_columns([ExponentialHistogram(), ExponentialHistogram()], np.zeros((4, 3)))


@settings(max_examples=40, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=12),
    before=st.lists(st.sampled_from([None, *KINDS]), min_size=12, max_size=12),
    rows=st.integers(1, 3000),
    max_size=st.sampled_from([2, 20, 160]),
    max_scale=st.sampled_from([20, 10, 4, -2]),
    seed=st.integers(0, 2**32 - 1),
)
def test_update_columns_equals_update_on_any_state(
    kinds: list[str], before: list[str | None], rows: int, max_size: int, max_scale: int, seed: int
) -> None:
    """Columns of every kind, into histograms already holding other data (so at different scales)."""
    rng = np.random.default_rng(seed)
    table = np.column_stack([_data(kind, rows, rng) for kind in kinds])
    if rng.random() < 0.3:
        table[rng.integers(rows), rng.integers(len(kinds))] = rng.choice([np.nan, np.inf, -np.inf])
    swept, one_by_one = [], []
    for j in range(len(kinds)):
        earlier = None if before[j] is None else _data(before[j], int(rng.integers(1, 300)), rng)
        swept.append(_fast(np.zeros(0), max_size, max_scale, earlier))
        one_by_one.append(_fast(np.zeros(0), max_size, max_scale, earlier))
    update_columns(swept, table)
    for j, hist in enumerate(one_by_one):
        hist.update(table[:, j])
    assert swept == one_by_one
