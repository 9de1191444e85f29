"""Categorical drift simulations: injected new categories, share swaps and vanished categories at 10^2-10^6 rows.

Columns of 5 to 1 000 levels with uniform or Zipf (``1/rank``) shares. Each window pair is drawn as exact
multinomial counts (what the SDK sends while it counts exactly). The approximate reference is what the SDK's own
``CategoricalSketch`` makes of the reference rows when its capacity is ``K = levels // 2`` categories (a training
set past the exact-count budget): the rows arrive in :data:`REFERENCE_BATCHES` batches, and the sketch lists
intervals (``bounds()``: exact for a category listed since its first batch, a slack for one that entered late)
and an ``error_bound`` for the unlisted ones; it is compared against an exact current window. :func:`misra_gries`
is the older, harsher reading (one fold, every listed count short by up to the bound, no per-category slacks),
kept to test that the comparison also holds on counts without slacks. Every cell also runs
``scipy.stats.chi2_contingency`` on the exact raw counts (no pooling, no correction beyond scipy's default), the
textbook test a user would run on the rows.

Run ``python -m tests.collector.drift.categorical_sim`` (from the repository root, in the venv) to print the tables of
docs/drift.md ("Categorical simulations"); the tests in test_categorical_power.py import the same helpers with
fewer windows.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from otel_mlmon_collector.drift import (
    CategoricalCounts,
    ChiSquare,
    ContingencyTable,
    DriftMethod,
    JensenShannonCategorical,
    UnseenCategories,
    default_method,
)
from scipy import stats

from otel_mlmon.sketch import CategoricalSketch

__all__ = [
    "METHODS",
    "MODES",
    "POWER_CELLS",
    "REFERENCE_BATCHES",
    "SCENARIOS",
    "Column",
    "alarm_rates",
    "decide",
    "draw_pair",
    "format_tables",
    "misra_gries",
    "run_grid",
    "scenario_shares",
    "scipy_chi2_p",
    "sketch_reference",
]

#: Injected changes: name -> what happens to the current window's shares.
SCENARIOS: tuple[str, ...] = ("none", "new 1%", "new 2%", "new 5%", "swap", "vanished")
NEW = "__new__"
#: Batches in which the approximate reference's rows reach its sketch (a profile built from a file in chunks).
REFERENCE_BATCHES = 8


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


def sketch_reference(
    rng: np.random.Generator, shares: np.ndarray, names: Sequence[str], n: int, capacity: int
) -> tuple[CategoricalCounts, np.ndarray]:
    """``n`` rows counted by a ``CategoricalSketch(max_categories=capacity)`` in :data:`REFERENCE_BATCHES` batches.

    Returns what the drift engine reads from the sketch (``CategoricalCounts.from_sketch``: interval counts
    with per-category slacks) and the exact counts of the same rows.
    """
    sketch = CategoricalSketch(max_categories=capacity)
    exact = np.zeros(len(shares), dtype=np.int64)
    sizes = np.diff(np.linspace(0, n, REFERENCE_BATCHES + 1).round().astype(np.int64))
    for size in sizes:
        batch = rng.multinomial(size, shares)
        exact += batch
        sketch.update(np.repeat(np.arange(len(shares)), batch))  # integer codes: the sketch's bincount route
    read = CategoricalCounts.from_sketch(sketch)
    rename = {str(i): names[i] for i in range(len(names))}
    return (
        CategoricalCounts(
            {rename[k]: c for k, c in read.counts.items()},
            read.other,
            error_bound=read.error_bound,
            slacks={rename[k]: s for k, s in (read.slacks or {}).items()},
        ),
        exact,
    )


def draw_pair(
    rng: np.random.Generator, column: Column, scenario: str, n: int, approximate: bool | str = False
) -> tuple[CategoricalCounts, CategoricalCounts, np.ndarray]:
    """One reference and one current window of ``n`` rows each, and the raw 2 x k count table behind them.

    ``approximate``: ``True`` (or ``"sketch"``) counts the reference with the SDK's sketch at ``K = levels //
    2`` (:func:`sketch_reference`); ``"misra-gries"`` folds it once by :func:`misra_gries` instead.
    """
    names = column.names
    shares = np.append(column.shares, 0.0)
    capacity = max(column.levels // 2, 2)
    if approximate in (True, "sketch"):
        reference, ref = sketch_reference(rng, shares, names, n, capacity)
    else:
        ref = rng.multinomial(n, shares)
        if approximate == "misra-gries":
            reference = misra_gries(ref, names, capacity)
        else:
            reference = CategoricalCounts({names[i]: int(ref[i]) for i in np.flatnonzero(ref)})
    cur = rng.multinomial(n, scenario_shares(column, scenario))
    raw = np.vstack([ref, cur])
    current = CategoricalCounts({names[i]: int(cur[i]) for i in np.flatnonzero(cur)})
    return reference, current, raw


def scipy_chi2_p(raw: np.ndarray) -> float:
    """``scipy.stats.chi2_contingency`` on the raw counts (columns empty on both sides dropped)."""
    table = raw[:, raw.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table).pvalue)


def _default(n: int, m: int) -> DriftMethod:
    return default_method("categorical", n, m)


#: The method behind each table column: label -> method for ``(reference, current)``.
METHODS: dict[str, Callable[[CategoricalCounts, CategoricalCounts], DriftMethod]] = {
    "default": lambda r, c: _default(r.total, c.total),
    "chi2": lambda r, c: ChiSquare(),
    "JS>=0.1": lambda r, c: JensenShannonCategorical(),
    "unseen": lambda r, c: UnseenCategories(),
}
#: Every decision a table reports: the methods above and scipy's test on the raw counts.
DECISIONS: tuple[str, ...] = (*METHODS, "scipy chi2 raw")
#: Modes of the reference side: exact counts, the SDK's sketch past its capacity, the one-shot Misra–Gries fold.
MODES: dict[str, bool | str] = {"exact": False, "sketch": "sketch", "misra-gries": "misra-gries"}


def decide(
    label: str,
    ref: CategoricalCounts,
    cur: CategoricalCounts,
    raw: np.ndarray,
    table: ContingencyTable | None = None,
) -> bool:
    """Whether decision ``label`` fires on one window pair.

    ``table``: the pair's ``ContingencyTable.build(ref, cur)``, built once for every method of a window (what each
    method's ``compare`` would build itself; the closest-table search is most of a window's time).
    """
    if label == "scipy chi2 raw":
        return scipy_chi2_p(raw) < 0.05
    method = METHODS[label](ref, cur)
    if table is None:
        return method.compare(ref, cur).detected
    return method._compare(table, reference=ref, current=cur).detected


def alarm_rates(
    column: Column,
    scenario: str,
    n: int,
    windows: int,
    approximate: bool | str = False,
    seed: int = 0,
    decisions: Sequence[str] = DECISIONS,
) -> dict[str, float]:
    """Share of ``windows`` simulated window pairs in which each decision fires (``approximate``: see draw_pair)."""
    mode = {False: 0, True: 1, "sketch": 1, "misra-gries": 2}[approximate]
    rng = np.random.default_rng([seed, column.levels, n, SCENARIOS.index(scenario), mode])
    hits = dict.fromkeys(decisions, 0)
    for _ in range(windows):
        ref, cur, raw = draw_pair(rng, column, scenario, n, approximate)
        table = ContingencyTable.build(ref, cur) if any(d in METHODS for d in decisions) else None
        done: dict[Any, bool] = {}  # the default is often the chi2 method itself: run it once
        for label in decisions:
            method = METHODS[label](ref, cur) if label in METHODS else label
            if method not in done:
                done[method] = decide(label, ref, cur, raw, table)
            hits[label] += done[method]
    return {label: hits[label] / windows for label in decisions}


#: ``(mode, scenario, column, rows) -> decision -> rate``.
Results = dict[tuple[str, str, str, int], dict[str, float]]

#: Power table groups: scenario -> the decisions shown for it ("a / b / c" in one cell).
POWER_CELLS: dict[str, tuple[str, ...]] = {
    "new 1%": ("default", "unseen", "scipy chi2 raw"),
    "new 2%": ("default", "unseen", "scipy chi2 raw"),
    "new 5%": ("default", "unseen", "scipy chi2 raw"),
    "swap": ("default", "chi2", "scipy chi2 raw"),
    "vanished": ("default", "chi2", "scipy chi2 raw"),
}
_TITLES = {
    "exact": "exact counts",
    "sketch": "approximate reference (the SDK's CategoricalSketch, K = levels / 2)",
    "misra-gries": "approximate reference (one-shot Misra–Gries, K = levels / 2, no per-category slacks)",
}


def _shown(mode: str, scenario: str) -> tuple[str, ...]:
    """The decisions the tables show for one mode and scenario (the others are not computed)."""
    if scenario != "none":
        return POWER_CELLS[scenario]
    return DECISIONS if mode == "exact" else ("default", "chi2", "unseen")


def run_grid(
    columns: Sequence[Column],
    sizes: Sequence[int],
    windows: int,
    modes: Sequence[str] = ("exact", "sketch"),
    scenarios: Sequence[str] = SCENARIOS,
    done: Callable[[tuple[str, str, str, int], dict[str, float]], None] | None = None,
) -> Results:
    """Alarm rates of every decision for every mode, scenario, column and size (``done`` is told each cell)."""
    results: Results = {}
    for mode in modes:
        for scenario in scenarios:
            for column in columns:
                for n in sizes:
                    key = (mode, scenario, f"{column.levels} {column.shape}", n)
                    results[key] = alarm_rates(
                        column, scenario, n, windows, MODES[mode], decisions=_shown(mode, scenario)
                    )
                    if done is not None:
                        done(key, results[key])
    return results


def _windows_text(windows: Mapping[tuple[str, str], int], mode: str) -> str:
    """``"100"``, or ``"100 (60 for 1000 zipf, 1000 uniform)"`` when the columns of a mode ran different counts."""
    counts = {column: w for (m, column), w in windows.items() if m == mode}
    if not counts:
        return "?"
    common = max(set(counts.values()), key=list(counts.values()).count)
    others: dict[int, list[str]] = {}
    for column, w in counts.items():
        if w != common:
            others.setdefault(w, []).append(column)
    extra = "; ".join(f"{w} for {', '.join(c)}" for w, c in others.items())
    return f"{common} ({extra})" if extra else str(common)


def format_tables(results: Results, windows: Mapping[tuple[str, str], int]) -> str:
    """The false-alarm table and one power table per mode as markdown (``windows``: pairs per cell, per mode and
    column)."""
    columns = list(dict.fromkeys(k[2] for k in results))
    sizes = sorted({k[3] for k in results})
    approximate = [
        mode for mode in MODES if mode != "exact" and (mode, "none", columns[0], sizes[0]) in results
    ]
    counts = ", ".join(
        f"{mode}: {_windows_text(windows, mode)}" for mode in MODES if any(m == mode for m, _ in windows)
    )
    out = [f"**No drift: share of windows flagged** (window pairs per cell: {counts})", ""]
    head = ["column", "rows", "default", "chi2", "scipy chi2 raw", "JS ≥ 0.1 alone", "unseen"]
    for mode in approximate:
        head += [f"default ({mode})", f"chi2 ({mode})", f"unseen ({mode})"]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for column in columns:
        for n in sizes:
            ex = results[("exact", "none", column, n)]
            cells = [ex[d] for d in ("default", "chi2", "scipy chi2 raw", "JS>=0.1", "unseen")]
            for mode in approximate:
                cells += [results[(mode, "none", column, n)][d] for d in ("default", "chi2", "unseen")]
            out.append(f"| {column} | {n:,} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    for mode in MODES:
        if (mode, "swap", columns[0], sizes[0]) not in results:
            continue
        out += [
            "",
            f"**Power, {_TITLES[mode]}** ({_windows_text(windows, mode)} window pairs per cell; share "
            "flagged; cells: "
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
                    rates = results[(mode, scenario, column, n)]
                    cells.append(" / ".join(f"{rates[label]:.2f}" for label in labels))
                out.append(f"| {column} | {n:,} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the categorical false-alarm and power tables of docs/drift.md.

    A long run can be split: ``--save part.jsonl`` per run (e.g. one per mode or level set; each cell is
    appended as soon as it is done), then ``--load part1.jsonl part2.jsonl`` prints the tables of all of them.
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", type=int, default=300, help="window pairs per cell")
    parser.add_argument("--sizes", default="100,1000,10000,100000,1000000", help="rows per side")
    parser.add_argument("--levels", default="5,40,1000")
    parser.add_argument("--modes", default="exact,sketch", help=f"reference modes, of {', '.join(MODES)}")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--save", help="append each cell's rates to this JSON-lines file")
    parser.add_argument(
        "--load", nargs="+", help="print the tables of these saved results instead of running"
    )
    args = parser.parse_args(argv)
    results: Results = {}
    windows: dict[tuple[str, str], int] = {}
    if args.load:
        for path in args.load:
            for line in Path(path).read_text().splitlines():
                row = json.loads(line)
                windows[(row["key"][0], row["key"][2])] = row["windows"]
                results[tuple(row["key"])] = row["rates"]
        print(format_tables(results, windows))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    columns = [Column(int(k), shape) for k in args.levels.split(",") for shape in ("zipf", "uniform")]
    modes = args.modes.split(",")

    def save(key: tuple[str, str, str, int], rates: dict[str, float]) -> None:
        with open(args.save, "a", encoding="utf-8") as out:
            out.write(json.dumps({"key": list(key), "windows": args.windows, "rates": rates}) + "\n")

    results = run_grid(
        columns, sizes, args.windows, modes, args.scenarios.split(","), save if args.save else None
    )
    if not args.save:
        cells = {(mode, f"{c.levels} {c.shape}"): args.windows for mode in modes for c in columns}
        print(format_tables(results, cells))


if __name__ == "__main__":
    main()
