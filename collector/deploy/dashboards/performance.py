"""The model performance dashboard: realized and estimated performance, labels, and concept drift."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Panel:
    """One panel: ``function`` (max, min) of each gauge per ``by`` labels, a line per series.

    ``series`` are (``METRICS`` key, legend) pairs: a legend with ``{{label}}`` is used as written, any other is
    the prefix before the values of the ``by`` labels. ``unit`` ``"state"`` draws a drift / no-drift band.
    """

    title: str
    description: str
    unit: str
    series: tuple[tuple[str, str], ...]
    by: str = _PER_MODEL
    width: int = 12
    function: str = "max"
    traces: bool = False  # links to the traces of the period shown


_ROWS: tuple[tuple[str, tuple[_Panel, ...]], ...] = (
    ("Classification", (
        _Panel("Accuracy: realized vs estimated",
               "Realized from joined labels; estimated from prediction confidence before labels arrive.",
               "percentunit", (("accuracy", "realized"), ("estimated_accuracy", "estimated")), traces=True),
        _Panel("F1 / precision / recall (macro)", "Macro averages over classes, realized, with the estimated F1.",
               "percentunit", (("f1_macro", "F1 {{ml_model_name}}"),
                               ("precision_macro", "precision {{ml_model_name}}"),
                               ("recall_macro", "recall {{ml_model_name}}"),
                               ("estimated_f1_macro", "estimated F1 {{ml_model_name}}"))),
        _Panel("F1 per class", "Realized F1 of each predicted class.", "percentunit", (("f1", ""),),
               by="ml_model_name, ml_prediction_class", width=24),
    )),
    ("Regression", (
        _Panel("RMSE and MAE", "Errors of regression outputs from joined labels (in the target's unit).", "short",
               (("rmse", "RMSE {{ml_model_name}}"), ("mae", "MAE {{ml_model_name}}"),
                ("estimated_rmse", "estimated RMSE {{ml_model_name}}"),
                ("estimated_mae", "estimated MAE {{ml_model_name}}")), width=24),
    )),
    ("Against the reference, and the estimation gap", (
        _Panel("Performance vs reference band",
               "Realized value of the newest window with labels beside the reference profile's value and the band "
               "its spread gives for the window's rows, per metric.",
               "short", (("reference", "reference"), ("reference_lower", "lower"), ("reference_upper", "upper")),
               by=_PER_METRIC, width=8),
        _Panel("Change vs reference (−1 worse, +1 better)",
               "−1 outside the reference band on the worse side, +1 an improvement, 0 within.",
               "short", (("performance_change", ""),), by=_PER_METRIC, width=8, function="min"),
        _Panel("Estimation gap (standard errors)",
               "Estimated − realized over the labelled rows of each window whose labels changed, in standard "
               "errors of the estimate: beyond ±3 the reference calibration no longer holds (concept drift).",
               "short", (("estimation_gap_z", ""),), by=_PER_METRIC, width=8),
    )),
    ("Labels and concept drift", (
        _Panel("Label coverage", "Share of predictions that received a ground-truth label.", "percentunit",
               (("label_coverage", ""),), width=8),
        _Panel("Label delay", "Time from prediction to its label.", "s", (("label_delay", ""),), width=8),
        _Panel("Concept drift", "Red while a concept-drift detector on the prediction errors fires.", "state",
               (("concept_drift", ""),), by="ml_model_name, ml_output_name", width=8),
    )),
)  # fmt: skip


def model_performance(flavour: Flavour = PROMETHEUS) -> dashboard.Dashboard:
    """Realized and estimated performance, label coverage and delay, concept-drift events."""
    board = new_board(
        "otel-mlmon-performance",
        "otel-mlmon: model performance",
        "Performance from joined ground truth (ml.performance.*), estimated before labels, and concept drift.",
        flavour,
    )
    items = [item for title, panels in _ROWS for item in (dashboard.Row(title), *map(_build, panels))]
    return layout(board, *items)


def _build(p: _Panel) -> object:
    queries = [
        query(aggregate(p.function, M[key], MODEL, by=p.by), legend)
        if "{{" in legend
        else gauge_query(p.function, M[key], MODEL, p.by, legend)
        for key, legend in p.series
    ]
    if p.unit == "state":
        return state_panel(p.title, p.description, *queries, width=p.width)
    panel = timeseries_panel(p.title, p.description, p.unit, *queries, width=p.width)
    return panel.links(trace_links()) if p.traces else panel
