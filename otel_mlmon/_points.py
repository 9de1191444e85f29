"""Point conversion: our local aggregates → OpenTelemetry SDK data points, with no SDK hook in sight.

Pure functions of an interval, its attributes and times, producing the public ``opentelemetry.sdk.metrics.export``
data classes (``Metric``, ``NumberDataPoint``, ``HistogramDataPoint``, ``ExponentialHistogramDataPoint``). Which
points a reader receives and when is the bridge's business (``_bridge.py``, the only module touching SDK internals).

To export a new kind of aggregate: write a converter ``f(builder, attributes, interval, start_ns, temporality)``
that calls ``builder.add_sum`` / ``add_histogram`` / ``add_exponential``, and add its interval type to
``CONVERTERS`` with the instrument kind whose temporality preference the reader applies to it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Collection, Iterable
from typing import Any

from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    Sum,
)

from otel_mlmon import conventions as conv
from otel_mlmon._aggregate import CountInterval, ExplicitHistogram, InferenceInterval, Interval
from otel_mlmon.sketch import ExponentialHistogram as ExponentialSketch
from otel_mlmon.summary import ColumnSummary, Summary

__all__ = ["CONVERTERS", "COUNTER", "HISTOGRAM", "Converter", "MetricsBuilder", "to_metrics"]

#: Instrument kinds, as far as temporality goes: a reader prefers delta or cumulative per kind.
COUNTER = "counter"
HISTOGRAM = "histogram"

#: ``f(builder, attributes, interval, start_ns, temporality)``: adds the points of one interval.
Converter = Callable[["MetricsBuilder", dict[str, str], Any, int, AggregationTemporality], None]


class MetricsBuilder:
    """Groups data points by metric name into SDK ``Metric`` objects."""

    def __init__(self, now_ns: int, exponential_ok: bool = True) -> None:
        self.now_ns = now_ns
        #: False for readers that cannot take exponential histograms (the bridge decides per reader).
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
    builder: MetricsBuilder,
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


def _genai_histograms(
    builder: MetricsBuilder,
    attributes: dict[str, str],
    interval: InferenceInterval,
    start_ns: int,
    temporality: AggregationTemporality,
) -> None:
    """Streaming chunk times and token usage under the GenAI conventions' names (empty for other models)."""
    builder.add_histogram(
        conv.METRIC_GENAI_TIME_TO_FIRST_CHUNK,
        "Time from the first request of a streaming call to its first chunk.",
        "s",
        attributes,
        interval.first_chunk,
        start_ns,
        temporality,
    )
    builder.add_histogram(
        conv.METRIC_GENAI_TIME_PER_OUTPUT_CHUNK,
        "Time to produce each chunk of a streaming call after the first one.",
        "s",
        attributes,
        interval.chunk_times,
        start_ns,
        temporality,
    )
    for token_type, hist in sorted(interval.tokens.items()):
        builder.add_histogram(
            conv.METRIC_GENAI_TOKEN_USAGE,
            "Number of input and output tokens used per call.",
            "{token}",
            {**attributes, conv.ATTR_GENAI_TOKEN_TYPE: token_type},
            hist,
            start_ns,
            temporality,
        )
    if conv.ATTR_GENAI_OPERATION_NAME in attributes:  # a monitor given genai=...: the GenAI duration name too
        for error_type, hist in interval.durations.items():
            attrs = attributes if error_type is None else {**attributes, conv.ATTR_ERROR_TYPE: error_type}
            builder.add_histogram(
                conv.METRIC_GENAI_OPERATION_DURATION,
                "GenAI operation duration (the same calls as ml.inference.duration).",
                "s",
                attrs,
                hist,
                start_ns,
                temporality,
            )


