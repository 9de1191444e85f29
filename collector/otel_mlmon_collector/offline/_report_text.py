"""The plain-text form of a drift report: one row per column and a one-line verdict, for terminals and CI logs."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["render_table"]

# A DriftReport, read by attribute: compare.py imports this module, so importing it back would make a cycle.
DriftReport = Any

_HEADER = ("column", "kind", "method", "score", "threshold", "p-value", "n ref", "n cur", "drifted")


def render_table(report: DriftReport, max_rows: int | None = None) -> str:
    """The per-column table (drifted columns first when it is cut at ``max_rows``) and the verdict."""
    columns = list(report.columns)
    if max_rows is not None and len(columns) > max_rows:
        columns.sort(key=lambda c: not c.drifted)
    shown = columns if max_rows is None else columns[:max_rows]
    rows = [
        (
            c.name if c.target == "feature" else f"{c.target}:{c.name}",
            c.kind,
            c.method,
            _num(c.score),
            _num(c.threshold),
            "" if c.p_value is None else f"{c.p_value:.3g}",
            str(c.n_reference),
            str(c.n_current),
            {True: "DRIFT", False: "no", None: "-"}[c.drifted],
        )
        for c in shown
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(_HEADER)]
    lines = [_line(_HEADER, widths), _line(tuple("-" * w for w in widths), widths)]
    lines += [_line(r, widths) for r in rows]
    if len(shown) < len(report.columns):
        lines.append(f"... {len(report.columns) - len(shown)} more columns (see --json / --html)")
    unmatched = [
        f"{len(u.live_only)} {u.target} column(s) only in the current data"
        for u in report.unmatched
        if u.live_only
    ] + [
        f"{len(u.reference_only)} {u.target} column(s) only in the reference"
        for u in report.unmatched
        if u.reference_only
    ]
    if unmatched:
        lines.append("not compared: " + "; ".join(unmatched))
    lines.append(report.verdict())
    return "\n".join(lines)


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    # Text columns left-aligned, numbers right-aligned.
    out = [c.ljust(w) if i < 3 or i == 8 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
    return "  ".join(out).rstrip()


def _num(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else "-"
