"""Category points are grouped into one sketch per column, attributes and times, however they are interleaved."""

from __future__ import annotations

import itertools
import random
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from otel_mlmon_collector._points import MAX_ATTRIBUTE_CHARS, attributes, read_points
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


def _oracle(message: ExportMetricsServiceRequest, admit: Any) -> tuple[dict[tuple, dict[str, int]], int, int]:
    """Every category point read on its own: decoded attributes, admitted, grouped by its other attributes and
    times (the reading before consecutive points of one column were recognised by their KeyValues)."""
    groups: dict[tuple, dict[str, int]] = {}
    points = invalid = 0
    for point in message.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points:
        attrs = attributes(point.attributes)
        if not admit(attrs):
            continue
        category = attrs.pop(conv.ATTR_FEATURE_CATEGORY, None)
        if (
            category is None
            or conv.ATTR_FEATURE_NAME not in attrs
            or len(str(category)) > MAX_ATTRIBUTE_CHARS
        ):
            invalid += 1
            continue
        points += 1
        key = (tuple(sorted((k, repr(v)) for k, v in attrs.items())), point.time_unix_nano)
        counts = groups.setdefault(key, {})
        counts[category] = counts.get(category, 0) + point.as_int
    return groups, points, invalid


def _pairs_request(points: list[tuple[list[tuple[str, Any]], int, int]]) -> ExportMetricsServiceRequest:
    """One category metric; each point (its KeyValues in order, count, time)."""
    message = ExportMetricsServiceRequest()
    metric = (
        message.resource_metrics.add()
        .scope_metrics.add()
        .metrics.add(name=conv.METRIC_FEATURE_CATEGORY_COUNT)
    )
    metric.sum.aggregation_temporality = 1
    for pairs, count, time_ns in points:
        point = metric.sum.data_points.add(
            start_time_unix_nano=time_ns - 10, time_unix_nano=time_ns, as_int=count
        )
        for key, value in pairs:
            kind = "int_value" if isinstance(value, int) else "string_value"
            point.attributes.append(KeyValue(key=key, value={kind: value}))
    return message


def test_consecutive_points_read_by_their_keyvalues_group_as_each_point_read_alone() -> None:
    """Runs of one column's points take the short path (only category and count read); anything that breaks a
    run -- a refused or invalid point, another model, a repeated key, an int where a string was, the category
    elsewhere among the attributes, a too-long category -- gives the groups and counters of reading each point
    on its own."""
    rng = random.Random(7)
    base = [(conv.ATTR_MODEL_NAME, "m"), (conv.ATTR_OPERATION, "predict")]
    variants = [
        lambda c, v: [*base, (conv.ATTR_FEATURE_NAME, c), (conv.ATTR_FEATURE_CATEGORY, v)],
        lambda c, v: [(conv.ATTR_FEATURE_CATEGORY, v), *base, (conv.ATTR_FEATURE_NAME, c)],  # category first
        lambda c, v: [*base, (conv.ATTR_FEATURE_NAME, c), (conv.ATTR_FEATURE_CATEGORY, v), ("shard", 3)],
        lambda c, v: [*base, (conv.ATTR_FEATURE_NAME, c), (conv.ATTR_FEATURE_CATEGORY, v), ("shard", "3")],
        lambda c, v: [
            *base,
            (conv.ATTR_MODEL_NAME, "m"),
            (conv.ATTR_FEATURE_NAME, c),
            (conv.ATTR_FEATURE_CATEGORY, v),
        ],
        lambda c, v: [
            (conv.ATTR_MODEL_NAME, "refused"),
            (conv.ATTR_FEATURE_NAME, c),
            (conv.ATTR_FEATURE_CATEGORY, v),
        ],
        lambda c, v: [*base, (conv.ATTR_FEATURE_NAME, c)],  # no category: invalid
        lambda c, v: [*base, (conv.ATTR_FEATURE_NAME, c), ("not.the.category", v)],  # invalid, same length
    ]
    # Each variant after each other one at least once (same column and time), then random runs of one variant.
    points = [
        (variant("a", "x"), 1, 100)
        for first, second in itertools.permutations(variants, 2)
        for variant in (first, second)
    ]
    for _ in range(60):  # runs of consecutive points of one variant, column and time
        variant = rng.choice(variants)
        column, time_ns = rng.choice("ab"), rng.choice([100, 200])
        for _ in range(rng.randint(1, 6)):
            category = rng.choice(["x", "y", "z", "w" * (MAX_ATTRIBUTE_CHARS + 1)])
            points.append((variant(column, category), rng.randint(0, 9), time_ns))
    message = _pairs_request(points)

    def admit(attrs: Any) -> bool:
        return attrs.get(conv.ATTR_MODEL_NAME) != "refused"

    expected, expected_points, expected_invalid = _oracle(message, admit)
    counters = WindowStats()
    got: dict[tuple, dict[str, int]] = {}
    for p in read_points(message, admit=admit, counters=counters):
        key = (tuple(sorted((k, repr(v)) for k, v in p.attributes.items())), p.time_ns)
        counts = got.setdefault(key, {})
        for category, count in p.value.top():
            counts[category] = counts.get(category, 0) + count
    assert {k: {c: n for c, n in v.items() if n} for k, v in got.items()} == {
        k: {c: n for c, n in v.items() if n} for k, v in expected.items()
    }
    assert (counters.points, counters.invalid_points) == (expected_points, expected_invalid)
