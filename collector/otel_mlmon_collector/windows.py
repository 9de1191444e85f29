"""Rebuild the SDK's feature and prediction summaries from OTLP points, merged into fixed time windows per model.

The SDK exports each column's sketch as OTLP points (``docs/semantic-conventions.md``); this module does the
inverse of ``otel_mlmon._bridge``: it turns the points of ``ExportMetricsServiceRequest`` messages back into
:class:`~otel_mlmon.sketch.ExponentialHistogram` / :class:`~otel_mlmon.sketch.CategoricalSketch` objects and
missing counts, and merges them, across replicas and export intervals, into one
:class:`~otel_mlmon.summary.Summary` per (``ml.model.name``, ``ml.model.version``, ``ml.operation``) stream and
fixed, clock-aligned window. :meth:`WindowStore.view` merges the last N windows into the evaluation view.

Cumulative points become deltas per series by subtracting the series' previous point. A series is identified by
its resource attributes, metric name, point attributes **and start time**: a restarted replica starts a new series
(its first point counts in full when it is recent) and the old one expires, so a restart never double-counts;
within one series any count that goes down is a reset as well.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otel_mlmon import conventions as conv
from otel_mlmon.sketch import CategoricalSketch, ExponentialHistogram
from otel_mlmon.summary import ColumnSummary, Summary, SummaryConfig

__all__ = ["StreamKey", "WindowConfig", "WindowStats", "WindowStore"]

_log = logging.getLogger(__name__)

_DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
_CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
_NO_RECORDED_VALUE = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_MAX_SCALE = 20
_MIN_SCALE = -10

# metric name -> (section of the Summary, attribute naming the column, what the point carries)
_HISTOGRAMS = {
    conv.METRIC_FEATURE_DISTRIBUTION: ("features", conv.ATTR_FEATURE_NAME),
    conv.METRIC_PREDICTION_DISTRIBUTION: ("outputs", conv.ATTR_OUTPUT_NAME),
    conv.METRIC_PREDICTION_CONFIDENCE: ("confidence", conv.ATTR_OUTPUT_NAME),
}
_COUNTS = {
    conv.METRIC_FEATURE_MISSING: ("features", conv.ATTR_FEATURE_NAME, "missing"),
    conv.METRIC_FEATURE_INFINITE: ("features", conv.ATTR_FEATURE_NAME, "infinite"),
    conv.METRIC_PREDICTION_MISSING: ("outputs", conv.ATTR_OUTPUT_NAME, "missing"),
}
_CATEGORIES = {
    conv.METRIC_FEATURE_CATEGORY_COUNT: ("features", conv.ATTR_FEATURE_NAME, conv.ATTR_FEATURE_CATEGORY),
    conv.METRIC_PREDICTION_CLASS_COUNT: ("outputs", conv.ATTR_OUTPUT_NAME, conv.ATTR_PREDICTION_CLASS),
}
_WANTED = frozenset([*_HISTOGRAMS, *_COUNTS, *_CATEGORIES, conv.METRIC_SUMMARY_ROWS])
_SECTIONS = ("features", "outputs", "confidence")


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
    """The previous cumulative point of one series: a histogram, an int, or a category -> count mapping."""

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
            for rm in message.resource_metrics:
                resource: tuple[Any, ...] | None = None
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        name = metric.name
                        if name not in _WANTED:
                            continue
                        if resource is None:
                            resource = _attr_key(rm.resource.attributes)
                        used += self._ingest_metric(resource, metric, now)
            if now - self._last_expiry >= min(self.config.window_seconds, 60.0):
                self._expire(now)
        return used

    def _ingest_metric(self, resource: tuple[Any, ...], metric: Any, now: float) -> int:
        name = metric.name
        kind = metric.WhichOneof("data")
        used = 0
        if name in _HISTOGRAMS:
            if kind != "exponential_histogram":
                self.stats.invalid_points += 1
                return 0
            section, label = _HISTOGRAMS[name]
            temporality = metric.exponential_histogram.aggregation_temporality
            for point in metric.exponential_histogram.data_points:
                used += self._histogram_point(resource, name, section, label, temporality, point, now)
            return used
        if kind != "sum":
            self.stats.invalid_points += 1
            return 0
        temporality = metric.sum.aggregation_temporality
        points = metric.sum.data_points
        if name == conv.METRIC_SUMMARY_ROWS:
            for point in points:
                used += self._count_point(resource, name, None, None, "rows", temporality, point, now)
        elif name in _COUNTS:
            section, label, field_name = _COUNTS[name]
            for point in points:
                used += self._count_point(resource, name, section, label, field_name, temporality, point, now)
        else:
            section, label, category_attr = _CATEGORIES[name]
            used += self._category_points(
                resource, name, section, label, category_attr, temporality, points, now
            )
        return used

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
        subtract: Callable[[Any, Any], Any],
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
        delta = subtract(value, previous.value)
        if delta is None:  # a count went down: the producer restarted without a new start time
            self.stats.resets += 1
            return value, start_ns
        return delta, previous.time_ns

    def _histogram_point(
        self,
        resource: tuple[Any, ...],
        metric: str,
        section: str,
        label: str,
        temporality: int,
        point: Any,
        now: float,
    ) -> int:
        if point.flags & _NO_RECORDED_VALUE:
            return 0
        attrs = _attrs(point.attributes)
        if not self._admit(attrs):
            return 0
        column_name = attrs.get(label)
        if column_name is None:
            self.stats.invalid_points += 1
            return 0
        if section == "confidence" and attrs.get(conv.ATTR_PREDICTION_CLASS) is not None:
            # Confidence is kept per predicted class, as the SDK and profiles keep it (for estimates).
            column_name = (column_name, attrs[conv.ATTR_PREDICTION_CLASS])
        hist = _histogram_from_point(point, self.config.max_size)
        if hist is None:
            self.stats.invalid_points += 1
            return 0
        self.stats.points += 1
        start_ns, time_ns = point.start_time_unix_nano, point.time_unix_nano
        interval_start = start_ns
        if temporality == _CUMULATIVE:
            series_key = (resource, metric, _attr_key(point.attributes), start_ns)
            hist, interval_start = self._series_delta(
                series_key, hist, start_ns, time_ns, now, _subtract_histograms
            )
            if hist is None:
                return 0
        if hist.count == 0:
            return 0
        located = self._locate(attrs, interval_start, time_ns, now)
        if located is None:
            return 0
        column = self._column(located[1], section, column_name)
        if column is None:
            return 0
        if column.numeric is None:
            column.numeric = hist.copy() if temporality == _CUMULATIVE else hist
        else:
            column.numeric.merge(hist)
        return 1

    def _count_point(
        self,
        resource: tuple[Any, ...],
        metric: str,
        section: str | None,
        label: str | None,
        field_name: str,
        temporality: int,
        point: Any,
        now: float,
    ) -> int:
        if point.flags & _NO_RECORDED_VALUE:
            return 0
        attrs = _attrs(point.attributes)
        if not self._admit(attrs):
            return 0
        column_name = attrs.get(label) if label is not None else ""
        if column_name is None:
            self.stats.invalid_points += 1
            return 0
        value = point.as_int if point.WhichOneof("value") == "as_int" else round(point.as_double)
        if value < 0:
            self.stats.invalid_points += 1
            return 0
        self.stats.points += 1
        start_ns, time_ns = point.start_time_unix_nano, point.time_unix_nano
        interval_start = start_ns
        if temporality == _CUMULATIVE:
            series_key = (resource, metric, _attr_key(point.attributes), start_ns)
            delta, interval_start = self._series_delta(
                series_key, value, start_ns, time_ns, now, _subtract_ints
            )
            if delta is None:
                return 0
            value = delta
        if value == 0:
            return 0
        located = self._locate(attrs, interval_start, time_ns, now)
        if located is None:
            return 0
        window = located[1]
        if section is None:
            window.rows += value
            return 1
        column = self._column(window, section, column_name)
        if column is None:
            return 0
        setattr(column, field_name, getattr(column, field_name) + value)
        return 1

    def _category_points(
        self,
        resource: tuple[Any, ...],
        metric: str,
        section: str,
        label: str,
        category_attr: str,
        temporality: int,
        points: Iterable[Any],
        now: float,
    ) -> int:
        # The points of one column (same attributes except the category, same time) form one top-K sketch.
        groups: dict[tuple[Any, ...], tuple[dict[str, str], int, int, dict[str, int]]] = {}
        for point in points:
            if point.flags & _NO_RECORDED_VALUE:
                continue
            attrs = _attrs(point.attributes)
            if not self._admit(attrs):
                continue
            category = attrs.pop(category_attr, None)
            value = point.as_int if point.WhichOneof("value") == "as_int" else round(point.as_double)
            if category is None or attrs.get(label) is None or value < 0:
                self.stats.invalid_points += 1
                continue
            self.stats.points += 1
            group_key = (tuple(sorted(attrs.items())), point.start_time_unix_nano, point.time_unix_nano)
            entry = groups.get(group_key)
            if entry is None:
                entry = groups[group_key] = (attrs, point.start_time_unix_nano, point.time_unix_nano, {})
            entry[3][category] = entry[3].get(category, 0) + value
        used = 0
        for (attr_items, _, _), (attrs, start_ns, time_ns, counts) in groups.items():
            interval_start = start_ns
            if temporality == _CUMULATIVE:
                series_key = (resource, metric, attr_items, start_ns)
                delta, interval_start = self._series_delta(
                    series_key, counts, start_ns, time_ns, now, _subtract_categories
                )
                if delta is None:
                    continue
                counts = delta
            sketch = self._categorical_from_counts(counts)
            if sketch.count == 0:
                continue
            located = self._locate(attrs, interval_start, time_ns, now)
            if located is None:
                continue
            column = self._column(located[1], section, attrs[label])
            if column is None:
                continue
            if column.categorical is None:
                column.categorical = sketch
            else:
                column.categorical.merge(sketch)
            used += len(counts)
        return used

    def _categorical_from_counts(self, counts: Mapping[str, int]) -> CategoricalSketch:
        """A top-K sketch holding the exported counts; ``__other__`` is the mass outside the kept categories.

        The exporter's Misra–Gries counts are lower bounds with error at most ``other / (K + 1)``; K is at least
        the number of kept categories, so ``other // (kept + 1)`` is a valid error bound.
        """
        other = int(counts.get(conv.OTHER_CATEGORY, 0))
        kept = [[key, int(n)] for key, n in counts.items() if key != conv.OTHER_CATEGORY and n > 0]
        kept.sort(key=lambda item: (-item[1], item[0]))
        data = CategoricalSketch(max_categories=self.config.max_categories).to_dict()
        data["max_categories"] = max(self.config.max_categories, len(kept))
        data["counts"] = kept
        data["count"] = other + sum(n for _, n in kept)
        data["error_bound"] = other // (len(kept) + 1) if other else 0
        return CategoricalSketch.from_dict(data)

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
def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return ""
    if kind in ("array_value", "kvlist_value"):
        return str(getattr(value, kind))
    return getattr(value, kind)


def _attrs(attributes: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in attributes}


def _attr_key(attributes: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(sorted((kv.key, str(_any_value(kv.value))) for kv in attributes))


def _trim(offset: int, counts: np.ndarray) -> tuple[int, np.ndarray]:
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return 0, counts[:0]
    first, last = int(nonzero[0]), int(nonzero[-1])
    return offset + first, counts[first : last + 1]


def _downscale(offset: int, counts: np.ndarray, by: int) -> tuple[int, np.ndarray]:
    """Merge each run of ``2**by`` adjacent buckets (bucket ``i`` goes to ``i >> by``)."""
    if by <= 0 or counts.size == 0:
        return offset, counts
    low = offset >> by
    high = (offset + counts.size - 1) >> by
    index = ((offset + np.arange(counts.size, dtype=np.int64)) >> by) - low
    return low, np.bincount(index, weights=counts, minlength=high - low + 1).astype(np.int64)


def _histogram_dict(
    scale: int,
    count: int,
    zero_count: int,
    total: float,
    low: float,
    high: float,
    positive: tuple[int, np.ndarray],
    negative: tuple[int, np.ndarray],
    max_size: int,
) -> dict[str, Any]:
    size = max(max_size, positive[1].size, negative[1].size, 2)
    return {
        "format": "otel-mlmon.exponential-histogram",
        "version": 1,
        "max_size": int(size),
        "max_scale": _MAX_SCALE,
        "scale": int(scale),
        "count": int(count),
        "sum": total if math.isfinite(total) else str(total),
        "min": low if math.isfinite(low) else str(low),
        "max": high if math.isfinite(high) else str(high),
        "zero_count": int(zero_count),
        "positive": {"offset": int(positive[0]) if positive[1].size else 0, "counts": positive[1].tolist()},
        "negative": {"offset": int(negative[0]) if negative[1].size else 0, "counts": negative[1].tolist()},
    }


def _histogram_from_point(point: Any, max_size: int) -> ExponentialHistogram | None:
    """Rebuild an exponential histogram from an OTLP data point; None when the point is inconsistent."""
    scale = int(point.scale)
    pos = _trim(point.positive.offset, np.asarray(point.positive.bucket_counts, dtype=np.int64))
    neg = _trim(point.negative.offset, np.asarray(point.negative.bucket_counts, dtype=np.int64))
    if scale > _MAX_SCALE:
        pos = _downscale(*pos, scale - _MAX_SCALE)
        neg = _downscale(*neg, scale - _MAX_SCALE)
        scale = _MAX_SCALE
    if scale < _MIN_SCALE:
        return None
    zero = int(point.zero_count)
    count = int(point.count)
    if zero + int(pos[1].sum()) + int(neg[1].sum()) != count:
        return None
    if pos[1].size == 0 and neg[1].size == 0 and zero == 0 and count == 0:
        return ExponentialHistogram(max_size=max_size)
    lower, upper = _bucket_range(scale, pos, neg, zero)
    low = point.min if point.HasField("min") else lower
    high = point.max if point.HasField("max") else upper
    total = point.sum if point.HasField("sum") else math.nan
    try:
        return ExponentialHistogram.from_dict(
            _histogram_dict(scale, count, zero, total, low, high, pos, neg, max_size)
        )
    except ValueError:
        return None


def _bucket_range(
    scale: int, positive: tuple[int, np.ndarray], negative: tuple[int, np.ndarray], zero: int
) -> tuple[float, float]:
    """Lowest and highest value the occupied buckets allow (used when a point carries no min/max)."""
    lows, highs = [], []
    if negative[1].size:
        lows.append(-_bound(negative[0] + negative[1].size, scale))
        highs.append(-_bound(negative[0], scale))
    if zero:
        lows.append(0.0)
        highs.append(0.0)
    if positive[1].size:
        lows.append(_bound(positive[0], scale))
        highs.append(_bound(positive[0] + positive[1].size, scale))
    return min(lows), max(highs)


def _bound(index: int, scale: int) -> float:
    """``base**index`` with ``base = 2**(2**-scale)``: a bucket's lower bound (inf when it overflows)."""
    try:
        return math.pow(2.0, index * 2.0**-scale)
    except OverflowError:
        return math.inf


