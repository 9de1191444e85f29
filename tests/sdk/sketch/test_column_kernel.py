"""One column chunk counted by the two C reads (``sketch/_column.py``) leaves exactly the numpy path's state.

``ExponentialHistogram.update`` with the compiled passes against the same update with them turned off
(``_kernel.disabled``), on the adversarial columns of ``test_flat.py`` (powers of two and their neighbours,
subnormals, +-0.0, NaN and +-inf, integers beyond 2**53, float32 data, narrow and heavy-tailed data, both signs),
handed over as contiguous, strided and reversed float64 columns, as float32 and integer arrays, into histograms
already holding other data; and against the OpenTelemetry SDK's own aggregation fed value by value.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_mlmon.sketch import ExponentialHistogram, _column, _kernel, exponential
from otel_mlmon.sketch.columns import update_columns
from otel_mlmon.summary import SummaryConfig

from ._oracle import assert_same, sdk_aggregate
from .test_flat import KINDS
from .test_flat import _column as column_of


@pytest.fixture(scope="module")
def compiled():
    module = _kernel.kernel()
    if module is None:
        pytest.skip("the C passes are not built here (no C compiler at install time)")
    return module


def _taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each chunk offered to the C path was counted there (True) or left to the numpy path (False)."""
    taken: list[bool] = []
    original = _column.count_column
    monkeypatch.setattr(exponential, "count_column", lambda *a: (taken.append(original(*a)), taken[-1])[1])
    return taken


def _layouts(values: np.ndarray) -> dict[str, np.ndarray]:
    """The same float64 values as a contiguous, a strided and a reversed (negative stride) column."""
    wide = np.zeros((values.size, 3))
    wide[:, 1] = values
    backwards = values[::-1].copy()[::-1]
    return {"contiguous": values, "strided": wide[:, 1], "reversed": backwards}


