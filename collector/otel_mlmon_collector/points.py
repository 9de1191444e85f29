"""Read the SDK's feature and prediction summaries back from OTLP points: the inverse of ``otel_mlmon._bridge``.

The SDK exports each column's sketch as OTLP points (``docs/semantic-conventions.md``), one metric per part of a
``Summary``; :data:`otel_mlmon.conventions.SUMMARY_METRICS` says which. :func:`read_points` walks the
``ml.*`` summary metrics of an ``ExportMetricsServiceRequest`` and turns every usable point back into a
:class:`SummaryPoint` holding an :class:`~otel_mlmon.sketch.ExponentialHistogram`, a
:class:`~otel_mlmon.sketch.CategoricalSketch` (the category points of one column and time, together) or a count,
with the attributes and times that place it. What happens next -- per-series deltas of cumulative points and
fixed time windows -- is :mod:`otel_mlmon_collector.windows`' job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol

from opentelemetry.proto.metrics.v1 import metrics_pb2

from otel_mlmon import conventions as conv
from otel_mlmon.sketch import CategoricalSketch, ExponentialHistogram

__all__ = ["SummaryPoint", "attribute_key", "attributes", "read_points"]

_CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
_NO_RECORDED_VALUE = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
#: Which OTLP data field each kind of summary point arrives in.
_DATA_FIELD = {
    "numeric": "exponential_histogram",
    "categorical": "sum",
    "missing": "sum",
    "infinite": "sum",
    "rows": "sum",
}


class SummaryPoint(NamedTuple):
    """One usable summary point (or, for categories, the points of one column and time), as a sketch or count.

    Attributes:
        series: Resource, metric and point attributes: with ``start_ns``, the identity of a cumulative series.
        attributes: The point's attributes (without the category of a category count).
        section: ``features``, ``outputs`` or ``confidence``; None for ``ml.summary.rows``.
        column: The column's name; ``(output, class)`` for per-class confidence; ``""`` for rows.
        kind: ``numeric``, ``categorical``, ``missing``, ``infinite`` or ``rows``.
        cumulative: Whether the value is a running total since ``start_ns`` (else a delta).
        start_ns, time_ns: The point's start and end times.
        value: The ``ExponentialHistogram``, ``CategoricalSketch`` or count.
        points: How many OTLP points this stands for.
    """

    series: tuple[Any, ...]
    attributes: dict[str, Any]
    section: str | None
    column: Any
    kind: str
    cumulative: bool
    start_ns: int
    time_ns: int
    value: Any
    points: int


class _Counters(Protocol):
    points: int
    invalid_points: int


def read_points(
    message: Any,
    *,
    admit: Callable[[Mapping[str, Any]], bool],
    counters: _Counters,
    max_size: int = 160,
    max_categories: int = 64,
) -> Iterator[SummaryPoint]:
    """The summary points of one ``ExportMetricsServiceRequest``, rebuilt as sketches; other metrics are skipped.

    Args:
        message: The decoded request.
        admit: Asked with a point's attributes before anything else is done with it (the caller checks the
            model and its stream budget, and counts refusals); a refused point is skipped.
        counters: ``points`` counts the points read, ``invalid_points`` those that were unusable: a metric of
            the wrong type, a missing column attribute, a negative count, inconsistent histogram buckets.
        max_size: Buckets per sign of the rebuilt histograms (raised to what a point carries).
        max_categories: K of the rebuilt categorical sketches (raised to the categories a column carries).
    """
    for rm in message.resource_metrics:
        resource: tuple[Any, ...] | None = None
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                entry = conv.SUMMARY_METRICS.get(metric.name)
                if entry is None:
                    continue
                data = _DATA_FIELD[entry[2]]
                if metric.WhichOneof("data") != data:
                    counters.invalid_points += 1
                    continue
                if resource is None:
                    resource = attribute_key(rm.resource.attributes)
                body = getattr(metric, data)
                read = (
                    (resource, metric.name),
                    entry,
                    body.aggregation_temporality == _CUMULATIVE,
                    body.data_points,
                )
                if entry[2] == "categorical":
                    yield from _read_categories(*read, admit, counters, max_categories)
                else:
                    yield from _read_each(*read, admit, counters, max_size)


def _read_each(
    series: tuple[Any, ...],
    entry: tuple[str | None, str | None, str, str | None],
    cumulative: bool,
    points: Iterable[Any],
    admit: Callable[[Mapping[str, Any]], bool],
    counters: _Counters,
    max_size: int,
) -> Iterator[SummaryPoint]:
    """One :class:`SummaryPoint` per usable histogram or count point."""
    section, label, kind, _ = entry
    for point in points:
        if point.flags & _NO_RECORDED_VALUE:
            continue
        attrs = attributes(point.attributes)
        if not admit(attrs):
            continue
        column = attrs.get(label) if label is not None else ""
        if column is None:
            counters.invalid_points += 1
            continue
        if kind == "numeric":
            if section == "confidence" and attrs.get(conv.ATTR_PREDICTION_CLASS) is not None:
                # Confidence is kept per predicted class, as the SDK and profiles keep it (for estimates).
                column = (column, attrs[conv.ATTR_PREDICTION_CLASS])
            value: Any = _histogram(point, max_size)
        else:
            value = _count(point)
        if value is None:
            counters.invalid_points += 1
            continue
        counters.points += 1
        key = (*series, attribute_key(point.attributes))
        start_ns, time_ns = point.start_time_unix_nano, point.time_unix_nano
        yield SummaryPoint(key, attrs, section, column, kind, cumulative, start_ns, time_ns, value, 1)


def _read_categories(
    series: tuple[Any, ...],
    entry: tuple[str | None, str | None, str, str | None],
    cumulative: bool,
    points: Iterable[Any],
    admit: Callable[[Mapping[str, Any]], bool],
    counters: _Counters,
    max_categories: int,
) -> Iterator[SummaryPoint]:
    """The category points of one column (same attributes but the category, same times) form one sketch."""
    section, label, _, category_attr = entry
    groups: dict[tuple[Any, ...], tuple[dict[str, Any], int, int, dict[str, int]]] = {}
    for point in points:
        if point.flags & _NO_RECORDED_VALUE:
            continue
        attrs = attributes(point.attributes)
        if not admit(attrs):
            continue
        category = attrs.pop(category_attr, None)
        value = _count(point)
        if category is None or attrs.get(label) is None or value is None:
            counters.invalid_points += 1
            continue
        counters.points += 1
        group_key = (tuple(sorted(attrs.items())), point.start_time_unix_nano, point.time_unix_nano)
        group = groups.get(group_key)
        if group is None:
            group = groups[group_key] = (attrs, point.start_time_unix_nano, point.time_unix_nano, {})
        group[3][category] = group[3].get(category, 0) + value
    for (attr_items, _, _), (attrs, start_ns, time_ns, counts) in groups.items():
        other = counts.get(conv.OTHER_CATEGORY, 0)
        kept = {key: n for key, n in counts.items() if key != conv.OTHER_CATEGORY}
        sketch = CategoricalSketch.from_counts(kept, other_count=other, max_categories=max_categories)
        column = attrs[label]
        key = (*series, attr_items)
        yield SummaryPoint(
            key, attrs, section, column, "categorical", cumulative, start_ns, time_ns, sketch, len(counts)
        )


def _histogram(point: Any, max_size: int) -> ExponentialHistogram | None:
    """The exponential histogram an OTLP data point carries; None when the point is inconsistent."""
    try:
        return ExponentialHistogram.from_buckets(
            scale=point.scale,
            zero_count=point.zero_count,
            count=point.count,
            positive_offset=point.positive.offset,
            positive_counts=point.positive.bucket_counts,
            negative_offset=point.negative.offset,
            negative_counts=point.negative.bucket_counts,
            sum=point.sum if point.HasField("sum") else float("nan"),
            min=point.min if point.HasField("min") else None,
            max=point.max if point.HasField("max") else None,
            max_size=max_size,
        )
    except ValueError:
        return None


def _count(point: Any) -> int | None:
    """A sum point's value as a count; None when negative."""
    value = point.as_int if point.WhichOneof("value") == "as_int" else round(point.as_double)
    return None if value < 0 else value


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return ""
    if kind in ("array_value", "kvlist_value"):
        return str(getattr(value, kind))
    return getattr(value, kind)


def attributes(pairs: Iterable[Any]) -> dict[str, Any]:
    """OTLP ``KeyValue`` attributes as a dict (arrays and key-value lists as their text)."""
    return {kv.key: _any_value(kv.value) for kv in pairs}


def attribute_key(pairs: Iterable[Any]) -> tuple[Any, ...]:
    """A hashable, order-independent key of OTLP ``KeyValue`` attributes (values as text)."""
    return tuple(sorted((kv.key, str(_any_value(kv.value))) for kv in pairs))
