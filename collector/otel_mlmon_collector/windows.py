"""The SDK's feature and prediction summaries, merged into fixed time windows per model.

:mod:`otel_mlmon_collector.points` turns the points of ``ExportMetricsServiceRequest`` messages back into
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
from typing import Any, NamedTuple

from otel_mlmon import conventions as conv
from otel_mlmon.sketch import CategoricalSketch, ExponentialHistogram
from otel_mlmon.summary import ColumnSummary, Summary, SummaryConfig

from .points import SummaryPoint, read_points

__all__ = ["StreamKey", "WindowConfig", "WindowStats", "WindowStore"]

_log = logging.getLogger(__name__)

_SECTIONS = ("features", "outputs", "confidence")
#: Point kinds that carry a plain count (the rest carry a sketch).
_COUNTED = frozenset(["missing", "infinite", "rows"])


class StreamKey(NamedTuple):
    """One monitored entry point: ``ml.model.name``, ``ml.model.version`` (None when not set), ``ml.operation``."""

    model: str
    version: str | None
    operation: str


@dataclass(frozen=True)
class WindowConfig:
    """How points are grouped in time and how much state is kept.

    Attributes:
        window_seconds: Length of one window; windows are aligned to the clock (multiples since the epoch).
        evaluation_windows: The evaluation view merges the last this many windows (12 x 5 min = 1 h), the
            current, still open window included.
        stream_ttl_seconds: A stream (and a cumulative series) that received nothing for this long is dropped.
        max_streams: At most this many (model, version, operation) streams; points of further streams are
            dropped and counted.
        max_columns: Columns kept per section (features, outputs, confidence) of a stream.
        max_size: Buckets per sign of the rebuilt exponential histograms (at least what a point carries).
        max_categories: Categories kept per categorical column when windows and replicas are merged (top-K).
    """

    window_seconds: float = 300.0
    evaluation_windows: int = 12
    stream_ttl_seconds: float = 7200.0
    max_streams: int = 1000
    max_columns: int = 256
    max_size: int = 160
    max_categories: int = 64

    def __post_init__(self) -> None:
        if not (isinstance(self.window_seconds, (int, float)) and self.window_seconds > 0):
            raise ValueError(f"window_seconds must be a number > 0, got {self.window_seconds!r}")
        for name, low in (
            ("evaluation_windows", 1),
            ("max_streams", 1),
            ("max_columns", 1),
            ("max_size", 2),
            ("max_categories", 1),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not (isinstance(self.stream_ttl_seconds, (int, float)) and self.stream_ttl_seconds > 0):
            raise ValueError(f"stream_ttl_seconds must be a number > 0, got {self.stream_ttl_seconds!r}")

    @property
    def evaluation_seconds(self) -> float:
        """Length of the evaluation view in seconds."""
        return self.window_seconds * self.evaluation_windows


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
    __slots__ = ("key", "last_seen", "windows")

    def __init__(self, key: StreamKey, now: float) -> None:
        self.key = key
        self.last_seen = now
        self.windows: dict[int, _Window] = {}


class _Series:
    """The previous cumulative point of one series: an exponential histogram, a categorical sketch or a count."""

    __slots__ = ("last_seen", "time_ns", "value")

    def __init__(self, value: Any, time_ns: int, now: float) -> None:
        self.value = value
        self.time_ns = time_ns
        self.last_seen = now


class WindowStore:
    """Per-stream fixed windows of merged summaries, fed with decoded OTLP metrics requests.

    Thread-safe: :meth:`ingest` runs on receiver threads, :meth:`view` on the evaluation thread.

    Args:
        config: Window length, evaluation length and memory bounds.
        clock: Seconds since the epoch (``time.time``); decides the current window, expiry and lateness.

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

    def __init__(self, config: WindowConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config or WindowConfig()
        self.clock = clock
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[StreamKey, _Stream] = {}
        self._series: dict[tuple[Any, ...], _Series] = {}
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
            )
            for point in points:
                used += self._add(point, now)
            if now - self._last_expiry >= min(self.config.window_seconds, 60.0):
                self._expire(now)
        return used

    def _add(self, point: SummaryPoint, now: float) -> int:
        """Merge one point (its delta, for a cumulative one) into its window; how many OTLP points were used."""
        value, interval_start = point.value, point.start_ns
        if point.cumulative:
            series_key = (*point.series, point.start_ns)
            value, interval_start = self._series_delta(series_key, value, point.start_ns, point.time_ns, now)
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
        if point.kind in _COUNTED:
            setattr(column, point.kind, getattr(column, point.kind) + value)
        elif point.kind == "numeric":
            if column.numeric is None:
                # A cumulative point's first value is also the series' state: keep our own copy.
                column.numeric = value.copy() if point.cumulative else value
            else:
                column.numeric.merge(value)
        elif column.categorical is None:
            column.categorical = value.copy() if point.cumulative else value
        else:
            column.categorical.merge(value)
        return point.points

    def _admit(self, attrs: Mapping[str, Any]) -> bool:
        """Whether a point may be used: it names a model, and its stream exists or fits under ``max_streams``.

        Checked before any cumulative series state is kept, so points of refused streams cost no memory.
        """
        model = attrs.get(conv.ATTR_MODEL_NAME)
        if not model:
            self.stats.invalid_points += 1
            return False
        if len(self._streams) < self.config.max_streams:
            return True
        key = StreamKey(model, attrs.get(conv.ATTR_MODEL_VERSION) or None, attrs.get(conv.ATTR_OPERATION, ""))
        if key in self._streams:
            return True
        self.stats.dropped_streams += 1
        return False

    def _locate(
        self, attrs: Mapping[str, str], start_ns: int, time_ns: int, now: float
    ) -> tuple[_Stream, _Window] | None:
        """The stream and window a point (or a delta derived from it) belongs to; None when dropped."""
        model = attrs.get(conv.ATTR_MODEL_NAME)
        if not model:
            self.stats.invalid_points += 1
            return None
        key = StreamKey(model, attrs.get(conv.ATTR_MODEL_VERSION) or None, attrs.get(conv.ATTR_OPERATION, ""))
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
            if len(self._streams) >= self.config.max_streams:
                self.stats.dropped_streams += 1
                return None
            stream = self._streams[key] = _Stream(key, now)
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
            column = columns[name] = _Column()
        return column

    def _series_delta(
        self,
        series_key: tuple[Any, ...],
        value: Any,
        start_ns: int,
        time_ns: int,
        now: float,
    ) -> tuple[Any, int]:
        """The delta of a cumulative point against the previous one of its series, and the start of the interval
        it covers; ``(None, 0)`` when there is nothing to count."""
        previous = self._series.get(series_key)
        self._series[series_key] = _Series(value, time_ns, now)
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

    def view(self, key: StreamKey, windows: int | None = None, offset: int = 0) -> Summary | None:
        """The merge of ``windows`` windows (default: the evaluation length) ending ``offset`` windows before the
        current one, or None if they hold nothing.

        The result is a new :class:`Summary` (the store keeps its own state). A column whose kind is unknown
        because only missing counts arrived for it is returned as a numeric column with an empty histogram.
        """
        count = self.config.evaluation_windows if windows is None else windows
        now = self.clock()
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
                target[name] = self._merge_columns(columns)
        return summary

    def _merge_columns(self, columns: list[_Column]) -> ColumnSummary:
        numeric = [c.numeric for c in columns if c.numeric is not None]
        categorical = [c.categorical for c in columns if c.categorical is not None]
        missing = sum(c.missing for c in columns)
        infinite = sum(c.infinite for c in columns)
        if categorical and len(categorical) >= len(numeric):
            sketch = categorical[0].copy()
            for other in categorical[1:]:
                sketch.merge(other)
            return ColumnSummary("categorical", categorical=sketch, missing=missing, infinite=infinite)
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
                del self._streams[key]
                self.stats.expired_streams += 1
                continue
            for index in [i for i in stream.windows if i < oldest]:
                del stream.windows[index]
        for key in [k for k, s in self._series.items() if now - s.last_seen > ttl]:
            del self._series[key]

    def __len__(self) -> int:
        return len(self._streams)


# ---------------------------------------------------------------------- private helpers
def _subtract(newer: Any, older: Any) -> Any:
    """``newer - older`` of two cumulative values of one series (counts or sketches); None on a reset."""
    if isinstance(newer, int):
        return None if newer < older else newer - older
    return newer.subtract(older)
