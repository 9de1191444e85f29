"""Ground truth in the collector: join late labels to sampled predictions, realized and estimated performance,
concept drift."""

from __future__ import annotations

from .concept_drift import (
    ConceptDriftChange,
    ConceptDriftMonitor,
    PerformanceCheck,
    compare_with_reference,
    prediction_error,
)
from .detectors import ADWIN, DDM, ChangeDetector, PageHinkley, make_detector
from .estimation import EstimatedPerformance, PerformanceGap, confidence_sums, estimate_performance, gap
from .metrics import (
    ClassificationMetrics,
    ClassMetrics,
    MetricPoint,
    RegressionMetrics,
    WindowKey,
    WindowPerformance,
    as_class_label,
    classification_metrics,
    regression_metrics,
    window_metrics,
    window_performance,
    window_start,
)
from .records import (
    DEFAULT_OUTPUT_NAME,
    GroundTruthRecord,
    JoinedRow,
    ParsedRecords,
    PredictionRecord,
    label_from_json,
    parse_log_records,
    parse_logs_request,
    prediction_from_json,
    record_to_json,
)
from .store import COUNTER_NAMES, DEFAULT_MAX_PENDING, DEFAULT_TTL_SECONDS, JoinStore
from .windows import PerformanceWindows

__all__ = [
    "ADWIN",
    "COUNTER_NAMES",
    "DDM",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_OUTPUT_NAME",
    "DEFAULT_TTL_SECONDS",
    "ChangeDetector",
    "ClassMetrics",
    "ClassificationMetrics",
    "ConceptDriftChange",
    "ConceptDriftMonitor",
    "EstimatedPerformance",
    "GroundTruthRecord",
    "JoinStore",
    "JoinedRow",
    "MetricPoint",
    "PageHinkley",
    "ParsedRecords",
    "PerformanceCheck",
    "PerformanceGap",
    "PerformanceWindows",
    "PredictionRecord",
    "RegressionMetrics",
    "WindowKey",
    "WindowPerformance",
    "as_class_label",
    "classification_metrics",
    "compare_with_reference",
    "confidence_sums",
    "estimate_performance",
    "gap",
    "label_from_json",
    "make_detector",
    "parse_log_records",
    "parse_logs_request",
    "prediction_error",
    "prediction_from_json",
    "record_to_json",
    "regression_metrics",
    "window_metrics",
    "window_performance",
    "window_start",
]
