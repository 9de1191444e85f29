"""The prediction↔label join: a TTL-bounded, size-bounded store on an embedded SQLite file that survives restarts."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from otel_mlmon._ratelimit import RateLimitedLog
from otel_mlmon_collector._ground_truth._records import (
    GroundTruthRecord,
    JoinedRow,
    PredictionRecord,
    label_from_json,
    prediction_from_json,
    record_to_json,
)

__all__ = ["COUNTER_NAMES", "DEFAULT_MAX_PENDING", "DEFAULT_TTL_SECONDS", "JoinStore"]

#: Default time a prediction waits for its label (and a label for its prediction): 7 days.
DEFAULT_TTL_SECONDS = 7 * 24 * 3600.0
#: Default bound on records waiting for their partner (predictions + labels).
DEFAULT_MAX_PENDING = 1_000_000

#: Every counter the store keeps, in :meth:`JoinStore.counts` order.
COUNTER_NAMES: tuple[str, ...] = (
    "predictions",  # prediction records accepted (not duplicates)
    "labels",  # label records accepted (not duplicates, not late)
    "joined",  # pairs joined
    "duplicate_predictions",  # a prediction id seen again: the first is kept
    "duplicate_labels",  # a label for an id already labelled (pending or joined): the first is kept
    "late_labels",  # a label arriving after its prediction expired or was evicted
    "labels_missing",  # predictions whose label never came within the TTL (counted at expiry)
    "unknown_ids",  # labels whose prediction never came within the TTL (counted at expiry)
    "evicted_predictions",  # pending predictions dropped to respect max_pending (labels of the model go first)
    "evicted_labels",  # pending labels dropped to respect max_pending, from the model holding the most rows
    "joined_dropped",  # joined rows dropped, oldest first, because nobody popped them (max_pending)
    "tombstones_evicted",  # settled ids forgotten early (duplicates/late labels of those ids are then unknown)
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending_predictions (
    model TEXT NOT NULL, output TEXT NOT NULL, pid TEXT NOT NULL,
    seq INTEGER NOT NULL, expires_ns INTEGER NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (model, output, pid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pending_predictions_seq ON pending_predictions (seq);
CREATE INDEX IF NOT EXISTS pending_predictions_expiry ON pending_predictions (expires_ns);
CREATE TABLE IF NOT EXISTS pending_labels (
    model TEXT NOT NULL, output TEXT NOT NULL, pid TEXT NOT NULL,
    seq INTEGER NOT NULL, expires_ns INTEGER NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (model, output, pid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pending_labels_seq ON pending_labels (seq);
CREATE INDEX IF NOT EXISTS pending_labels_expiry ON pending_labels (expires_ns);
CREATE INDEX IF NOT EXISTS pending_predictions_model ON pending_predictions (model, seq);
CREATE INDEX IF NOT EXISTS pending_labels_model ON pending_labels (model, seq);
CREATE TABLE IF NOT EXISTS settled (
    model TEXT NOT NULL, output TEXT NOT NULL, pid TEXT NOT NULL,
    state TEXT NOT NULL, seq INTEGER NOT NULL, until_ns INTEGER NOT NULL,
    PRIMARY KEY (model, output, pid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS settled_seq ON settled (seq);
CREATE INDEX IF NOT EXISTS settled_until ON settled (until_ns);
CREATE TABLE IF NOT EXISTS joined (
    seq INTEGER PRIMARY KEY, prediction TEXT NOT NULL, label TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_SCHEMA_VERSION = "1"
#: Keys per lookup query (3 bound parameters each; SQLite allows 32 766 since 3.32, 999 before).
_LOOKUP_CHUNK = 300

_log = logging.getLogger("otel_mlmon_collector._ground_truth")


class JoinStore:
    """Joins ``ml.prediction`` and ``ml.ground_truth`` records by ``(model, output, prediction id)``.

    Records arrive in either order. The first to arrive waits (a *pending* row) until its partner comes or its
    TTL passes. A joined pair is queued for :meth:`pop_joined`; it keeps the prediction's time, so its
    performance counts in the window in which the model predicted. After a join or an expiry the id is
    remembered (a *tombstone*) for another TTL, so that a repeated id is counted as a duplicate and a label for
    an expired prediction as late, rather than as a new pending row.

    TTLs run on the store's clock (arrival time), not on the records' own timestamps, so a skewed client clock
    cannot expire records early. :meth:`expire` applies them and counts labels that never came
    (``labels_missing``) and labels whose prediction never came (``unknown_ids``).

    Every state change is one SQLite transaction (WAL journal), so closing and reopening the file -- a collector
    restart -- loses no pending or joined row and no counter. Use ``":memory:"`` for a store that lives only as
    long as the object. All methods are thread-safe.

    Args:
        path: SQLite file (created with its directory when missing), or ``":memory:"``.
        ttl_seconds: How long a record waits for its partner (and how long a settled id is remembered).
        max_pending: Bound on pending rows (predictions + labels), on joined rows not yet popped, and on
            tombstones; past it rows are evicted and counted. Pending rows are evicted from the model that
            holds the most of them, its labels waiting for a prediction (unjoined, possibly junk) before its
            predictions waiting for a label, oldest first: a flood of made-up labels for one model evicts
            neither another model's rows nor, while it has labels left, its own pending predictions.
        clock_ns: Time source in Unix nanoseconds (injectable for tests).

    Raises:
        ValueError: ``ttl_seconds`` or ``max_pending`` is not positive.

    Example:
        >>> from otel_mlmon_collector._ground_truth._records import GroundTruthRecord, PredictionRecord
        >>> from otel_mlmon_collector._ground_truth._store import JoinStore
        >>> store = JoinStore(":memory:", ttl_seconds=60, clock_ns=lambda: 0)
        >>> store.add_label(GroundTruthRecord("fraud", "", "prediction", "r1", 5_000_000_000, "yes"))
        >>> store.add_prediction(PredictionRecord("fraud", "3", "prediction", "r1", 1_000_000_000, "no"))
        >>> [(row.prediction.value, row.label.value, row.label_delay_seconds) for row in store.pop_joined()]
        [('no', 'yes', 4.0)]
        >>> store.counts()["joined"]
        1
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_pending: int = DEFAULT_MAX_PENDING,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if not ttl_seconds > 0:
            raise ValueError(f"ttl_seconds must be > 0, got {ttl_seconds}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.path = str(path)
        self.ttl_seconds = float(ttl_seconds)
        self.max_pending = int(max_pending)
        self.clock_ns = clock_ns
        self._ttl_ns = int(self.ttl_seconds * 1e9)
        self._lock = threading.Lock()
        #: Records lost because a write failed (disk full, I/O error), by ``predictions`` / ``labels``.
        self.write_failures: Counter[str] = Counter()
        #: The last write error while writes keep failing; None once a write succeeded again.
        self.failing: str | None = None
        self._errors = RateLimitedLog(_log, interval_seconds=60.0)
        self._pending_by_model: Counter[str] = Counter()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (_SCHEMA_VERSION,))
        elif row[0] != _SCHEMA_VERSION:
            raise ValueError(
                f"{self.path}: join store schema version {row[0]!r}, expected {_SCHEMA_VERSION!r}"
            )
        self._counters: Counter[str] = Counter()
        self._seq = self._n_pending = self._n_settled = self._n_joined = 0
        self._reload_sizes()
        self._closed = False

    # -- public API -------------------------------------------------------------------------------------------

    def add_prediction(self, record: PredictionRecord, now_unix_nano: int | None = None) -> None:
        """Add one prediction record (joins at once when its label is waiting)."""
        self.add_predictions((record,), now_unix_nano)

    def add_label(self, record: GroundTruthRecord, now_unix_nano: int | None = None) -> None:
        """Add one label record (joins at once when its prediction is waiting)."""
        self.add_labels((record,), now_unix_nano)

    def add_predictions(self, records: Iterable[PredictionRecord], now_unix_nano: int | None = None) -> None:
        """Add prediction records in one transaction."""
        self._add(records, is_prediction=True, now_unix_nano=now_unix_nano)

    def add_labels(self, records: Iterable[GroundTruthRecord], now_unix_nano: int | None = None) -> None:
        """Add label records in one transaction."""
        self._add(records, is_prediction=False, now_unix_nano=now_unix_nano)

    def pop_joined(self, limit: int | None = None) -> list[JoinedRow]:
        """Remove and return joined pairs in the order they joined (at most ``limit`` when given)."""
        with self._lock, self._transaction():
            query = "SELECT seq, prediction, label FROM joined ORDER BY seq"
            params: tuple[Any, ...] = ()
            if limit is not None:
                query += " LIMIT ?"
                params = (int(limit),)
            rows = self._db.execute(query, params).fetchall()
            if rows:
                self._db.execute("DELETE FROM joined WHERE seq <= ?", (rows[-1][0],))
                self._n_joined -= len(rows)
        return [JoinedRow(prediction_from_json(p), label_from_json(lab)) for _, p, lab in rows]

    def expire(self, now_unix_nano: int | None = None) -> dict[str, int]:
        """Drop pending rows and tombstones whose TTL has passed; return what expired by counter name."""
        now = self._now(now_unix_nano)
        with self._lock, self._transaction():
            delta: Counter[str] = Counter()
            # expired predictions become tombstones in one statement (their arrival seq keeps their age)
            n_expired = self._db.execute(
                "INSERT OR REPLACE INTO settled SELECT model, output, pid, 'expired', seq, ? "
                "FROM pending_predictions WHERE expires_ns <= ?",
                (now + self._ttl_ns, now),
            ).rowcount
            if n_expired:
                self._db.execute("DELETE FROM pending_predictions WHERE expires_ns <= ?", (now,))
                self._n_pending -= n_expired
                delta["labels_missing"] += n_expired
            n_labels = self._db.execute("DELETE FROM pending_labels WHERE expires_ns <= ?", (now,)).rowcount
            if n_labels:
                self._n_pending -= n_labels
                delta["unknown_ids"] += n_labels
            if n_expired or n_labels:
                self._pending_by_model = self._count_pending_by_model()
            self._db.execute("DELETE FROM settled WHERE until_ns <= ?", (now,))
            n_settled = self._scalar("SELECT COUNT(*) FROM settled")
            self._n_settled = self._drop_oldest("settled", n_settled, "tombstones_evicted", delta)
            self._commit_counters(delta)
        return dict(delta)

    def counts(self) -> dict[str, int]:
        """Every counter (:data:`COUNTER_NAMES`) plus the current sizes ``pending_predictions``,
        ``pending_labels``, ``joined_queued`` and ``tombstones``."""
        with self._lock:
            out = {name: int(self._counters.get(name, 0)) for name in COUNTER_NAMES}
            out["pending_predictions"] = self._scalar("SELECT COUNT(*) FROM pending_predictions")
            out["pending_labels"] = self._scalar("SELECT COUNT(*) FROM pending_labels")
            out["joined_queued"] = self._n_joined
            out["tombstones"] = self._n_settled
        return out

    def close(self) -> None:
        """Close the SQLite connection (idempotent); everything committed stays in the file."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> JoinStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------------------------

    def _add(
        self,
        records: Iterable[PredictionRecord] | Iterable[GroundTruthRecord],
        *,
        is_prediction: bool,
        now_unix_nano: int | None,
    ) -> None:
        now = self._now(now_unix_nano)
        mine, other = (
            ("pending_predictions", "pending_labels")
            if is_prediction
            else ("pending_labels", "pending_predictions")
        )
        kind = "predictions" if is_prediction else "labels"
        records = list(records)
        try:
            self._write(records, is_prediction, now, mine, other, kind)
        except sqlite3.Error as exc:  # disk full, I/O error, read-only file: the records are lost, loudly
            with self._lock:
                self.write_failures[kind] += len(records)
                self.failing = f"{type(exc).__name__}: {exc}"
            self._errors.log(
                logging.ERROR,
                f"write:{kind}",
                "ground-truth store %s: %d %s lost, the write failed: %s (counted in write_failures)",
                self.path,
                len(records),
                kind,
                self.failing,
            )
            return
        if self.failing is not None:
            with self._lock:
                self.failing = None
            _log.warning("ground-truth store %s: writes succeed again", self.path)

    def _write(
        self,
        records: list[Any],
        is_prediction: bool,
        now: int,
        mine: str,
        other: str,
        kind: str,
    ) -> None:
        expires = now + self._ttl_ns
        with self._lock, self._transaction():
            delta: Counter[str] = Counter()
            # Writes are collected and issued with executemany at the end; ``touched`` makes the batch's own
            # earlier records visible to its later ones (a duplicate inside one batch).
            touched: dict[tuple[str, str, str], str] = {}
            pending_rows: list[tuple[Any, ...]] = []
            partner_keys: list[tuple[str, str, str]] = []
            joined_rows: list[tuple[int, str, str]] = []
            settled_rows: list[tuple[Any, ...]] = []
            states, present, partners = self._lookup(mine, other, {r.join_key for r in records})
            for record in records:
                key = record.join_key
                if key in touched or key in present:
                    delta[f"duplicate_{kind}"] += 1
                    continue
                state = states.get(key)
                if state is not None:
                    delta[f"duplicate_{kind}" if is_prediction or state == "joined" else "late_labels"] += 1
                    continue
                delta[kind] += 1
                partner = partners.get(key)
                payload = record_to_json(record)
                self._seq += 1
                if partner is None:
                    touched[key] = "pending"
                    pending_rows.append((*key, self._seq, expires, payload))
                    continue
                touched[key] = "joined"
                partner_keys.append(key)
                prediction, label = (payload, partner) if is_prediction else (partner, payload)
                joined_rows.append((self._seq, prediction, label))
                self._seq += 1
                settled_rows.append((*key, "joined", self._seq, expires))
            if pending_rows:
                self._db.executemany(f"INSERT INTO {mine} VALUES (?, ?, ?, ?, ?, ?)", pending_rows)
                self._n_pending += len(pending_rows)
                self._pending_by_model.update(row[0] for row in pending_rows)
            if partner_keys:
                self._db.executemany(
                    f"DELETE FROM {other} WHERE model = ? AND output = ? AND pid = ?", partner_keys
                )
                self._n_pending -= len(partner_keys)
                self._pending_by_model.subtract(key[0] for key in partner_keys)
                self._db.executemany("INSERT INTO joined VALUES (?, ?, ?)", joined_rows)
                self._n_joined += len(joined_rows)
                self._db.executemany("INSERT INTO settled VALUES (?, ?, ?, ?, ?, ?)", settled_rows)
                self._n_settled += len(settled_rows)
                delta["joined"] += len(joined_rows)
            self._bound_pending(delta, now)
            self._n_joined = self._drop_oldest("joined", self._n_joined, "joined_dropped", delta)
            self._n_settled = self._drop_oldest("settled", self._n_settled, "tombstones_evicted", delta)
            self._commit_counters(delta)

    def _lookup(
        self, mine: str, other: str, keys: set[tuple[str, str, str]]
    ) -> tuple[dict[tuple[str, str, str], str], set[tuple[str, str, str]], dict[tuple[str, str, str], str]]:
        """Tombstone states, own pending keys and partner payloads of ``keys``, a few hundred keys per query."""
        states: dict[tuple[str, str, str], str] = {}
        present: set[tuple[str, str, str]] = set()
        partners: dict[tuple[str, str, str], str] = {}
        ordered = list(keys)
        for i in range(0, len(ordered), _LOOKUP_CHUNK):
            chunk = ordered[i : i + _LOOKUP_CHUNK]
            values = ", ".join(["(?, ?, ?)"] * len(chunk))
            params = [part for key in chunk for part in key]
            # a join on the VALUES list searches the primary key; ``(a, b, c) IN (VALUES ...)`` would scan
            join = (
                f"(VALUES {values}) AS v JOIN {{}} AS t "
                "ON t.model = v.column1 AND t.output = v.column2 AND t.pid = v.column3"
            )
            for m, o, p, state in self._db.execute(
                f"SELECT t.model, t.output, t.pid, t.state FROM {join.format('settled')}", params
            ):
                states[(m, o, p)] = state
            for m, o, p in self._db.execute(
                f"SELECT t.model, t.output, t.pid FROM {join.format(mine)}", params
            ):
                present.add((m, o, p))
            for m, o, p, payload in self._db.execute(
                f"SELECT t.model, t.output, t.pid, t.payload FROM {join.format(other)}", params
            ):
                partners[(m, o, p)] = payload
        return states, present, partners

    def _settle(self, key: tuple[str, str, str], state: str, now: int) -> None:
        existed = self._exists("settled", key)
        self._seq += 1
        self._db.execute(
            "INSERT OR REPLACE INTO settled VALUES (?, ?, ?, ?, ?, ?)",
            (*key, state, self._seq, now + self._ttl_ns),
        )
        if not existed:
            self._n_settled += 1

    def _bound_pending(self, delta: Counter[str], now: int) -> None:
        """Evict pending rows past ``max_pending``: from the model holding the most, its labels first."""
        excess = self._n_pending - self.max_pending
        while excess > 0:
            model, held = self._pending_by_model.most_common(1)[0]
            # Down to the next largest model's size at most, so a few floods share the eviction fairly.
            runner_up = max((n for m, n in self._pending_by_model.items() if m != model), default=0)
            take = min(excess, max(1, held - runner_up))
            for table, counter in (
                ("pending_labels", "evicted_labels"),
                ("pending_predictions", "evicted_predictions"),
            ):
                if take == 0:
                    break
                rows = self._db.execute(
                    f"SELECT seq, model, output, pid FROM {table} WHERE model = ? ORDER BY seq LIMIT ?",
                    (model, take),
                ).fetchall()
                if not rows:
                    continue
                self._db.executemany(f"DELETE FROM {table} WHERE seq = ?", [(r[0],) for r in rows])
                if table == "pending_predictions":
                    for row in rows:
                        self._settle(tuple(row[1:]), "evicted", now)  # type: ignore[arg-type]
                delta[counter] += len(rows)
                self._n_pending -= len(rows)
                self._pending_by_model[model] -= len(rows)
                excess -= len(rows)
                take -= len(rows)
            if take:  # the in-memory count was ahead of the file: resynchronise rather than loop
                self._pending_by_model = self._count_pending_by_model()
                excess = self._n_pending - self.max_pending
                if not self._pending_by_model:
                    break
        self._pending_by_model += Counter()  # drop models with nothing pending

    def _drop_oldest(self, table: str, size: int, counter: str, delta: Counter[str]) -> int:
        """Keep at most ``max_pending`` rows of ``table`` (``size`` rows now): drop the oldest, count them under
        ``counter`` in ``delta``, and return the table's new size."""
        excess = size - self.max_pending
        if excess <= 0:
            return size
        self._db.execute(
            f"DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} ORDER BY seq LIMIT ?)", (excess,)
        )
        delta[counter] += excess
        return size - excess

    def _commit_counters(self, delta: Counter[str]) -> None:
        if not delta:
            return
        self._counters.update(delta)
        self._db.executemany(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            list(delta.items()),
        )

    def _exists(self, table: str, key: tuple[str, str, str]) -> bool:
        query = f"SELECT 1 FROM {table} WHERE model = ? AND output = ? AND pid = ?"
        return self._db.execute(query, key).fetchone() is not None

    def _scalar(self, query: str) -> int:
        return int(self._db.execute(query).fetchone()[0])

    def _now(self, now_unix_nano: int | None) -> int:
        return int(self.clock_ns() if now_unix_nano is None else now_unix_nano)

    def _transaction(self) -> _Transaction:
        if self._closed:
            raise ValueError("the join store is closed")
        return _Transaction(self)

    def _reload_sizes(self) -> None:
        """Re-read the in-memory mirrors of the file after a rolled-back transaction."""
        self._counters = Counter(dict(self._db.execute("SELECT name, value FROM counters")))
        self._seq = max(
            self._scalar(f"SELECT COALESCE(MAX(seq), 0) FROM {table}")
            for table in ("pending_predictions", "pending_labels", "settled", "joined")
        )
        self._n_pending = self._scalar("SELECT COUNT(*) FROM pending_predictions") + self._scalar(
            "SELECT COUNT(*) FROM pending_labels"
        )
        self._n_settled = self._scalar("SELECT COUNT(*) FROM settled")
        self._n_joined = self._scalar("SELECT COUNT(*) FROM joined")
        self._pending_by_model = self._count_pending_by_model()

    def _count_pending_by_model(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for table in ("pending_predictions", "pending_labels"):
            counts.update(dict(self._db.execute(f"SELECT model, COUNT(*) FROM {table} GROUP BY model")))
        return counts


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; on error ``ROLLBACK`` and reload the store's in-memory mirrors."""

    def __init__(self, store: JoinStore) -> None:
        self._store = store

    def __enter__(self) -> None:
        self._store._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self._store._db.execute("COMMIT")
        else:
            self._store._db.execute("ROLLBACK")
            self._store._reload_sizes()
