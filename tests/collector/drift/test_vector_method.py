"""The preamble the vector drift methods share: parameter checks, and what each method skips and says why."""

from __future__ import annotations

import numpy as np
import pytest
from otel_mlmon_collector.drift import Centroid, MeanDistance, Projections, SlicedKS, VectorColumn

from otel_mlmon.sketch import ExponentialHistogram
from otel_mlmon.sketch.vector import Projection

_PROJECTION = Projection(dim=16, k=8)
_METHODS = [Centroid, MeanDistance, SlicedKS]


def _column(values: np.ndarray, projection: Projection = _PROJECTION) -> VectorColumn:
    return VectorColumn.from_values(values, projection)


def _without_covariance(column: VectorColumn) -> VectorColumn:
    """The same histograms without the covariance (a reference the collector built from past windows)."""
    return VectorColumn(column.projections, column.norm, column.missing)


def _with_empty_projection(column: VectorColumn) -> VectorColumn:
    """The first projection's histogram emptied while the norm keeps its rows: that projection's mean is unknown."""
    return VectorColumn(
        (ExponentialHistogram(), *column.projections[1:]), column.norm, column.missing, column.covariance
    )


@pytest.mark.parametrize("method", [*_METHODS, Projections], ids=lambda m: m.name)
def test_bad_parameters_raise_naming_the_parameter(method) -> None:
    """alpha outside (0, 1) and a negative threshold are ValueErrors at construction naming the parameter."""
    for alpha in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            method(alpha=alpha)
    with pytest.raises(ValueError, match="threshold"):
        method(threshold=-0.1)
    assert method(alpha=None).alpha is None


def test_a_bounded_score_bounds_the_threshold() -> None:
    """The sliced KS score is a KS distance: a threshold above 1 is rejected; the unbounded scores accept it."""
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\]"):
        SlicedKS(threshold=1.5)
    assert Centroid(threshold=1.5).threshold == MeanDistance(threshold=1.5).threshold == 1.5


@pytest.mark.parametrize("method", _METHODS, ids=lambda m: m.name)
def test_empty_windows_and_other_projection_sets_are_skipped(method) -> None:
    """An empty current window, an empty reference and sides from different projection sets are skipped, with
    the counts of both sides."""
    rng = np.random.default_rng(1)
    reference = _column(rng.normal(size=(300, 16)))
    empty = VectorColumn(tuple(ExponentialHistogram() for _ in range(8)), ExponentialHistogram())
    for ref, cur in ((reference, empty), (empty, reference)):
        result = method().compare(ref, cur)
        assert result.skipped == "empty window" and not result.detected and result.p_value is None
        assert (result.n_reference, result.n_current) == (ref.count, cur.count)
    other = _column(rng.normal(size=(300, 16)), Projection(dim=16, k=4))
    assert method().compare(reference, other).skipped == "different projection sets"


def test_one_reference_row_is_enough_for_sliced_ks_only() -> None:
    """The mean tests need two reference rows (a spread); the sliced KS test compares from one."""
    rng = np.random.default_rng(2)
    one, current = _column(rng.normal(size=(1, 16))), _column(rng.normal(size=(100, 16)))
    assert Centroid().compare(one, current).skipped == "empty window"
    assert MeanDistance().compare(one, current).skipped == "empty window"
    result = SlicedKS().compare(one, current)
    assert result.skipped is None and result.p_value is not None


@pytest.mark.parametrize("side", ["reference", "current"])
def test_unknown_means_are_skipped_by_the_mean_tests(side) -> None:
    """A projection without rows on either side leaves its mean unknown: both mean tests skip, saying so, and
    the default goes on with the sliced KS test."""
    rng = np.random.default_rng(3)
    reference, current = _column(rng.normal(size=(300, 16))), _column(rng.normal(size=(100, 16)))
    if side == "reference":
        reference = _with_empty_projection(reference)
    else:
        current = _with_empty_projection(current)
    assert Centroid().compare(reference, current).skipped == "unknown means"
    assert MeanDistance().compare(reference, current).skipped == "unknown means"
    combined = Projections(alpha=None).compare(reference, current)
    assert combined.skipped is None and combined.details["decided_by"] == "sliced_ks"


def test_a_missing_covariance_is_reported_before_unknown_means() -> None:
    """Without a covariance the mean-distance test says so first; the centroid test has a fallback without it
    and reports the unknown means."""
    rng = np.random.default_rng(4)
    reference = _with_empty_projection(_without_covariance(_column(rng.normal(size=(300, 16)))))
    current = _column(rng.normal(size=(100, 16)))
    assert MeanDistance().compare(reference, current).skipped == "no reference covariance"
    assert Centroid().compare(reference, current).skipped == "unknown means"


@pytest.mark.parametrize("covariance", [True, False], ids=["covariance", "histograms"])
def test_a_constant_reference_is_skipped_by_the_mean_tests(covariance) -> None:
    """A reference without spread cannot calibrate a mean test: the centroid test skips it (with or without the
    covariance) and so does the mean-distance test (which needs the covariance)."""
    rng = np.random.default_rng(5)
    reference = _column(np.zeros((300, 16)))
    if not covariance:
        reference = _without_covariance(reference)
    current = _column(rng.normal(size=(100, 16)))
    assert Centroid().compare(reference, current).skipped == "constant reference"
    expected = "constant reference" if covariance else "no reference covariance"
    assert MeanDistance().compare(reference, current).skipped == expected
