"""Ground truth in the collector: join late labels to sampled predictions, realized and estimated performance,
concept drift."""

from __future__ import annotations

from otel_mlmon_collector.ground_truth.concept_drift import (
    ConceptDriftChange,
    ConceptDriftMonitor,
    PerformanceCheck,
    compare_with_reference,
    prediction_error,
)
from otel_mlmon_collector.ground_truth.detectors import ADWIN, DDM, ChangeDetector, PageHinkley, make_detector
from otel_mlmon_collector.ground_truth.estimation import (
    EstimatedPerformance,
    PerformanceGap,
    confidence_sums,
    estimate_performance,
    gap,
)
from otel_mlmon_collector.ground_truth.metrics import (
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
from otel_mlmon_collector.ground_truth.processor import GroundTruthProcessor, GroundTruthReport
from otel_mlmon_collector.ground_truth.records import (
    DEFAULT_OUTPUT_NAME,
    GroundTruthRecord,
    JoinedRow,
    ParsedRecords,
    PredictionRecord,
    label_from_json,
    parse_log_records,
    parse_logs_request,
    parse_otlp_request,
    prediction_from_json,
    record_to_json,
)
from otel_mlmon_collector.ground_truth.store import (
    COUNTER_NAMES,
    DEFAULT_MAX_PENDING,
    DEFAULT_TTL_SECONDS,
    JoinStore,
)
from otel_mlmon_collector.ground_truth.windows import PerformanceWindows

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
    "GroundTruthProcessor",
    "GroundTruthRecord",
    "GroundTruthReport",
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
    "parse_otlp_request",
    "prediction_error",
    "prediction_from_json",
    "record_to_json",
    "regression_metrics",
    "window_metrics",
    "window_performance",
    "window_start",
]
