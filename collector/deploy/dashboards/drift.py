"""The data drift dashboard: drift per feature, and the distributions and predictions behind it."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import bargauge, dashboard, heatmap, prometheus
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from otel_mlmon import conventions as conv

from ._panels import (
    FEATURE,
    MODEL,
    PROMETHEUS,
    Flavour,
    aggregate,
    gauge_query,
    layout,
    new_board,
    query,
    stat_panel,
    state_panel,
    sum_rate,
    timeseries_panel,
    trace_links,
    with_queries,
)
from .names import METRICS as M

__all__ = ["data_drift"]

_PER_METHOD = "ml_feature_name, ml_drift_method"


def data_drift(flavour: Flavour = PROMETHEUS) -> dashboard.Dashboard:
    """Drift scores and states per feature, share of drifted features, distributions, missing rate, categories."""
    board = new_board(
        "otel-mlmon-drift",
        "otel-mlmon: data drift",
        "Feature and prediction drift from otel-mlmon-collector (ml.drift.*) and the distributions behind it.",
        flavour,
        feature=True,
    )
    return layout(
        board,
        dashboard.Row("Drift"),
        stat_panel(
            "Drifted features",
            "Share of the model's checked features with drift detected (after the correction across features).",
            "percentunit",
            query(aggregate("max", M["drift_share"], MODEL), instant=True),
        ),
        stat_panel(
            "Reference profile missing",
            "1 while a model has no reference profile (drift is then not evaluated).",
            "short",
            query(aggregate("max", M["reference_missing"], MODEL), instant=True),
        ),
        stat_panel(
            "Reference age",
            "Time since the reference profile (training data) was built.",
            "s",
            query(aggregate("max", M["model_age"], MODEL), instant=True),
        ),
        stat_panel(
            "Rows behind the scores (current window)",
            "Sampled rows in the current evaluation window; scores carry their n.",
            "short",
            query(
                aggregate("max", M["drift_sample_size"], f'{FEATURE}, ml_drift_side="current"'), instant=True
            ),
        ),
        state_panel(
            "Drift state per feature",
            "Red while a feature's drift checks detect drift.",
            gauge_query("max", M["drift_detected"], FEATURE, "ml_model_name, ml_feature_name"),
            width=24,
        ).links(trace_links()),
        timeseries_panel(
            "Drift score per feature",
            "Score of each method (PSI, Wasserstein, Jensen–Shannon, KS…) against its threshold (dashed).",
            "short",
            gauge_query("max", M["drift_score"], FEATURE, _PER_METHOD),
            gauge_query("max", M["drift_threshold"], FEATURE, _PER_METHOD, "threshold"),
        ),
        timeseries_panel(
            "p-value per feature (corrected)",
            "p-values of tests that have one, corrected across the model's features; low means drift.",
            "short",
            gauge_query("min", M["drift_p_value"], FEATURE, _PER_METHOD),
        ),
        timeseries_panel(
            "Reference vs current rows",
            "Rows behind each score, per side (reference profile vs current window).",
            "short",
            gauge_query("max", M["drift_sample_size"], FEATURE, "ml_feature_name, ml_drift_side"),
            width=24,
        ),
        dashboard.Row("Distributions (current traffic)"),
        with_queries(
            heatmap.Panel()
            .title("Distribution of $numeric_feature")
            .description(
                f"{conv.METRIC_FEATURE_DISTRIBUTION} (exponential histogram) of the current traffic over time, "
                "one panel per numeric feature."
            )
            .calculate(False)
            .repeat("numeric_feature")
            .max_per_row(2),
            query(
                flavour.heatmap(M["feature_distribution"], f'{MODEL}, ml_feature_name=~"$numeric_feature"'),
                "{{le}}",
            ).format(PromQueryFormat.HEATMAP),
        ),
        timeseries_panel(
            "Feature quantiles (p05 / median / p95)",
            "From the exponential histograms; compare with the reference profile's quantiles.",
            "short",
            *_quantiles(flavour, M["feature_distribution"], FEATURE, "ml_feature_name", (0.05, 0.5, 0.95)),
        ),
        timeseries_panel(
            "Missing rate per feature",
            "None/NaN values per sampled row (ml.feature.missing / ml.summary.rows).",
            "percentunit",
            query(
                f"{sum_rate(M['feature_missing'], FEATURE, by='ml_model_name, ml_feature_name')}"
                f" / on (ml_model_name) group_left {sum_rate(M['summary_rows'], MODEL, by='ml_model_name')}",
                "{{ml_model_name}} {{ml_feature_name}}",
            ),
        ),
        with_queries(
            bargauge.Panel()
            .title("Top categories")
            .description("Rows per category of categorical features over the time range (top-K + __other__).")
            .unit("short"),
            query(
                f"topk(10, sum by (ml_feature_name, ml_feature_category) "
                f"(increase({M['feature_category']}{{{FEATURE}}}[$__range])))",
                "{{ml_feature_name}}={{ml_feature_category}}",
                instant=True,
            ),
        ),
        dashboard.Row("Predictions"),
        timeseries_panel(
            "Predicted class mix",
            "Share of rows per predicted class (a shift here is prediction drift).",
            "percentunit",
            query(
                f"{sum_rate(M['prediction_class'], MODEL, by='ml_prediction_class')}"
                f" / ignoring (ml_prediction_class) group_left {sum_rate(M['prediction_class'], MODEL)}",
                "{{ml_prediction_class}}",
            ),
        ),
        timeseries_panel(
            "Prediction confidence (median, p05)",
            "Max class probability per row; falling confidence often precedes an accuracy drop.",
            "percentunit",
            *_quantiles(flavour, M["prediction_confidence"], MODEL, "ml_output_name", (0.05, 0.5)),
        ),
    )


def _quantiles(
    flavour: Flavour, metric: str, selector: str, by: str, qs: Sequence[float]
) -> list[prometheus.Dataquery]:
    """One query per quantile of an exponential histogram, per ``by`` label, legend ``p05 {{by}}``."""
    return [
        query(flavour.quantile(q, metric, selector, by), f"p{round(q * 100):02d} {{{{{by}}}}}") for q in qs
    ]
