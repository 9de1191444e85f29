"""Readable console output of received telemetry: what the collector does when no downstream is configured."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import Any, TextIO

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from .._otlp import OtlpRequest
from . import ExportResult

__all__ = ["ConsoleExporter", "format_request"]

_SPAN_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}
_TEMPORALITY = {0: "unspecified", 1: "delta", 2: "cumulative"}


class ConsoleExporter:
    """Writes one readable block per request to ``stream`` (standard output by default).

    Example:
        >>> import io
        >>> from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
        >>> msg = ExportLogsServiceRequest()
        >>> rec = msg.resource_logs.add().scope_logs.add().log_records.add()
        >>> rec.body.string_value = "hello"
        >>> out = io.StringIO()
        >>> _ = ConsoleExporter(stream=out).export(OtlpRequest("logs", msg.SerializeToString()))
        >>> print(out.getvalue().strip())
        logs: 1 resource
          resource {}
            scope ""
              log UNSPECIFIED 'hello' {}
    """

    def __init__(self, name: str = "console", stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream
        self._lock = threading.Lock()

    def export(self, request: OtlpRequest) -> ExportResult:
        """Format and write the request."""
        try:
            text = format_request(request)
        except Exception as e:  # noqa: BLE001 - a request we cannot format must not stop the collector
            return ExportResult.failed(f"cannot format {request.signal} request: {e}")
        with self._lock:
            stream = self.stream or sys.stdout
            stream.write(text + "\n")
            stream.flush()
        return ExportResult.success()

    def shutdown(self) -> None:
        """Nothing to release."""


def format_request(request: OtlpRequest) -> str:
    """Return a readable multi-line description of a request."""
    message = request.decoded()
    lines: list[str] = []
    if request.signal == "traces":
        resources = message.resource_spans  # type: ignore[attr-defined]
        lines.append(f"traces: {len(resources)} resource{'s' * (len(resources) != 1)}")
        for rs in resources:
            lines.append(f"  resource {_attrs(rs.resource.attributes)}")
            for ss in rs.scope_spans:
                lines.append(f"    scope {ss.scope.name!r}".replace("'", '"', 2))
                for span in ss.spans:
                    duration_ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
                    parent = f" parent={span.parent_span_id.hex()}" if span.parent_span_id else ""
                    status = _STATUS.get(span.status.code, str(span.status.code))
                    if span.status.message:
                        status += f" ({span.status.message})"
                    lines.append(
                        f"      span {span.name!r} {_SPAN_KINDS.get(span.kind, span.kind)} "
                        f"trace={span.trace_id.hex()} span={span.span_id.hex()}{parent} "
                        f"{duration_ms:.3f} ms status={status} {_attrs(span.attributes)}"
                    )
                    for event in span.events:
                        lines.append(f"        event {event.name!r} {_attrs(event.attributes)}")
    elif request.signal == "metrics":
        resources = message.resource_metrics  # type: ignore[attr-defined]
        lines.append(f"metrics: {len(resources)} resource{'s' * (len(resources) != 1)}")
        for rm in resources:
            lines.append(f"  resource {_attrs(rm.resource.attributes)}")
            for sm in rm.scope_metrics:
                lines.append(f"    scope {sm.scope.name!r}".replace("'", '"', 2))
                for metric in sm.metrics:
                    lines.extend(_metric_lines(metric))
    else:
        resources = message.resource_logs  # type: ignore[attr-defined]
        lines.append(f"logs: {len(resources)} resource{'s' * (len(resources) != 1)}")
        for rl in resources:
            lines.append(f"  resource {_attrs(rl.resource.attributes)}")
            for sl in rl.scope_logs:
                lines.append(f"    scope {sl.scope.name!r}".replace("'", '"', 2))
                for rec in sl.log_records:
                    severity = rec.severity_text or _severity_name(rec.severity_number)
                    name = f" event={rec.event_name}" if getattr(rec, "event_name", "") else ""
                    lines.append(f"      log {severity}{name} {_value(rec.body)!r} {_attrs(rec.attributes)}")
    return "\n".join(lines)


def _metric_lines(metric: Any) -> list[str]:
    kind = metric.WhichOneof("data") or "empty"
    data = getattr(metric, kind, None)
    head = f"      metric {metric.name} {kind}"
    if metric.unit:
        head += f" unit={metric.unit}"
    if kind in ("sum", "histogram", "exponential_histogram"):
        head += f" {_TEMPORALITY.get(data.aggregation_temporality, '?')}"
    if kind == "sum":
        head += " monotonic" if data.is_monotonic else " non-monotonic"
    lines = [head]
    for point in getattr(data, "data_points", ()):
        attrs = _attrs(point.attributes)
        if kind in ("sum", "gauge"):
            value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
            lines.append(f"        {attrs} {value}")
        elif kind == "histogram":
            buckets = ", ".join(
                f"<={b:g}:{c}" for b, c in zip([*point.explicit_bounds, float("inf")], point.bucket_counts)
            )
            lines.append(f"        {attrs} count={point.count} sum={point.sum:g} buckets[{buckets}]")
        elif kind == "exponential_histogram":
            extremes = f" min={point.min:g} max={point.max:g}" if point.HasField("min") else ""
            lines.append(
                f"        {attrs} count={point.count} sum={point.sum:g}{extremes} scale={point.scale} "
                f"zero={point.zero_count}"
            )
            for sign, buckets in (("+", point.positive), ("-", point.negative)):
                if any(buckets.bucket_counts):
                    lines.append(f"          {sign} {_exponential_buckets(point.scale, buckets, sign)}")
        elif kind == "summary":
            quantiles = ", ".join(f"q{q.quantile:g}={q.value:g}" for q in point.quantile_values)
            lines.append(f"        {attrs} count={point.count} sum={point.sum:g} {quantiles}")
    return lines


_MAX_BUCKETS_SHOWN = 16


def _exponential_buckets(scale: int, buckets: Any, sign: str) -> str:
    """Non-empty buckets as ``(lower, upper]:count`` (by absolute value for the negative range)."""
    base = 2.0 ** (2.0**-scale)
    shown = []
    nonzero = [(buckets.offset + i, c) for i, c in enumerate(buckets.bucket_counts) if c]
    for index, count in nonzero[:_MAX_BUCKETS_SHOWN]:
        try:
            lower, upper = base**index, base ** (index + 1)
        except OverflowError:
            lower = upper = float("inf")
        shown.append(f"({lower:.4g}, {upper:.4g}]:{count}")
    more = len(nonzero) - _MAX_BUCKETS_SHOWN
    text = " ".join(shown) + (f" … {more} more non-empty buckets" if more > 0 else "")
    return ("|x| in " if sign == "-" else "") + text


def _severity_name(number: int) -> str:
    names = ["UNSPECIFIED", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
    return names[min((number + 3) // 4, 6)] if number else names[0]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _attrs(attributes: Iterable[KeyValue]) -> str:
    return "{" + ", ".join(f"{kv.key}={_value(kv.value)!r}" for kv in attributes) + "}"
