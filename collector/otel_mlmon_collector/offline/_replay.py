"""Replay past data by its own event time: one drift evaluation per window, as the collector would have made them.

Rows are assigned to windows of ``every`` seconds aligned to the epoch (the collector's ``window_seconds``
semantics: window ``i`` covers ``[i * every, (i + 1) * every)`` UTC), in one pass over the files. Each evaluation
merges the ``view`` windows ending at one window (the collector's ``evaluation_windows``; 1 by default, so the
windows do not overlap) and checks it against the reference as one family of hypotheses, through the same column
checks and policy as :func:`~otel_mlmon_collector.offline._compare`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from otel_mlmon.summary import Summary, SummaryConfig

from .._drift_engine import DriftConfig
from ._compare import DriftReport, categorical_columns, evaluate
from ._sources import ColumnOptions, Source, add_batch, batches, expand_paths, read_source

__all__ = ["ReplayResult", "parse_duration", "replay"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str | float) -> float:
    """Seconds in a duration such as ``90s``, ``15m``, ``6h``, ``1d``, ``1w`` or a plain number of seconds.

    >>> parse_duration("1d"), parse_duration("15m"), parse_duration(30)
    (86400.0, 900.0, 30.0)

    Raises:
        ValueError: naming the accepted forms.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if match is None:
            raise ValueError(f"duration must look like 90s, 15m, 6h, 1d or 1w, got {text!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not seconds > 0:
        raise ValueError(f"duration must be > 0, got {text!r}")
    return seconds


@dataclass
class ReplayResult:
    """One drift report per evaluated window, in time order.

    Attributes:
        reports: One :class:`DriftReport` per window with data (its ``window`` gives the bounds).
        every: Window length in seconds; ``view``: windows merged per evaluation.
        skipped_rows: Rows without a readable timestamp (not evaluated).
        notes: How the data files' columns were read where a user may want to change it (see
            :attr:`Source.notes <otel_mlmon_collector.offline._sources.Source>`).
    """

    reports: list[DriftReport]
    every: float
    view: int = 1
    skipped_rows: int = 0
    by: str = ""
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        """Whether any column drifted in any window."""
        return any(r.drifted for r in self.reports)

    def drifted_windows(self) -> list[tuple[str, list[str]]]:
        """``(window start, ISO-8601 UTC; drifted columns)`` of every window with drift."""
        return [(_iso(r.window[0]), r.drifted_columns) for r in self.reports if r.drifted and r.window]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: the replay's parameters and one report per window."""
        return {
            "by": self.by,
            "every_seconds": self.every,
            "view_windows": self.view,
            "skipped_rows": self.skipped_rows,
            "drifted": self.drifted,
            "windows": [r.to_dict() for r in self.reports],
        }

    def to_json(self, path: str | os.PathLike[str] | None = None, indent: int | None = 2) -> str:
        """JSON text (non-finite numbers as null); also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    def to_frame(self) -> Any:
        """Every window's findings as one pandas DataFrame (``window_start`` / ``window_end`` columns first)."""
        import pandas as pd

        frames = []
        for report in self.reports:
            frame = report.to_frame()
            start, end = report.window or (math.nan, math.nan)
            frame.insert(0, "window_end", pd.to_datetime(end, unit="s", utc=True))
            frame.insert(0, "window_start", pd.to_datetime(start, unit="s", utc=True))
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """A self-contained HTML report: a timeline of windows, then each window's columns."""
        from ._report_html import render_reports

        model = self.reports[0].model if self.reports else "model"
        text = render_reports(self.reports, title=f"Drift replay: {model}, windows of {_span(self.every)}")
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    def to_text(self) -> str:
        """One line per window and a verdict."""
        lines = []
        for r in self.reports:
            start, end = r.window or (math.nan, math.nan)
            names = r.drifted_columns
            checked = sum(1 for c in r.columns if c.drifted is not None)
            state = (
                f"DRIFT in {', '.join(names)}" if names else ("no drift" if checked else "nothing compared")
            )
            state = f"{checked:>4} columns  {state}"
            lines.append(f"{_iso(start)} .. {_iso(end)}  {r.current.summary.rows:>9,} rows  {state}")
        hit = [r for r in self.reports if r.drifted]
        lines.append(
            f"{'DRIFT' if hit else 'no drift'}: {len(hit)} of {len(self.reports)} windows drifted"
            + (f" (first {_iso(hit[0].window[0])})" if hit and hit[0].window else "")
            + (f"; {self.skipped_rows} rows without a timestamp skipped" if self.skipped_rows else "")
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def replay(
    reference: Any,
    current: Any,
    *,
    by: str,
    every: str | float,
    view: int = 1,
    model: str | None = None,
    version: str | None = None,
    config: DriftConfig | Mapping[str, Any] | None = None,
    categorical: Collection[str] = (),
    exclude: Collection[str] = (),
    prediction: Sequence[str] = (),
    text: Collection[str] = (),
    ids: Collection[str] = (),
    vector_min_width: int | None = 64,
    numeric: Collection[str] = (),
    keep_index: bool = False,
    batch_rows: int = 100_000,
) -> ReplayResult:
    """Evaluate drift per event-time window of ``current`` against ``reference``.

    Args:
        reference: As for :func:`compare` (profile, profile file, data file, data).
        current: Data files / globs, or a pandas DataFrame / Arrow table, holding the column ``by``.
        by: The event-time column: datetimes, ISO-8601 strings (naive ones read as UTC) or numbers of seconds
            since the epoch. It is never compared.
        every: Window length (``1d``, ``6h``, ``900`` seconds...); windows are aligned to the epoch (UTC).
        view: Windows merged per evaluation (the collector's ``evaluation_windows``).
        model, version, config, categorical, exclude, prediction, text, ids, vector_min_width, numeric,
            keep_index: As for :func:`compare`.
        batch_rows: Rows read at a time from files.

    Returns:
        A :class:`ReplayResult` with one report per window holding data.
    """
    length = parse_duration(every)
    if not isinstance(view, int) or view < 1:
        raise ValueError(f"view must be an int >= 1, got {view!r}")
    engine = config if isinstance(config, DriftConfig) else DriftConfig.from_mapping(config)
    options = ColumnOptions(
        categorical,
        frozenset(exclude) | {by},
        prediction,
        None,
        batch_rows,
        text=text,
        ids=ids,
        vector_min_width=vector_min_width,
        numeric=numeric,
        keep_index=keep_index,
    )
    ref = read_source(reference, options)
    options = options.with_categorical(categorical_columns(ref.summary))
    windows, skipped, files, config, notes = _windows(current, by, length, options)
    name = model or ref.model or "model"
    reports = []
    for index in sorted(windows):
        merged = Summary(config)
        for i in range(index - view + 1, index + 1):
            if i in windows:
                merged.merge(windows[i])
        bounds = ((index - view + 1) * length, (index + 1) * length)
        label = f"{_iso(bounds[0])} .. {_iso(bounds[1])}"
        cur = Source(merged, label, files=files)
        reports.append(
            evaluate(ref, cur, model=name, version=version or ref.version, config=engine, window=bounds)
        )
    return ReplayResult(reports, length, view, skipped, by, files, list(dict.fromkeys([*ref.notes, *notes])))


def _windows(
    current: Any, by: str, length: float, options: ColumnOptions
) -> tuple[dict[int, Summary], int, list[str], SummaryConfig, list[str]]:
    """One pass over the current data: a summary per window index, rows without a timestamp, the files read,
    the sketch configuration the windows share and the notes on how the files' columns were read."""
    windows: dict[int, Summary] = {}
    # One configuration for every window, as one monitored process has: a column's kind is decided once.
    config = options.summary_config()
    skipped = 0
    notes: list[str] = []
    if isinstance(current, (str, os.PathLike, list, tuple)):
        files = expand_paths([current] if isinstance(current, (str, os.PathLike)) else list(current))
        parts: Any = ((path, batch) for path in files for batch in batches(path, options, notes))
    else:
        files = []
        parts = [(type(current).__name__, current)]
    for where, batch in parts:
        arrow = type(batch).__module__.startswith("pyarrow")
        names = list(batch.column_names if arrow else batch.columns)
        if by not in names:
            raise ValueError(f"no event-time column {by!r} in {where}; it has {names}")
        seconds = event_seconds(batch.column(by).to_pandas() if arrow else batch[by])
        known = np.isfinite(seconds)
        skipped += int(np.count_nonzero(~known))
        index = np.floor(seconds[known] / length).astype(np.int64)
        rows = np.flatnonzero(known)
        order = np.argsort(index, kind="stable")
        index, rows = index[order], rows[order]
        cuts = np.flatnonzero(np.diff(index)) + 1
        for part_rows, part_index in zip(np.split(rows, cuts), np.split(index, cuts)):
            if not len(part_rows):
                continue
            part = batch.take(part_rows) if arrow else batch.iloc[part_rows]
            summary = windows.setdefault(int(part_index[0]), Summary(config))
            add_batch(summary, part, options, where)
    if windows:  # string columns still undecided are decided now; their held values go to the last window
        windows[max(windows)].settle()
    return windows, skipped, files, config, notes


def event_seconds(values: Any) -> np.ndarray:
    """Seconds since the epoch of a pandas Series of datetimes, ISO-8601 strings or numbers (NaN: unreadable).

    >>> import pandas as pd
    >>> event_seconds(pd.Series(["1970-01-02T00:00:00Z", "1970-01-01 00:01:00", None, 30])).tolist()
    [86400.0, 60.0, nan, 30.0]
    """
    import pandas as pd

    series = pd.Series(values)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not pd.api.types.is_datetime64_any_dtype(series):
        numbers = pd.to_numeric(series, errors="coerce")
        parsed = pd.to_datetime(series.where(numbers.isna()), utc=True, errors="coerce", format="mixed")
        out = _datetime_seconds(parsed).copy()
        fill = numbers.notna().to_numpy()
        out[fill] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)[fill]
        return out
    if getattr(series.dt, "tz", None) is None:
        series = series.dt.tz_localize("UTC")
    return _datetime_seconds(series)


def _datetime_seconds(series: Any) -> np.ndarray:
    import pandas as pd

    # Through a Timedelta, whatever the resolution (pandas 2 parses to seconds, microseconds or nanoseconds).
    delta = series.dt.tz_convert("UTC") - pd.Timestamp(0, tz="UTC")
    return (delta / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64, na_value=np.nan)


def _iso(seconds: float) -> str:
    import datetime as dt

    if not math.isfinite(seconds):
        return "?"
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: float) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
