"""The SDK's feature and prediction summaries, merged into fixed time windows per model.

:mod:`otel_mlmon_collector._points` turns the points of ``ExportMetricsServiceRequest`` messages back into
:class:`~otel_mlmon.sketch.ExponentialHistogram` / :class:`~otel_mlmon.sketch.CategoricalSketch` objects and
counts; this module merges them, across replicas and export intervals, into one
:class:`~otel_mlmon.summary.Summary` per (``ml.model.name``, ``ml.model.version``, ``ml.operation``) stream and
fixed, clock-aligned window. :meth:`WindowStore.view` merges the last N windows into the evaluation view.

Cumulative points become deltas per series by subtracting the series' previous point (the sketches' own
``subtract``). A series is identified by its resource attributes, metric name, point attributes **and start time**:
a restarted replica starts a new series (its first point counts in full when it is recent) and the old one expires,
so a restart never double-counts; within one series any count that goes down is a reset as well.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from otel_mlmon import conventions as conv
from otel_mlmon._ratelimit import RateLimitedLog
from otel_mlmon.sketch import CategoricalSketch, ExponentialHistogram
from otel_mlmon.summary import ColumnSummary, Summary, SummaryConfig

from ._points import MAX_ATTRIBUTE_CHARS, SummaryPoint, read_points
from ._window_config import StreamKey, WindowConfig

__all__ = ["StreamKey", "WindowConfig", "WindowStats", "WindowStore"]

_log = logging.getLogger(__name__)

_SECTIONS = ("features", "outputs", "confidence", "confidence_complement", "class_probability")
#: Point kinds that carry a plain count (the rest carry a sketch).
_COUNTED = frozenset(["missing", "infinite", "rows"])
#: Bound on the sum of the counts of all the windows of one view: int64 bucket arithmetic cannot overflow.
_MAX_VIEW_COUNT = 1 << 62


@dataclass
class WindowStats:
    """Counters of what the store did with the points it was given (for self-metrics and tests)."""

    points: int = 0
    late_points: int = 0
    invalid_points: int = 0
    baseline_points: int = 0
    resets: int = 0
    dropped_streams: int = 0
    expired_streams: int = 0
    #: Streams evicted to admit a newer one (``max_streams``).
    evicted_streams: int = 0
    #: New cumulative series refused by ``max_series`` / ``max_series_per_stream``.
    dropped_series: int = 0
    #: Points dropped because ``max_cells`` columns are held.
    dropped_cells: int = 0
    #: Categorical points dropped because ``max_categories_total`` categories are held.
    dropped_categories: int = 0
    #: Points whose merge failed (a bug or a hostile point the ingest checks missed); the column is unchanged.
    failed_points: int = 0
    #: Columns left out of a view because merging their windows failed.
    failed_columns: int = 0


class _Column:
    """One column's data within one window, before its kind is known for sure."""

    __slots__ = ("categorical", "infinite", "missing", "numeric")

    def __init__(self) -> None:
        self.numeric: ExponentialHistogram | None = None
        self.categorical: CategoricalSketch | None = None
        self.missing = 0
        self.infinite = 0


class _Window:
    __slots__ = ("columns", "rows")

    def __init__(self) -> None:
        self.rows = 0
        self.columns: dict[str, dict[str, _Column]] = {section: {} for section in _SECTIONS}


class _Stream:
    __slots__ = ("key", "last_seen", "referenced", "windows")

    def __init__(self, key: StreamKey, now: float, referenced: bool) -> None:
        self.key = key
        self.last_seen = now
        #: Whether the stream has a reference profile (eviction spares it); refreshed by :meth:`mark_referenced`.
        self.referenced = referenced
        self.windows: dict[int, _Window] = {}


