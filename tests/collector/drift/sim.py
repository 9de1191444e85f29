"""Cheap no-drift and shift simulations for the drift methods: multinomial draws over exponential-histogram bins.

Run ``python -m tests.collector.drift.sim`` (from the repository root, in the venv) to print the tables quoted in
docs/drift.md; the tests import the same helpers with fewer windows.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from otel_mlmon_collector.drift import (
    PSI,
    Binned,
    CategoricalCounts,
    ChiSquare,
    DriftMethod,
    JensenShannonCategorical,
    KolmogorovSmirnov,
    MissingCounts,
    MissingRate,
    Wasserstein,
    bucket_index,
    default_method,
)
from scipy import stats

__all__ = [
    "CATEGORY_SHARES",
    "FineBins",
    "alarm_rate",
    "categorical_windows",
    "fine_bins",
    "missing_windows",
    "numeric_windows",
    "swap_shares",
]

#: Shares of eight categories used by the categorical simulations.
CATEGORY_SHARES = np.array([0.30, 0.20, 0.15, 0.10, 0.10, 0.08, 0.05, 0.02])


@dataclass(frozen=True)
class FineBins:
    """Exponential-histogram bins of a distribution and each bin's probability under it (and a shifted copy)."""

    edges: np.ndarray
    probabilities: np.ndarray

    def shifted(self, dist: stats.rv_continuous) -> np.ndarray:
        """Probabilities of the same bins under another distribution (mass outside goes to the outer bins)."""
        cdf = dist.cdf(self.edges)
        cdf[0], cdf[-1] = 0.0, 1.0
        return np.diff(cdf)


def fine_bins(dist: stats.rv_continuous, scale: int, tail: float = 1e-9) -> FineBins:
    """The positive exponential buckets at ``scale`` covering ``dist`` up to ``tail`` mass on each side."""
    lo, hi = dist.ppf(tail), dist.ppf(1 - tail)
    if lo <= 0:
        raise ValueError("fine_bins simulates positive distributions only")
    first, last = bucket_index(np.array([lo, hi]), scale)
    idx = np.arange(first, last + 1)
    edges = np.exp2(np.append(idx, last + 1) / 2.0**scale)
    cdf = dist.cdf(edges)
    cdf[0], cdf[-1] = 0.0, 1.0
    return FineBins(edges, np.diff(cdf))


def numeric_windows(
    rng: np.random.Generator, bins: FineBins, n: int, m: int, current: np.ndarray | None = None
) -> Binned:
    """One reference window of ``n`` and one current window of ``m`` values, drawn as bin counts."""
    p = bins.probabilities
    q = p if current is None else current
    return Binned(bins.edges, rng.multinomial(n, p), rng.multinomial(m, q))


def categorical_windows(
    rng: np.random.Generator, n: int, m: int, current: np.ndarray | None = None, top_k: int | None = None
) -> tuple[CategoricalCounts, CategoricalCounts]:
    """Category counts of two windows; with ``top_k`` each side keeps only its ``top_k`` largest plus ``other``."""
    names = [f"c{i}" for i in range(CATEGORY_SHARES.size)]
    q = CATEGORY_SHARES if current is None else current
    sides = []
    for size, shares in ((n, CATEGORY_SHARES), (m, q)):
        counts = rng.multinomial(size, shares)
        order = np.argsort(-counts, kind="stable")
        kept = order if top_k is None else order[:top_k]
        other = int(counts.sum() - counts[kept].sum())
        sides.append(CategoricalCounts({names[i]: int(counts[i]) for i in kept}, other))
    return sides[0], sides[1]


def missing_windows(
    rng: np.random.Generator, n: int, m: int, rate: float = 0.02, current_rate: float | None = None
) -> tuple[MissingCounts, MissingCounts]:
    """Missing counts of two windows with the given missing rates."""
    cur_rate = rate if current_rate is None else current_rate
    return (
        MissingCounts(n, missing=int(rng.binomial(n, rate))),
        MissingCounts(m, missing=int(rng.binomial(m, cur_rate))),
    )


def swap_shares(shares: np.ndarray, i: int = 0, j: int = 3) -> np.ndarray:
    """The shares with categories ``i`` and ``j`` exchanged (a category frequency swap)."""
    out = shares.copy()
    out[i], out[j] = shares[j], shares[i]
    return out


def alarm_rate(
    method: DriftMethod | Callable[[int, int], DriftMethod],
    draw: Callable[[np.random.Generator], tuple[object, object]],
    windows: int,
    seed: int,
) -> float:
    """Share of ``windows`` simulated comparisons in which the method detects drift.

    ``method`` is either a method or a factory ``(n_reference, n_current) -> method`` (for the defaults).
    """
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(windows):
        ref, cur = draw(rng)
        chosen = method if isinstance(method, DriftMethod) else method(*_sizes(ref, cur))
        hits += chosen.compare(ref, cur).detected
    return hits / windows


def _sizes(ref: object, cur: object) -> tuple[int, int]:
    if isinstance(ref, Binned):
        return ref.n_reference, ref.n_current
    return int(ref.total), int(cur.total)  # type: ignore[attr-defined]


def _numeric_draw(bins: FineBins, n: int, current: np.ndarray | None = None) -> Callable:
    def draw(rng: np.random.Generator) -> tuple[Binned, None]:
        return numeric_windows(rng, bins, n, n, current), None

    return draw


