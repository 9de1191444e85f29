"""``configure()``: an OpenTelemetry setup from the standard ``OTEL_*`` variables, for users who have none."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry._logs import get_logger_provider, set_logger_provider

__all__ = ["Telemetry", "configure"]

_logger = logging.getLogger("otel_mlmon")

_PROTOCOLS = ("grpc", "http/protobuf")
_EXPORTERS = ("otlp", "console", "none")


@dataclass
class Telemetry:
    """The providers :func:`configure` set up; ``shutdown()`` flushes and stops them."""

    tracer_provider: Any
    meter_provider: Any
    logger_provider: Any = None

    def force_flush(self, timeout_millis: int = 10_000) -> bool:
        """Export everything recorded so far (otel-mlmon's buffered prediction records included)."""
        from otel_mlmon._summarize import folder

        folder.flush()
        ok = bool(self.tracer_provider.force_flush(timeout_millis))
        ok = bool(self.meter_provider.force_flush(timeout_millis)) and ok
        if self.logger_provider is not None:
            ok = bool(self.logger_provider.force_flush(timeout_millis)) and ok
        return ok

    def shutdown(self) -> None:
        """Flush and stop the providers (call at process exit)."""
        from otel_mlmon._summarize import folder

        folder.flush()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()


def configure(
    *,
    service_name: str | None = None,
    exporter: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    export_interval_millis: float | None = None,
    set_global: bool = True,
) -> Telemetry:
    """Set up tracing and metrics export for a process without an OpenTelemetry setup of its own.

    Explicit arguments win over the standard environment variables, which win over the defaults:

    ==========================  ==========================================  ======================
    argument                    environment variable                        default
    ==========================  ==========================================  ======================
    ``service_name``            ``OTEL_SERVICE_NAME``                       ``unknown_service``
    ``resource_attributes``     ``OTEL_RESOURCE_ATTRIBUTES``                (none)
    ``exporter``                ``OTEL_TRACES_EXPORTER`` /                  ``otlp``
                                ``OTEL_METRICS_EXPORTER`` /
                                ``OTEL_LOGS_EXPORTER``
    ``protocol``                ``OTEL_EXPORTER_OTLP_PROTOCOL``             ``http/protobuf``
    ``endpoint``                ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the    the exporter's default
                                per-signal variables)                       (localhost 4318 / 4317)
    ``headers``                 ``OTEL_EXPORTER_OTLP_HEADERS``              (none)
    ``export_interval_millis``  ``OTEL_METRIC_EXPORT_INTERVAL``             60000
    ==========================  ==========================================  ======================

    A collector with ``receivers.auth`` wants ``Authorization: Bearer <token>`` on every request: pass
    ``headers={"authorization": f"Bearer {token}"}`` or set
    ``OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>`` (the exporters read it themselves when
    ``headers`` is not given); header names are sent lower-cased, as gRPC metadata requires.

    Log records (``ml.prediction`` records and labels) go through a batch processor sized for bursts: a queue of
    32 768 records (``OTEL_BLRP_MAX_QUEUE_SIZE``; the SDK's default is 2 048), export batches of 2 048
    (``OTEL_BLRP_MAX_EXPORT_BATCH_SIZE``), a 500 ms schedule delay (``OTEL_BLRP_SCHEDULE_DELAY``); otel-mlmon's own
    emitters wait for room rather than drop, and any record dropped anyway is counted as the
    ``log_records_dropped`` fault, with a warning.

    ``exporter`` is ``otlp``, ``console`` (readable output on stdout) or ``none``. With ``set_global`` (default)
    the providers become the global ones, which ``@monitor`` uses; if a global SDK provider is already set (by
    ``opentelemetry-instrument`` or the application), it is kept and a warning says so.

    Raises:
        ValueError: for an unknown ``exporter`` or ``protocol``.
    """
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk.metrics import MeterProvider  # the SDK loads only when configuring
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from otel_mlmon._log_pipeline import log_record_processor

    span_exporter_kind = _choice("exporter", exporter, "OTEL_TRACES_EXPORTER", _EXPORTERS, "otlp")
    metric_exporter_kind = _choice("exporter", exporter, "OTEL_METRICS_EXPORTER", _EXPORTERS, "otlp")
    log_exporter_kind = _choice("exporter", exporter, "OTEL_LOGS_EXPORTER", _EXPORTERS, "otlp")
    protocol = _choice("protocol", protocol, "OTEL_EXPORTER_OTLP_PROTOCOL", _PROTOCOLS, "http/protobuf")

    attributes: dict[str, Any] = dict(resource_attributes or {})
    if service_name:
        attributes["service.name"] = service_name
    resource = Resource.create(attributes)  # merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME

    tracer_provider = TracerProvider(resource=resource)
    span_exporter = _span_exporter(span_exporter_kind, protocol, endpoint, headers)
    if span_exporter is not None:
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    readers = []
    metric_exporter = _metric_exporter(metric_exporter_kind, protocol, endpoint, headers)
    if metric_exporter is not None:
        readers.append(
            PeriodicExportingMetricReader(metric_exporter, export_interval_millis=export_interval_millis)
        )
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    logger_provider = LoggerProvider(resource=resource)
    log_exporter = _log_exporter(log_exporter_kind, protocol, endpoint, headers)
    if log_exporter is not None:
        # Sized for bursts of ml.prediction records and labels (the SDK's 2 048-record queue drops them).
        logger_provider.add_log_record_processor(log_record_processor(log_exporter))
    telemetry = Telemetry(tracer_provider, meter_provider, logger_provider)

    if set_global:
        current_tracer = otel_trace.get_tracer_provider()
        current_meter = otel_metrics.get_meter_provider()
        current_logger = get_logger_provider()
        if _is_sdk(current_tracer) or _is_sdk(current_meter):
            _logger.warning(
                "otel_mlmon.configure(): an OpenTelemetry SDK provider is already installed globally; keeping it "
                "(monitoring uses the existing setup) and leaving the providers configure() built unused"
            )
            tracer_provider.shutdown()
            meter_provider.shutdown()
            logger_provider.shutdown()
            return Telemetry(
                current_tracer, current_meter, current_logger if _is_sdk(current_logger) else None
            )
        otel_trace.set_tracer_provider(tracer_provider)
        otel_metrics.set_meter_provider(meter_provider)
        if not _is_sdk(current_logger):
            set_logger_provider(logger_provider)
    return telemetry


def _choice(argument: str, value: str | None, env: str, allowed: tuple[str, ...], default: str) -> str:
    if value is not None:
        if value not in allowed:
            raise ValueError(f"configure({argument}={value!r}): expected one of {', '.join(allowed)}")
        return value
    raw = os.environ.get(env, "").strip().lower()
    if not raw:
        return default
    if raw not in allowed:
        _logger.warning("%s=%r is not one of %s; using %r", env, raw, ", ".join(allowed), default)
        return default
    return raw


def _signal_endpoint(endpoint: str | None, protocol: str, path: str) -> str | None:
    # An explicit base endpoint gets the signal path appended for HTTP, as OTEL_EXPORTER_OTLP_ENDPOINT does.
    if endpoint is None or protocol == "grpc":
        return endpoint
    return endpoint.rstrip("/") + path


def _span_exporter(kind: str, protocol: str, endpoint: str | None, headers: Mapping[str, str] | None) -> Any:
    if kind == "none":
        return None
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    kwargs: dict[str, Any] = {}
    if endpoint is not None:
        kwargs["endpoint"] = _signal_endpoint(endpoint, protocol, "/v1/traces")
    if headers is not None:
        kwargs["headers"] = _header_dict(headers)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter(**kwargs)


def _metric_exporter(
    kind: str, protocol: str, endpoint: str | None, headers: Mapping[str, str] | None
) -> Any:
    if kind == "none":
        return None
    if kind == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return ConsoleMetricExporter()
    kwargs: dict[str, Any] = {}
    if endpoint is not None:
        kwargs["endpoint"] = _signal_endpoint(endpoint, protocol, "/v1/metrics")
    if headers is not None:
        kwargs["headers"] = _header_dict(headers)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    return OTLPMetricExporter(**kwargs)


def _log_exporter(kind: str, protocol: str, endpoint: str | None, headers: Mapping[str, str] | None) -> Any:
    if kind == "none":
        return None
    if kind == "console":
        from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

        return ConsoleLogRecordExporter()
    kwargs: dict[str, Any] = {}
    if endpoint is not None:
        kwargs["endpoint"] = _signal_endpoint(endpoint, protocol, "/v1/logs")
    if headers is not None:
        kwargs["headers"] = _header_dict(headers)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    return OTLPLogExporter(**kwargs)


def _header_dict(headers: Mapping[str, str]) -> dict[str, str]:
    # gRPC refuses metadata keys with capitals ("Authorization"); HTTP header names ignore case
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _is_sdk(provider: Any) -> bool:
    return type(provider).__module__.startswith("opentelemetry.sdk")
