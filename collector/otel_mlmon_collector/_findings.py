"""Encode what the drift engine found as OTLP: gauges in an ExportMetricsServiceRequest, events in a logs request.

Both come wrapped in :class:`~otel_mlmon_collector._otlp.OtlpRequest` (source ``drift``) with the resource
``service.name = otel-mlmon-collector`` and the instrumentation scope ``otel_mlmon_collector``, ready for the
pipeline's ``emit``.
"""

from __future__ import annotations

import functools
import math
import struct
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2

from otel_mlmon._version import __version__

from ._otlp import OtlpRequest, decode_protobuf

__all__ = [
    "SCOPE_NAME",
    "SERVICE_NAME",
    "Findings",
    "attribute_block",
    "default_resource",
    "point_prefix",
    "series_prefix",
]

#: ``service.name`` of everything the drift engine emits.
SERVICE_NAME = "otel-mlmon-collector"
#: Instrumentation scope of the drift engine's output.
SCOPE_NAME = "otel_mlmon_collector"

AttributeValue = str | bool | int | float


def default_resource() -> dict[str, str]:
    """The resource of the engine's output: ``service.name`` and a per-process ``service.instance.id``."""
    return {"service.name": SERVICE_NAME, "service.instance.id": str(uuid.uuid4())}


class Findings:
    """Collects gauges and events of one evaluation, then encodes them as OTLP requests.

    Args:
        time_unix_nano: Timestamp of every gauge point and event (the evaluation time).
        resource: Resource attributes (default :func:`default_resource`).

    Example:
        >>> f = Findings(1_700_000_000_000_000_000, {"service.name": "otel-mlmon-collector"})
        >>> f.gauge("ml.drift.score", 0.25, {"ml.model.name": "m", "ml.feature.name": "x"})
        >>> f.event("ml.drift.changed", "drift detected", {"ml.feature.name": "x"}, severity="WARN")
        >>> f.metrics_request().items, f.logs_request().items
        (1, 1)
    """

    def __init__(self, time_unix_nano: int, resource: Mapping[str, str] | None = None) -> None:
        self.time_unix_nano = int(time_unix_nano)
        self.resource = dict(resource if resource is not None else default_resource())
        # name -> (unit, description, encoded points); a point is a series prefix + its time and value.
        self._gauges: dict[str, tuple[str, str, list[bytes]]] = {}
        self._events: list[tuple[str, str, dict[str, AttributeValue], str]] = []
        # Points added in chunks of several (extend) beyond the one each list entry counts for.
        self._chunked = 0
        self._pack = functools.partial(_POINT_TAIL.pack, 0x19, self.time_unix_nano, 0x21)

    def gauge(
        self,
        name: str,
        value: float,
        attributes: Mapping[str, AttributeValue],
        unit: str = "1",
        description: str = "",
    ) -> None:
        """Add one gauge point; non-finite values are left out (a gauge of NaN helps no alert)."""
        self.gauge_series(name, series_prefix(attributes), value, unit, description)

    def gauge_series(
        self, name: str, prefix: bytes, value: float, unit: str = "1", description: str = ""
    ) -> None:
        """Add one gauge point of a series whose attributes were encoded once by :func:`series_prefix`.

        The cheap form of :meth:`gauge` for callers that emit the same series at every evaluation: they keep
        the prefix and pay only for the value. Non-finite values are left out.
        """
        if not math.isfinite(value):
            return
        entry = self._gauges.get(name)
        if entry is None:
            entry = self._gauges[name] = (unit, description, [])
        entry[2].append(prefix + self._pack(value))

    def adder(self, name: str, unit: str = "1", description: str = "") -> Callable[[bytes, float], None]:
        """``add(prefix, value)``: :meth:`gauge_series` of the metric ``name`` with its lookups done once, for
        callers that add thousands of points of a few metrics. Non-finite values are left out; the metric takes
        its place in the request at its first point, as with :meth:`gauge_series`."""
        pack, isfinite = self._pack, math.isfinite
        points: list[bytes] = []
        append = None

        def add(prefix: bytes, value: float) -> None:
            nonlocal append
            if isfinite(value):
                if append is None:
                    entry = self._gauges.get(name)
                    if entry is None:
                        entry = self._gauges[name] = (unit, description, points)
                    append = entry[2].append
                append(prefix + pack(value))

        return add

    def appender(self, name: str) -> Callable[[bytes], None] | None:
        """``append(point)`` onto the points of gauge ``name`` once it has its first point (its place in the
        request is then fixed), else None. A point is a series prefix + :meth:`pack` of its value; the caller
        leaves out non-finite values, as :meth:`gauge_series` does."""
        entry = self._gauges.get(name)
        return None if entry is None else entry[2].append

    def extend(self, name: str, chunk: bytes, count: int) -> None:
        """Add ``count`` encoded points (each a series prefix + :meth:`pack` of its value, finite values only) as
        one ``chunk`` to the gauge ``name``, which must have its first point already (see :meth:`appender`)."""
        self._gauges[name][2].append(chunk)
        self._chunked += count - 1

    def pack(self, value: float) -> bytes:
        """The 18 bytes after a series prefix: this evaluation's time and ``value``."""
        return self._pack(value)

    def event(
        self, name: str, body: str, attributes: Mapping[str, AttributeValue], severity: str = "INFO"
    ) -> None:
        """Add one event (an OTLP log record with ``event_name``); ``severity`` is INFO or WARN."""
        if severity not in _SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(_SEVERITIES)}, got {severity!r}")
        self._events.append((name, body, dict(attributes), severity))

    @property
    def points(self) -> int:
        """Gauge points collected so far."""
        return sum(len(entry[2]) for entry in self._gauges.values()) + self._chunked

    @property
    def events(self) -> int:
        """Events collected so far."""
        return len(self._events)

    def metrics_request(self) -> OtlpRequest | None:
        """The gauges as one metrics request (None when there are none).

        The payload is written directly in protobuf wire format (several times faster than building the
        message objects): every length is computed first and the bytes are joined once. ``message`` is parsed
        from the payload on first access only: the pipeline queues the bytes, and parsing ≈ 17 000 gauge points
        costs as much as a third of an evaluation.
        """
        if not self._gauges:
            return None
        # Innermost first, as (parts, length) per level; the parts are joined once at the end.
        metric_parts: list[bytes] = []
        metrics_length = 0
        items = 0
        for name, (unit, description, points) in self._gauges.items():
            gauge_length = sum(map(len, points))
            head = (
                _string(0x0A, name)
                + (_string(0x12, description) if description else b"")
                + (_string(0x1A, unit) if unit else b"")
                + b"\x2a"
                + _varint(gauge_length)
            )
            metric_length = len(head) + gauge_length
            metric_parts.append(b"\x12" + _varint(metric_length) + head)
            metric_parts.extend(points)
            metrics_length += 1 + len(_varint(metric_length)) + metric_length
            items += len(points)
        items += self._chunked
        scope = _length_delimited(0x0A, _string(0x0A, SCOPE_NAME) + _string(0x12, __version__))
        scope_metrics_length = len(scope) + metrics_length
        resource = _length_delimited(
            0x0A, b"".join(_string_attribute(0x0A, k, v) for k, v in self.resource.items())
        )
        scope_head = b"\x12" + _varint(scope_metrics_length) + scope
        resource_metrics_length = len(resource) + len(scope_head) + metrics_length
        head = b"\x0a" + _varint(resource_metrics_length) + resource + scope_head
        payload = b"".join([head, *metric_parts])
        return _LazyRequest("metrics", payload, None, items, "drift")

    def logs_request(self) -> OtlpRequest | None:
        """The events as one logs request (None when there are none)."""
        if not self._events:
            return None
        message = ExportLogsServiceRequest()
        rl = message.resource_logs.add()
        rl.resource.attributes.extend(_key_values(self.resource.items()))
        sl = rl.scope_logs.add()
        sl.scope.name = SCOPE_NAME
        sl.scope.version = __version__
        for name, body, attributes, severity in self._events:
            record = sl.log_records.add(
                time_unix_nano=self.time_unix_nano,
                observed_time_unix_nano=self.time_unix_nano,
                severity_number=_SEVERITIES[severity],
                severity_text=severity,
                event_name=name,
            )
            record.body.string_value = body
            _add_attributes(record.attributes, attributes)
        return OtlpRequest("logs", message.SerializeToString(), message, len(self._events), "drift")


