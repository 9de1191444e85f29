"""The export bridge: the only module that knows how our local aggregates become OpenTelemetry data points.

The Python SDK has no MetricProducer (opentelemetry-python #4768), so the bridge wraps each metric reader's
collect callback: when a reader collects (periodic export, ``force_flush``, shutdown, a pull by Prometheus), the
SDK's own metrics come back as usual and the bridge appends a scope ``otel_mlmon`` holding the pre-aggregated
points, in the temporality that reader prefers. Because the bridge sits at collection rather than inside an
exporter, it works for every reader type and exporter a user configured, and it reports even in an interval in
which the SDK itself recorded nothing (where an exporter wrapper would be skipped, FACTS.md).

Per reader it keeps the intervals not yet reported (for delta temporality) and their running total (for
cumulative), so several readers with different preferences each see every recorded call exactly once.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics._internal.instrument import _Counter, _Histogram
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_mlmon import conventions as conv
from otel_mlmon._aggregate import CountInterval, ExplicitHistogram, InferenceInterval, Interval, Stream
from otel_mlmon._faults import faults, report_fault
from otel_mlmon._version import __version__
from otel_mlmon.sketch import ExponentialHistogram as ExponentialSketch
from otel_mlmon.summary import ColumnSummary, Summary

__all__ = ["MetricBridge", "bridge_for"]

_SCOPE = InstrumentationScope(conv.SCOPE_NAME, __version__)
_WRAPPED_MARK = "_otel_mlmon_bridge"


class _ReaderState:
    """What one reader has not reported yet (delta) and its running total (cumulative)."""

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.last_collect_ns = start_ns
        self.pending: dict[Stream, Interval] = {}
        self.cumulative: dict[Stream, Interval] = {}


class MetricBridge:
    """Exports the streams registered with it through every metric reader of one SDK ``MeterProvider``."""

    def __init__(self, provider: Any, _clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = _clock
        self._provider_ref = weakref.ref(provider)
        self._streams: dict[Stream, None] = {faults: None}  # insertion-ordered set
        self._reset()
        self._attach(provider)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._start_ns = self._clock()
        self._readers: weakref.WeakKeyDictionary[Any, _ReaderState] = weakref.WeakKeyDictionary()

    def register(self, stream: Stream) -> None:
        """Export ``stream`` from now on (idempotent)."""
        with self._lock:
            self._streams[stream] = None

    # -- attaching to the SDK ---------------------------------------------------------------------------------

    def _attach(self, provider: Any) -> None:
        consumer = provider._measurement_consumer
        for reader in list(consumer._reader_storages):
            self._wrap_reader(reader)
        original_add = provider.add_metric_reader
        if getattr(original_add, _WRAPPED_MARK, None) is None:

            def add_metric_reader(metric_reader: Any) -> None:
                original_add(metric_reader)
                self._wrap_reader(metric_reader)

            setattr(add_metric_reader, _WRAPPED_MARK, self)
            provider.add_metric_reader = add_metric_reader

    def _wrap_reader(self, reader: Any) -> None:
        original = reader._collect
        if original is None or getattr(original, _WRAPPED_MARK, None) is self:
            return
        with self._lock:
            self._readers[reader] = _ReaderState(self._start_ns if not self._readers else self._clock())

        def collect(metric_reader: Any, timeout_millis: float = 10_000) -> MetricsData | None:
            data = original(metric_reader, timeout_millis=timeout_millis)
            try:
                return self._append(metric_reader, data)
            except Exception as exc:  # noqa: BLE001 - never break the user's export
                report_fault("export", exc)
                return data

        setattr(collect, _WRAPPED_MARK, self)
        reader._collect = collect

    # -- collection -------------------------------------------------------------------------------------------

    def _append(self, reader: Any, data: MetricsData | None) -> MetricsData | None:
        metrics = self.collect_metrics(reader)
        if not metrics:
            return data
        ours = ScopeMetrics(scope=_SCOPE, metrics=metrics, schema_url="")
        provider = self._provider_ref()
        if data is None or not data.resource_metrics:
            if provider is None:
                return data
            resource = provider._sdk_config.resource
            return MetricsData([ResourceMetrics(resource=resource, scope_metrics=[ours], schema_url="")])
        first, *rest = data.resource_metrics
        first = ResourceMetrics(
            resource=first.resource,
            scope_metrics=[*first.scope_metrics, ours],
            schema_url=first.schema_url,
        )
        return MetricsData(resource_metrics=[first, *rest])

    def collect_metrics(self, reader: Any) -> list[Metric]:
        """Swap every stream's interval out and return the metrics ``reader`` should receive now."""
        now = self._clock()
        with self._lock:
            state = self._readers.get(reader)
            if state is None:
                return []
            states = list(self._readers.values())
            for stream in self._streams:
                interval = stream.swap()
                if interval.is_empty():
                    continue
                for other in states:
                    other.pending.setdefault(stream, stream.new_interval()).merge(interval)
            pending, state.pending = state.pending, {}
            for stream, interval in pending.items():
                state.cumulative.setdefault(stream, stream.new_interval()).merge(interval)
            delta_start, state.last_collect_ns = state.last_collect_ns, now
            cumulative = dict(state.cumulative)

        temporalities = reader._instrument_class_temporality
        builder = _MetricsBuilder(now, _accepts_exponential(reader))
        for stream, total in cumulative.items():
            for instrument, convert in _CONVERTERS.get(type(total), ()):
                if temporalities.get(instrument) == AggregationTemporality.DELTA:
                    interval, start, temporality = (
                        pending.get(stream),
                        delta_start,
                        AggregationTemporality.DELTA,
                    )
                else:
                    interval, start, temporality = total, state.start_ns, AggregationTemporality.CUMULATIVE
                if interval is not None:
                    convert(builder, stream.attributes, interval, start, temporality)
        return builder.metrics()