class _Series:
    """The previous cumulative point of one series: an exponential histogram, a categorical sketch or a count."""

    __slots__ = ("last_seen", "stream", "time_ns", "value")

    def __init__(self, value: Any, time_ns: int, now: float, stream: StreamKey) -> None:
        self.value = value
        self.time_ns = time_ns
        self.last_seen = now
        self.stream = stream


class WindowStore:
    """Per-stream fixed windows of merged summaries, fed with decoded OTLP metrics requests.

    Thread-safe: :meth:`ingest` runs on receiver threads, :meth:`view` on the evaluation thread.

    Args:
        config: Window length, evaluation length and memory bounds.
        clock: Seconds since the epoch (``time.time``); decides the current window, expiry and lateness.
        referenced: Asked once for a new stream: whether it has a reference profile (eviction spares it).

    Example:
        >>> from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
        >>> from opentelemetry.proto.metrics.v1 import metrics_pb2
        >>> request = ExportMetricsServiceRequest()
        >>> metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="ml.summary.rows")
        >>> metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        >>> point = metric.sum.data_points.add(time_unix_nano=999_990 * 10**9, as_int=42)
        >>> point.attributes.add(key="ml.model.name").value.string_value = "fraud"
        >>> store = WindowStore(WindowConfig(window_seconds=60), clock=lambda: 1_000_000.0)
        >>> store.ingest(request)
        1
        >>> store.streams(), store.view(StreamKey("fraud", None, "")).rows
        ([StreamKey(model='fraud', version=None, operation='')], 42)
    """

    def __init__(
        self,
        config: WindowConfig | None = None,
        clock: Callable[[], float] = time.time,
        referenced: Callable[[StreamKey], bool] | None = None,
    ) -> None:
        self.config = config or WindowConfig()
        self.clock = clock
        self.referenced = referenced
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[StreamKey, _Stream] = {}
        self._series: dict[tuple[Any, ...], _Series] = {}
        self._series_of: dict[StreamKey, set[tuple[Any, ...]]] = {}
        self._cells = 0  # columns of all windows of all streams
        self._categories = 0  # categories held by all categorical sketches, of windows and of series
        self._logs = RateLimitedLog(_log, interval_seconds=300.0)
        # Per column and window: a view merges at most evaluation_windows of them.
        self._max_count = _MAX_VIEW_COUNT // self.config.evaluation_windows
        self._started_ns = int(self.clock() * 1e9)
        self._last_expiry = self.clock()
        self._summary_config = SummaryConfig(
            max_size=self.config.max_size,
            max_categories=self.config.max_categories,
            max_columns=self.config.max_columns,
        )
        self.stats = WindowStats()

    # ------------------------------------------------------------------ ingesting
    def ingest(self, message: Any) -> int:
        """Take the ``ml.*`` feature and prediction points of one ``ExportMetricsServiceRequest``.

        Other metrics are ignored. Returns how many points were used (merged into a window).
        """
        now = self.clock()
        used = 0
        with self._lock:
            points = read_points(
                message,
                admit=self._admit,
                counters=self.stats,
                max_size=self.config.max_size,
                max_categories=self.config.max_categories,
                max_point_categories=self.config.max_point_categories,
            )
            for point in points:
                try:
                    used += self._add(point, now)
                except Exception as exc:  # noqa: BLE001 - one bad point must not stop the request or the stream
                    self._failed_point(point, exc)
            if now - self._last_expiry >= min(self.config.window_seconds, 60.0):
                self._expire(now)
        return used

    def _failed_point(self, point: SummaryPoint, exc: Exception) -> None:
        self.stats.failed_points += 1
        model = point.attributes.get(conv.ATTR_MODEL_NAME)
        self._logs.log(
            logging.ERROR,
            f"ingest:{model}",
            "model %r: a %s point of column %r could not be merged and was dropped: %s: %s",
            model,
            point.kind,
            point.column,
            type(exc).__name__,
            exc,
        )

    def _add(self, point: SummaryPoint, now: float) -> int:
        """Merge one point (its delta, for a cumulative one) into its window; how many OTLP points were used."""
        value, interval_start = point.value, point.start_ns
        if (
            point.kind == "categorical"
            and self._categories + 2 * _ncat(value) > self.config.max_categories_total
        ):
            self.stats.dropped_categories += point.points  # the series and the column may each keep them all
            return 0
        if point.cumulative:
            # A hash, not the attributes themselves: a series costs the same whatever its attributes weigh (str
            # hashes are salted per process, so a sender cannot make two series collide on purpose).
            series_key = (hash((*point.series, point.start_ns)),)
            stream_key = _stream_key(point.attributes)
            value, interval_start = self._series_delta(
                series_key, stream_key, value, point.start_ns, point.time_ns, now
            )
            if value is None:
                return 0
        if (value if point.kind in _COUNTED else value.count) == 0:
            return 0
        located = self._locate(point.attributes, interval_start, point.time_ns, now)
        if located is None:
            return 0
        window = located[1]
        if point.section is None:
            window.rows += value
            return point.points
        column = self._column(window, point.section, point.column)
        if column is None:
            return 0
        if _held(column, point.kind) + (value if point.kind in _COUNTED else value.count) > self._max_count:
            self.stats.invalid_points += point.points  # counts that could overflow the view's int64 buckets
            return 0
        if point.kind in _COUNTED:
            setattr(column, point.kind, getattr(column, point.kind) + value)
        elif point.kind == "numeric":
            if column.numeric is None:
                # A cumulative point's first value is also the series' state: keep our own copy.
                column.numeric = value.copy() if point.cumulative else value
            else:
                column.numeric.merge(value)
        else:
            before = _ncat(column.categorical)
            if column.categorical is None:
                column.categorical = value.copy() if point.cumulative else value
            else:
                column.categorical.merge(value)
            self._categories += _ncat(column.categorical) - before
        return point.points

    def _admit(self, attrs: Mapping[str, Any]) -> bool:
        """Whether a point may be used: it names a model, and its stream exists or fits under ``max_streams``.

        Checked before any cumulative series state is kept, so points of refused streams cost no memory.
        """
        model = attrs.get(conv.ATTR_MODEL_NAME)
        if not model or _too_long(model, attrs.get(conv.ATTR_MODEL_VERSION), attrs.get(conv.ATTR_OPERATION)):
            self.stats.invalid_points += 1
            return False
        if len(self._streams) < self.config.max_streams:
            return True
        key = _stream_key(attrs)
        if key in self._streams or self._evict_for(key):
            return True
        self.stats.dropped_streams += 1
        return False

    def _evict_for(self, newcomer: StreamKey) -> bool:
        """Make room for a new stream at ``max_streams``: evict the least recently active stream without a
        reference, if the newcomer has one or that stream has been quiet for a whole window."""
        victim = min(
            (s for s in self._streams.values() if not s.referenced), key=lambda s: s.last_seen, default=None
        )
        if victim is None:
            return False
        quiet = self.clock() - victim.last_seen >= self.config.window_seconds
        if not quiet and not self._has_reference(newcomer):
            return False
        self._drop_stream(victim.key)
        self.stats.evicted_streams += 1
        return True

    def _has_reference(self, key: StreamKey) -> bool:
        if self.referenced is None:
            return False
        try:
            return bool(self.referenced(key))
        except Exception:  # noqa: BLE001 - a failing lookup means no reference, not a failed ingest
            return False

    def _drop_stream(self, key: StreamKey) -> None:
        for window in self._streams.pop(key).windows.values():
            self._forget(window)
        for series_key in self._series_of.pop(key, ()):
            series = self._series.pop(series_key, None)
            if series is not None:
                self._categories -= _ncat(series.value)

    def _forget(self, window: _Window) -> None:
        """Release a dropped window's share of the ``max_cells`` and ``max_categories_total`` bounds."""
        for columns in window.columns.values():
            self._cells -= len(columns)
            self._categories -= sum(_ncat(c.categorical) for c in columns.values())

    def mark_referenced(self, key: StreamKey, referenced: bool) -> None:
        """Record whether a stream has a reference profile now (the drift engine says so at each evaluation)."""
        with self._lock:
            stream = self._streams.get(key)
            if stream is not None:
                stream.referenced = referenced

    def _locate(
        self, attrs: Mapping[str, str], start_ns: int, time_ns: int, now: float
    ) -> tuple[_Stream, _Window] | None:
        """The stream and window a point (or a delta derived from it) belongs to; None when dropped."""
        model = attrs.get(conv.ATTR_MODEL_NAME)
        if not model:
            self.stats.invalid_points += 1
            return None
        key = _stream_key(attrs)
        length = self.config.window_seconds
        end = time_ns / 1e9
        start = start_ns / 1e9 if start_ns else end
        # The middle of the point's interval (at most one window back) decides its window.
        moment = (max(start, end - length) + end) / 2 if end > 0 else now
        index = math.floor(moment / length)
        current = math.floor(now / length)
        if index > current:  # clock skew between a replica and the collector: count it now
            index = current
        if index <= current - self.config.evaluation_windows:
            self.stats.late_points += 1
            return None
        stream = self._streams.get(key)
        if stream is None:
            if len(self._streams) >= self.config.max_streams and not self._evict_for(key):
                self.stats.dropped_streams += 1
                return None
            stream = self._streams[key] = _Stream(key, now, self._has_reference(key))
        stream.last_seen = now
        window = stream.windows.get(index)
        if window is None:
            window = stream.windows[index] = _Window()
        return stream, window

    def _column(self, window: _Window, section: str, name: str) -> _Column | None:
        columns = window.columns[section]
        column = columns.get(name)
        if column is None:
            if len(columns) >= self.config.max_columns:
                return None
            if self._cells >= self.config.max_cells:
                self.stats.dropped_cells += 1
                return None
            column = columns[name] = _Column()
            self._cells += 1
        return column

    def _series_delta(
        self,
        series_key: tuple[Any, ...],
        stream_key: StreamKey,
        value: Any,
        start_ns: int,
        time_ns: int,
        now: float,
    ) -> tuple[Any, int]:
        """The delta of a cumulative point against the previous one of its series, and the start of the interval
        it covers; ``(None, 0)`` when there is nothing to count."""
        previous = self._series.get(series_key)
        if previous is None:
            owned = self._series_of.get(stream_key, ())
            if len(self._series) >= self.config.max_series or len(owned) >= self.config.max_series_per_stream:
                self.stats.dropped_series += 1
                return None, 0
            self._series_of.setdefault(stream_key, set()).add(series_key)
        self._series[series_key] = _Series(value, time_ns, now, stream_key)
        self._categories += _ncat(value) - (0 if previous is None else _ncat(previous.value))
        if previous is None:
            recent = start_ns > 0 and (
                start_ns >= self._started_ns - self.config.window_seconds * 1e9
                or time_ns - start_ns <= self.config.window_seconds * 1e9
            )
            if recent:
                return value, start_ns
            # A series already running before we saw it: its total covers unknown time; a baseline only.
            self.stats.baseline_points += 1
            return None, 0
        if time_ns < previous.time_ns:  # out of order: keep the newer point as the baseline
            self._series[series_key] = previous
            self._categories += _ncat(previous.value) - _ncat(value)
            self.stats.late_points += 1
            return None, 0
        delta = _subtract(value, previous.value)
        if delta is None:  # a count went down: the producer restarted without a new start time
            self.stats.resets += 1
            return value, start_ns
        return delta, previous.time_ns

    # ------------------------------------------------------------------ reading
    def streams(self) -> list[StreamKey]:
        """The streams currently held."""
        with self._lock:
            return list(self._streams)

    def view(
        self, key: StreamKey, windows: int | None = None, offset: int = 0, now: float | None = None
    ) -> Summary | None:
        """The merge of ``windows`` windows (default: the evaluation length) ending ``offset`` windows before the
        current one (the one holding ``now``, default the clock's time), or None if they hold nothing.

        An evaluation passes its one ``now`` to every stream's view, so a window boundary passing during the
        evaluation cannot give later streams an emptier view than earlier ones.

        The result is a new :class:`Summary` (the store keeps its own state). A column whose kind is unknown
        because only missing counts arrived for it is returned as a numeric column with an empty histogram.
        """
        count = self.config.evaluation_windows if windows is None else windows
        now = self.clock() if now is None else now
        last = math.floor(now / self.config.window_seconds) - offset
        with self._lock:
            stream = self._streams.get(key)
            if stream is None:
                return None
            chosen = [w for i, w in sorted(stream.windows.items()) if last - count < i <= last]
            if not chosen:
                return None
            return self._merge(chosen)

    def window_bounds(self, windows: int | None = None, offset: int = 0) -> tuple[float, float]:
        """``(start, end)`` in seconds since the epoch of :meth:`view` with the same arguments, now."""
        count = self.config.evaluation_windows if windows is None else windows
        length = self.config.window_seconds
        last = math.floor(self.clock() / length) - offset
        return (last - count + 1) * length, (last + 1) * length

    def _merge(self, windows: list[_Window]) -> Summary:
        summary = Summary(self._summary_config)
        summary.rows = sum(w.rows for w in windows)
        for section in _SECTIONS:
            target: dict[str, ColumnSummary] = getattr(summary, section)
            parts: dict[str, list[_Column]] = {}
            for window in windows:
                for name, column in window.columns[section].items():
                    parts.setdefault(name, []).append(column)
            for name, columns in parts.items():
                try:
                    target[name] = self._merge_columns(columns)
                except Exception as exc:  # noqa: BLE001 - one column that cannot merge must not hide the rest
                    self.stats.failed_columns += 1
                    self._logs.log(
                        logging.ERROR,
                        f"merge:{section}:{name}",
                        "%s column %r left out of the view: merging its windows failed: %s: %s",
                        section,
                        name,
                        type(exc).__name__,
                        exc,
                    )
        return summary

    def _merge_columns(self, columns: list[_Column]) -> ColumnSummary:
        if len(columns) == 1:  # one window (the usual evaluation) of a numeric column: a copy, not a merge
            only = columns[0]
            if only.categorical is None and only.numeric is not None:
                hist = _merged_copy(only.numeric, self.config.max_size)
                if hist is not None:
                    return ColumnSummary(
                        "numeric", numeric=hist, missing=only.missing, infinite=only.infinite
                    )
        numeric = [c.numeric for c in columns if c.numeric is not None]
        categorical = [c.categorical for c in columns if c.categorical is not None]
        missing = sum(c.missing for c in columns)
        infinite = sum(c.infinite for c in columns)
        if categorical and len(categorical) >= len(numeric):
            sketch = categorical[0].copy()
            for other in categorical[1:]:
                sketch.merge(other)
            return ColumnSummary("categorical", categorical=sketch, missing=missing, infinite=infinite)
        if len(numeric) == 1:  # one window's histogram: a copy, not a merge into an empty histogram
            hist = _merged_copy(numeric[0], self.config.max_size)
            if hist is not None:
                return ColumnSummary("numeric", numeric=hist, missing=missing, infinite=infinite)
        hist = ExponentialHistogram(max_size=self.config.max_size)
        for other in numeric:
            hist.merge(other)
        return ColumnSummary("numeric", numeric=hist, missing=missing, infinite=infinite)

    # ------------------------------------------------------------------ expiry
    def expire(self) -> None:
        """Drop windows older than the evaluation length, quiet streams and stale cumulative series."""
        with self._lock:
            self._expire(self.clock())

    def _expire(self, now: float) -> None:
        self._last_expiry = now
        oldest = math.floor(now / self.config.window_seconds) - self.config.evaluation_windows + 1
        ttl = self.config.stream_ttl_seconds
        for key in list(self._streams):
            stream = self._streams[key]
            if now - stream.last_seen > ttl:
                self._drop_stream(key)
                self.stats.expired_streams += 1
                continue
            for index in [i for i in stream.windows if i < oldest]:
                self._forget(stream.windows.pop(index))
        for key in [k for k, s in self._series.items() if now - s.last_seen > ttl]:
            series = self._series.pop(key)
            self._categories -= _ncat(series.value)
            stream_key = series.stream
            owned = self._series_of.get(stream_key)
            if owned is not None:
                owned.discard(key)
                if not owned:
                    del self._series_of[stream_key]

    def __len__(self) -> int:
        return len(self._streams)


