"""Compare a reference with current data offline, through the collector's own drift engine.

The checks run exactly as in the collector: columns are paired by :func:`~otel_mlmon_collector._drift_engine.
columns.match_columns`, planned, compared and decided by :class:`~otel_mlmon_collector._drift_engine.columns.
ColumnChecks` under the model's :class:`~otel_mlmon_collector.drift.DriftPolicy` (same defaults by type and
sample size, same overrides, one multiple-testing family per evaluation). So a finding offline is the finding
production would give on the same sketches.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_mlmon._version import __version__
from otel_mlmon.summary import Summary

from .._drift_engine import ColumnDrift, DriftConfig, UnmatchedColumns
from .._drift_engine.columns import ColumnChecks, match_columns
from ..drift import DriftPolicy, DriftResult
from ._sources import ColumnOptions, Source, read_source

__all__ = ["ColumnFinding", "DriftReport", "compare", "evaluate", "policy_for"]

_log = logging.getLogger("otel_mlmon_collector.offline")


@dataclass(frozen=True)
class ColumnFinding:
    """One column's outcome: the deciding check's numbers and every check's result.

    Attributes:
        name: Feature or output name; confidence columns read ``OUTPUT[class]``.
        target: ``feature``, ``output`` or ``confidence``.
        kind: ``numeric`` or ``categorical``.
        method: The deciding check's method (the distribution method unless another decisive check fired).
        score, threshold, p_value: Its statistic, effect-size threshold and corrected p-value (None: distance).
        n_reference, n_current: The values it compared on each side.
        drifted: Whether a decisive check detected drift; None when no decisive check could be made.
        reason: A sentence saying why (or why not, or why nothing was decided).
        results: Every check (``distribution``, ``missing_rate``, ``out_of_range``) -> its corrected result.
    """

    name: str
    target: str
    kind: str
    method: str
    score: float
    threshold: float
    p_value: float | None
    n_reference: int
    n_current: int
    drifted: bool | None
    reason: str
    results: Mapping[str, DriftResult] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``score`` None when the comparison was skipped)."""
        return {
            "name": self.name,
            "target": self.target,
            "kind": self.kind,
            "method": self.method,
            "score": _finite(self.score),
            "threshold": _finite(self.threshold),
            "p_value": _finite(self.p_value),
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "drifted": self.drifted,
            "reason": self.reason,
            "checks": {
                check: {
                    "method": r.method,
                    "score": _finite(r.score),
                    "threshold": _finite(r.threshold),
                    "p_value": _finite(r.p_value),
                    "detected": r.detected,
                    "n_reference": r.n_reference,
                    "n_current": r.n_current,
                    **({"skipped": r.skipped} if r.skipped else {}),
                }
                for check, r in self.results.items()
            },
        }


