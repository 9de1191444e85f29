"""The unit of work flowing through the collector (an OTLP export request) and the OTLP wire details per signal."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

__all__ = [
    "MalformedRequest",
    "OtlpRequest",
    "SignalSpec",
    "count_items",
    "decode_json",
    "decode_protobuf",
    "spec_for",
]


class MalformedRequest(ValueError):
    """The request body is not a valid OTLP export request; the message says what was wrong."""


@dataclass(frozen=True)
class SignalSpec:
    """What the wire looks like for one signal: messages, gRPC method and HTTP path."""

    signal: str
    request_class: type[Message]
    response_class: type[Message]
    grpc_service: str
    grpc_method: str
    http_path: str


_SPECS = {
    "traces": SignalSpec(
        "traces",
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        "/v1/traces",
    ),
    "metrics": SignalSpec(
        "metrics",
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        "/v1/metrics",
    ),
    "logs": SignalSpec(
        "logs",
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name,
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        "/v1/logs",
    ),
}


def spec_for(signal: str) -> SignalSpec:
    """Return the wire description of ``signal`` (``traces``, ``metrics`` or ``logs``)."""
    return _SPECS[signal]


@dataclass(frozen=True, eq=False, slots=True)
class OtlpRequest:
    """One OTLP export request: its signal, its protobuf encoding, and (at admission only) the decoded message.

    ``payload`` is what is forwarded downstream: the bytes as received for protobuf bodies, the protobuf
    encoding of the parsed message for JSON bodies. ``message`` is set while processors observe the request
    and is not kept in the queue. ``items`` counts spans, metric data points or log records.
    """

    signal: str
    payload: bytes
    message: Message | None = None
    items: int = 0
    source: str = ""

    def decoded(self) -> Message:
        """Return the decoded message (decoding ``payload`` if it was dropped)."""
        if self.message is not None:
            return self.message
        return decode_protobuf(self.signal, self.payload)

    def for_queue(self) -> OtlpRequest:
        """Return a copy without the decoded message, which is all a queue needs to hold."""
        return OtlpRequest(self.signal, self.payload, None, self.items, self.source)


def decode_protobuf(signal: str, payload: bytes) -> Message:
    """Parse a protobuf-encoded export request.

    Raises:
        MalformedRequest: the bytes are not a valid message of that type.
    """
    message = _SPECS[signal].request_class()
    try:
        message.ParseFromString(payload)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise MalformedRequest(f"body is not a valid protobuf {type(message).__name__}: {e}") from None
    return message


_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def decode_json(signal: str, body: bytes) -> Message:
    """Parse an OTLP/JSON export request (hex trace/span ids, integer enums, int64 as strings or numbers).

    Unknown fields are ignored, as the OTLP specification requires.

    Raises:
        MalformedRequest: not JSON, not an object, a bad id, a value of the wrong type, or nested deeper than
            Python's recursion limit allows (no OTLP message is); the message says which.
    """
    try:
        return _decode_json(signal, body)
    except RecursionError:
        raise MalformedRequest("JSON body is nested too deeply") from None


def _decode_json(signal: str, body: bytes) -> Message:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise MalformedRequest(f"body is not valid JSON: {e}") from None
    if not isinstance(document, dict):
        raise MalformedRequest("body must be a JSON object")
    _hex_ids_to_base64(document, "")
    message = _SPECS[signal].request_class()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as e:
        raise MalformedRequest(f"JSON body does not match {type(message).__name__}: {e}") from None
    return message


def _hex_ids_to_base64(node: Any, path: str) -> None:
    """OTLP/JSON encodes ids as hex where proto3 JSON expects base64: convert in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else key
            if key in _ID_KEYS and isinstance(value, str):
                if value and (len(value) % 2 or not _is_hex(value)):
                    raise MalformedRequest(f"{where}: {value!r} is not a hex-encoded id")
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                except (ValueError, binascii.Error):
                    raise MalformedRequest(f"{where}: {value!r} is not a hex-encoded id") from None
            else:
                _hex_ids_to_base64(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _hex_ids_to_base64(value, f"{path}[{i}]")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def count_items(signal: str, message: Message) -> int:
    """Count spans, metric data points or log records in a decoded request."""
    total = 0
    if signal == "traces":
        for rs in message.resource_spans:  # type: ignore[attr-defined]
            for ss in rs.scope_spans:
                total += len(ss.spans)
    elif signal == "logs":
        for rl in message.resource_logs:  # type: ignore[attr-defined]
            for sl in rl.scope_logs:
                total += len(sl.log_records)
    else:
        for rm in message.resource_metrics:  # type: ignore[attr-defined]
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is not None:
                        total += len(getattr(metric, kind).data_points)
    return total