class _MetricsBuilder:
    """Groups data points by metric name into SDK ``Metric`` objects."""

    def __init__(self, now_ns: int, exponential_ok: bool = True) -> None:
        self.now_ns = now_ns
        #: False for readers that cannot take exponential histograms (see _accepts_exponential).
        self.exponential_ok = exponential_ok
        self._metrics: dict[str, tuple[str, str, str, AggregationTemporality, list[Any]]] = {}

    def _points(self, name: str, description: str, unit: str, kind: str, temporality: AggregationTemporality):
        entry = self._metrics.get(name)
        if entry is None:
            entry = self._metrics[name] = (kind, description, unit, temporality, [])
        return entry[4]

    def add_sum(
        self,
        name: str,
        description: str,
        unit: str,
        attributes: dict[str, str],
        value: int,
        start_ns: int,
        temporality: AggregationTemporality,
    ) -> None:
        self._points(name, description, unit, "sum", temporality).append(
            NumberDataPoint(attributes, start_ns, self.now_ns, value)
        )

    def add_histogram(
        self,
        name: str,
        description: str,
        unit: str,
        attributes: dict[str, str],
        hist: ExplicitHistogram,
        start_ns: int,
        temporality: AggregationTemporality,
    ) -> None:
        if hist.count == 0:
            return
        exemplars = []
        if hist.exemplar is not None:
            value, time_ns, trace_id, span_id = hist.exemplar
            exemplars.append(Exemplar({}, value, time_ns, span_id=span_id, trace_id=trace_id))
        self._points(name, description, unit, "histogram", temporality).append(
            HistogramDataPoint(
                attributes=attributes,
                start_time_unix_nano=start_ns,
                time_unix_nano=self.now_ns,
                count=hist.count,
                sum=hist.sum,
                bucket_counts=list(hist.counts),
                explicit_bounds=list(hist.bounds),
                min=hist.min,
                max=hist.max,
                exemplars=exemplars,
            )
        )

    def add_exponential(
        self,
        name: str,
        description: str,
        unit: str,
        attributes: dict[str, str],
        sketch: ExponentialSketch,
        start_ns: int,
        temporality: AggregationTemporality,
    ) -> None:
        if sketch.count == 0 or not self.exponential_ok:
            return
        self._points(name, description, unit, "exponential", temporality).append(
            ExponentialHistogramDataPoint(
                attributes=attributes,
                start_time_unix_nano=start_ns,
                time_unix_nano=self.now_ns,
                count=int(sketch.count),
                sum=float(sketch.sum),
                scale=int(sketch.scale),
                zero_count=int(sketch.zero_count),
                positive=Buckets(int(sketch.positive_offset), sketch.positive_counts.tolist()),
                negative=Buckets(int(sketch.negative_offset), sketch.negative_counts.tolist()),
                flags=0,
                min=float(sketch.min),
                max=float(sketch.max),
            )
        )

    def metrics(self) -> list[Metric]:
        out = []
        for name, (kind, description, unit, temporality, points) in self._metrics.items():
            if not points:
                continue
            if kind == "sum":
                data: Any = Sum(data_points=points, aggregation_temporality=temporality, is_monotonic=True)
            elif kind == "exponential":
                data = ExponentialHistogram(data_points=points, aggregation_temporality=temporality)
            else:
                data = Histogram(data_points=points, aggregation_temporality=temporality)
            out.append(Metric(name=name, description=description, unit=unit, data=data))
        return out


