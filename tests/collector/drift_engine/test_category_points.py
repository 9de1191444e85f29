"""Category points are grouped into one sketch per column, attributes and times, however they are interleaved."""

from __future__ import annotations

import itertools

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from otel_mlmon_collector._points import read_points
from otel_mlmon_collector._windows import WindowStats

from otel_mlmon import conventions as conv


def _request(points: list[tuple[str, str, int, int, float | None]]) -> ExportMetricsServiceRequest:
    """One category metric; each point (column, category, count, time, an extra double attribute or None)."""
    message = ExportMetricsServiceRequest()
    metric = (
        message.resource_metrics.add()
        .scope_metrics.add()
        .metrics.add(name=conv.METRIC_FEATURE_CATEGORY_COUNT)
    )
    metric.sum.aggregation_temporality = 1  # delta
    for column, category, count, time_ns, extra in points:
        point = metric.sum.data_points.add(
            start_time_unix_nano=time_ns - 10, time_unix_nano=time_ns, as_int=count
        )
        pairs = [
            (conv.ATTR_MODEL_NAME, "m"),
            (conv.ATTR_OPERATION, "predict"),
            (conv.ATTR_FEATURE_NAME, column),
            (conv.ATTR_FEATURE_CATEGORY, category),
        ]
        for key, value in pairs:
            point.attributes.append(KeyValue(key=key, value={"string_value": value}))
        if extra is not None:
            point.attributes.append(KeyValue(key="weight", value={"double_value": extra}))
    return message


def test_interleaved_columns_and_times_group_as_a_sorted_key_would() -> None:
    points = []
    for i, (column, time_ns) in enumerate(itertools.product(["a", "b"], [100, 200])):
        for category in ("x", "y", "z"):
            points.append((column, category, i + 1, time_ns, None))
    points = points[::2] + points[1::2] + [("a", "x", 5, 100, None), ("b", "y", 7, 200, None)]  # interleaved
    points += [("a", "x", 3, 100, 0.5), ("a", "y", 4, 100, 0.5)]  # another series of column a
    points += [("a", "x", 1, 100, float("nan")), ("a", "x", 2, 100, float("nan"))]  # NaN: never equal
    counters = WindowStats()
    read = list(read_points(_request(points), admit=lambda attrs: True, counters=counters))
    expected: dict[tuple, dict[str, int]] = {}
    for column, category, count, time_ns, extra in points:
        key = (column, time_ns, None if extra is None else repr(extra))
        expected.setdefault(key, {}).setdefault(category, 0)
        expected[key][category] += count
    nan_groups = [p for p in read if "nan" in repr(p.attributes.get("weight"))]
    assert len(nan_groups) == 2  # as before: a NaN attribute never equals another decoded NaN
    got: dict[tuple, dict[str, int]] = {}
    for p in read:
        weight = p.attributes.get("weight")
        key = (p.column, p.time_ns, None if weight is None else repr(weight))
        counts = dict(p.value.top())
        if key in got:  # the two NaN groups add up to the one expected entry
            counts = {c: got[key].get(c, 0) + counts.get(c, 0) for c in {*got[key], *counts}}
        got[key] = counts
    assert got == expected
    assert counters.points == len(points) and counters.invalid_points == 0
