"""The Prometheus-style name of every metric the dashboards and alert rules read, built from the conventions.

Prometheus-style OTLP receivers (Prometheus' OTLP receiver with its default translation, VictoriaMetrics with
``-opentelemetry.usePrometheusNaming``, Mimir) rename OTLP metrics by one rule, :func:`prometheus_name`; the
collector's remote-write exporter applies the same rule, so the dashboards and rules work behind any of them.
"""

from __future__ import annotations

from otel_mlmon_collector import _selfmetrics as selfmetrics

from otel_mlmon import conventions as conv

__all__ = ["METRICS", "prometheus_name"]

_UNIT_SUFFIXES = {"s": "seconds", "By": "bytes", "1": "ratio"}


def prometheus_name(name: str, kind: str, unit: str = "") -> str:
    """The Prometheus-style name of an OTLP metric: dots to underscores, unit suffix, ``_total`` on counters.

    Units in braces (``{row}``) add nothing; ``1`` becomes ``_ratio`` on gauges only; histograms get their
    ``_bucket``/``_count``/``_sum`` series from the caller.

    >>> prometheus_name("ml.inference.duration", "histogram", "s")
    'ml_inference_duration_seconds'
    >>> prometheus_name("ml.drift.score", "gauge", "1"), prometheus_name("ml.feature.missing", "counter", "1")
    ('ml_drift_score_ratio', 'ml_feature_missing_total')
    """
    base = name.replace(".", "_")
    suffix = "" if unit.startswith("{") else _UNIT_SUFFIXES.get(unit, unit)
    if suffix == "ratio" and kind != "gauge":
        suffix = ""
    if suffix:
        base = f"{base}_{suffix}"
    return f"{base}_total" if kind == "counter" else base


def _performance(suffix: str, estimated: bool = False) -> str:
    prefix = conv.METRIC_PERFORMANCE_ESTIMATED_PREFIX if estimated else conv.METRIC_PERFORMANCE_PREFIX
    return prometheus_name(prefix + suffix, "gauge", "1")


#: Every metric the dashboards and alert rules read, by a short key.
METRICS: dict[str, str] = {
    "duration": prometheus_name(conv.METRIC_DURATION, "histogram", "s"),
    "predictions": prometheus_name(conv.METRIC_PREDICTIONS, "counter", "{prediction}"),
    "batch_size": prometheus_name(conv.METRIC_BATCH_SIZE, "histogram", "{row}"),
    "sdk_faults": prometheus_name(conv.METRIC_SDK_FAULTS, "counter", "{fault}"),
    "feature_distribution": prometheus_name(conv.METRIC_FEATURE_DISTRIBUTION, "histogram", "1"),
    "feature_missing": prometheus_name(conv.METRIC_FEATURE_MISSING, "counter", "1"),
    "feature_category": prometheus_name(conv.METRIC_FEATURE_CATEGORY_COUNT, "counter", "1"),
    "prediction_class": prometheus_name(conv.METRIC_PREDICTION_CLASS_COUNT, "counter", "1"),
    "prediction_confidence": prometheus_name(conv.METRIC_PREDICTION_CONFIDENCE, "histogram", "1"),
    "summary_rows": prometheus_name(conv.METRIC_SUMMARY_ROWS, "counter", "{row}"),
    "drift_score": prometheus_name(conv.METRIC_DRIFT_SCORE, "gauge", "1"),
    "drift_detected": prometheus_name(conv.METRIC_DRIFT_DETECTED, "gauge", "1"),
    "drift_p_value": prometheus_name(conv.METRIC_DRIFT_P_VALUE, "gauge", "1"),
    "drift_threshold": prometheus_name(conv.METRIC_DRIFT_THRESHOLD, "gauge", "1"),
    "drift_share": prometheus_name(conv.METRIC_DRIFT_SHARE, "gauge", "1"),
    "drift_sample_size": prometheus_name(conv.METRIC_DRIFT_SAMPLE_SIZE, "gauge", "{row}"),
    "reference_missing": prometheus_name(conv.METRIC_DRIFT_REFERENCE_MISSING, "gauge", "1"),
    "model_age": prometheus_name(conv.METRIC_MODEL_AGE, "gauge", "s"),
    "accuracy": _performance("accuracy"),
    "f1_macro": _performance("f1.macro"),
    "precision_macro": _performance("precision.macro"),
    "recall_macro": _performance("recall.macro"),
    "f1": _performance("f1"),
    "rmse": _performance("rmse"),
    "mae": _performance("mae"),
    "estimated_accuracy": _performance("accuracy", estimated=True),
    "estimated_f1_macro": _performance("f1.macro", estimated=True),
    "estimated_rmse": _performance("rmse", estimated=True),
    "estimated_mae": _performance("mae", estimated=True),
    "estimation_gap": prometheus_name(conv.METRIC_PERFORMANCE_ESTIMATION_GAP, "gauge", "1"),
    "estimation_gap_z": prometheus_name(conv.METRIC_PERFORMANCE_ESTIMATION_GAP_Z, "gauge", "1"),
    "reference": prometheus_name(conv.METRIC_PERFORMANCE_REFERENCE, "gauge", "1"),
    "reference_lower": prometheus_name(conv.METRIC_PERFORMANCE_REFERENCE_LOWER, "gauge", "1"),
    "reference_upper": prometheus_name(conv.METRIC_PERFORMANCE_REFERENCE_UPPER, "gauge", "1"),
    "performance_change": prometheus_name(conv.METRIC_PERFORMANCE_CHANGE, "gauge", "1"),
    "label_coverage": prometheus_name(conv.METRIC_LABEL_COVERAGE, "gauge", "1"),
    "label_delay": prometheus_name(conv.METRIC_LABEL_DELAY, "gauge", "s"),
    "concept_drift": prometheus_name(conv.METRIC_CONCEPT_DRIFT_DETECTED, "gauge", "1"),
    "collector_items_received": prometheus_name(selfmetrics.ITEMS_RECEIVED, "counter", "{item}"),
    "collector_items_forwarded": prometheus_name(selfmetrics.ITEMS_FORWARDED, "counter", "{item}"),
    "collector_refused": prometheus_name(selfmetrics.REFUSED, "counter", "{request}"),
    "collector_dropped": prometheus_name(selfmetrics.DROPPED, "counter", "{request}"),
    "collector_rejected": prometheus_name(selfmetrics.REJECTED, "counter", "{request}"),
    "collector_queue_size": prometheus_name(selfmetrics.QUEUE_SIZE, "gauge", "{request}"),
    "collector_queue_capacity": prometheus_name(selfmetrics.QUEUE_CAPACITY, "gauge", "{request}"),
}
