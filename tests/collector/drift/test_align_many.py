"""align and align_many give bit for bit what the pair-by-pair alignment gave (the oracle), with and without the
reference cache."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import pytest
from otel_mlmon_collector.drift._align import AlignmentCache
from otel_mlmon_collector.drift._binning import Binned, align, align_many

from otel_mlmon.sketch import ExponentialHistogram

from ._align_oracle import oracle_align


@dataclass
class _Raw:
    """An OTLP-like point: counts may carry zeros at either end, any scale (as points from other exporters)."""

    scale: int
    zero_count: int
    positive_offset: int
    positive_counts: np.ndarray
    negative_offset: int
    negative_counts: np.ndarray
    count: int
    sum: float | None
    min: float
    max: float


def _histogram(rng: np.random.Generator, kind: str) -> object:
    max_size = int(rng.choice([4, 20, 160]))
    h = ExponentialHistogram(max_size=max_size, max_scale=int(rng.choice([20, 8, 0, -3])))
    size = int(rng.choice([0, 1, 3, 50, 2000]))
    if kind == "normal":
        values = rng.normal(size=size) * rng.lognormal()
    elif kind == "positive":
        values = rng.lognormal(size=size) * 10.0 ** rng.integers(-5, 5)
    elif kind == "negative":
        values = -rng.lognormal(size=size)
    elif kind == "zeros":
        values = np.where(rng.random(size) < 0.5, 0.0, rng.normal(size=size))
    elif kind == "integers":
        values = rng.integers(-3, 4, size=size).astype(float)
    elif kind == "extreme":  # far apart magnitudes: underflowing edges at low scales, MAX_BINS downscaling
        values = rng.choice([1e-300, 5e-324, 1.0, 1e300, -1e-200, 0.0], size=max(size, 1))
    else:
        values = np.zeros(size)
    h.update(values)
    return h


def _raw(rng: np.random.Generator) -> _Raw:
    def side() -> tuple[int, np.ndarray]:
        if rng.random() < 0.3:
            return 0, np.zeros(0, dtype=np.int64)
        counts = rng.integers(0, 5, size=int(rng.integers(1, 30)))
        return int(rng.integers(-2000, 2000)), counts

    (p_off, pos), (n_off, neg) = side(), side()
    zero = int(rng.integers(0, 3))
    count = int(pos.sum() + neg.sum() + zero)
    lo, hi = sorted(rng.normal(size=2) * 100)
    return _Raw(
        scale=int(rng.integers(-10, 21)),
        zero_count=zero,
        positive_offset=p_off,
        positive_counts=pos,
        negative_offset=n_off,
        negative_counts=neg,
        count=count,
        sum=None if rng.random() < 0.2 else float(rng.normal()),
        min=lo if rng.random() < 0.8 else math.nan,
        max=hi,
    )


def _same(a: Binned, b: Binned) -> None:
    for f in fields(Binned):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f.name
            assert np.array_equal(x, y, equal_nan=True), f.name
            assert np.array_equal(np.signbit(x), np.signbit(y)), f.name  # signed zeros too
        elif isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), f.name
        else:
            assert x == y and type(x) is type(y), f.name


KINDS = ("normal", "positive", "negative", "zeros", "integers", "extreme", "empty")


@pytest.mark.parametrize("seed", range(6))
def test_align_many_equals_align(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(150):
        if rng.random() < 0.25:
            pairs.append((_raw(rng), _raw(rng)))
        else:
            pairs.append((_histogram(rng, str(rng.choice(KINDS))), _histogram(rng, str(rng.choice(KINDS)))))
    expected = [oracle_align(r, c) for r, c in pairs]
    for got, want in zip((align(r, c) for r, c in pairs), expected):
        _same(got, want)
    for got, want in zip(align_many(pairs), expected):
        _same(got, want)
    cache = AlignmentCache()
    for _ in range(3):  # the cached reference sides give the same again
        cache.begin()
        for got, want in zip(align_many(pairs, cache), expected):
            _same(got, want)


def test_cache_follows_a_changed_reference() -> None:
    rng = np.random.default_rng(7)
    reference, current = ExponentialHistogram(), ExponentialHistogram()
    reference.update(rng.normal(size=1000))
    current.update(rng.normal(size=1000) + 1)
    cache = AlignmentCache()
    cache.begin()
    _same(align_many([(reference, current)], cache)[0], oracle_align(reference, current))
    more = ExponentialHistogram()
    more.update(rng.normal(size=500) * 50)
    reference.merge(more)  # changes scale, counts and count: the cached side must not be used
    cache.begin()
    _same(align_many([(reference, current)], cache)[0], oracle_align(reference, current))


def test_empty_input_and_unoccupied_buckets() -> None:
    assert align_many([]) == []
    nothing = _Raw(3, 0, 5, np.zeros(4, dtype=np.int64), -2, np.zeros(2, dtype=np.int64), 0, 0.0, 1.0, 2.0)
    pairs = [(nothing, nothing), (nothing, _Raw(0, 2, 0, np.zeros(0), 0, np.zeros(0), 2, 0.0, 0.0, 0.0))]
    for got, want in zip(align_many(pairs), [oracle_align(r, c) for r, c in pairs]):
        _same(got, want)


def _window(rng: np.random.Generator, shift: float, size: int) -> ExponentialHistogram:
    h = ExponentialHistogram()
    h.update(rng.normal(size=size) + shift)
    return h


def test_cached_layout_follows_the_current_window_layout() -> None:
    """Windows whose scale or index range changes between rounds get a new layout; unchanged ones reuse it."""
    rng = np.random.default_rng(11)
    references = [_window(rng, 0.0, 2000) for _ in range(8)]
    cache = AlignmentCache()
    rounds = [
        [_window(rng, 0.0, 500) for _ in range(8)],
        [_window(rng, 0.0, 500) for _ in range(8)],  # other counts, most likely other ranges
        [_window(rng, 3.0, 50) for _ in range(8)],  # far: other ranges, other scale
        [_window(rng, 0.0, 0) for _ in range(8)],  # empty windows
    ]
    rounds.append(rounds[0])  # back to the first layout
    for currents in [*rounds, rounds[1]]:
        cache.begin()
        pairs = list(zip(references, currents))
        for got, want in zip(align_many(pairs, cache), [oracle_align(r, c) for r, c in pairs]):
            _same(got, want)


def test_cached_layout_follows_a_reloaded_reference() -> None:
    """A reloaded reference (new objects with the same scale and ranges, other counts) never reuses the old
    counts, and the kept layout is used again only for the very same reference objects."""
    rng = np.random.default_rng(12)

    def reference(counts: np.ndarray) -> _Raw:
        return _Raw(5, 0, 40, counts, 30, counts[::-1].copy(), int(2 * counts.sum()), 0.0, -9.0, 9.0)

    current = [_window(rng, 0.0, 300) for _ in range(5)]
    cache = AlignmentCache()
    for _ in range(3):
        references = [reference(rng.integers(1, 9, size=60)) for _ in range(5)]
        for _ in range(2):
            cache.begin()
            pairs = list(zip(references, current))
            for got, want in zip(align_many(pairs, cache), [oracle_align(r, c) for r, c in pairs]):
                _same(got, want)


def test_stack_of_a_whole_pass_is_made_once_per_pass() -> None:
    """Every method stacking all the rows of one pass gets the same Stacked (made once); a subset of the rows or
    another pass gets its own; each equals stacking unlinked copies of the same bins."""
    from otel_mlmon_collector.drift._binning import stack

    rng = np.random.default_rng(3)

    def histogram(loc: float) -> ExponentialHistogram:
        h = ExponentialHistogram(max_size=160)
        h.update(rng.normal(loc, 1.0, size=500))
        return h

    pairs = [(histogram(0.0), histogram(0.1 * i)) for i in range(5)]
    whole = align_many(pairs)
    first = stack(whole)
    assert stack(whole) is first
    assert stack(align_many(pairs)) is not first  # a new pass: its own rows, its own Stacked
    subset = stack(whole[1:3])
    assert subset is not first and stack(whole) is first
    for stacked, binneds in ((first, whole), (subset, whole[1:3])):
        copies = [
            Binned(b.edges.copy(), b.reference.copy(), b.current.copy(), reference_sum=b.reference_sum)
            for b in binneds
        ]
        expected = stack(copies)
        for name in ("edges", "reference", "current", "sizes", "reference_sum", "n_eff"):
            assert np.array_equal(getattr(stacked, name), getattr(expected, name)), name