def _inference_counters(
    builder: MetricsBuilder,
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
    builder: MetricsBuilder,
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


def _summary_histograms(
    builder: MetricsBuilder,
    attributes: dict[str, str],
    summary: Summary,
    start_ns: int,
    temporality: AggregationTemporality,
) -> None:
    for name, column in (*summary.features.items(), *summary.vector_columns()):
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
    for name, column in (*summary.outputs.items(), *summary.vector_columns(outputs=True)):
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
    for metric, description, columns in (
        (
            conv.METRIC_PREDICTION_CONFIDENCE,
            "Distribution of the max class probability of the rows predicted as each class (sampled rows).",
            summary.confidence,
        ),
        (
            conv.METRIC_PREDICTION_CONFIDENCE_COMPLEMENT,
            "Distribution of one minus the max class probability of the rows predicted as each class.",
            summary.confidence_complement,
        ),
        (
            conv.METRIC_PREDICTION_CLASS_PROBABILITY,
            "Distribution of each class's probability over the rows not predicted as that class.",
            summary.class_probability,
        ),
    ):
        for (name, label), column in columns.items():
            builder.add_exponential(
                metric,
                description,
                "1",
                {**attributes, conv.ATTR_OUTPUT_NAME: name, conv.ATTR_PREDICTION_CLASS: label},
                column.numeric,
                start_ns,
                temporality,
            )


class _Exported:
    """What a running total's categorical sketch exported so far (cumulative temporality)."""

    __slots__ = ("categories", "other", "owner")

    def __init__(self, owner: weakref.ref[Any]) -> None:
        self.owner = owner
        self.categories: dict[str, int] = {}
        self.other = 0


#: Per running-total sketch (the bridge merges each interval into the same object), by ``id`` since sketches are
#: unhashable: the categories exported so far, so that a category once exported keeps its series (its count does
#: not vanish when others overtake it or the sketch lets it go), and the last ``__other__``, so that it never
#: decreases (a reset to Prometheus). An entry goes when its sketch is collected.
_exported: dict[int, _Exported] = {}


def _exported_by(sketch: Any) -> _Exported:
    key = id(sketch)
    state = _exported.get(key)
    if state is None or state.owner() is not sketch:

        def forget(ref: weakref.ref[Any], key: int = key) -> None:
            entry = _exported.get(key)
            if entry is not None and entry.owner is ref:
                del _exported[key]

        state = _exported[key] = _Exported(weakref.ref(sketch, forget))
    return state


def _category_points(
    builder: MetricsBuilder,
    metric: str,
    description: str,
    attributes: dict[str, str],
    label: str,
    column: ColumnSummary,
    start_ns: int,
    temporality: AggregationTemporality,
    limit: int | None = None,
) -> None:
    """Every category the sketch holds (at most ``limit``, the largest), then ``__other__`` for the rest.

    Cumulative: the exported set only grows (up to ``limit`` or the sketch's capacity), a category keeps its
    last count while the sketch no longer holds it, and ``__other__`` never decreases. Delta: each interval's
    largest categories.
    """
    sketch = column.categorical
    counts = sketch.top()
    cap = sketch.max_categories if limit is None else min(limit, sketch.max_categories)
    if temporality == AggregationTemporality.CUMULATIVE:
        state = _exported_by(sketch)
        held = dict(counts)
        exported = state.categories
        for category, previous in exported.items():
            exported[category] = max(previous, held.get(category, 0))
        for category, count in counts:  # largest first
            if len(exported) >= cap:
                break
            exported.setdefault(category, count)
        state.other = max(state.other, sketch.count - sum(exported.values()))
        points, other = list(exported.items()), state.other
    else:
        points = counts[:cap]
        other = sketch.count - sum(count for _, count in points)
    for category, count in points:
        builder.add_sum(
            metric, description, "1", {**attributes, label: category}, int(count), start_ns, temporality
        )
    if other:
        builder.add_sum(
            metric,
            description,
            "1",
            {**attributes, label: conv.OTHER_CATEGORY},
            int(other),
            start_ns,
            temporality,
        )


def _summary_counters(
    builder: MetricsBuilder,
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
                "Rows per category of a categorical feature: the categories counted, the rest as __other__.",
                feature,
                conv.ATTR_FEATURE_CATEGORY,
                column,
                start_ns,
                temporality,
                summary.config.export_categories,
            )
    for name, column in summary.vector_columns():
        if name.endswith(conv.DESCRIPTOR_SEPARATOR + conv.VECTOR_NORM):
            # A vector column's missing rows (a NaN or infinite component) are counted once, on its norm.
            builder.add_sum(
                conv.METRIC_FEATURE_MISSING,
                "Missing values (None, NaN, NaT) of a feature in the sampled rows.",
                "1",
                {**attributes, conv.ATTR_FEATURE_NAME: name},
                column.missing,
                start_ns,
                temporality,
            )
    for name, column in summary.vocabulary_columns():
        # One point per hash bucket with tokens (at most the sketch's bucket count): never cut, never __other__.
        for bucket, count in column.categorical.top():
            builder.add_sum(
                conv.METRIC_FEATURE_CATEGORY_COUNT,
                "Rows per category of a categorical feature: the categories counted, the rest as __other__.",
                "1",
                {**attributes, conv.ATTR_FEATURE_NAME: name, conv.ATTR_FEATURE_CATEGORY: bucket},
                int(count),
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
                "Rows per predicted class (or label): the classes counted, the rest as __other__.",
                output,
                conv.ATTR_PREDICTION_CLASS,
                column,
                start_ns,
                temporality,
                summary.config.export_categories,
            )
    for name, column in summary.vector_columns(outputs=True):
        if name.endswith(conv.DESCRIPTOR_SEPARATOR + conv.VECTOR_NORM):  # missing rows once, as for features
            builder.add_sum(
                conv.METRIC_PREDICTION_MISSING,
                "Missing values of a model output in the sampled rows.",
                "1",
                {**attributes, conv.ATTR_OUTPUT_NAME: name},
                column.missing,
                start_ns,
                temporality,
            )


#: Per kind of interval: (instrument kind whose temporality preference applies, converter to data points).
CONVERTERS: dict[type, tuple[tuple[str, Converter], ...]] = {
    InferenceInterval: (
        (HISTOGRAM, _inference_histograms),
        (HISTOGRAM, _genai_histograms),
        (COUNTER, _inference_counters),
    ),
    CountInterval: ((COUNTER, _fault_counters),),
    Summary: ((HISTOGRAM, _summary_histograms), (COUNTER, _summary_counters)),
}


def to_metrics(
    series: Iterable[tuple[dict[str, str], Interval, Interval | None]],
    now_ns: int,
    *,
    delta_kinds: Collection[str],
    cumulative_start_ns: int,
    delta_start_ns: int,
    exponential_ok: bool = True,
) -> list[Metric]:
    """The metrics of every series, each given as (attributes, running total, interval since the last collection).

    Instrument kinds in ``delta_kinds`` are reported from the interval (starting at ``delta_start_ns``; nothing
    when it is None), the others from the running total (starting at ``cumulative_start_ns``).
    """
    builder = MetricsBuilder(now_ns, exponential_ok)
    for attributes, total, pending in series:
        for kind, convert in CONVERTERS.get(type(total), ()):
            if kind in delta_kinds:
                interval, start, temporality = pending, delta_start_ns, AggregationTemporality.DELTA
            else:
                interval, start, temporality = total, cumulative_start_ns, AggregationTemporality.CUMULATIVE
            if interval is not None:
                convert(builder, attributes, interval, start, temporality)
    return builder.metrics()