def _print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the false-alarm, power and crossover tables of docs/drift.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=10_000, help="simulated window pairs per cell")
    args = parser.parse_args(argv)
    w = args.windows
    dist = stats.norm(100, 10)
    bins = fine_bins(dist, scale=4)
    shift = bins.shifted(stats.norm(102, 10))
    sizes = (100, 10_000, 1_000_000)

    def default_numeric(n: int, m: int) -> DriftMethod:
        return default_method("numeric", n, m)

    def default_categorical(n: int, m: int) -> DriftMethod:
        return default_method("categorical", n, m)

    numeric = {
        "KS p<0.05": KolmogorovSmirnov(),
        "PSI>=0.1 & p<0.05": PSI(),
        "PSI>=0.1 alone": PSI(alpha=None),
        "Wasserstein>=0.1": Wasserstein(),
        "default": default_numeric,
    }
    rows = []
    for label, method in numeric.items():
        rates = [alarm_rate(method, _numeric_draw(bins, n), w, seed=n) for n in sizes]  # type: ignore[arg-type]
        power = [
            alarm_rate(method, _numeric_draw(bins, n, shift), max(w // 10, 100), seed=n + 1)  # type: ignore[arg-type]
            for n in sizes
        ]
        rows.append([label, *[f"{r:.4f}" for r in rates], *[f"{p:.3f}" for p in power]])
    _print_table(
        f"numeric, N(100, 10) at scale 4, {w} windows (power: +0.2 sigma, {max(w // 10, 100)} windows)",
        ["method", *[f"false alarms n={n}" for n in sizes], *[f"power n={n}" for n in sizes]],
        rows,
    )

    swapped = swap_shares(CATEGORY_SHARES)
    categorical = {
        "chi2 p<0.05": ChiSquare(),
        "chi2, top-5 sketches": ChiSquare(),
        "JS base 2 >= 0.1": JensenShannonCategorical(),
        "default": default_categorical,
    }
    rows = []
    for label, method in categorical.items():
        k = 5 if "top-5" in label else None

        def draw(rng: np.random.Generator, n: int, cur: np.ndarray | None = None, k: int | None = k) -> tuple:
            return categorical_windows(rng, n, n, cur, top_k=k)

        rates = [alarm_rate(method, lambda r, n=n: draw(r, n), w, seed=n) for n in sizes]  # type: ignore[arg-type]
        power = [
            alarm_rate(method, lambda r, n=n: draw(r, n, swapped), max(w // 10, 100), seed=n + 1)  # type: ignore[arg-type]
            for n in sizes
        ]
        rows.append([label, *[f"{r:.4f}" for r in rates], *[f"{p:.3f}" for p in power]])
    _print_table(
        f"categorical, 8 categories, {w} windows (power: shares 0.30 and 0.10 swapped)",
        ["method", *[f"false alarms n={n}" for n in sizes], *[f"power n={n}" for n in sizes]],
        rows,
    )

    rows = []
    method = MissingRate()
    rates = [alarm_rate(method, lambda r, n=n: missing_windows(r, n, n), w, seed=n) for n in sizes]
    power = [
        alarm_rate(method, lambda r, n=n: missing_windows(r, n, n, 0.02, 0.04), max(w // 10, 100), seed=n + 1)
        for n in sizes
    ]
    rows.append(["missing rate", *[f"{r:.4f}" for r in rates], *[f"{p:.3f}" for p in power]])
    _print_table(
        f"missing rate 2 %, {w} windows (power: 2 % -> 4 %)",
        ["method", *[f"false alarms n={n}" for n in sizes], *[f"power n={n}" for n in sizes]],
        rows,
    )

    rows = []
    rng = np.random.default_rng(0)
    for n in (100, 300, 1_000, 3_000, 10_000, 100_000):
        scores = np.array(
            [Wasserstein().compare(numeric_windows(rng, bins, n, n)).score for _ in range(max(w // 10, 200))]
        )
        tiny = bins.shifted(stats.norm(100.2, 10))
        ks_tiny = alarm_rate(KolmogorovSmirnov(), _numeric_draw(bins, n, tiny), max(w // 10, 200), seed=n)
        js = np.array(
            [
                JensenShannonCategorical().compare(*categorical_windows(rng, n, n)).score
                for _ in range(max(w // 10, 200))
            ]
        )
        nudged = CATEGORY_SHARES + np.array([0.01, 0, 0, -0.01, 0, 0, 0, 0])
        chi_tiny = alarm_rate(
            ChiSquare(), lambda r, n=n, q=nudged: categorical_windows(r, n, n, q), max(w // 10, 200), seed=n
        )
        rows.append(
            [
                n,
                f"{np.quantile(scores, 0.95):.3f}",
                f"{np.mean(scores >= 0.1):.4f}",
                f"{ks_tiny:.3f}",
                f"{np.quantile(js, 0.95):.3f}",
                f"{np.mean(js >= 0.1):.4f}",
                f"{chi_tiny:.3f}",
            ]
        )
    _print_table(
        "crossover: distances under no drift, and tests against irrelevant shifts",
        [
            "rows per side",
            "Wasserstein 95th pct",
            "P(Wasserstein >= 0.1)",
            "KS flags 0.02 sigma",
            "JS 95th pct",
            "P(JS >= 0.1)",
            "chi2 flags 1-point share change",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
