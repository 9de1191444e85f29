"""No-drift and drift simulations of embedding columns (768 dims, eight clusters) for the vector drift tests.

Rows are ``x = c + z``: ``c`` the centre of the row's cluster (centres drawn ``N(0, SPREAD^2 I)``), ``z`` standard
normal noise. The sketches only see each row's ``k`` projections and its norm, and those can be drawn exactly
without the 768 components: with ``Q`` the orthonormal projection directions, ``a = Q'c`` and ``b`` the length of
``c`` outside their span, ``Q'x = a + u`` and ``|x|^2 = |c|^2 + 2 (a.u + b w) + |u|^2 + w^2 + r`` where
``u ~ N(0, I_k)``, ``w ~ N(0, 1)``, ``r ~ chi2(d - k - 1)`` are independent. So a window of 100 000 rows costs
what 100 000 x 33 numbers cost. :func:`full_rows` draws the same rows in full (768 numbers each) for the peers.

Run ``python -m tests.collector.drift.vector_sim`` (repository root, in the venv) for the tables in docs/drift.md; the tests
import the same helpers with fewer windows.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from otel_mlmon_collector.drift import (
    Centroid,
    DriftMethod,
    MeanDistance,
    Projections,
    SlicedKS,
    VectorColumn,
)

from otel_mlmon.sketch.vector import Projection, VectorSketch

__all__ = ["DIM", "SCENARIOS", "Mixture", "alarm_rate", "alarm_rates", "full_rows", "mixture", "window"]

DIM = 768
CLUSTERS = 8
#: Standard deviation of the cluster centres per dimension (the noise has 1): the centres are ~23.5 apart, the
#: rows ~43 from each other: clusters are distinct but overlap along any one direction, as topics of sentence
#: embeddings do (the centres carry 26 % of the variance).
SPREAD = 0.6
#: Size of the mean shift along one direction, in noise standard deviations.
SHIFT = 1.0


@dataclass(frozen=True)
class Mixture:
    """Cluster centres (``(c, d)``) and the share of rows each cluster gets."""

    centres: np.ndarray
    weights: np.ndarray

    def with_weights(self, weights: np.ndarray) -> Mixture:
        return Mixture(self.centres, np.asarray(weights, dtype=np.float64))

    def shifted(self, direction: np.ndarray, size: float) -> Mixture:
        return Mixture(self.centres + size * direction, self.weights)

    def with_cluster(self, centre: np.ndarray, share: float) -> Mixture:
        return Mixture(np.vstack([self.centres, centre]), np.append(self.weights * (1 - share), share))


def mixture(rng: np.random.Generator, clusters: int = CLUSTERS, dim: int = DIM) -> Mixture:
    """Eight clusters of equal weight with centres drawn ``N(0, SPREAD^2 I)``."""
    return Mixture(rng.normal(0.0, SPREAD, size=(clusters, dim)), np.full(clusters, 1.0 / clusters))


def _projected(rng: np.random.Generator, mix: Mixture, n: int, projection: Projection) -> np.ndarray:
    """``n`` rows' projections and norms (an ``(n, k + 1)`` array), drawn exactly."""
    q = projection.matrix().astype(np.float64)
    k, d = projection.k, projection.dim
    a = mix.centres @ q
    c2 = (mix.centres**2).sum(axis=1)
    b = np.sqrt(np.maximum(c2 - (a**2).sum(axis=1), 0.0))
    label = rng.choice(len(mix.weights), size=n, p=mix.weights)
    u = rng.standard_normal((n, k))
    w = rng.standard_normal(n)
    r = rng.chisquare(d - k - 1, size=n)
    al = a[label]
    out = np.empty((n, k + 1))
    out[:, :k] = al + u
    norm2 = c2[label] + 2 * ((al * u).sum(axis=1) + b[label] * w) + (u**2).sum(axis=1) + w**2 + r
    out[:, k] = np.sqrt(norm2)
    return out


def window(
    rng: np.random.Generator, mix: Mixture, n: int, projection: Projection | None = None
) -> VectorColumn:
    """A vector column of ``n`` rows drawn from ``mix``, sketched as the SDK sketches it."""
    projection = projection or Projection(dim=mix.centres.shape[1])
    sketch = VectorSketch(projection)
    for start in range(0, n, 50_000):
        sketch.add_projected(_projected(rng, mix, min(50_000, n - start), projection))
    return VectorColumn.from_sketch(sketch)


def full_rows(rng: np.random.Generator, mix: Mixture, n: int) -> np.ndarray:
    """``n`` rows of ``mix`` in full, float32 (for methods that read raw vectors)."""
    label = rng.choice(len(mix.weights), size=n, p=mix.weights)
    return (mix.centres[label] + rng.standard_normal((n, mix.centres.shape[1]))).astype(np.float32)


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


