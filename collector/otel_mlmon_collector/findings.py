"""Encode what the drift engine found as OTLP: gauges in an ExportMetricsServiceRequest, events in a logs request.

Both come wrapped in :class:`~otel_mlmon_collector.otlp.OtlpRequest` (source ``drift``) with the resource
``service.name = otel-mlmon-collector`` and the instrumentation scope ``otel_mlmon_collector``, ready for the
pipeline's ``emit``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2

from otel_mlmon._version import __version__

from .otlp import OtlpRequest

__all__ = ["SCOPE_NAME", "SERVICE_NAME", "Findings", "default_resource"]

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
        self._gauges: dict[str, tuple[str, str, list[tuple[dict[str, AttributeValue], float]]]] = {}
        self._events: list[tuple[str, str, dict[str, AttributeValue], str]] = []

    def gauge(
        self,
        name: str,
        value: float,
        attributes: Mapping[str, AttributeValue],
        unit: str = "1",
        description: str = "",
    ) -> None:
        """Add one gauge point; non-finite values are left out (a gauge of NaN helps no alert)."""
        if not math.isfinite(value):
            return
        entry = self._gauges.get(name)
        if entry is None:
            entry = self._gauges[name] = (unit, description, [])
        entry[2].append((dict(attributes), float(value)))

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
        return sum(len(entry[2]) for entry in self._gauges.values())

    @property
    def events(self) -> int:
        """Events collected so far."""
        return len(self._events)

    def metrics_request(self) -> OtlpRequest | None:
        """The gauges as one metrics request (None when there are none)."""
        if not self._gauges:
            return None
        message = ExportMetricsServiceRequest()
        rm = message.resource_metrics.add()
        rm.resource.attributes.extend(_key_values(self.resource.items()))
        sm = rm.scope_metrics.add()
        sm.scope.name = SCOPE_NAME
        sm.scope.version = __version__
        items = 0
        for name, (unit, description, points) in self._gauges.items():
            metric = sm.metrics.add(name=name, unit=unit, description=description)
            metric.gauge.SetInParent()
            for attributes, value in points:
                point = metric.gauge.data_points.add(time_unix_nano=self.time_unix_nano, as_double=value)
                point.attributes.extend(_key_values(attributes.items()))
                items += 1
        return OtlpRequest("metrics", message.SerializeToString(), message, items, "drift")

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
            record.attributes.extend(_key_values(attributes.items()))
        return OtlpRequest("logs", message.SerializeToString(), message, len(self._events), "drift")


_SEVERITIES = {"INFO": logs_pb2.SEVERITY_NUMBER_INFO, "WARN": logs_pb2.SEVERITY_NUMBER_WARN}


def _any_value(value: AttributeValue) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def _key_values(items: Iterable[tuple[str, AttributeValue]]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_any_value(value)) for key, value in items]