def _both(values, before, max_size: int, max_scale: int, sizes: list[int]) -> tuple:
    """(compiled, numpy) histograms fed ``before`` then ``values`` in batches of ``sizes``."""
    out = []
    for off in (False, True):
        hist = ExponentialHistogram(max_size=max_size, max_scale=max_scale)
        with _kernel.disabled() if off else contextlib.nullcontext():
            if before is not None:
                hist.update(before)
            start = 0
            for size in sizes:
                hist.update(values[start : start + size])
                start += size
        out.append(hist)
    return tuple(out)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    before=st.sampled_from([None, *KINDS]),
    rows=st.integers(64, 70_000),
    split=st.floats(0.0, 1.0),
    max_size=st.sampled_from([2, 20, 160, 1000]),
    max_scale=st.sampled_from([20, 10, 6, 3, 0, -4]),
    damage=st.sampled_from([None, np.nan, np.inf, -np.inf]),
    layout=st.sampled_from(["contiguous", "strided", "reversed"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_compiled_column_equals_numpy_path(
    compiled,
    kind: str,
    before: str | None,
    rows: int,
    split: float,
    max_size: int,
    max_scale: int,
    damage: float | None,
    layout: str,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    values = column_of(kind, rows, rng)
    if damage is not None:
        values[rng.integers(rows, size=3)] = damage
    earlier = None if before is None else column_of(before, int(rng.integers(1, 400)), rng)
    head = int(rows * split)
    with_c, with_numpy = _both(_layouts(values)[layout], earlier, max_size, max_scale, [head, rows - head])
    assert with_c == with_numpy
    assert with_c.to_dict() == with_numpy.to_dict()


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32, np.uint8])
def test_float32_and_integer_columns(compiled, dtype: type) -> None:
    """Columns of other types are converted to float64 as before, then counted by the C path."""
    rng = np.random.default_rng(3)
    if np.issubdtype(dtype, np.floating):
        values = (rng.standard_t(2, size=50_000) * 100).astype(dtype)
    else:
        info = np.iinfo(dtype)
        values = rng.integers(max(info.min, -(2**40)), min(info.max, 2**40), size=50_000).astype(dtype)
    with_c, with_numpy = _both(values, None, 160, 20, [values.size])
    assert with_c == with_numpy
    assert with_c.count == values.size


def test_ordinary_columns_take_the_compiled_path(compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparisons above are not vacuous: ordinary columns (integers, exact powers of two and zeros among
    them) are counted by the C path, not handed back."""
    taken = _taken(monkeypatch)
    rng = np.random.default_rng(11)
    for kind in (
        "normal",
        "positive",
        "negative",
        "zeros",
        "integers",
        "positive powers",
        "float32",
        "heavy",
    ):
        hist = ExponentialHistogram()
        hist.update(column_of(kind, 100_000, rng))  # two chunks: 65 536 and 34 464 values
    assert taken == [True] * 16


def test_non_finite_and_crossing_chunks_go_to_numpy(compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    """NaN and infinities, and a chunk that takes the scale from positive to non-positive, are the numpy path's."""
    taken = _taken(monkeypatch)
    values = np.linspace(1.0, 2.0, 1000)
    values[10] = np.nan
    ExponentialHistogram().update(values)
    ExponentialHistogram(max_size=4).update(np.ldexp(1.5, np.arange(-500, 500)))  # scale 20 down to <= 0
    assert taken == [False, False]


@pytest.mark.parametrize("scale", [1, 3, 6, 10, 0, -3])
def test_values_next_to_bucket_boundaries_equal_the_sdk(
    compiled, scale: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every bucket boundary of a few octaves and its neighbours 1 and 2 ulps away, both signs, against the SDK
    value by value (marked cells, powers of two: the SDK's formula inside the C pass)."""
    step = 1 << max(scale, 0)
    boundaries = np.exp2(np.arange((-3 * step) + 1, 3 * step) / step)
    near = [np.nextafter(boundaries, 0.0), boundaries, np.nextafter(boundaries, np.inf)]
    near += [np.nextafter(near[0], 0.0), np.nextafter(near[2], np.inf)]
    values = np.concatenate(near)
    values = np.tile(np.concatenate([values, -values[::-1], [0.0, -0.0]]), 2)  # at least MIN_VALUES
    taken = _taken(monkeypatch)
    hist = ExponentialHistogram(max_size=8192, max_scale=scale)
    hist.update(values)
    assert taken and all(taken)  # counted by the C pass, marked cells included
    point = sdk_aggregate(values.tolist(), max_size=8192, max_scale=scale)
    assert point is not None and point.scale == scale
    assert_same(hist, point, values.tolist())


@pytest.mark.parametrize("n", [1, 7, 8, 9, 100, 128, 129, 1000, 4096, 5000, 65_535, 65_536])
@pytest.mark.parametrize("stride", [1, 3, -1])
def test_scan_sums_are_numpys_own(compiled, n: int, stride: int) -> None:
    """``scan``'s sum is ``np.add.reduce`` of the same values laid out contiguously, bit for bit; its extremes
    are numpy's."""
    rng = np.random.default_rng(n)
    base = rng.standard_cauchy(size=n * abs(stride)) * 1e3
    values = base[::stride] if stride > 0 else base[::-1]
    total, low, high, positive, negative = compiled.scan(values)
    contiguous = np.ascontiguousarray(values)
    assert total == np.add.reduce(contiguous)
    assert (low, high) == (values.min(), values.max())
    assert positive == (values[values > 0].min() if (values > 0).any() else np.inf)
    assert negative == (values[values < 0].max() if (values < 0).any() else -np.inf)


def test_column_count_refuses_values_outside_the_plan(compiled) -> None:
    values = np.array([1.0, 2.0, 3.0, -1.0, 0.0])
    table, shift = _column._cells(3)
    slots = np.zeros(40, dtype=np.int64)
    low, high = compiled.bucket(1.0, 3), compiled.bucket(3.0, 3)
    assert compiled.column_count(values, 3, low, high - low + 1, low, high - low + 1, table, shift, slots)
    assert slots.sum() == values.size and slots[2 * (high - low + 1)] == 1
    slots[:] = 0
    assert not compiled.column_count(
        values, 3, low, high - low, low, 1, table, shift, slots
    )  # 3.0 past the end
    with pytest.raises(ValueError):  # counts too short for the slots it names
        compiled.column_count(values, 3, low, 30, low, 30, table, shift, slots)
    with pytest.raises(ValueError):  # a table smaller than the cells its shift names
        compiled.column_count(values, 3, low, 3, low, 3, table[:10], shift, slots)
    with pytest.raises(ValueError):
        compiled.scan(np.zeros((3, 2)))


def test_column_summaries_count_the_same_missing_and_infinite(compiled) -> None:
    """The numeric column summary (NaN and +-inf counted beside the histogram) is the same with either path."""
    rng = np.random.default_rng(8)
    values = rng.normal(size=30_000)
    values[rng.integers(30_000, size=50)] = np.nan
    values[rng.integers(30_000, size=20)] = np.inf
    values[rng.integers(30_000, size=10)] = -np.inf
    clean = rng.lognormal(size=30_000)
    summaries = []
    for off in (False, True):
        summary = SummaryConfig().new_column("numeric")
        with _kernel.disabled() if off else contextlib.nullcontext():
            summary.update(values)
            summary.update(clean)
        summaries.append(summary.to_dict())
    assert summaries[0] == summaries[1]
    assert summaries[0]["missing"] == int(np.isnan(values).sum())
    assert summaries[0]["infinite"] == int(np.isinf(values).sum())


@pytest.mark.parametrize("shape", [(10_000, 50), (70_000, 3), (100, 4)])
def test_update_columns_counts_column_by_column(compiled, shape: tuple[int, int], monkeypatch) -> None:
    """With the extension, ``update_columns`` transposes tiles and counts each column chunk by the C path: the
    state of the numpy flat passes and of ``update`` per column."""
    rng = np.random.default_rng(shape[0])
    kinds = ["normal", "integers", "positive powers", "zeros"]
    table = np.column_stack([column_of(kinds[j % 4], shape[0], rng) for j in range(shape[1])])
    taken = _taken(monkeypatch)
    ours = [ExponentialHistogram() for _ in range(shape[1])]
    update_columns(ours, table)
    assert taken and all(taken)
    with _kernel.disabled():
        flat = [ExponentialHistogram() for _ in range(shape[1])]
        update_columns(flat, table)
    assert ours == flat
