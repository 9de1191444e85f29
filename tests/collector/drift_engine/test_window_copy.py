"""A one-window view copies the window's histogram: the same histogram a merge into an empty one gives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from otel_mlmon_collector._windows import _merged_copy

from otel_mlmon.sketch import ExponentialHistogram


def _fields(h: ExponentialHistogram) -> dict[str, object]:
    return {
        k: (v.dtype, v.tolist()) if isinstance(v, np.ndarray) else v
        for k, v in vars(h).items()
        if not (isinstance(v, float) and math.isnan(v))
    }


@pytest.mark.parametrize("seed", range(20))
def test_copy_equals_merge_into_an_empty_histogram(seed: int) -> None:
    """Every field (dtype, offsets of empty sides, signed sums, scales) equals what merge() gives."""
    rng = np.random.default_rng(seed)
    window = ExponentialHistogram(max_size=int(rng.choice([20, 160])), max_scale=int(rng.choice([20, 5])))
    kind = seed % 4
    values = rng.normal(size=int(rng.integers(1, 500)))
    window.update(np.abs(values) if kind == 0 else -np.abs(values) if kind == 1 else values)
    if kind == 3:
        window.update(np.zeros(3))
    for max_size in (20, 160):
        merged = ExponentialHistogram(max_size=max_size)
        merged.merge(window)
        copied = _merged_copy(window, max_size)
        if max(window.positive_counts.size, window.negative_counts.size) > max_size:
            assert copied is None
            continue
        assert copied is not None
        assert _fields(copied) == _fields(merged)
        assert copied.positive_counts is not window.positive_counts  # a copy: the window keeps changing


def test_only_zeros_or_empty_windows_are_merged_as_before() -> None:
    """Windows without buckets take the merge (its scale rules for zero-only histograms apply)."""
    zeros = ExponentialHistogram()
    zeros.update(np.zeros(4))
    assert _merged_copy(zeros, 160) is None
    assert _merged_copy(ExponentialHistogram(), 160) is None