@dataclass
class DriftReport:
    """What one comparison found, with the sketches behind it (for the HTML report).

    Attributes:
        model, version: The model the reference describes (overrides are looked up under ``model``).
        columns: One finding per compared column, features first, in the current data's order.
        reference, current: The two sides' sketches and labels.
        unmatched: Per target, the columns only one side has (not compared).
        config: The engine configuration used.
        window: ``(start, end)`` in seconds since the epoch for a replay window, else None.
    """

    model: str
    version: str | None
    columns: list[ColumnFinding]
    reference: Source
    current: Source
    unmatched: tuple[UnmatchedColumns, ...] = ()
    config: DriftConfig = field(default_factory=DriftConfig)
    window: tuple[float, float] | None = None
    #: The engine's own records of the columns (what the collector encodes as gauges and events).
    engine_columns: list[ColumnDrift] = field(default_factory=list, repr=False)

    @property
    def drifted(self) -> bool:
        """Whether any column drifted."""
        return any(c.drifted for c in self.columns)

    @property
    def notes(self) -> list[str]:
        """How the data files' columns were read where a user may want to change it (both sides, each line once)."""
        return list(dict.fromkeys([*self.reference.notes, *self.current.notes]))

    @property
    def drifted_columns(self) -> list[str]:
        """The names of the columns that drifted."""
        return [c.name for c in self.columns if c.drifted]

    @property
    def share(self) -> float | None:
        """Share of the checked features that drifted (``ml.drift.share``); None when none could be checked."""
        checked = [c for c in self.columns if c.target == "feature" and c.drifted is not None]
        return sum(1 for c in checked if c.drifted) / len(checked) if checked else None

    def __getitem__(self, name: str) -> ColumnFinding:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"no compared column {name!r}; columns: {[c.name for c in self.columns]}")

    def verdict(self) -> str:
        """One line: how many columns drifted, which, and the sizes compared."""
        checked = sum(1 for c in self.columns if c.drifted is not None)
        names = self.drifted_columns
        sizes = f"reference {self.reference.summary.rows:,} rows, current {self.current.summary.rows:,} rows"
        if checked == 0:
            matched = f"{len(self.columns)} matched" if self.columns else "no column matched the reference"
            return f"nothing compared: {matched}, none with enough values (min_rows {self.config.min_rows}); {sizes}"
        if names:
            shown = ", ".join(names[:8]) + (f", ... {len(names) - 8} more" if len(names) > 8 else "")
            return f"DRIFT: {len(names)} of {checked} columns drifted ({shown}); {sizes}"
        return f"no drift: 0 of {checked} columns drifted; {sizes}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``--json`` writes."""
        out: dict[str, Any] = {
            "model": self.model,
            "version": self.version,
            "engine": "otel-mlmon",
            "engine_version": __version__,
            "drifted": self.drifted,
            "drifted_columns": self.drifted_columns,
            "share": self.share,
            "reference": {"source": self.reference.label, "rows": self.reference.summary.rows},
            "current": {"source": self.current.label, "rows": self.current.summary.rows},
            "correction": self.config.correction,
            "columns": [c.to_dict() for c in self.columns],
            "unmatched": {
                u.target: {"current": _names(u.live_only), "reference": _names(u.reference_only)}
                for u in self.unmatched
                if u.live_only or u.reference_only
            },
        }
        if self.window is not None:
            out["window"] = {"start": _iso(self.window[0]), "end": _iso(self.window[1])}
        return out

    def to_json(self, path: str | os.PathLike[str] | None = None, indent: int | None = 2) -> str:
        """The report as JSON text (non-finite numbers as null); also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    def to_frame(self) -> Any:
        """The per-column findings as a pandas DataFrame, one row per column."""
        import pandas as pd

        rows = [{k: v for k, v in c.to_dict().items() if k != "checks"} for c in self.columns]
        columns = ["name", "target", "kind", "method", "score", "threshold", "p_value"]
        columns += ["n_reference", "n_current", "drifted", "reason"]
        return pd.DataFrame(rows, columns=columns)

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """A self-contained HTML report (inline SVG, no remote resources); also written to ``path``."""
        from ._report_html import render_reports

        text = render_reports([self], title=f"Drift report: {self.model}")
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    def to_text(self) -> str:
        """The per-column table and the verdict, as the command line prints them."""
        from ._report_text import render_table

        return render_table(self)

    def __str__(self) -> str:
        return self.to_text()


def policy_for(config: DriftConfig, model: str) -> DriftPolicy:
    """The model's policy as the collector builds it: ``"*"`` overrides, then the model's own."""
    overrides = {**config.overrides.get("*", {}), **config.overrides.get(model, {})}
    return DriftPolicy(overrides, correction=config.correction)  # type: ignore[arg-type]


def evaluate(
    reference: Source,
    current: Source,
    *,
    model: str,
    version: str | None = None,
    config: DriftConfig | None = None,
    window: tuple[float, float] | None = None,
) -> DriftReport:
    """Run the collector's column checks on two sides already read into sketches (one evaluation)."""
    config = config or DriftConfig()
    pending, unmatched = match_columns(reference.summary, current.summary)
    checks = ColumnChecks(config, _log_once)
    columns = checks.compare(model, policy_for(config, model), pending)
    findings = [_finding(c) for c in columns]
    return DriftReport(model, version, findings, reference, current, unmatched, config, window, columns)