# ---------------------------------------------------------------------- private helpers
def _subtract(newer: Any, older: Any) -> Any:
    """``newer - older`` of two cumulative values of one series (counts or sketches); None on a reset."""
    if isinstance(newer, int):
        return None if newer < older else newer - older
    return newer.subtract(older)


def _too_long(model: Any, version: Any, operation: Any) -> bool:
    """Whether a part of a stream's identity (None: absent) is longer than MAX_ATTRIBUTE_CHARS as text."""
    return (
        len(str(model)) > MAX_ATTRIBUTE_CHARS
        or (version is not None and len(str(version)) > MAX_ATTRIBUTE_CHARS)
        or (operation is not None and len(str(operation)) > MAX_ATTRIBUTE_CHARS)
    )


def _stream_key(attrs: Mapping[str, Any]) -> StreamKey:
    return StreamKey(
        attrs.get(conv.ATTR_MODEL_NAME),
        attrs.get(conv.ATTR_MODEL_VERSION) or None,
        attrs.get(conv.ATTR_OPERATION, ""),
    )


def _held(column: _Column, kind: str) -> int:
    """What a column already counts of one kind in its window."""
    if kind in _COUNTED:
        return int(getattr(column, kind))
    sketch = getattr(column, kind)
    return 0 if sketch is None else int(sketch.count)


