"""Joined rows and prediction counts per prediction-time window, kept (optionally in SQLite) until labels stop."""

from __future__ import annotations

import gc
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from otel_mlmon_collector._ground_truth._metrics import (
    WindowKey,
    WindowPerformance,
    window_metrics,
    window_start,
)
from otel_mlmon_collector._ground_truth._records import (
    JoinedRow,
    PredictionRecord,
    label_from_json,
    prediction_from_json,
    record_to_json,
)

__all__ = ["PerformanceWindows"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS window_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS window_predicted (
    model TEXT NOT NULL, version TEXT NOT NULL, output TEXT NOT NULL, start INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (model, version, output, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS window_rows (
    seq INTEGER PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL, output TEXT NOT NULL,
    start INTEGER NOT NULL, prediction TEXT NOT NULL, label TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS window_rows_start ON window_rows (start);
CREATE INDEX IF NOT EXISTS window_rows_key ON window_rows (model, version, output, start, seq);
"""


class PerformanceWindows:
    """Accumulates prediction counts and joined rows per (model, version, output, prediction-time window), so a
    window's metrics can be recomputed as its late labels keep arriving.

    Without ``path`` the rows live in memory, which then grows with the labelled rows of every window kept.
    With ``path`` they live only in an SQLite file (the join store's file is fine: the tables differ) and are
    read back for the windows whose metrics are asked for, so memory holds one window's rows at a time and a
    collector restart loses no window. Windows are dropped by :meth:`drop_before` once no label can arrive for
    them any more (window end + the join TTL). Thread-safe.

    Args:
        window_seconds: Width of the tumbling prediction-time windows (aligned on the Unix epoch).
        path: SQLite file for durability (``None``: memory only).

    Raises:
        ValueError: ``window_seconds`` is not positive, or the file holds windows of another width.

    Example:
        >>> from otel_mlmon_collector._ground_truth._performance_windows import PerformanceWindows
        >>> from otel_mlmon_collector._ground_truth._records import GroundTruthRecord, JoinedRow, PredictionRecord
        >>> windows = PerformanceWindows(window_seconds=60)
        >>> p = [PredictionRecord("m", "1", "prediction", str(i), i * 10**9, "a") for i in range(4)]
        >>> windows.observe_predictions(p)
        >>> changed = windows.add([JoinedRow(p[0], GroundTruthRecord("m", "", "prediction", "0", 9 * 10**9, "a")),
        ...                        JoinedRow(p[1], GroundTruthRecord("m", "", "prediction", "1", 9 * 10**9, "b"))])
        >>> (result,) = windows.results(changed).values()
        >>> result.classification.accuracy, result.label_coverage, result.label_delay_max_seconds
        (0.5, 0.5, 9.0)
    """

    def __init__(self, window_seconds: float = 60.0, path: str | Path | None = None) -> None:
        if not window_seconds > 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
        self.window_seconds = float(window_seconds)
        self.path = None if path is None else str(path)
        self._lock = threading.Lock()
        self._predicted: dict[WindowKey, int] = defaultdict(int)
        self._rows: dict[WindowKey, list[JoinedRow]] = defaultdict(list)  # memory mode only
        self._row_counts: dict[WindowKey, int] = defaultdict(int)
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self._open(self.path)

    def observe_predictions(self, records: Iterable[PredictionRecord]) -> None:
        """Count prediction records per window (the denominator of label coverage)."""
        counts: dict[WindowKey, int] = defaultdict(int)
        for p in records:
            counts[(p.model, p.version, p.output, window_start(p.time_unix_nano, self.window_seconds))] += 1
        if not counts:
            return
        with self._lock:
            for key, n in counts.items():
                self._predicted[key] += n
            if self._db is not None:
                self._write(
                    "INSERT INTO window_predicted VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET n = n + excluded.n",
                    [(*key, n) for key, n in counts.items()],
                )

    def add(self, rows: Iterable[JoinedRow]) -> set[WindowKey]:
        """Add joined rows; return the window keys that changed."""
        keyed = []
        for row in rows:
            model, version, output = row.series_key
            keyed.append(
                (
                    (
                        model,
                        version,
                        output,
                        window_start(row.prediction_time_unix_nano, self.window_seconds),
                    ),
                    row,
                )
            )
        with self._lock:
            for key, row in keyed:
                self._row_counts[key] += 1
                if self._db is None:
                    self._rows[key].append(row)
            if self._db is not None and keyed:
                self._write(
                    "INSERT INTO window_rows (model, version, output, start, prediction, label) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(*key, record_to_json(row.prediction), record_to_json(row.label)) for key, row in keyed],
                )
        return {key for key, _ in keyed}

    def results(self, keys: Iterable[WindowKey] | None = None) -> dict[WindowKey, WindowPerformance]:
        """Metrics of the given windows (default: every window holding joined rows), in key order."""
        with self._lock:
            present = self._row_counts
            selected = sorted(present) if keys is None else sorted(k for k in set(keys) if k in present)
            predicted = {k: self._predicted.get(k) for k in selected}
        out = {}
        for k in selected:
            # Decoding a window creates many small objects that all survive: the cyclic GC would re-scan them
            # over and over (3x slower for 30 000 rows). Reference counting still frees everything.
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                with self._lock:
                    rows = self._window_rows(k)
                out[k] = window_metrics(k, rows, self.window_seconds, predicted[k])
            finally:
                if was_enabled:
                    gc.enable()
        return out

    def rows(self, key: WindowKey) -> list[JoinedRow]:
        """The joined rows of one window (empty if it holds none), e.g. to estimate their performance."""
        with self._lock:
            return self._window_rows(key) if key in self._row_counts else []

    def n_rows(self) -> int:
        """Joined rows held over all windows."""
        with self._lock:
            return sum(self._row_counts.values())

    def drop_before(self, unix_nano: int) -> int:
        """Forget windows that end at or before ``unix_nano``; return how many were dropped."""
        width = int(self.window_seconds * 1e9)
        with self._lock:
            old = {k for k in set(self._row_counts) | set(self._predicted) if k[3] + width <= unix_nano}
            for k in old:
                self._rows.pop(k, None)
                self._row_counts.pop(k, None)
                self._predicted.pop(k, None)
            if self._db is not None and old:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute("DELETE FROM window_rows WHERE start + ? <= ?", (width, unix_nano))
                    self._db.execute("DELETE FROM window_predicted WHERE start + ? <= ?", (width, unix_nano))
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        return len(old)

    def close(self) -> None:
        """Close the SQLite file, if any (idempotent)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> PerformanceWindows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        stored = db.execute("SELECT value FROM window_meta WHERE key = 'window_seconds'").fetchone()
        if stored is None:
            db.execute("INSERT INTO window_meta VALUES ('window_seconds', ?)", (repr(self.window_seconds),))
        elif float(stored[0]) != self.window_seconds:
            db.close()
            raise ValueError(
                f"{path} holds windows of {stored[0]} s, not window_seconds={self.window_seconds}"
            )
        for model, version, output, start, n in db.execute("SELECT * FROM window_predicted"):
            self._predicted[(model, version, output, start)] = n
        for model, version, output, start, n in db.execute(
            "SELECT model, version, output, start, COUNT(*) FROM window_rows GROUP BY model, version, output, start"
        ):
            self._row_counts[(model, version, output, start)] = n
        self._db = db

    def _window_rows(self, key: WindowKey) -> list[JoinedRow]:
        if self._db is None:
            return list(self._rows[key])
        return [
            JoinedRow(prediction_from_json(prediction), label_from_json(label))
            for prediction, label in self._db.execute(
                "SELECT prediction, label FROM window_rows "
                "WHERE model = ? AND version = ? AND output = ? AND start = ? ORDER BY seq",
                key,
            )
        ]

    def _write(self, statement: str, params: list[tuple[object, ...]]) -> None:
        assert self._db is not None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(statement, params)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
