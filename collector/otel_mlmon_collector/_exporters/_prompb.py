"""The few Prometheus remote-write messages (``prometheus.WriteRequest``, 1.0) encoded by hand in protobuf wire format.

Field numbers follow ``prompb/types.proto`` and ``prompb/remote.proto`` of Prometheus 2.x: ``WriteRequest``
{timeseries = 1, metadata = 3}; ``TimeSeries`` {labels = 1, samples = 2, histograms = 4}; ``Label`` {name = 1,
value = 2}; ``Sample`` {value = 1 (double), timestamp = 2 (int64 ms)}; ``Histogram`` {count_int = 1, sum = 3,
schema = 4 (sint32), zero_threshold = 5, zero_count_int = 6, negative_spans = 8, negative_deltas = 9 (sint64),
positive_spans = 11, positive_deltas = 12, reset_hint = 14, timestamp = 15}; ``BucketSpan`` {offset = 1 (sint32),
length = 2}; ``MetricMetadata`` {type = 1, metric_family_name = 2, help = 4, unit = 5}.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "METRIC_TYPES",
    "NativeHistogram",
    "Sample",
    "TimeSeries",
    "encode_write_request",
    "spans_and_deltas",
]

#: ``MetricMetadata.MetricType`` values.
METRIC_TYPES = {"unknown": 0, "counter": 1, "gauge": 2, "histogram": 3, "summary": 5, "info": 6}

_DOUBLE = struct.Struct("<d")


@dataclass(frozen=True)
class Sample:
    """One float sample: value and timestamp in milliseconds."""

    value: float
    timestamp_ms: int


@dataclass(frozen=True)
class NativeHistogram:
    """One integer native histogram sample (Prometheus bucket indices, absolute counts per bucket)."""

    count: int
    sum: float
    schema: int
    zero_threshold: float
    zero_count: int
    positive_offset: int
    positive_counts: Sequence[int]
    negative_offset: int
    negative_counts: Sequence[int]
    timestamp_ms: int


@dataclass
class TimeSeries:
    """A series: sorted labels (``__name__`` included) and its float or histogram samples."""

    labels: tuple[tuple[str, str], ...]
    samples: list[Sample] = field(default_factory=list)
    histograms: list[NativeHistogram] = field(default_factory=list)


def encode_write_request(
    series: Iterable[TimeSeries], metadata: Iterable[tuple[str, str, str, str]] = ()
) -> bytes:
    """Encode a ``WriteRequest``; ``metadata`` holds ``(family name, type, help, unit)`` entries."""
    out = bytearray()
    for ts in series:
        _bytes_field(out, 1, _time_series(ts))
    for name, kind, help_text, unit in metadata:
        body = bytearray()
        _varint_field(body, 1, METRIC_TYPES.get(kind, 0))
        _bytes_field(body, 2, name.encode())
        if help_text:
            _bytes_field(body, 4, help_text.encode())
        if unit:
            _bytes_field(body, 5, unit.encode())
        _bytes_field(out, 3, bytes(body))
    return bytes(out)


def spans_and_deltas(offset: int, counts: Sequence[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """Prometheus spans ``(offset, length)`` and delta-encoded counts for contiguous buckets from ``offset``.

    Runs of empty buckets longer than two are skipped with a new span; leading and trailing empties are dropped.

    >>> spans_and_deltas(-1, [0, 3, 1, 0, 0, 0, 2, 0])
    ([(0, 2), (3, 1)], [3, -2, 1])
    """
    spans: list[tuple[int, int]] = []
    deltas: list[int] = []
    previous = 0
    span_start = span_len = 0
    last_end: int | None = None  # index one past the last bucket of the previous span
    zeros = 0
    for i, c in enumerate(counts):
        index = offset + i
        if c == 0:
            zeros += 1
            continue
        if span_len and zeros <= 2:
            for _ in range(zeros):  # short gap: keep the empty buckets inside the span
                deltas.append(-previous)
                previous = 0
            span_len += zeros
        elif span_len:
            spans.append((span_start, span_len))
            last_end = index - zeros
            span_start, span_len = index - last_end, 0
        else:
            span_start = index
        zeros = 0
        deltas.append(int(c) - previous)
        previous = int(c)
        span_len += 1
    if span_len:
        spans.append((span_start, span_len))
    return spans, deltas


def _time_series(ts: TimeSeries) -> bytes:
    out = bytearray()
    for name, value in ts.labels:
        label = bytearray()
        _bytes_field(label, 1, name.encode())
        _bytes_field(label, 2, value.encode())
        _bytes_field(out, 1, bytes(label))
    for sample in ts.samples:
        body = bytearray()
        _double_field(body, 1, sample.value)
        _varint_field(body, 2, sample.timestamp_ms)
        _bytes_field(out, 2, bytes(body))
    for h in ts.histograms:
        _bytes_field(out, 4, _histogram(h))
    return bytes(out)


def _histogram(h: NativeHistogram) -> bytes:
    out = bytearray()
    _varint_field(out, 1, h.count)
    _double_field(out, 3, h.sum)
    _varint_field(out, 4, _zigzag(h.schema))
    _double_field(out, 5, h.zero_threshold)
    _varint_field(out, 6, h.zero_count)
    for span_field, delta_field, offset, counts in (
        (8, 9, h.negative_offset, h.negative_counts),
        (11, 12, h.positive_offset, h.positive_counts),
    ):
        spans, deltas = spans_and_deltas(offset, counts)
        for span_offset, length in spans:
            span = bytearray()
            _varint_field(span, 1, _zigzag(span_offset))
            _varint_field(span, 2, length)
            _bytes_field(out, span_field, bytes(span))
        if deltas:
            packed = bytearray()
            for d in deltas:
                _varint(packed, _zigzag(d))
            _bytes_field(out, delta_field, bytes(packed))
    _varint_field(out, 15, h.timestamp_ms)
    return bytes(out)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _varint(out: bytearray, n: int) -> None:
    n &= (1 << 64) - 1  # negative int64 values are encoded as ten-byte two's complement
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _varint_field(out: bytearray, number: int, value: int) -> None:
    _varint(out, number << 3)
    _varint(out, value)


def _double_field(out: bytearray, number: int, value: float) -> None:
    _varint(out, (number << 3) | 1)
    out += _DOUBLE.pack(value)


def _bytes_field(out: bytearray, number: int, value: bytes) -> None:
    _varint(out, (number << 3) | 2)
    _varint(out, len(value))
    out += value