def _subtract_ints(newer: int, older: int) -> int | None:
    return None if newer < older else newer - older


def _subtract_categories(newer: Mapping[str, int], older: Mapping[str, int]) -> dict[str, int] | None:
    """Per-category difference of two cumulative top-K exports; None when the total went down (a reset).

    A kept count of a cumulative Misra–Gries sketch may go down (the sketch subtracts when it prunes) and a
    category may move between the kept list and ``__other__``, so only the total decides a reset. Kept
    categories get their (non-negative) increase, ``__other__`` the rest of the total's increase; when the
    increases of categories that were in ``__other__`` before add up to more than the total's increase (their
    earlier counts are unknown), they are scaled down to fit. Exact whenever the sketch kept every category.
    """
    total_new, total_old = sum(newer.values()), sum(older.values())
    if total_new < total_old:
        return None
    growth = total_new - total_old
    delta = {key: max(n - older.get(key, 0), 0) for key, n in newer.items() if key != conv.OTHER_CATEGORY}
    attributed = sum(delta.values())
    if attributed > growth:
        scale = growth / attributed
        delta = {key: math.floor(n * scale) for key, n in delta.items()}
        attributed = sum(delta.values())
    delta = {key: n for key, n in delta.items() if n > 0}
    if growth - attributed > 0:
        delta[conv.OTHER_CATEGORY] = growth - attributed
    return delta


