"""The model performance dashboard: realized and estimated performance, labels, and concept drift."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from ._panels import (
    MODEL,
    PROMETHEUS,
    Flavour,
    aggregate,
    gauge_query,
    layout,
    new_board,
    query,
    state_panel,
    timeseries_panel,
    trace_links,
)
from .names import METRICS as M

__all__ = ["model_performance"]

_PER_MODEL = "ml_model_name, ml_model_version"
_PER_METRIC = "ml_model_name, ml_performance_metric"


def model_performance(flavour: Flavour = PROMETHEUS) -> dashboard.Dashboard:
    """Realized and estimated performance, label coverage and delay, concept-drift events."""
    board = new_board(
        "otel-mlmon-performance",
        "otel-mlmon: model performance",
        "Performance from joined ground truth (ml.performance.*), estimated before labels, and concept drift.",
        flavour,
    )
    return layout(
        board,
        dashboard.Row("Classification"),
        timeseries_panel(
            "Accuracy: realized vs estimated",
            "Realized from joined labels; estimated from prediction confidence before labels arrive.",
            "percentunit",
            gauge_query("max", M["accuracy"], MODEL, _PER_MODEL, "realized"),
            gauge_query("max", M["estimated_accuracy"], MODEL, _PER_MODEL, "estimated"),
        ).links(trace_links()),
        timeseries_panel(
            "F1 / precision / recall (macro)",
            "Macro averages over classes, realized, with the estimated F1.",
            "percentunit",
            query(_by_model("f1_macro"), "F1 {{ml_model_name}}"),
            query(_by_model("precision_macro"), "precision {{ml_model_name}}"),
            query(_by_model("recall_macro"), "recall {{ml_model_name}}"),
            query(_by_model("estimated_f1_macro"), "estimated F1 {{ml_model_name}}"),
        ),
        timeseries_panel(
            "F1 per class",
            "Realized F1 of each predicted class.",
            "percentunit",
            gauge_query("max", M["f1"], MODEL, "ml_model_name, ml_prediction_class"),
            width=24,
        ),
        dashboard.Row("Regression"),
        timeseries_panel(
            "RMSE and MAE",
            "Errors of regression outputs from joined labels (in the target's unit).",
            "short",
            query(_by_model("rmse"), "RMSE {{ml_model_name}}"),
            query(_by_model("mae"), "MAE {{ml_model_name}}"),
            query(_by_model("estimated_rmse"), "estimated RMSE {{ml_model_name}}"),
            query(_by_model("estimated_mae"), "estimated MAE {{ml_model_name}}"),
            width=24,
        ),
        dashboard.Row("Against the reference, and the estimation gap"),
        timeseries_panel(
            "Performance vs reference band",
            "Realized value of the newest window with labels beside the reference profile's value and the band its "
            "spread gives for the window's rows, per metric.",
            "short",
            gauge_query("max", M["reference"], MODEL, _PER_METRIC, "reference"),
            gauge_query("max", M["reference_lower"], MODEL, _PER_METRIC, "lower"),
            gauge_query("max", M["reference_upper"], MODEL, _PER_METRIC, "upper"),
            width=8,
        ),
        timeseries_panel(
            "Change vs reference (−1 worse, +1 better)",
            "−1 outside the reference band on the worse side, +1 an improvement, 0 within.",
            "short",
            gauge_query("min", M["performance_change"], MODEL, _PER_METRIC),
            width=8,
        ),
        timeseries_panel(
            "Estimation gap (standard errors)",
            "Estimated − realized over the labelled rows of each window whose labels changed, in standard errors "
            "of the estimate: beyond ±3 the reference calibration no longer "
            "holds (concept drift).",
            "short",
            gauge_query("max", M["estimation_gap_z"], MODEL, _PER_METRIC),
            width=8,
        ),
        dashboard.Row("Labels and concept drift"),
        timeseries_panel(
            "Label coverage",
            "Share of predictions that received a ground-truth label.",
            "percentunit",
            gauge_query("max", M["label_coverage"], MODEL, _PER_MODEL),
            width=8,
        ),
        timeseries_panel(
            "Label delay",
            "Time from prediction to its label.",
            "s",
            gauge_query("max", M["label_delay"], MODEL, _PER_MODEL),
            width=8,
        ),
        state_panel(
            "Concept drift",
            "Red while a concept-drift detector on the prediction errors fires.",
            gauge_query("max", M["concept_drift"], MODEL, "ml_model_name, ml_output_name"),
            width=8,
        ),
    )


def _by_model(key: str) -> str:
    """The gauge ``METRICS[key]`` per model and version (one series each)."""
    return aggregate("max", M[key], MODEL, by=_PER_MODEL)
