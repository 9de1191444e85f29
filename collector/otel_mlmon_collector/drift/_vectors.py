"""The two sides of a vector column (an embedding) as the vector drift methods read them.

The SDK and reference profiles summarise a vector column with a
:class:`~otel_mlmon.sketch.vector.VectorSketch`; over OTLP it arrives as numeric features ``{column}.p00`` ...
``{column}.p{k-1}`` and ``{column}.norm`` (histograms of the rows' coordinates along ``k`` seeded directions, and
of their norms). :func:`vector_columns` finds the vector columns of a :class:`~otel_mlmon.summary.Summary` in
either form; a profile's sketch also brings the reference covariance of the projections, which calibrates the
centroid test exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from otel_mlmon import conventions as conv
from otel_mlmon.sketch import ExponentialHistogram
from otel_mlmon.sketch.vector import Projection, VectorSketch

__all__ = ["VectorColumn", "vector_columns", "vector_series"]


@dataclass(frozen=True, eq=False)
class VectorColumn:
    """One side of a vector column: per projection and for the norm an exponential histogram.

    Attributes:
        projections: Histograms of the ``k`` projections, in order (``p00`` first).
        norm: Histogram of the rows' L2 norms.
        missing: Rows with a NaN or infinite component.
        covariance: The ``k x k`` covariance of the projections, when known (a reference profile's sketch).
    """

    projections: tuple[ExponentialHistogram, ...]
    norm: ExponentialHistogram
    missing: int = 0
    covariance: np.ndarray | None = None

    kind: ClassVar[str] = "vector"
    #: Infinite values are counted as missing rows for vectors (ColumnSummary's field, always 0 here).
    infinite: ClassVar[int] = 0

    @property
    def count(self) -> int:
        """Rows summarised (missing rows excluded)."""
        return int(self.norm.count)

    @property
    def k(self) -> int:
        return len(self.projections)

    def means(self) -> np.ndarray:
        """Mean of each projection (from the histograms' sums; bucket midpoints when a sum is unknown)."""
        return np.array([_mean(h) for h in self.projections])

    def variances(self) -> np.ndarray:
        """Variance of each projection: the covariance's diagonal when known, else from bucket midpoints."""
        if self.covariance is not None:
            return np.diag(self.covariance).copy()
        return np.array([_moments(h)[1] for h in self.projections])

    @classmethod
    def from_sketch(cls, sketch: VectorSketch) -> VectorColumn:
        """Both parts of a sketch, with its covariance."""
        histograms = list(sketch.histograms().values())
        return cls(tuple(histograms[:-1]), histograms[-1], sketch.missing, sketch.covariance())

    @classmethod
    def from_values(cls, matrix: np.ndarray, projection: Projection | None = None) -> VectorColumn:
        """Sketch an ``(n, d)`` array with the default projection set (or ``projection``).

        Example:
            >>> rng = np.random.default_rng(0)
            >>> column = VectorColumn.from_values(rng.normal(size=(500, 64)))
            >>> column.count, column.k, column.covariance.shape
            (500, 64, (64, 64))
        """
        m = np.asarray(matrix)
        sketch = VectorSketch(projection or Projection(dim=m.shape[1]))
        sketch.update(m)
        return cls.from_sketch(sketch)


def vector_series(names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Vector columns among feature names: column -> its series' names (``p00`` ... in order, then ``norm``).

    A column is recognised by ``{column}.norm`` with ``{column}.p00`` next to it; its projections are the
    consecutive ``p00``, ``p01`` ... present.

    Example:
        >>> vector_series(["age", "vector.norm", "vector.p00", "vector.p01", "review.chars"])
        {'vector': ('vector.p00', 'vector.p01', 'vector.norm')}
    """
    present = set(names)
    suffix = conv.DESCRIPTOR_SEPARATOR + conv.VECTOR_NORM
    out = {}
    for name in sorted(present):
        if not name.endswith(suffix):
            continue
        column = name[: -len(suffix)]
        series = []
        for descriptor in conv.vector_sketch_descriptors(99)[:-1]:
            full = conv.descriptor_name(column, descriptor)
            if full not in present:
                break
            series.append(full)
        if series:
            out[column] = (*series, name)
    return out


def vector_columns(summary: Any) -> dict[str, VectorColumn]:
    """The vector columns of a Summary: its sketches (SDK, profiles) and features that are vector series (a
    Summary rebuilt from OTLP points by the collector). Sketches win when a column is in both forms."""
    features: Mapping[str, Any] = summary.features
    out = {}
    for column, series in vector_series(features).items():
        parts = [features[name] for name in series]
        if all(p.numeric is not None for p in parts):
            out[column] = VectorColumn(
                tuple(p.numeric for p in parts[:-1]), parts[-1].numeric, int(parts[-1].missing)
            )
    for column, sketch in getattr(summary, "vectors", {}).items():
        out[column] = VectorColumn.from_sketch(sketch)
    return out


def _moments(hist: ExponentialHistogram) -> tuple[float, float]:
    """Mean and variance from bucket midpoints (clipped to min/max)."""
    if hist.count == 0:
        return math.nan, math.nan
    lower, upper, counts = hist.bucket_edges()
    mid = (np.clip(lower, hist.min, hist.max) + np.clip(upper, hist.min, hist.max)) / 2
    n = counts.sum()
    mean = float((mid * counts).sum() / n)
    var = float((counts * (mid - mean) ** 2).sum() / max(n - 1, 1))
    return mean, var


def _mean(hist: ExponentialHistogram) -> float:
    if hist.count == 0:
        return math.nan
    if math.isfinite(hist.sum):
        return hist.sum / hist.count
    return _moments(hist)[0]