#: Drift scenarios: name -> function of (rng, mixture) giving the current mixture.
SCENARIOS: dict[str, Callable[[np.random.Generator, Mixture], Mixture]] = {
    "none": lambda rng, mix: mix,
    "cluster 12.5 % -> 20 %": lambda rng, mix: mix.with_weights(
        np.r_[0.2, np.full(len(mix.weights) - 1, 0.8 / (len(mix.weights) - 1))]
    ),
    f"mean shift {SHIFT} sd along one direction": lambda rng, mix: mix.shifted(
        _unit(rng, mix.centres.shape[1]), SHIFT
    ),
    "new cluster on 5 % of rows": lambda rng, mix: mix.with_cluster(
        rng.normal(0.0, SPREAD, size=mix.centres.shape[1]), 0.05
    ),
}


def alarm_rate(
    method: DriftMethod,
    scenario: str,
    n_reference: int,
    n_current: int,
    windows: int,
    seed: int = 0,
) -> float:
    """Share of windows where ``method`` detects drift; every window draws a new mixture, reference and current."""
    return alarm_rates([method], scenario, n_reference, n_current, windows, seed)[0]


def alarm_rates(
    methods: list[DriftMethod], scenario: str, n_reference: int, n_current: int, windows: int, seed: int = 0
) -> list[float]:
    """:func:`alarm_rate` of several methods on the same windows."""
    rng = np.random.default_rng(seed)
    hits = np.zeros(len(methods))
    for _ in range(windows):
        mix = mixture(rng)
        reference = window(rng, mix, n_reference)
        current = window(rng, SCENARIOS[scenario](rng, mix), n_current)
        hits += [m.compare(reference, current).detected for m in methods]
    return (hits / windows).tolist()


METHODS: dict[str, DriftMethod] = {
    "projections (default)": Projections(),
    "centroid": Centroid(),
    "mean_distance": MeanDistance(),
    "sliced_ks": SlicedKS(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=400, help="windows per cell (no drift)")
    parser.add_argument("--power-windows", type=int, default=200, help="windows per cell (drift)")
    parser.add_argument("--reference", type=int, default=20_000, help="reference rows of the no-drift grid")
    parser.add_argument(
        "--power-references",
        default="20000,5000,2000",
        help="reference rows of the power grids (comma-separated)",
    )
    parser.add_argument("--part", choices=("all", "calibration", "power"), default="all")
    args = parser.parse_args()
    names, methods = list(METHODS), list(METHODS.values())
    if args.part in ("all", "calibration"):
        _calibration(names, methods, args.windows, args.reference)
    if args.part in ("all", "power"):
        for n_reference in (int(x) for x in args.power_references.split(",")):
            _power(names, methods, args.power_windows, n_reference)


def _calibration(names: list[str], methods: list[DriftMethod], windows: int, n_reference: int) -> None:
    sizes = (100, 1_000, 10_000, 100_000)
    # One reference per window, compared with a current window of each size (cells share references, not rows).
    rng = np.random.default_rng(0)
    hits = {n: np.zeros(len(methods)) for n in sizes}
    for _ in range(windows):
        mix = mixture(rng)
        reference = window(rng, mix, n_reference)
        for n in sizes:
            current = window(rng, mix, n)
            hits[n] += [m.compare(reference, current).detected for m in methods]
    rates = {n: (hits[n] / windows).tolist() for n in sizes}
    print(
        f"False alarms under no drift ({windows} windows per cell, reference {n_reference:,} rows, alpha 0.05)"
    )
    print(f"| method | {' | '.join(f'n = {n:,}' for n in sizes)} |")
    for i, name in enumerate(names):
        print(f"| {name} | {' | '.join(f'{rates[n][i]:.3f}' for n in sizes)} |", flush=True)


def _power(names: list[str], methods: list[DriftMethod], windows: int, n_reference: int) -> None:
    drifts = [s for s in SCENARIOS if s != "none"]
    seed = {20_000: 9, 2_000: 7}.get(n_reference, n_reference)
    power = {s: alarm_rates(methods, s, n_reference, 2_000, windows, seed=seed) for s in drifts}
    print(f"\nPower ({windows} windows per cell, reference {n_reference:,} rows, current 2,000 rows)")
    print(f"| method | {' | '.join(drifts)} |")
    for i, name in enumerate(names):
        print(f"| {name} | {' | '.join(f'{power[s][i]:.3f}' for s in drifts)} |", flush=True)


if __name__ == "__main__":
    main()