def compare(
    reference: Any,
    current: Any,
    *,
    model: str | None = None,
    version: str | None = None,
    config: DriftConfig | Mapping[str, Any] | None = None,
    categorical: Collection[str] = (),
    exclude: Collection[str] = (),
    prediction: Sequence[str] = (),
    feature_names: Sequence[str] | None = None,
    text: Collection[str] = (),
    ids: Collection[str] = (),
    vector_min_width: int | None = 64,
    numeric: Collection[str] = (),
    keep_index: bool = False,
) -> DriftReport:
    """Compare current data with a reference through the collector's drift engine.

    Args:
        reference: A :class:`~otel_mlmon.profile.Profile`, a profile file, a data file (CSV / Parquet), or data
            (DataFrame, numpy array, Arrow table...).
        current: A data file, a list of files or globs, data, a :class:`~otel_mlmon.summary.Summary`, or an
            :class:`~otel_mlmon.testing.InMemoryTelemetry` a ``@monitor``-ed function exported into.
        model, version: The model identity (default: the profile's, else ``model``); overrides are looked up
            under ``model``.
        config: A :class:`DriftConfig` or the collector's ``drift:`` mapping (methods, thresholds,
            checks, correction, overrides); default the collector's defaults.
        categorical, exclude, prediction, feature_names, text, ids, vector_min_width: How data columns are
            read, as for ``otel-mlmon profile build`` and ``@monitor``; columns the reference profile holds as
            categorical are read as categorical on the current side too.
        numeric, keep_index: For data files, as ``profile build --numeric`` / ``--keep-index``: columns read as
            numbers (values that are not numbers count as missing), and whether a stored pandas index is read.

    Returns:
        A :class:`DriftReport`: ``.drifted``, ``.columns``, ``.to_frame()``, ``.to_json()``, ``.to_html()``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> report = compare(rng.normal(size=(2000, 2)), rng.normal([0, 1], size=(500, 2)))
        >>> report.drifted_columns
        ['f1']
    """
    engine = config if isinstance(config, DriftConfig) else DriftConfig.from_mapping(config)
    options = ColumnOptions(
        categorical,
        exclude,
        prediction,
        feature_names,
        text=text,
        ids=ids,
        vector_min_width=vector_min_width,
        numeric=numeric,
        keep_index=keep_index,
    )
    ref = read_source(reference, options)
    options = options.with_categorical(categorical_columns(ref.summary))
    cur = read_source(current, options, model=model or ref.model)
    name = model or ref.model or cur.model or "model"
    return evaluate(ref, cur, model=name, version=version or ref.version or cur.version, config=engine)


def categorical_columns(summary: Summary) -> list[str]:
    """Features a summary holds as categorical (so the other side reads integer codes as categories too)."""
    return [name for name, column in summary.features.items() if column.kind == "categorical"]


def _finding(column: ColumnDrift) -> ColumnFinding:
    name = f"{column.name[0]}[{column.name[1]}]" if isinstance(column.name, tuple) else column.name
    decisive = column.decisive
    if decisive is None:
        decisive = next(iter(column.results.values()))
    return ColumnFinding(
        name=name,
        target=column.target,
        kind=column.kind,
        method=decisive.method,
        score=decisive.score,
        threshold=decisive.threshold,
        p_value=decisive.p_value,
        n_reference=decisive.n_reference,
        n_current=decisive.n_current,
        drifted=column.detected,
        reason=_reason(column, decisive),
        results=dict(column.results),
    )


def _reason(column: ColumnDrift, decisive: DriftResult) -> str:
    """Why the column was (not) decided drifted, from the deciding result."""
    if column.detected is None:
        skipped = [f"{check}: {r.skipped}" for check, r in column.results.items() if r.skipped]
        return "not decided: " + ("; ".join(skipped) if skipped else "no decisive check could be made")
    r = decisive
    parts = [
        f"{r.method} {_num(r.score)} {'>=' if r.score >= r.threshold else '<'} threshold {_num(r.threshold)}"
    ]
    if r.p_value is not None and r.alpha is not None:
        parts.append(f"p {_num(r.p_value)} {'<' if r.p_value < r.alpha else '>='} alpha {_num(r.alpha)}")
    verdict = "drift" if column.detected else "no drift"
    return f"{verdict}: {' and '.join(parts)} (n {r.n_reference} vs {r.n_current})"


def _log_once(level: int, key: str, message: str, *args: Any) -> None:
    """The engine's rate-limited log hook; offline every message matters once, at its level."""
    _log.log(level, message, *args)


def _num(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _names(names: Sequence[Any]) -> list[str]:
    return [f"{n[0]}[{n[1]}]" if isinstance(n, tuple) else str(n) for n in names]


def _iso(seconds: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat().replace("+00:00", "Z")
