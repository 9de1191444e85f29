"""Mergeable sketch of a vector column (embeddings): seeded random projections, the norm, and their moments.

Every row ``x`` (``d`` components) is summarised by ``k`` numbers ``x @ Q`` -- its coordinates along ``k``
orthonormal directions drawn from a seeded generator -- and its L2 norm. The directions are a pure function of
``(version, seed, d, k)`` (:class:`Projection`), so the SDK and a reference profile built anywhere else project
onto the same directions without exchanging them. Per projection (and for the norm) the sketch keeps:

* a histogram of the values at the fixed exponential scale :data:`SCALE` (the OpenTelemetry base-2 exponential
  bucket layout, so it is exported as an ordinary exponential-histogram point and merged by the collector like
  any numeric feature), with the count, sum, min and max;
* the sum of squares, and the ``k x k`` sum of cross-products of the projections (only stored in profiles: the
  reference covariance that calibrates the centroid test in the collector).

All of it is sum-mergeable. The projections are float32 matrix products, and BLAS may order a product's sums
differently for a different number of rows, so one batch and the same rows in two batches agree to float32
precision (about 1e-6 relative), not bit for bit. Updating costs one ``(n, d) x (d, k)`` matrix product and one ``bincount`` over the
``n x (k + 1)`` bucket indices of all projections at once, whatever ``k``; merging adds arrays. The series per
vector column are ``k + 1`` histograms and one missing count, whatever ``d``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from otel_mlmon.conventions import vector_sketch_descriptors
from otel_mlmon.sketch.exponential import ExponentialHistogram

__all__ = ["DEFAULT_PROJECTIONS", "DEFAULT_SEED", "PROJECTION_VERSION", "SCALE", "Projection", "VectorSketch"]

#: Version of the projection recipe (generator, orthonormalisation); bumped if the directions ever change.
PROJECTION_VERSION = 1
#: Seed of the default projection set (any fixed number: what matters is that both sides use the same).
DEFAULT_SEED = 20_260_101
#: Projections per vector column by default (with the norm: 65 histograms, 66 series per vector column).
DEFAULT_PROJECTIONS = 64
#: Exponential scale of the histograms: 8 buckets per power of two (bucket width 9 %).
SCALE = 3
# Bucket index range per sign: |values| in (2**-20, 2**20]; values beyond land in the outermost bucket (their sum,
# min and max stay exact).
_LOW = -20 * 2**SCALE
_WIDTH = 40 * 2**SCALE
_FORMAT = "otel-mlmon.vector"


@dataclass(frozen=True)
class Projection:
    """The identity of a projection set: ``k`` orthonormal directions in ``dim`` dimensions from ``seed``.

    Example:
        >>> q = Projection(dim=768).matrix()
        >>> q.shape, bool(np.allclose(q.T @ q, np.eye(64), atol=1e-5))
        ((768, 64), True)
    """

    dim: int
    k: int = DEFAULT_PROJECTIONS
    seed: int = DEFAULT_SEED
    version: int = PROJECTION_VERSION

    def __post_init__(self) -> None:
        if self.version != PROJECTION_VERSION:
            raise ValueError(
                f"projection version {self.version} is not supported (this is {PROJECTION_VERSION})"
            )
        if not 1 <= self.k <= min(self.dim, 99):
            raise ValueError(f"k must be in [1, min(dim, 99)], got k={self.k} for dim={self.dim}")

    def matrix(self) -> np.ndarray:
        """The ``(dim, k)`` float32 matrix whose columns are the directions (cached per identity)."""
        return _matrix(self.dim, self.k, self.seed, self.version)

    def to_dict(self) -> dict[str, int]:
        return {"dim": self.dim, "k": self.k, "seed": self.seed, "version": self.version}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Projection:
        return cls(int(data["dim"]), int(data["k"]), int(data["seed"]), int(data["version"]))


@functools.lru_cache(maxsize=16)
def _matrix(dim: int, k: int, seed: int, version: int) -> np.ndarray:
    # Gaussian directions made orthonormal (QR); the signs are fixed by R's diagonal so the result is unique.
    rng = np.random.Generator(np.random.PCG64([version, seed, dim, k]))
    q, r = np.linalg.qr(rng.standard_normal((dim, k)))
    q *= np.sign(np.diag(r))
    out = np.ascontiguousarray(q, dtype=np.float32)
    out.flags.writeable = False
    return out


class VectorSketch:
    """The projection, norm and moment summary of one vector column.

    Args:
        projection: The projection set (its ``dim`` is the vector width).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> sketch = VectorSketch(Projection(dim=64, k=8))
        >>> sketch.update(rng.normal(size=(1000, 64)).astype(np.float32))
        >>> sketch.count, len(sketch.histograms()), round(float(sketch.histograms()["norm"].quantile(0.5)), 1)
        (1000, 9, 8.0)
    """

    __slots__ = (
        "count",
        "counts",
        "cross",
        "maxs",
        "mins",
        "missing",
        "projection",
        "squares",
        "sums",
        "zeros",
    )

    def __init__(self, projection: Projection) -> None:
        self.projection = projection
        k = projection.k
        #: Rows summarised (rows with a NaN or infinite component are only counted in ``missing``).
        self.count = 0
        self.missing = 0
        #: Bucket counts per series (k projections, then the norm), per sign (positive, negative).
        self.counts = np.zeros((k + 1, 2, _WIDTH), dtype=np.int64)
        self.zeros = np.zeros(k + 1, dtype=np.int64)
        self.sums = np.zeros(k + 1)
        self.squares = np.zeros(k + 1)
        self.mins = np.full(k + 1, np.inf)
        self.maxs = np.full(k + 1, -np.inf)
        #: Sum over rows of the outer product of the projections (k x k).
        self.cross = np.zeros((k, k))

    @property
    def names(self) -> tuple[str, ...]:
        """The series' descriptors: ``p00`` ... ``p{k-1}``, then ``norm``."""
        return vector_sketch_descriptors(self.projection.k)

    def update(self, matrix: np.ndarray) -> None:
        """Add the rows of an ``(n, dim)`` array (any float dtype; computed in float32)."""
        m = np.asarray(matrix)
        if m.ndim != 2 or m.shape[1] != self.projection.dim:
            raise ValueError(f"expected an (n, {self.projection.dim}) array, got shape {m.shape}")
        if m.dtype != np.float32:
            m = m.astype(np.float32)
        if m.shape[0] == 0:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.empty((m.shape[0], self.projection.k + 1), dtype=np.float32)
            np.matmul(m, self.projection.matrix(), out=values[:, :-1])
            values[:, -1] = np.sqrt(np.einsum("ij,ij->i", m, m))
        self.add_projected(values)

    def add_projected(self, values: np.ndarray) -> None:
        """Add rows already projected: an ``(n, k + 1)`` array of the ``k`` projections and the norm per row.

        :meth:`update` computes them; simulations that draw projections directly (tests/collector/drift/vector_sim.py) call
        this. Rows with a non-finite value are counted as missing.
        """
        finite = np.isfinite(values).all(axis=1)
        if not finite.all():  # a NaN or inf component makes a projection non-finite
            self.missing += int(finite.size - np.count_nonzero(finite))
            values = values[finite]
        if values.shape[0] == 0:
            return
        v = values.astype(np.float64)
        self.count += v.shape[0]
        self.sums += v.sum(axis=0)
        self.squares += np.einsum("ij,ij->j", v, v)
        self.mins = np.minimum(self.mins, v.min(axis=0))
        self.maxs = np.maximum(self.maxs, v.max(axis=0))
        p = v[:, :-1]
        self.cross += p.T @ p
        self._bin(v)

    def _bin(self, v: np.ndarray) -> None:
        # Bucket i at scale s holds (2**(i / 2**s), 2**((i + 1) / 2**s)]: i = ceil(log2|v| * 2**s) - 1.
        series = v.shape[1]
        magnitude = np.abs(v)
        zero = magnitude == 0.0
        with np.errstate(divide="ignore"):
            index = np.ceil(np.log2(magnitude) * 2**SCALE) - 1 - _LOW
        np.clip(index, 0, _WIDTH - 1, out=index)
        flat = index.astype(np.int64)
        # One bincount over (series, sign, bucket) for every value of every series at once.
        flat += _series_offsets(series) + (v < 0) * _WIDTH
        keep = ~zero
        counts = np.bincount(flat[keep], minlength=series * 2 * _WIDTH)
        self.counts += counts.reshape(series, 2, _WIDTH)
        self.zeros += zero.sum(axis=0)

    def merge(self, other: VectorSketch) -> None:
        """Add ``other`` (same projection) into this sketch."""
        if other.projection != self.projection:
            raise ValueError(f"cannot merge vector sketches of {other.projection} into {self.projection}")
        self.count += other.count
        self.missing += other.missing
        self.counts += other.counts
        self.zeros += other.zeros
        self.sums += other.sums
        self.squares += other.squares
        self.mins = np.minimum(self.mins, other.mins)
        self.maxs = np.maximum(self.maxs, other.maxs)
        self.cross += other.cross

    def histograms(self) -> dict[str, ExponentialHistogram]:
        """Descriptor (``p00`` ... ``norm``) -> the exponential histogram exported for it."""
        out = {}
        for j, name in enumerate(self.names):
            out[name] = _histogram(
                self.counts[j], int(self.zeros[j]), float(self.sums[j]), self.mins[j], self.maxs[j]
            )
        return out

    def covariance(self) -> np.ndarray | None:
        """The ``k x k`` covariance of the projections (None below two rows)."""
        if self.count < 2:
            return None
        mean = self.sums[:-1] / self.count
        return (self.cross - self.count * np.outer(mean, mean)) / (self.count - 1)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form: bucket counts as ``{series: [[sign, offset, counts...]]}`` (occupied range)."""
        buckets = []
        for j in range(self.counts.shape[0]):
            for sign in (0, 1):
                row = self.counts[j, sign]
                occupied = np.flatnonzero(row)
                if occupied.size:
                    lo, hi = int(occupied[0]), int(occupied[-1])
                    buckets.append([j, sign, lo + _LOW, row[lo : hi + 1].tolist()])
        return {
            "format": _FORMAT,
            "version": 1,
            "projection": self.projection.to_dict(),
            "scale": SCALE,
            "count": self.count,
            "missing": self.missing,
            "zeros": self.zeros.tolist(),
            "sums": self.sums.tolist(),
            "squares": self.squares.tolist(),
            "mins": [_finite(x) for x in self.mins],
            "maxs": [_finite(x) for x in self.maxs],
            "cross": self.cross.tolist(),
            "buckets": buckets,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VectorSketch:
        """Rebuild a sketch from :meth:`to_dict` output.

        Raises:
            ValueError: on another format, version or scale, or fields of the wrong shape.
        """
        if data.get("format") != _FORMAT or data.get("version") != 1 or data.get("scale") != SCALE:
            raise ValueError(f"not a version-1 {_FORMAT} sketch at scale {SCALE}")
        sketch = cls(Projection.from_dict(data["projection"]))
        k = sketch.projection.k
        try:
            sketch.count, sketch.missing = int(data["count"]), int(data["missing"])
            for field, shape in (
                ("zeros", (k + 1,)),
                ("sums", (k + 1,)),
                ("squares", (k + 1,)),
                ("cross", (k, k)),
            ):
                value = np.asarray(data[field], dtype=np.float64)
                if value.shape != shape:
                    raise ValueError(f"{field} must have shape {shape}, got {value.shape}")
                setattr(sketch, field, value.astype(np.int64) if field == "zeros" else value)
            sketch.mins = np.array([math.inf if x is None else float(x) for x in data["mins"]])
            sketch.maxs = np.array([-math.inf if x is None else float(x) for x in data["maxs"]])
            for j, sign, offset, counts in data["buckets"]:
                lo = int(offset) - _LOW
                sketch.counts[int(j), int(sign), lo : lo + len(counts)] = counts
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"malformed vector sketch: {exc!r}") from None
        if sketch.mins.shape != (k + 1,) or sketch.maxs.shape != (k + 1,):
            raise ValueError("mins and maxs must have one value per series")
        return sketch

    def __repr__(self) -> str:
        return f"VectorSketch({self.projection}, count={self.count}, missing={self.missing})"


@functools.lru_cache(maxsize=8)
def _series_offsets(series: int) -> np.ndarray:
    return (np.arange(series) * (2 * _WIDTH))[None, :]


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _histogram(counts: np.ndarray, zeros: int, total: float, low: float, high: float) -> ExponentialHistogram:
    """One series' buckets as an :class:`ExponentialHistogram` at :data:`SCALE` (trimmed to the occupied range)."""
    sides = []
    for sign in (0, 1):
        occupied = np.flatnonzero(counts[sign])
        if occupied.size:
            lo, hi = int(occupied[0]), int(occupied[-1])
            sides.append((lo + _LOW, counts[sign, lo : hi + 1]))
        else:
            sides.append((0, counts[sign, :0]))
    n = zeros + int(counts.sum())
    if n == 0:
        return ExponentialHistogram()
    return ExponentialHistogram.from_buckets(
        scale=SCALE,
        zero_count=zeros,
        count=n,
        positive_offset=sides[0][0],
        positive_counts=sides[0][1],
        negative_offset=sides[1][0],
        negative_counts=sides[1][1],
        sum=total,
        min=float(low),
        max=float(high),
    )
