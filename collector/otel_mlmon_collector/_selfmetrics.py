"""The collector's own counters and gauges, encoded directly as an OTLP metrics request sent with the rest."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otel_mlmon import conventions as conv

from ._otlp import OtlpRequest

__all__ = [
    "DROPPED",
    "FORWARDED",
    "ITEMS_FORWARDED",
    "ITEMS_RECEIVED",
    "ITEMS_REJECTED",
    "PROCESSOR_ERRORS",
    "QUEUE_BYTES",
    "QUEUE_CAPACITY",
    "QUEUE_SIZE",
    "RECEIVED",
    "REFUSED",
    "REJECTED",
    "RETRIED",
    "SCOPE_NAME",
    "BoundCounter",
    "BoundCounters",
    "SelfMetrics",
]

#: Requests accepted by a receiver. Attributes: ``signal``, ``transport`` (grpc, http, internal).
RECEIVED = conv.METRIC_COLLECTOR_REQUESTS_RECEIVED
#: Spans, data points or log records in accepted requests. Attributes: ``signal``, ``transport``.
ITEMS_RECEIVED = conv.METRIC_COLLECTOR_ITEMS_RECEIVED
#: Requests refused at a receiver. Attributes: ``signal``, ``transport``, ``reason``
#: (malformed, too_large, backpressure, unsupported_media_type, shutting_down, unauthenticated).
REFUSED = conv.METRIC_COLLECTOR_REQUESTS_REFUSED
#: Requests delivered downstream. Attributes: ``signal``, ``exporter``.
FORWARDED = conv.METRIC_COLLECTOR_REQUESTS_FORWARDED
#: Items in delivered requests. Attributes: ``signal``, ``exporter``.
ITEMS_FORWARDED = conv.METRIC_COLLECTOR_ITEMS_FORWARDED
#: Requests the downstream rejected for good (non-retryable answer). Attributes: ``signal``, ``exporter``.
REJECTED = conv.METRIC_COLLECTOR_REQUESTS_REJECTED
#: Items a downstream reported as rejected in ``partial_success``. Attributes: ``signal``, ``exporter``.
ITEMS_REJECTED = conv.METRIC_COLLECTOR_ITEMS_REJECTED
#: Export attempts that were retried. Attributes: ``signal``, ``exporter``.
RETRIED = conv.METRIC_COLLECTOR_REQUESTS_RETRIED
#: Requests dropped without delivery. Attributes: ``signal``, ``exporter``, ``reason``
#: (retries_exhausted, shutdown, no_route).
DROPPED = conv.METRIC_COLLECTOR_REQUESTS_DROPPED
#: Exceptions raised by processors (the request is forwarded anyway). Attributes: ``processor``.
PROCESSOR_ERRORS = conv.METRIC_COLLECTOR_PROCESSOR_ERRORS
#: Requests waiting in an exporter's queue (gauge). Attributes: ``exporter``.
QUEUE_SIZE = conv.METRIC_COLLECTOR_QUEUE_SIZE
#: The queue's bound in requests (gauge). Attributes: ``exporter``.
QUEUE_CAPACITY = conv.METRIC_COLLECTOR_QUEUE_CAPACITY
#: Payload bytes waiting in an exporter's queue (gauge). Attributes: ``exporter``.
QUEUE_BYTES = conv.METRIC_COLLECTOR_QUEUE_BYTES
#: Instrumentation scope of the self-metrics.
SCOPE_NAME = "otel_mlmon_collector"

_UNITS = {
    RECEIVED: "{request}",
    REFUSED: "{request}",
    FORWARDED: "{request}",
    REJECTED: "{request}",
    RETRIED: "{request}",
    DROPPED: "{request}",
    ITEMS_RECEIVED: "{item}",
    ITEMS_FORWARDED: "{item}",
    ITEMS_REJECTED: "{item}",
    PROCESSOR_ERRORS: "{error}",
    QUEUE_SIZE: "{request}",
    QUEUE_CAPACITY: "{request}",
    QUEUE_BYTES: "By",
}

_Key = tuple[tuple[str, str], ...]
GaugeCallback = Callable[[], Iterable[tuple[Mapping[str, str], float]]]
#: ``(attributes, running total)`` pairs of counters kept elsewhere (the drift engine's window statistics).
CounterCallback = Callable[[], Iterable[tuple[Mapping[str, str], int]]]


class SelfMetrics:
    """Thread-safe cumulative counters plus gauges read at collection time.

    Example:
        >>> m = SelfMetrics(_clock=lambda: 1.0)
        >>> m.add(RECEIVED, 2, signal="traces", transport="http")
        >>> m.value(RECEIVED, signal="traces", transport="http")
        2
    """

    def __init__(
        self,
        resource: Mapping[str, str] | None = None,
        _clock: Callable[[], float] = time.time,
    ) -> None:
        self.resource = dict(
            resource or {"service.name": "otel-mlmon-collector", "service.instance.id": str(uuid.uuid4())}
        )
        self._clock = _clock
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[_Key, int]] = {}
        self._gauges: dict[str, GaugeCallback] = {}
        self._observed: dict[str, CounterCallback] = {}
        self._start_nanos = int(self._clock() * 1e9)

    def add(self, name: str, value: int = 1, **attributes: str) -> None:
        """Add ``value`` to the counter ``name`` for this attribute set."""
        key = tuple(sorted(attributes.items()))
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0) + value

    def bound(self, name: str, **attributes: str) -> BoundCounter:
        """Return the counter ``name`` bound to one attribute set, for hot paths (no per-call key building)."""
        key = tuple(sorted(attributes.items()))
        with self._lock:
            series = self._counters.setdefault(name, {})
            series.setdefault(key, 0)
        return BoundCounter(self._lock, series, key)

    def bound_each(self, names: Sequence[str], **attributes: str) -> BoundCounters:
        """Return several counters bound to one attribute set, added together under one lock (a request and its
        items): ``add(1, items)``."""
        key = tuple(sorted(attributes.items()))
        with self._lock:
            series = [self._counters.setdefault(name, {}) for name in names]
            for one in series:
                one.setdefault(key, 0)
        return BoundCounters(self._lock, series, key)

    def value(self, name: str, **attributes: str) -> int:
        """Return a counter's current value for exactly this attribute set (0 if never added)."""
        with self._lock:
            return self._counters.get(name, {}).get(tuple(sorted(attributes.items())), 0)

    def total(self, name: str, **match: str) -> int:
        """Return the sum of a counter over every attribute set that contains ``match``."""
        with self._lock:
            return sum(
                v
                for key, v in self._counters.get(name, {}).items()
                if all(item in key for item in match.items())
            )

    def gauge(self, name: str, callback: GaugeCallback) -> None:
        """Register a gauge whose ``(attributes, value)`` pairs are read by ``callback`` at collection."""
        with self._lock:
            self._gauges[name] = callback

    def observe_counter(self, name: str, callback: CounterCallback, unit: str = "1") -> None:
        """Register a cumulative counter kept elsewhere; ``callback`` gives its running totals at collection."""
        with self._lock:
            self._observed[name] = callback
            _UNITS.setdefault(name, unit)

    def to_request(self) -> OtlpRequest:
        """Encode every counter (cumulative monotonic sum) and gauge as one OTLP metrics request."""
        now = int(self._clock() * 1e9)
        message = ExportMetricsServiceRequest()
        rm = message.resource_metrics.add()
        rm.resource.attributes.extend(_key_values(self.resource.items()))
        sm = rm.scope_metrics.add()
        sm.scope.name = SCOPE_NAME
        with self._lock:
            counters = {name: dict(series) for name, series in self._counters.items()}
            gauges = dict(self._gauges)
            observed = dict(self._observed)
        for name, callback in observed.items():
            series = counters.setdefault(name, {})
            for attributes, value in callback():
                key = tuple(sorted((k, str(v)) for k, v in attributes.items()))
                series[key] = series.get(key, 0) + int(value)
        items = 0
        for name in sorted(counters):
            metric = sm.metrics.add(name=name, unit=_UNITS.get(name, "1"))
            metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
            metric.sum.is_monotonic = True
            for key, value in sorted(counters[name].items()):
                point = metric.sum.data_points.add(
                    start_time_unix_nano=self._start_nanos, time_unix_nano=now, as_int=value
                )
                point.attributes.extend(_key_values(key))
                items += 1
        for name in sorted(gauges):
            metric = sm.metrics.add(name=name, unit=_UNITS.get(name, "1"))
            metric.gauge.SetInParent()
            for attributes, value in gauges[name]():
                point = metric.gauge.data_points.add(time_unix_nano=now)
                if float(value).is_integer():
                    point.as_int = int(value)
                else:
                    point.as_double = float(value)
                point.attributes.extend(_key_values(sorted(attributes.items())))
                items += 1
        return OtlpRequest("metrics", message.SerializeToString(), message, items, "internal")


class BoundCounter:
    """One counter series with its attributes fixed: ``add(value)`` is a lock and a dict update."""

    __slots__ = ("_key", "_lock", "_series")

    def __init__(self, lock: threading.Lock, series: dict[_Key, int], key: _Key) -> None:
        self._lock = lock
        self._series = series
        self._key = key

    def add(self, value: int = 1) -> None:
        """Add ``value`` to the series."""
        with self._lock:
            self._series[self._key] += value


class BoundCounters:
    """Counter series with one attribute set fixed, added together: ``add(a, b)`` is one lock and two updates."""

    __slots__ = ("_key", "_lock", "_series")

    def __init__(self, lock: threading.Lock, series: list[dict[_Key, int]], key: _Key) -> None:
        self._lock = lock
        self._series = tuple(series)
        self._key = key

    def add(self, *values: int) -> None:
        """Add ``values[i]`` to the ``i``-th series."""
        key = self._key
        with self._lock:
            for series, value in zip(self._series, values):
                series[key] += value


def _key_values(items: Iterable[tuple[str, str]]) -> list[KeyValue]:
    out = []
    for key, value in items:
        kv = KeyValue(key=key)
        kv.value.string_value = str(value)
        out.append(kv)
    return out
