"""The vector sketch: seeded projections that both sides reproduce, exact merging, bounded series, honest buckets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from otel_mlmon import Profile
from otel_mlmon.sketch import ExponentialHistogram
from otel_mlmon.sketch.vector import DEFAULT_PROJECTIONS, Projection, VectorSketch


def _rows(n: int, d: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_projection_is_a_pure_function_of_its_identity_and_orthonormal() -> None:
    """Same (dim, k, seed, version): same directions, in any process; another seed: other directions."""
    a, b = Projection(768).matrix(), Projection(768).matrix()
    assert a is b or np.array_equal(a, b)
    assert np.allclose(a.T.astype(np.float64) @ a, np.eye(DEFAULT_PROJECTIONS), atol=1e-5)
    assert not np.allclose(a, Projection(768, seed=1).matrix())
    assert Projection.from_dict(Projection(768).to_dict()) == Projection(768)
    with pytest.raises(ValueError, match="version"):
        Projection(768, version=2)
    with pytest.raises(ValueError, match="k must"):
        Projection(768, k=100)  # k + 1 histograms + the missing count must stay within 100 series


def test_merging_two_halves_equals_sketching_all_rows() -> None:
    """Sum-mergeable: counts, sums, cross-products and buckets of two halves add up to the whole."""
    rows = _rows(1000)
    whole, left, right = (VectorSketch(Projection(96)) for _ in range(3))
    whole.update(rows)
    left.update(rows[:400])
    right.update(rows[400:])
    left.merge(right)
    assert np.array_equal(left.counts, whole.counts) and left.count == whole.count == 1000
    # Rows are projected in float32, and BLAS may sum a 400-row product in another order than a 1000-row one
    # (seen on an AMD EPYC: 1.4e-6 apart per projected value): equal to float32 precision of the largest entry.
    # Bucket counts could in principle move by one at a bucket edge; with these rows they do not.
    pairs = (
        (left.sums, whole.sums),
        (left.cross, whole.cross),
        (left.mins, whole.mins),
        (left.maxs, whole.maxs),
    )
    for merged, direct in pairs:
        assert np.allclose(merged, direct, rtol=1e-5, atol=1e-6 * np.abs(direct).max())
    with pytest.raises(ValueError, match="cannot merge"):
        left.merge(VectorSketch(Projection(96, seed=3)))


def test_histograms_place_each_value_in_its_exponential_bucket() -> None:
    """Each series is an OTel exponential histogram at scale 3 whose buckets hold exactly the projected values."""
    rows = _rows(2000)
    sketch = VectorSketch(Projection(96, k=8))
    sketch.update(rows)
    projected = rows.astype(np.float64) @ Projection(96, k=8).matrix().astype(np.float64)
    hists = sketch.histograms()
    assert list(hists) == [f"p{j:02d}" for j in range(8)] + ["norm"]
    for j in range(8):
        h = hists[f"p{j:02d}"]
        assert h.scale == 3 and h.count == 2000
        _, upper, counts = h.bucket_edges()
        # Every value lies in a bucket whose count covers it: the histogram's CDF at each bucket's upper edge
        # matches the values' empirical CDF up to float32 rounding at the edges.
        values = np.sort(projected[:, j])
        edges = upper[counts > 0][:-1]
        assert (
            np.abs(np.searchsorted(values, edges, side="right") - np.cumsum(counts[counts > 0])[:-1]).max()
            <= 2
        )
        assert h.sum == pytest.approx(projected[:, j].sum(), rel=1e-4, abs=1e-2)
    norms = np.linalg.norm(rows.astype(np.float64), axis=1)
    assert hists["norm"].min == pytest.approx(norms.min(), rel=1e-6)


def test_rows_with_a_nan_or_inf_component_are_missing_not_counted() -> None:
    rows = _rows(10)
    rows[2, 5] = np.nan
    rows[7, 0] = np.inf
    sketch = VectorSketch(Projection(96))
    sketch.update(rows)
    assert (sketch.count, sketch.missing) == (8, 2)
    assert all(h.count == 8 for h in sketch.histograms().values())


def test_round_trip_through_json_is_exact() -> None:
    sketch = VectorSketch(Projection(96))
    sketch.update(_rows(300))
    back = VectorSketch.from_dict(json.loads(json.dumps(sketch.to_dict())))
    assert np.array_equal(back.counts, sketch.counts) and np.allclose(back.cross, sketch.cross)
    assert back.histograms()["norm"] == sketch.histograms()["norm"]
    with pytest.raises(ValueError):
        VectorSketch.from_dict({**sketch.to_dict(), "scale": 4})


def test_series_per_vector_column_stay_within_100_whatever_the_width() -> None:
    """k projections + the norm histograms + one missing count, for 64 or 4 096 dimensions."""
    for d in (64, 4096):
        sketch = VectorSketch(Projection(d, k=min(d, DEFAULT_PROJECTIONS)))
        sketch.update(np.ones((2, d), dtype=np.float32))
        assert len(sketch.histograms()) + 1 <= 100


def test_a_profile_from_a_2d_array_keeps_the_vector_sketch_and_its_covariance(tmp_path) -> None:
    """Profile.from_data with an embedding array: the same sketch as the SDK, saved and loaded with its moments."""
    rows = _rows(500, d=128)
    profile = Profile.from_data(rows, model="embed")
    assert set(profile.summary.vectors) == {"vector"} and not profile.summary.features
    path = tmp_path / "embed.json"
    profile.save(path)
    loaded = Profile.load(path).summary.vectors["vector"]
    assert loaded.count == 500 and loaded.covariance().shape == (DEFAULT_PROJECTIONS, DEFAULT_PROJECTIONS)
    direct = VectorSketch(Projection(128))
    direct.update(rows)
    assert np.array_equal(loaded.counts, direct.counts)


def test_exported_histograms_are_valid_exponential_histograms() -> None:
    sketch = VectorSketch(Projection(96))
    sketch.update(_rows(100) * 1e-9)  # tiny values land in the lowest bucket, still counted
    for h in sketch.histograms().values():
        assert isinstance(h, ExponentialHistogram) and h.count == 100
        ExponentialHistogram.from_dict(h.to_dict())


def test_docstring_examples_run() -> None:
    import doctest

    from otel_mlmon.sketch import vector

    assert doctest.testmod(vector, raise_on_error=False).failed == 0
