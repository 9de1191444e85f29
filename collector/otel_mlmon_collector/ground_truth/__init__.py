"""Ground truth in the collector: join late labels to sampled predictions, realized and estimated performance,
concept drift."""

from __future__ import annotations

from .metrics import (
    ClassificationMetrics,
    ClassMetrics,
    MetricPoint,
    PerformanceWindows,
    RegressionMetrics,
    WindowKey,
    WindowPerformance,
    as_class_label,
    classification_metrics,
    regression_metrics,
    window_performance,
    window_start,
)
from .records import (
    DEFAULT_OUTPUT_NAME,
    GroundTruthRecord,
    JoinedRow,
    ParsedRecords,
    PredictionRecord,
    parse_log_records,
    parse_logs_request,
)
from .store import COUNTER_NAMES, DEFAULT_MAX_PENDING, DEFAULT_TTL_SECONDS, JoinStore

__all__ = [
    "COUNTER_NAMES",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_OUTPUT_NAME",
    "DEFAULT_TTL_SECONDS",
    "ClassMetrics",
    "ClassificationMetrics",
    "GroundTruthRecord",
    "JoinStore",
    "JoinedRow",
    "MetricPoint",
    "ParsedRecords",
    "PerformanceWindows",
    "PredictionRecord",
    "RegressionMetrics",
    "WindowKey",
    "WindowPerformance",
    "as_class_label",
    "classification_metrics",
    "parse_log_records",
    "parse_logs_request",
    "regression_metrics",
    "window_performance",
    "window_start",
]