#: The finest scale of a new histogram (what a merge into an empty one starts from).
_FRESH_MAX_SCALE = ExponentialHistogram().max_scale


def _merged_copy(other: ExponentialHistogram, max_size: int) -> ExponentialHistogram | None:
    """``ExponentialHistogram(max_size=max_size)`` with ``other`` merged into it, made as a copy of ``other``; None
    where that merge would do more than copy (no buckets, or more buckets per sign than ``max_size``).

    The fields are set as the merge sets them: an empty side at offset 0, ``0.0 + sum``, ``min(inf, min)``.
    """
    pos, neg = other.positive_counts, other.negative_counts
    if other.count == 0 or not (pos.size or neg.size) or max(pos.size, neg.size) > max_size:
        return None
    clone = other.copy()
    clone.max_size, clone.max_scale = max_size, _FRESH_MAX_SCALE
    if not pos.size:
        clone.positive_offset, clone.positive_counts = 0, np.zeros(0, dtype=np.int64)
    if not neg.size:
        clone.negative_offset, clone.negative_counts = 0, np.zeros(0, dtype=np.int64)
    clone.count = 0 + other.count
    clone.zero_count = 0 + other.zero_count
    clone.sum = 0.0 + other.sum
    clone.min = min(math.inf, other.min)
    clone.max = max(-math.inf, other.max)
    return clone


def _ncat(sketch: Any) -> int:
    """Categories a sketch holds (0 for anything else): what ``max_categories_total`` bounds."""
    return len(sketch._counts) if isinstance(sketch, CategoricalSketch) else 0