@dataclass(frozen=True, eq=False, slots=True)
class _LazyRequest(OtlpRequest):
    """An :class:`OtlpRequest` whose ``message`` is parsed from ``payload`` when first read (then kept)."""

    _parsed: list[Any] = field(default_factory=list, repr=False)


def _parsed_message(request: _LazyRequest) -> Message:
    if not request._parsed:
        request._parsed.append(decode_protobuf(request.signal, request.payload))
    return request._parsed[0]


def _no_message(request: _LazyRequest, value: Message | None) -> None:
    # Only the dataclass __init__ sets it, to None (the payload is the truth): nothing to keep.
    if value is not None:
        raise AttributeError("the message of a lazily parsed request comes from its payload")


# Set after the class is made: dataclass(slots=True) drops class attributes named like a field.
_LazyRequest.message = property(_parsed_message, _no_message)  # type: ignore[assignment,method-assign]


_SEVERITIES = {"INFO": logs_pb2.SEVERITY_NUMBER_INFO, "WARN": logs_pb2.SEVERITY_NUMBER_WARN}


def series_prefix(attributes: Mapping[str, AttributeValue]) -> bytes:
    """The encoded start of every ``NumberDataPoint`` of one series: its tag, its length and its attributes.

    A point is ``prefix`` + the 18 bytes of ``time_unix_nano`` (field 3) and ``as_double`` (field 4); the
    attributes (field 7) come first, in the mapping's order, exactly as protobuf would write the message.
    """
    return point_prefix(attribute_block(attributes))


