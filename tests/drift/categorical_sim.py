"""Categorical drift simulations: injected new categories, share swaps and vanished categories at 10^2-10^6 rows.

Columns of 5 to 1 000 levels with uniform or Zipf (``1/rank``) shares. Each window pair is drawn as exact
multinomial counts (what the SDK sends while it counts exactly); the approximate reference is the reference's
counts folded by a one-shot Misra–Gries step to ``K = levels // 2`` counters (lower-bound counts,
``error_bound > 0``: a large training set past the exact-count budget) against an exact current window. Every cell also runs ``scipy.stats.chi2_contingency`` on the exact raw counts (no pooling, no
correction beyond scipy's default), the textbook test a user would run on the rows.

Run ``python -m tests.drift.categorical_sim`` (from the repository root, in the venv) to print the tables of
docs/drift.md ("Categorical simulations"); the tests in test_categorical_power.py import the same helpers with
fewer windows.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from otel_mlmon_collector.drift import (
    CategoricalCounts,
    ChiSquare,
    DriftMethod,
    JensenShannonCategorical,
    UnseenCategories,
    default_method,
)
from scipy import stats

__all__ = [
    "POWER_CELLS",
    "SCENARIOS",
    "Column",
    "alarm_rates",
    "draw_pair",
    "format_tables",
    "misra_gries",
    "run_grid",
    "scenario_shares",
    "scipy_chi2_p",
]

#: Injected changes: name -> what happens to the current window's shares.
SCENARIOS: tuple[str, ...] = ("none", "new 1%", "new 2%", "new 5%", "swap", "vanished")
NEW = "__new__"


@dataclass(frozen=True)
class Column:
    """A categorical column: ``levels`` categories with uniform or Zipf (1/rank) shares."""

    levels: int
    shape: str = "zipf"

    @property
    def shares(self) -> np.ndarray:
        """The reference shares, largest first."""
        weights = np.ones(self.levels) if self.shape == "uniform" else 1.0 / np.arange(1, self.levels + 1)
        return weights / weights.sum()

    @property
    def names(self) -> list[str]:
        """Category names ``v0``, ``v1``, ... plus the name of an injected new category last."""
        return [f"v{i}" for i in range(self.levels)] + [NEW]


def scenario_shares(column: Column, scenario: str) -> np.ndarray:
    """Current shares over ``levels + 1`` categories (the last one new) for one scenario.

    ``new X%``: a category unseen in the reference takes X % of rows, the others shrink in proportion.
    ``swap``: the shares of the levels ranked at 1/4 and 1/2 of the list are exchanged (mid-ranked levels; for
    a uniform column this changes nothing, so the cell measures false alarms). ``vanished``: the level ranked
    at 1/4 disappears and its share goes to the others in proportion.
    """
    p = np.append(column.shares, 0.0)
    if scenario == "none":
        return p
    if scenario.startswith("new "):
        eps = float(scenario[4:].rstrip("%")) / 100
        q = p * (1 - eps)
        q[-1] = eps
        return q
    i, j = max(column.levels // 4, 1), max(column.levels // 2, 2)
    q = p.copy()
    if scenario == "swap":
        q[i], q[j] = p[j], p[i]
        return q
    if scenario == "vanished":
        q[i] = 0.0
        return q / q.sum()
    raise ValueError(f"unknown scenario {scenario!r}")


def misra_gries(counts: np.ndarray, names: Sequence[str], k: int) -> CategoricalCounts:
    """The Misra–Gries summary of exact ``counts`` with ``k`` counters (one fold: subtract the (k+1)-th count)."""
    positive = np.flatnonzero(counts > 0)
    if positive.size <= k:
        return CategoricalCounts({names[i]: int(counts[i]) for i in positive})
    order = positive[np.argsort(-counts[positive], kind="stable")]
    cut = int(counts[order[k]])
    kept = {names[i]: int(counts[i]) - cut for i in order[:k] if counts[i] > cut}
    return CategoricalCounts(kept, int(counts.sum()) - sum(kept.values()), error_bound=cut)


def draw_pair(
    rng: np.random.Generator, column: Column, scenario: str, n: int, approximate: bool = False
) -> tuple[CategoricalCounts, CategoricalCounts, np.ndarray]:
    """One reference and one current window of ``n`` rows each, and the raw 2 x k count table behind them."""
    names = column.names
    ref = rng.multinomial(n, np.append(column.shares, 0.0))
    cur = rng.multinomial(n, scenario_shares(column, scenario))
    raw = np.vstack([ref, cur])
    current = CategoricalCounts({names[i]: int(cur[i]) for i in np.flatnonzero(cur)})
    if approximate:
        return misra_gries(ref, names, max(column.levels // 2, 2)), current, raw
    return CategoricalCounts({names[i]: int(ref[i]) for i in np.flatnonzero(ref)}), current, raw


def scipy_chi2_p(raw: np.ndarray) -> float:
    """``scipy.stats.chi2_contingency`` on the raw counts (columns empty on both sides dropped)."""
    table = raw[:, raw.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table).pvalue)


def _default(n: int, m: int) -> DriftMethod:
    return default_method("categorical", n, m)


#: What each table column reports: label -> decision for ``(reference, current, raw)``.
DECISIONS: dict[str, Callable[[CategoricalCounts, CategoricalCounts, np.ndarray], bool]] = {
    "default": lambda r, c, _: _default(r.total, c.total).compare(r, c).detected,
    "chi2": lambda r, c, _: ChiSquare().compare(r, c).detected,
    "JS>=0.1": lambda r, c, _: JensenShannonCategorical().compare(r, c).detected,
    "unseen": lambda r, c, _: UnseenCategories().compare(r, c).detected,
    "scipy chi2 raw": lambda r, c, raw: scipy_chi2_p(raw) < 0.05,
}


def alarm_rates(
    column: Column,
    scenario: str,
    n: int,
    windows: int,
    approximate: bool = False,
    seed: int = 0,
    decisions: Sequence[str] = tuple(DECISIONS),
) -> dict[str, float]:
    """Share of ``windows`` simulated window pairs in which each decision fires."""
    rng = np.random.default_rng([seed, column.levels, n, SCENARIOS.index(scenario), int(approximate)])
    hits = dict.fromkeys(decisions, 0)
    for _ in range(windows):
        ref, cur, raw = draw_pair(rng, column, scenario, n, approximate)
        for label in decisions:
            hits[label] += DECISIONS[label](ref, cur, raw)
    return {label: hits[label] / windows for label in decisions}


Results = dict[tuple[bool, str, str, int], dict[str, float]]

#: Power table groups: scenario -> the decisions shown for it ("a / b / c" in one cell).
POWER_CELLS: dict[str, tuple[str, ...]] = {
    "new 1%": ("default", "unseen", "scipy chi2 raw"),
    "new 2%": ("default", "unseen", "scipy chi2 raw"),
    "new 5%": ("default", "unseen", "scipy chi2 raw"),
    "swap": ("default", "chi2", "scipy chi2 raw"),
    "vanished": ("default", "chi2", "scipy chi2 raw"),
}


def run_grid(columns: Sequence[Column], sizes: Sequence[int], windows: int) -> Results:
    """Alarm rates of every decision for every mode, scenario, column and size."""
    results: Results = {}
    for approximate in (False, True):
        for scenario in SCENARIOS:
            for column in columns:
                for n in sizes:
                    key = (approximate, scenario, f"{column.levels} {column.shape}", n)
                    results[key] = alarm_rates(column, scenario, n, windows, approximate)
    return results


def format_tables(results: Results) -> str:
    """The false-alarm table and the two power tables (exact, approximate reference) as markdown."""
    columns = list(dict.fromkeys(k[2] for k in results))
    sizes = sorted({k[3] for k in results})
    out = ["**No drift: share of windows flagged** (exact counts | approximate reference)", ""]
    head = ["column", "rows", "default", "chi2", "scipy chi2 raw", "JS ≥ 0.1 alone", "unseen"]
    head += ["default (approx.)", "chi2 (approx.)", "unseen (approx.)"]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for column in columns:
        for n in sizes:
            ex, ap = results[(False, "none", column, n)], results[(True, "none", column, n)]
            cells = [ex[d] for d in ("default", "chi2", "scipy chi2 raw", "JS>=0.1", "unseen")]
            cells += [ap[d] for d in ("default", "chi2", "unseen")]
            out.append(f"| {column} | {n:,} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    for approximate in (False, True):
        title = "approximate reference (Misra–Gries, K = levels / 2)" if approximate else "exact counts"
        out += [
            "",
            f"**Power, {title}** (share of windows flagged; cells: "
            + "; ".join(f"{scenario}: {' / '.join(labels)}" for scenario, labels in POWER_CELLS.items())
            + ")",
            "",
        ]
        head = ["column", "rows", *POWER_CELLS]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for column in columns:
            for n in sizes:
                cells = []
                for scenario, labels in POWER_CELLS.items():
                    rates = results[(approximate, scenario, column, n)]
                    cells.append(" / ".join(f"{rates[label]:.2f}" for label in labels))
                out.append(f"| {column} | {n:,} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the categorical false-alarm and power tables of docs/drift.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=300, help="window pairs per cell")
    parser.add_argument("--sizes", default="100,1000,10000,100000,1000000", help="rows per side")
    parser.add_argument("--levels", default="5,40,1000")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    columns = [Column(int(k), shape) for k in args.levels.split(",") for shape in ("zipf", "uniform")]
    print(format_tables(run_grid(columns, sizes, args.windows)))


if __name__ == "__main__":
    main()
