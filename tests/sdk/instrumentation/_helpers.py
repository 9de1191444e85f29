"""Shared helpers: span names and per-model prediction counts from in-memory telemetry."""

from __future__ import annotations

from otel_mlmon import conventions as conv

__all__ = ["predictions_by_model", "span_names"]


def span_names(telemetry) -> list[str]:
    return [span.name for span in telemetry.spans()]


def predictions_by_model(telemetry) -> dict[str, int]:
    counts: dict[str, int] = {}
    for point in telemetry.points(conv.METRIC_PREDICTIONS):
        name = point.attributes[conv.ATTR_MODEL_NAME]
        counts[name] = counts.get(name, 0) + int(point.value)
    return {name: count for name, count in counts.items() if count}
