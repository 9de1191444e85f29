"""Drive the OTel Python SDK's exponential histogram aggregation directly, as the test oracle."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from opentelemetry.context import Context
from opentelemetry.sdk.metrics._internal.aggregation import (
    AggregationTemporality,
    _ExponentialBucketHistogramAggregation,
)
from opentelemetry.sdk.metrics._internal.exemplar import SimpleFixedSizeExemplarReservoir
from opentelemetry.sdk.metrics._internal.measurement import Measurement

__all__ = [
    "SdkCorruptedError",
    "SdkPoint",
    "assert_same",
    "sdk_aggregate",
    "sdk_collections",
    "sdk_cumulative",
    "sum_close",
]


@dataclass(frozen=True)
class SdkPoint:
    """The parts of an SDK ExponentialHistogramDataPoint we compare, with count lists trimmed."""

    scale: int
    zero_count: int
    positive_offset: int
    positive_counts: tuple[int, ...]
    negative_offset: int
    negative_counts: tuple[int, ...]
    count: int
    sum: float
    min: float
    max: float


def _aggregation(max_size: int, max_scale: int) -> _ExponentialBucketHistogramAggregation:
    return _ExponentialBucketHistogramAggregation(
        attributes={},
        reservoir_builder=lambda **_: SimpleFixedSizeExemplarReservoir(size=1),
        instrument_aggregation_temporality=AggregationTemporality.DELTA,
        start_time_unix_nano=0,
        max_size=max_size,
        max_scale=max_scale,
    )


class SdkCorruptedError(AssertionError):
    """The SDK aggregation broke its own invariant (a side spanning ``max_size`` buckets or more)."""


def _feed(aggregation: _ExponentialBucketHistogramAggregation, values: Iterable[float]) -> None:
    """Aggregate value by value, checking after each one that no side spans ``max_size`` buckets or more.

    opentelemetry-sdk 1.45.2 can break that invariant: when a rescale takes the mapping from logarithm
    (scale >= 1) to exponent (scale <= 0), it recomputes the value's index with the new mapping, which for a
    value a few ulps below a power of two can land outside the range the scale change was computed for;
    ``Buckets.grow`` then caps at ``max_size`` and counts land in the wrong bucket (or ``IndexError``).
    """
    context = Context()
    max_size = aggregation._max_size
    for value in values:
        aggregation.aggregate(Measurement(float(value), 0, None, context), should_sample_exemplar=False)
        for side in (aggregation._value_positive, aggregation._value_negative):
            if side is not None and side.index_end - side.index_start >= max_size:
                raise SdkCorruptedError(f"SDK side spans {side.index_start}..{side.index_end} > max_size")


def _trim(offset: int, counts: list[int]) -> tuple[int, tuple[int, ...]]:
    """The SDK pads its backing array with zeros after the last bucket; an empty side is offset 0, [0]."""
    trimmed = list(counts)
    while trimmed and trimmed[-1] == 0:
        trimmed.pop()
    if not trimmed:
        return 0, ()
    assert trimmed[0] != 0, "SDK counts start with an empty bucket"
    return offset, tuple(trimmed)


def _point(point) -> SdkPoint:  # an SDK ExponentialHistogramDataPoint
    pos_offset, pos = _trim(point.positive.offset, point.positive.bucket_counts)
    neg_offset, neg = _trim(point.negative.offset, point.negative.bucket_counts)
    return SdkPoint(
        scale=point.scale,
        zero_count=point.zero_count,
        positive_offset=pos_offset,
        positive_counts=pos,
        negative_offset=neg_offset,
        negative_counts=neg,
        count=point.count,
        sum=float(point.sum),
        min=float(point.min),
        max=float(point.max),
    )


def sdk_aggregate(values: Iterable[float], max_size: int = 160, max_scale: int = 20) -> SdkPoint | None:
    """Feed ``values`` one by one to a fresh SDK aggregation and collect a delta point (None if no values)."""
    aggregation = _aggregation(max_size, max_scale)
    _feed(aggregation, values)
    point = aggregation.collect(AggregationTemporality.DELTA, 1)
    return None if point is None else _point(point)


def sdk_cumulative(batches: Iterable[Iterable[float]], max_size: int = 160, max_scale: int = 20) -> SdkPoint:
    """Feed batches with a cumulative collect after each (the SDK's own merge path); return the last point."""
    aggregation = _aggregation(max_size, max_scale)
    point = None
    for when, batch in enumerate(batches, start=1):
        _feed(aggregation, batch)
        point = aggregation.collect(AggregationTemporality.CUMULATIVE, when)
    assert point is not None
    return _point(point)


def sdk_collections(
    batches: Iterable[Iterable[float]], temporality: str, max_size: int = 160, max_scale: int = 20
) -> list:
    """Feed batches with a collect in ``temporality`` (``delta``/``cumulative``) after each; the raw SDK points.

    The points are the SDK's own ``ExponentialHistogramDataPoint`` objects, count lists padded as the SDK pads
    them (what an OTLP exporter sends); None for a delta collect of an empty batch.
    """
    aggregation = _aggregation(max_size, max_scale)
    wanted = AggregationTemporality.DELTA if temporality == "delta" else AggregationTemporality.CUMULATIVE
    points = []
    for when, batch in enumerate(batches, start=1):
        _feed(aggregation, batch)
        points.append(aggregation.collect(wanted, when))
    return points


def sum_close(ours: float, theirs: float, data: list[float]) -> bool:
    """Sums agree up to float rounding (numpy sums pairwise, the SDK left to right)."""
    if not (math.isfinite(ours) and math.isfinite(theirs)):
        return ours == theirs or not math.isfinite(sum(abs(v) for v in data))
    scale = max((abs(v) for v in data), default=0.0) * len(data)
    return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12 * scale)


def assert_same(hist: Any, point: SdkPoint, data: list[float]) -> None:
    """``hist`` (an ExponentialHistogram) holds the SDK point's state: buckets, counts, extremes; the sum up to
    rounding."""
    assert hist.scale == point.scale
    assert hist.zero_count == point.zero_count
    assert (hist.positive_offset, tuple(hist.positive_counts.tolist())) == (
        point.positive_offset,
        point.positive_counts,
    )
    assert (hist.negative_offset, tuple(hist.negative_counts.tolist())) == (
        point.negative_offset,
        point.negative_counts,
    )
    assert hist.count == point.count
    assert hist.min == point.min and hist.max == point.max
    assert sum_close(hist.sum, point.sum, data)
    assert hist.positive_counts.dtype == np.int64 and hist.negative_counts.dtype == np.int64
    assert hist.positive_counts.size <= hist.max_size and hist.negative_counts.size <= hist.max_size