def _inference_histograms(
    builder: _MetricsBuilder,
    attributes: dict[str, str],
    interval: InferenceInterval,
    start_ns: int,
    temporality: AggregationTemporality,
) -> None:
    for error_type, hist in interval.durations.items():
        attrs = attributes if error_type is None else {**attributes, conv.ATTR_ERROR_TYPE: error_type}
        builder.add_histogram(
            conv.METRIC_DURATION,
            "Duration of model inference calls; error.type is set on failed calls.",
            "s",
            attrs,
            hist,
            start_ns,
            temporality,
        )
    builder.add_histogram(
        conv.METRIC_BATCH_SIZE,
        "Rows per inference call.",
        "{row}",
        attributes,
        interval.batch_sizes,
        start_ns,
        temporality,
    )


def _inference_counters(
    builder: _MetricsBuilder,
    attributes: dict[str, str],
    interval: InferenceInterval,
    start_ns: int,
    temporality: AggregationTemporality,
) -> None:
    if interval.batch_sizes.count or temporality == AggregationTemporality.CUMULATIVE:
        builder.add_sum(
            conv.METRIC_PREDICTIONS,
            "Rows predicted by successful inference calls.",
            "{prediction}",
            attributes,
            interval.predictions,
            start_ns,
            temporality,
        )


def _fault_counters(
    builder: _MetricsBuilder,
    attributes: dict[str, str],
    interval: CountInterval,
    start_ns: int,
    temporality: AggregationTemporality,
) -> None:
    for kind, count in sorted(interval.counts.items()):
        builder.add_sum(
            conv.METRIC_SDK_FAULTS,
            "Monitoring faults otel-mlmon absorbed; the predict calls were unaffected.",
            "{fault}",
            {**attributes, conv.ATTR_FAULT: kind},
            count,
            start_ns,
            temporality,
        )


def _accepts_exponential(reader: Any) -> bool:
    # opentelemetry-exporter-prometheus answers HTTP 500 for the whole /metrics page as soon as one exponential
    # histogram is present (FACTS.md): for that reader the distributions are left out, everything else stays.
    return "prometheus" not in type(reader).__module__.lower()


def _summary_histograms(
    builder: _MetricsBuilder,
    attributes: dict[str, str],
    summary: Summary,
    start_ns: int,
    temporality: AggregationTemporality,
) -> None:
    for name, column in summary.features.items():
        if column.numeric is not None:
            builder.add_exponential(
                conv.METRIC_FEATURE_DISTRIBUTION,
                "Distribution of a numeric feature over the sampled rows.",
                "1",
                {**attributes, conv.ATTR_FEATURE_NAME: name},
                column.numeric,
                start_ns,
                temporality,
            )
    for name, column in summary.outputs.items():
        if column.numeric is not None:
            builder.add_exponential(
                conv.METRIC_PREDICTION_DISTRIBUTION,
                "Distribution of a numeric model output over the sampled rows.",
                "1",
                {**attributes, conv.ATTR_OUTPUT_NAME: name},
                column.numeric,
                start_ns,
                temporality,
            )
    for (name, label), column in summary.confidence.items():
        builder.add_exponential(
            conv.METRIC_PREDICTION_CONFIDENCE,
            "Distribution of the max class probability of the rows predicted as each class (sampled rows).",
            "1",
            {**attributes, conv.ATTR_OUTPUT_NAME: name, conv.ATTR_PREDICTION_CLASS: label},
            column.numeric,
            start_ns,
            temporality,
        )


