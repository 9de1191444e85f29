"""The inference overview dashboard: throughput, errors, latency, usage, health of the monitoring pipeline."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from ._panels import (
    MODEL,
    PROMETHEUS,
    Flavour,
    bucket_quantile,
    layout,
    new_board,
    query,
    stat_panel,
    sum_rate,
    timeseries_panel,
    trace_links,
)
from .names import METRICS as M

__all__ = ["inference_overview"]

#: One series per predict call: the count of the duration histogram.
_CALLS = f"{M['duration']}_count"
_SUCCEEDED = f'{MODEL}, error_type=""'
_FAILED = f'{MODEL}, error_type!=""'


def inference_overview(flavour: Flavour = PROMETHEUS) -> dashboard.Dashboard:
    """Requests, errors by type, latency quantiles with exemplars, predictions, batch size, pipeline health."""
    board = new_board(
        "otel-mlmon-inference",
        "otel-mlmon: inference overview",
        "Throughput, errors, latency and usage of monitored models (ml.inference.*).",
        flavour,
    )
    per_model = "ml_model_name, ml_model_version"
    return layout(
        board,
        dashboard.Row("Now"),
        stat_panel(
            "Requests/s",
            "Predict calls per second, all selected models.",
            "reqps",
            query(sum_rate(_CALLS, MODEL), instant=True),
        ),
        stat_panel(
            "Error rate",
            "Share of predict calls that raised an exception.",
            "percentunit",
            query(f"{sum_rate(_CALLS, _FAILED)} / {sum_rate(_CALLS, MODEL)}", instant=True),
        ),
        stat_panel(
            "Latency p95",
            "95th percentile of successful calls.",
            "s",
            query(bucket_quantile(0.95, M["duration"], _SUCCEEDED), instant=True),
        ),
        stat_panel(
            "Predictions/s",
            "Rows predicted per second by successful calls.",
            "short",
            query(sum_rate(M["predictions"], MODEL), instant=True),
        ),
        dashboard.Row("Traffic and errors"),
        timeseries_panel(
            "Requests/s",
            "Predict calls per second by model and version (throughput = rate of ml.inference.duration's count).",
            "reqps",
            query(sum_rate(_CALLS, MODEL, by=per_model), "{{ml_model_name}} {{ml_model_version}}"),
        ),
        timeseries_panel(
            "Error rate by error.type",
            "Share of predict calls failing, split by exception class.",
            "percentunit",
            query(
                f"{sum_rate(_CALLS, _FAILED, by='ml_model_name, error_type')}"
                f" / on (ml_model_name) group_left {sum_rate(_CALLS, MODEL, by='ml_model_name')}",
                "{{ml_model_name}} {{error_type}}",
            ),
        ),
        dashboard.Row("Latency"),
        timeseries_panel(
            "Latency p50 / p95 / p99 (successful calls)",
            "Quantiles of ml.inference.duration; exemplar dots open the trace of a call behind them.",
            "s",
            *[
                query(
                    bucket_quantile(q, M["duration"], _SUCCEEDED, by="ml_model_name"),
                    f"p{round(q * 100)} {{{{ml_model_name}}}}",
                    exemplar=True,
                )
                for q in (0.5, 0.95, 0.99)
            ],
        ).links(trace_links()),
        timeseries_panel(
            "Failed-call latency p95",
            "95th percentile of calls that raised, by error.type (slow failures are often timeouts).",
            "s",
            query(
                bucket_quantile(0.95, M["duration"], _FAILED, by="error_type"),
                "{{error_type}}",
                exemplar=True,
            ),
        ),
        dashboard.Row("Usage"),
        timeseries_panel(
            "Predictions/s",
            "Rows predicted per second (batch-aware usage).",
            "short",
            query(sum_rate(M["predictions"], MODEL, by=per_model), "{{ml_model_name}} {{ml_model_version}}"),
        ),
        timeseries_panel(
            "Batch size (rows per call)",
            "Mean and 95th percentile of rows per call.",
            "short",
            query(
                f"{sum_rate(M['batch_size'] + '_sum', MODEL, by='ml_model_name')}"
                f" / {sum_rate(M['batch_size'] + '_count', MODEL, by='ml_model_name')}",
                "mean {{ml_model_name}}",
            ),
            query(bucket_quantile(0.95, M["batch_size"], MODEL, by="ml_model_name"), "p95 {{ml_model_name}}"),
        ),
        dashboard.Row("Monitoring pipeline"),
        timeseries_panel(
            "SDK monitoring faults/s",
            "Faults the SDK absorbed (predict calls unaffected, some telemetry lost), by kind.",
            "short",
            query(sum_rate(M["sdk_faults"], by="otel_mlmon_fault"), "{{otel_mlmon_fault}}"),
            width=8,
        ),
        timeseries_panel(
            "Collector items/s",
            "Data points, spans and log records otel-mlmon-collector received and forwarded, by signal.",
            "short",
            query(sum_rate(M["collector_items_received"], by="signal"), "received {{signal}}"),
            query(sum_rate(M["collector_items_forwarded"], by="signal"), "forwarded {{signal}}"),
            width=8,
        ),
        timeseries_panel(
            "Collector queues and losses",
            "Queue fill per exporter (left) and requests refused or dropped per second (back-pressure).",
            "percentunit",
            query(
                f"max by (exporter) ({M['collector_queue_size']} / {M['collector_queue_capacity']})",
                "queue {{exporter}}",
            ),
            query(sum_rate(M["collector_refused"], by="reason"), "refused {{reason}}"),
            query(sum_rate(M["collector_dropped"], by="reason"), "dropped {{reason}}"),
            width=8,
        ),
    )