def _subtract_histograms(
    newer: ExponentialHistogram, older: ExponentialHistogram
) -> ExponentialHistogram | None:
    """``newer - older`` for two cumulative points of one series, at the coarser scale; None on a reset.

    The older histogram is downscaled to the newer one's scale (a cumulative histogram's scale only goes down)
    and bucket counts are subtracted; any count that goes down is a reset. The difference's ``sum`` is exact;
    its ``min``/``max`` are exact when the cumulative extreme moved, otherwise the bound of the lowest/highest
    non-empty difference bucket, clipped to the cumulative range.
    """
    if newer.count < older.count or newer.zero_count < older.zero_count:
        return None
    if newer.count == older.count:
        return ExponentialHistogram(max_size=newer.max_size)
    scales = [h.scale for h in (newer, older) if h.positive_counts.size or h.negative_counts.size]
    scale = min(scales) if scales else 0
    sides = []
    for side in ("positive", "negative"):
        parts = []
        for h in (newer, older):
            offset, counts = getattr(h, f"{side}_offset"), getattr(h, f"{side}_counts")
            parts.append(_downscale(offset, counts, h.scale - scale) if counts.size else (0, counts))
        (n_off, n_counts), (o_off, o_counts) = parts
        if o_counts.size == 0:
            sides.append((n_off, n_counts.copy()))
            continue
        if n_counts.size == 0:
            return None
        low = min(n_off, o_off)
        high = max(n_off + n_counts.size, o_off + o_counts.size)
        diff = np.zeros(high - low, dtype=np.int64)
        diff[n_off - low : n_off - low + n_counts.size] += n_counts
        diff[o_off - low : o_off - low + o_counts.size] -= o_counts
        if diff.size and diff.min() < 0:
            return None
        sides.append(_trim(low, diff))
    positive, negative = sides
    zero = newer.zero_count - older.zero_count
    count = newer.count - older.count
    lower, upper = _bucket_range(scale, positive, negative, zero)
    low = newer.min if newer.min < older.min else max(lower, newer.min)
    high = newer.max if newer.max > older.max else min(upper, newer.max)
    if low > high:
        low, high = min(low, high), max(low, high)
    return ExponentialHistogram.from_dict(
        _histogram_dict(
            scale, count, zero, newer.sum - older.sum, low, high, positive, negative, newer.max_size
        )
    )
