"""Back-fill dashboards: a replay's findings as the collector's ``ml.drift.*`` OTLP gauges and events, at past times.

Each window's findings are encoded by the drift engine's own encoder (:class:`~otel_mlmon_collector._drift_engine.
encoding.DriftFindings`) with the window's end as the timestamp, so the series, attributes and
``ml.drift.changed`` events are those the collector would have sent, and sent with the collector's OTLP
exporters. Whether a backend stores samples that old is the backend's choice (docs/offline.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from otel_mlmon import conventions as conv

from .._config import ExporterConfig
from .._drift_engine.encoding import DriftFindings, stream_attributes
from .._findings import Findings, default_resource
from .._otlp import OtlpRequest
from .._windows import StreamKey
from ._compare import DriftReport

__all__ = ["EmitResult", "emit_reports", "requests_for"]


@dataclass(frozen=True)
class EmitResult:
    """What was sent: requests accepted, requests failed and the first failure's message."""

    sent: int
    failed: int
    error: str | None = None


def requests_for(reports: Sequence[DriftReport], operation: str = "") -> list[OtlpRequest]:
    """The OTLP requests (metrics, then logs, per window in time order) the collector would have emitted."""
    encoder = DriftFindings()
    out: list[OtlpRequest] = []
    resource = default_resource()
    for report in reports:
        start, end = report.window if report.window is not None else (0.0, 0.0)
        key = StreamKey(report.model, report.version, operation)
        base = stream_attributes(key)
        findings = Findings(int(end * 1e9), resource)
        # ml.model.age is left out: the replay does not know when the reference was built.
        findings.gauge(conv.METRIC_DRIFT_REFERENCE_MISSING, 0.0, base)
        window = {**base, conv.ATTR_WINDOW_SECONDS: round(end - start)}
        encoder.unmatched(findings, window, report.unmatched)
        bounds: Callable[[], tuple[float, float]] = lambda s=start, e=end: (s, e)  # noqa: E731
        for column in report.engine_columns:
            encoder.column(findings, key, window, column, bounds)
        encoder.share(findings, window, report.share)
        out.extend(r for r in (findings.metrics_request(), findings.logs_request()) if r is not None)
    return out


def emit_reports(
    reports: Sequence[DriftReport],
    endpoint: str,
    *,
    signals: Sequence[str] = ("metrics", "logs"),
    protocol: str = "http/protobuf",
    timeout_seconds: float = 10.0,
) -> EmitResult:
    """Send every window's findings to an OTLP endpoint (base URL for HTTP, ``host:port`` for gRPC).

    One attempt per request, no retries: a back-fill is re-run, not queued. ``signals=("metrics",)`` leaves the
    ``ml.drift.changed`` events out, for a metrics-only backend (VictoriaMetrics, Prometheus).
    """
    from .._exporters.otlp import create_otlp_exporter

    exporter = create_otlp_exporter(
        ExporterConfig(
            "offline",
            protocol=protocol,
            endpoint=endpoint,
            signals=tuple(signals),
            timeout_seconds=timeout_seconds,
        )
    )
    sent = failed = 0
    error = None
    try:
        for request in requests_for(reports):
            if request.signal not in signals:
                continue
            result = exporter.export(request)
            if result.outcome == "success":
                sent += 1
            else:
                failed += 1
                error = error or result.message
    finally:
        exporter.shutdown()
    return EmitResult(sent, failed, error)