def attribute_block(attributes: Mapping[str, AttributeValue]) -> bytes:
    """The encoded ``attributes`` entries of a ``NumberDataPoint`` (field 7), in the mapping's order: blocks of
    two mappings joined are the block of the two merged (keys distinct), as :func:`point_prefix` takes them."""
    return b"".join([_attribute(k, v, type(v)) for k, v in attributes.items()])


def point_prefix(block: bytes) -> bytes:
    """:func:`series_prefix` of the attributes whose :func:`attribute_block` is ``block``."""
    return b"\x0a" + _varint(len(block) + _POINT_TAIL.size) + block


#: ``time_unix_nano`` (field 3, fixed64) and ``as_double`` (field 4, double) of a ``NumberDataPoint``.
_POINT_TAIL = struct.Struct("<BQBd")


def _string(tag: int, text: str) -> bytes:
    return _length_delimited(tag, text.encode("utf-8"))


def _string_attribute(tag: int, key: str, value: object) -> bytes:
    """A ``KeyValue`` with a string value as field ``tag`` (the resource's attributes)."""
    any_value = _string(0x0A, str(value))
    return _length_delimited(tag, _string(0x0A, key) + _length_delimited(0x12, any_value))


@functools.lru_cache(maxsize=65536)
def _attribute(key: str, value: AttributeValue, kind: type) -> bytes:
    """``NumberDataPoint.attributes`` entry (field 7) holding one ``KeyValue``, in wire format."""
    if kind is str:
        any_value = _length_delimited(0x0A, value.encode("utf-8"))  # type: ignore[union-attr]
    elif kind is bool:
        any_value = b"\x10\x01" if value else b"\x10\x00"
    elif kind is int:
        any_value = b"\x18" + _varint(int(value) & 0xFFFFFFFFFFFFFFFF)
    elif kind is float:
        any_value = b"\x21" + struct.pack("<d", value)
    else:
        any_value = _length_delimited(0x0A, str(value).encode("utf-8"))
    key_value = _length_delimited(0x0A, key.encode("utf-8")) + _length_delimited(0x12, any_value)
    return _length_delimited(0x3A, key_value)


def _length_delimited(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _add_attributes(target: Any, attributes: Mapping[str, AttributeValue]) -> None:
    # add() and in-place fields: four times faster than building KeyValue objects and extending (upb).
    for key, value in attributes.items():
        kv = target.add(key=key)
        if isinstance(value, str):
            kv.value.string_value = value
        elif isinstance(value, bool):
            kv.value.bool_value = value
        elif isinstance(value, int):
            kv.value.int_value = value
        elif isinstance(value, float):
            kv.value.double_value = value
        else:
            kv.value.string_value = str(value)


def _key_values(items: Iterable[tuple[str, AttributeValue]]) -> list[KeyValue]:
    return [KeyValue(key=key, value=AnyValue(string_value=str(value))) for key, value in items]
