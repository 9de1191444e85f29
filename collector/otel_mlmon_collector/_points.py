"""Read the SDK's feature and prediction summaries back from OTLP points: the inverse of ``otel_mlmon._bridge``.

The SDK exports each column's sketch as OTLP points (``docs/semantic-conventions.md``), one metric per part of a
``Summary``; :data:`otel_mlmon.conventions.SUMMARY_METRICS` says which. :func:`read_points` walks the
``ml.*`` summary metrics of an ``ExportMetricsServiceRequest`` and turns every usable point back into a
:class:`SummaryPoint` holding an :class:`~otel_mlmon.sketch.ExponentialHistogram`, a
:class:`~otel_mlmon.sketch.CategoricalSketch` (the category points of one column and time, together) or a count,
with the attributes and times that place it. What happens next -- per-series deltas of cumulative points and
fixed time windows -- is :mod:`otel_mlmon_collector._windows`' job.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol

import numpy as np
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from otel_mlmon import conventions as conv
from otel_mlmon.sketch import CategoricalSketch, ExponentialHistogram
from otel_mlmon.sketch._mapping import MAX_SCALE, MIN_SCALE, map_to_index, scale_change
from otel_mlmon.sketch.vocabulary import MAX_BUCKETS, is_vocabulary

__all__ = [
    "MAX_ATTRIBUTE_CHARS",
    "MAX_POINT_COUNT",
    "SummaryPoint",
    "attribute_key",
    "attributes",
    "read_points",
]

#: Largest count one point may carry (values in one export interval); larger ones are refused as hostile. With
#: it, bucket sums of int64 arrays cannot overflow however many points a window merges (see windows.py).
MAX_POINT_COUNT = 1 << 53
#: Longest model name, column name or category a point may carry; longer ones make the point invalid.
MAX_ATTRIBUTE_CHARS = 1024
#: Buckets per side an OTLP point may carry at most (the OTel SDK's own bound on max_size).
_MAX_POINT_BUCKETS = 16384
#: Per scale, the lowest and highest bucket index any positive finite double maps to: an index outside is
#: no value at all, and two such points could not be merged at any scale (issue 16).
_INDEX_RANGE = {
    s: tuple(int(i) for i in map_to_index(np.array([5e-324, np.finfo(np.float64).max]), s))
    for s in range(MIN_SCALE, MAX_SCALE + 1)
}

_CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
_NO_RECORDED_VALUE = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
#: Sections kept per class (predicted class, or for class_probability the class whose probability it is), as the SDK
#: and profiles keep them (for estimates).
_PER_CLASS = ("confidence", "confidence_complement", "class_probability")
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
        section: ``features``, ``outputs``, ``confidence``, ``confidence_complement`` or ``class_probability``;
            None for ``ml.summary.rows``.
        column: The column's name; ``(output, class)`` for the per-class sections; ``""`` for rows.
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
    max_point_categories: int = 2048,
) -> Iterator[SummaryPoint]:
    """The summary points of one ``ExportMetricsServiceRequest``, rebuilt as sketches; other metrics are skipped.

    Args:
        message: The decoded request.
        admit: Asked with a point's attributes before anything else is done with it (the caller checks the
            model and its stream budget, and counts refusals); a refused point is skipped.
        counters: ``points`` counts the points read, ``invalid_points`` those that were unusable: a metric of
            the wrong type, a missing column attribute, a negative count, inconsistent histogram buckets.
        max_size: Buckets per sign of the rebuilt histograms: a point carrying more is downscaled to fit.
        max_categories: K of the rebuilt categorical sketches (raised to the categories a point carries).
        max_point_categories: Categories a point may carry: a column sending more keeps its largest ones and
            counts the rest as other.

    A hostile point is refused (counted in ``invalid_points``) before anything keeps it: a scale outside
    [-10, 20], bucket indices no finite value maps to, more than 16 384 buckets a side, counts that do not add
    up or exceed :data:`MAX_POINT_COUNT`, non-finite bounds or counts, names over :data:`MAX_ATTRIBUTE_CHARS`.
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
                    resource = _resource_key(rm.resource.SerializeToString())
                body = getattr(metric, data)
                read = (
                    (resource, metric.name),
                    entry,
                    body.aggregation_temporality == _CUMULATIVE,
                    body.data_points,
                )
                if entry[2] == "categorical":
                    yield from _read_categories(*read, admit, counters, max_categories, max_point_categories)
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
        if column is None or _too_long(column):
            counters.invalid_points += 1
            continue
        if kind == "numeric":
            if section in _PER_CLASS and attrs.get(conv.ATTR_PREDICTION_CLASS) is not None:
                # Confidence is kept per predicted class, as the SDK and profiles keep it (for estimates).
                column = (column, attrs[conv.ATTR_PREDICTION_CLASS])
            value: Any = _histogram(point, max_size)
        else:
            value = _count(point)
        if value is None:
            counters.invalid_points += 1
            continue
        counters.points += 1
        # The series key from the decoded attributes when no key repeats (else the KeyValues, as attribute_key).
        if len(attrs) == len(point.attributes):
            key = (*series, tuple(sorted([(k, str(v)) for k, v in attrs.items()])))
        else:
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
    max_point_categories: int,
) -> Iterator[SummaryPoint]:
    """The category points of one column (same attributes but the category, same times) form one sketch."""
    section, label, _, category_attr = entry
    groups: dict[tuple[Any, ...], tuple[dict[str, Any], int, int, dict[str, int]]] = {}
    # A column's points come one after another: the last point's group is reused while its attributes and times
    # are equal (one dict comparison instead of a sorted key and a lookup per category).
    last: tuple[dict[str, Any], int, int] | None = None
    counts: dict[str, int] = {}
    # The KeyValues of the last point that joined a group through the full path, and where its category is: a
    # point whose other KeyValues equal those (same times) belongs to the same group and is admitted as that one
    # was (nothing was admitted in between), so only its category and count are read.
    seen: list[Any] | None = None
    head: list[Any] = []  # seen's KeyValues before the category's and after it
    tail: list[Any] = []
    at = 0
    for point in points:
        if point.flags & _NO_RECORDED_VALUE:
            continue
        kvs = point.attributes
        if (
            seen is not None
            and last is not None
            and len(kvs) == len(seen)
            and point.start_time_unix_nano == last[1]
            and point.time_unix_nano == last[2]
        ):
            kv = kvs[at]
            # Its other KeyValues equal seen's (message equality: key and value, compared list to list in C):
            # then its attributes are seen's with another category.
            if kv.key == category_attr and kvs[:at] == head and (not tail or kvs[at + 1 :] == tail):
                value = _count(point)
                category = kv.value.string_value or _any_value(kv.value)  # as attributes() reads it
                if value is None or _too_long(category):
                    counters.invalid_points += 1
                    continue
                counters.points += 1
                counts[category] = counts.get(category, 0) + value
                continue
        attrs = attributes(kvs)
        seen = None  # the fast path follows only points that took this path up to their group
        if not admit(attrs):
            continue
        unique = len(attrs) == len(kvs)  # no key repeats: each KeyValue is one attribute
        category = attrs.pop(category_attr, None)
        value = _count(point)
        column = attrs.get(label)
        if category is None or column is None or value is None or _too_long(column) or _too_long(category):
            counters.invalid_points += 1
            continue
        counters.points += 1
        start_ns, time_ns = point.start_time_unix_nano, point.time_unix_nano
        if last is None or last[1] != start_ns or last[2] != time_ns or last[0] != attrs:
            group_key = (tuple(sorted(attrs.items())), start_ns, time_ns)
            group = groups.get(group_key)
            if group is None:
                group = groups[group_key] = (attrs, start_ns, time_ns, {})
            last, counts = (attrs, start_ns, time_ns), group[3]
        counts[category] = counts.get(category, 0) + value
        if unique:
            seen = list(kvs)
            at = next(j for j, kv in enumerate(seen) if kv.key == category_attr)
            head, tail = seen[:at], seen[at + 1 :]
            # A decoded NaN equals no other (a new group each time) while equal messages would join: no short path.
            if any(kv.value.WhichOneof("value") == "double_value" for kv in seen):
                seen = None
    for (attr_items, _, _), (attrs, start_ns, time_ns, counts) in groups.items():
        other = counts.get(conv.OTHER_CATEGORY, 0)
        kept = {key: n for key, n in counts.items() if key != conv.OTHER_CATEGORY}
        if len(kept) > max_point_categories:  # memory is bounded whatever a sender lists: the rest is other
            ranked = sorted(kept.items(), key=lambda item: (-item[1], item[0]))
            kept = dict(ranked[:max_point_categories])
            other += sum(n for _, n in ranked[max_point_categories:])
        if other + sum(kept.values()) > MAX_POINT_COUNT:
            counters.invalid_points += 1
            continue
        # The SDK exports its whole list (lower ends) and the rest as __other__, not its error bound. A sketch
        # that lists L <= K categories bounds an unlisted category (and every slack) by count / (K + 1) <=
        # count / (L + 1), as does an exact top-L list; without this, from_counts assumes the whole other mass.
        bound = min(other, (other + sum(kept.values())) // (len(kept) + 1)) if other else 0
        column = attrs[label]
        # A text column's vocabulary: room for every bucket, so merging windows that saw different buckets stays
        # exact (bounded: MAX_BUCKETS labels exist).
        room = MAX_BUCKETS if not other and is_vocabulary(column, kept) else max_categories
        sketch = CategoricalSketch.from_counts(
            kept, other_count=other, max_categories=room, error_bound=bound
        )
        key = (*series, attr_items)
        yield SummaryPoint(
            key, attrs, section, column, "categorical", cumulative, start_ns, time_ns, sketch, len(counts)
        )


def _histogram(point: Any, max_size: int) -> ExponentialHistogram | None:
    """The exponential histogram an OTLP data point carries, downscaled to ``max_size`` buckets a side; None
    when the point is inconsistent or hostile (see :func:`read_points`)."""
    scale = point.scale
    positive, negative = point.positive, point.negative
    if not MIN_SCALE <= scale <= MAX_SCALE:
        return None
    if len(positive.bucket_counts) > _MAX_POINT_BUCKETS or len(negative.bucket_counts) > _MAX_POINT_BUCKETS:
        return None
    # Read once as uint64 arrays (from_buckets takes them as they are). The buckets must add up to ``count``
    # exactly: while no bucket passes _EXACT_SUM, from_buckets' own int64 sums cannot wrap and its check (a
    # ValueError) is exact; past it the sum is taken over Python ints here first.
    positive_counts = np.asarray(positive.bucket_counts, dtype=np.uint64)
    negative_counts = np.asarray(negative.bucket_counts, dtype=np.uint64)
    if point.count > MAX_POINT_COUNT:
        return None
    if _largest(positive_counts) > _EXACT_SUM or _largest(negative_counts) > _EXACT_SUM:
        counted = point.zero_count + _exact_sum(positive_counts) + _exact_sum(negative_counts)
        if counted != point.count:
            return None
    bounds = [point.min if point.HasField("min") else None, point.max if point.HasField("max") else None]
    if any(b is not None and not math.isfinite(b) for b in bounds):
        return None
    total = point.sum if point.HasField("sum") and math.isfinite(point.sum) else float("nan")
    try:
        hist = ExponentialHistogram.from_buckets(
            scale=scale,
            zero_count=point.zero_count,
            count=point.count,
            positive_offset=positive.offset,
            positive_counts=positive_counts,
            negative_offset=negative.offset,
            negative_counts=negative_counts,
            sum=total,
            min=bounds[0],
            max=bounds[1],
            max_size=max_size,
        )
    except (ValueError, OverflowError):
        return None
    low, high = _INDEX_RANGE[hist.scale]
    change = 0
    for offset, counts in (
        (hist.positive_offset, hist.positive_counts),
        (hist.negative_offset, hist.negative_counts),
    ):
        if counts.size:
            if offset < low or offset + counts.size - 1 > high:
                return None
            change = max(change, scale_change(offset, offset + counts.size - 1, max_size))
    if change:  # within the index range the coarsest scale always fits 2 buckets: this cannot fail
        hist.downscale(change)
    hist.max_size = max_size
    return hist


#: Largest bucket count whose arrays (at most _MAX_POINT_BUCKETS long) sum in int64 without wrapping.
_EXACT_SUM = (1 << 63) // _MAX_POINT_BUCKETS - 1


def _largest(counts: np.ndarray) -> int:
    return int(counts.max()) if counts.size else 0


def _exact_sum(counts: np.ndarray) -> int:
    if counts.size == 0:
        return 0
    if int(counts.max()) <= _EXACT_SUM:
        return int(counts.sum())
    return sum(int(c) for c in counts)


def _count(point: Any) -> int | None:
    """A sum point's value as a count; None when negative, not finite or over :data:`MAX_POINT_COUNT`."""
    if point.WhichOneof("value") == "as_int":
        value = point.as_int
    elif math.isfinite(point.as_double):
        value = round(point.as_double)
    else:
        return None
    return None if value < 0 or value > MAX_POINT_COUNT else value


def _too_long(value: Any) -> bool:
    return isinstance(value, str) and len(value) > MAX_ATTRIBUTE_CHARS


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
    out = {}
    for kv in pairs:
        value = kv.value
        # A non-empty string_value is set (a oneof member): the common case without asking which one is set.
        out[kv.key] = value.string_value or _any_value(value)
    return out


@functools.lru_cache(maxsize=4096)
def _resource_key(encoded: bytes) -> tuple[Any, ...]:
    """:func:`attribute_key` of a resource, by its encoding: a replica sends the same resource in every request,
    and encoding it (in C) costs less than reading its attributes one by one."""
    return attribute_key(resource_pb2.Resource.FromString(encoded).attributes)


def attribute_key(pairs: Iterable[Any]) -> tuple[Any, ...]:
    """A hashable, order-independent key of OTLP ``KeyValue`` attributes (values as text)."""
    return tuple(sorted((kv.key, str(_any_value(kv.value))) for kv in pairs))