def _category_points(
    builder: _MetricsBuilder,
    metric: str,
    description: str,
    attributes: dict[str, str],
    label: str,
    column: ColumnSummary,
    start_ns: int,
    temporality: AggregationTemporality,
) -> None:
    sketch = column.categorical
    for category, count in [*sketch.top(), (conv.OTHER_CATEGORY, sketch.other_count)]:
        if count or category != conv.OTHER_CATEGORY:
            builder.add_sum(
                metric, description, "1", {**attributes, label: category}, int(count), start_ns, temporality
            )


def _summary_counters(
    builder: _MetricsBuilder,
    attributes: dict[str, str],
    summary: Summary,
    start_ns: int,
    temporality: AggregationTemporality,
) -> None:
    builder.add_sum(
        conv.METRIC_SUMMARY_ROWS,
        "Rows that entered the feature and prediction summaries (after sampling and max_rows).",
        "{row}",
        attributes,
        summary.rows,
        start_ns,
        temporality,
    )
    for name, column in summary.features.items():
        feature = {**attributes, conv.ATTR_FEATURE_NAME: name}
        builder.add_sum(
            conv.METRIC_FEATURE_MISSING,
            "Missing values (None, NaN, NaT) of a feature in the sampled rows.",
            "1",
            feature,
            column.missing,
            start_ns,
            temporality,
        )
        if column.numeric is not None:
            builder.add_sum(
                conv.METRIC_FEATURE_INFINITE,
                "Infinite values (+inf, -inf) of a numeric feature in the sampled rows.",
                "1",
                feature,
                column.infinite,
                start_ns,
                temporality,
            )
        else:
            _category_points(
                builder,
                conv.METRIC_FEATURE_CATEGORY_COUNT,
                "Rows per category of a categorical feature: the top categories, the rest as __other__.",
                feature,
                conv.ATTR_FEATURE_CATEGORY,
                column,
                start_ns,
                temporality,
            )
    for name, column in summary.outputs.items():
        output = {**attributes, conv.ATTR_OUTPUT_NAME: name}
        builder.add_sum(
            conv.METRIC_PREDICTION_MISSING,
            "Missing values of a model output in the sampled rows.",
            "1",
            output,
            column.missing,
            start_ns,
            temporality,
        )
        if column.categorical is not None:
            _category_points(
                builder,
                conv.METRIC_PREDICTION_CLASS_COUNT,
                "Rows per predicted class (or label): the top classes, the rest as __other__.",
                output,
                conv.ATTR_PREDICTION_CLASS,
                column,
                start_ns,
                temporality,
            )


#: Per kind of interval: (SDK instrument class whose temporality preference applies, converter to data points).
_CONVERTERS: dict[type, tuple[tuple[type, Callable[..., None]], ...]] = {
    InferenceInterval: ((_Histogram, _inference_histograms), (_Counter, _inference_counters)),
    CountInterval: ((_Counter, _fault_counters),),
    Summary: ((_Histogram, _summary_histograms), (_Counter, _summary_counters)),
}

_bridges: weakref.WeakKeyDictionary[Any, MetricBridge] = weakref.WeakKeyDictionary()
_bridges_lock = threading.Lock()


def bridge_for(provider: Any) -> MetricBridge | None:
    """The bridge of an SDK ``MeterProvider``, created on first use; None for other providers (no-op, proxy)."""
    if not hasattr(provider, "_measurement_consumer") or not hasattr(provider, "_sdk_config"):
        return None
    with _bridges_lock:
        bridge = _bridges.get(provider)
        if bridge is None:
            bridge = _bridges[provider] = MetricBridge(provider)
        return bridge


def _reset_after_fork() -> None:
    # The parent exports what it recorded; the child starts empty, with fresh locks and start times.
    global _bridges_lock
    _bridges_lock = threading.Lock()
    for bridge in list(_bridges.values()):
        bridge._reset()
        provider = bridge._provider_ref()
        if provider is not None:
            for reader in list(provider._measurement_consumer._reader_storages):
                bridge._readers[reader] = _ReaderState(bridge._start_ns)
