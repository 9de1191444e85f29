"""Generate otel-mlmon's Grafana dashboards as code with grafana-foundation-sdk, so the JSON is never hand-edited.

    python collector/deploy/dashboards.py           # write collector/deploy/grafana/dashboards/*/*.json
    python collector/deploy/dashboards.py --check   # exit 1 when the committed JSON differs from a fresh build

Metric names are built from ``otel_mlmon.conventions`` by :func:`prometheus_name`, the translation Prometheus-style
OTLP receivers apply (Prometheus' OTLP receiver with its default translation, VictoriaMetrics with
``-opentelemetry.usePrometheusNaming``, Mimir). Backends store exponential histograms differently, so every
dashboard is built in two flavours (:class:`Flavour`): ``prometheus/`` (native histograms: Prometheus 3, Mimir) and
``victoriametrics/`` (``vmrange`` buckets, MetricsQL ``prometheus_buckets``); they differ only in the
feature-distribution and confidence panels.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import (
    bargauge,
    dashboard,
    heatmap,
    prometheus,
    stat,
    statetimeline,
    timeseries,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    ValueMap,
    ValueMappingResult,
    VariableHide,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat
from otel_mlmon_collector import selfmetrics

from otel_mlmon import conventions as conv

__all__ = [
    "DASHBOARDS",
    "FLAVOURS",
    "METRICS",
    "OUTPUT_DIR",
    "PROMETHEUS",
    "VICTORIA_METRICS",
    "Flavour",
    "build_all",
    "main",
    "prometheus_name",
    "render",
]

OUTPUT_DIR = Path(__file__).resolve().parent / "grafana" / "dashboards"
#: Datasource uid of the traces backend that exemplars and trace links open (see grafana/provisioning).
TRACES_DATASOURCE_UID = "jaeger"

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


def _perf(suffix: str, estimated: bool = False) -> str:
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
    "accuracy": _perf("accuracy"),
    "f1_macro": _perf("f1.macro"),
    "precision_macro": _perf("precision.macro"),
    "recall_macro": _perf("recall.macro"),
    "f1": _perf("f1"),
    "rmse": _perf("rmse"),
    "mae": _perf("mae"),
    "estimated_accuracy": _perf("accuracy", estimated=True),
    "estimated_f1_macro": _perf("f1.macro", estimated=True),
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
M = METRICS

_DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
_MODEL = 'ml_model_name=~"$model", ml_model_version=~"$version"'
_FEATURE = f'{_MODEL}, ml_feature_name=~"$feature"'
_RATE = "[$__rate_interval]"
_DRIFT_STATES = [
    ValueMap(
        {"0": ValueMappingResult(text="no drift", color="green"), "1": ValueMappingResult("drift", "red")}
    )
]
#: Jaeger search for the spans of the model behind a series, in the selected service and time range (Jaeger's search
#: needs a service: ``$service`` lists the services that report the selected models).
_TRACE_LINK = (
    "/explore?schemaVersion=1&panes="
    '{"traces":{"datasource":"' + TRACES_DATASOURCE_UID + '","queries":[{"refId":"A","datasource":'
    '{"type":"jaeger","uid":"' + TRACES_DATASOURCE_UID + '"},"queryType":"search",'
    '"service":"${service}","tags":"ml.model.name=${__field.labels.ml_model_name}"}],'
    '"range":{"from":"${__from}","to":"${__to}"}}}'
)


@dataclass(frozen=True)
class Flavour:
    """How a backend stores OTLP exponential histograms, and the PromQL that reads them.

    ``native``: Prometheus (3.x OTLP receiver with native histograms), Mimir: one series per histogram.
    ``vmrange``: VictoriaMetrics: ``_bucket`` series with a ``vmrange`` label plus ``_count`` / ``_sum``.
    Everything else in the dashboards is the same for both.
    """

    name: str
    uid_suffix: str
    histograms: str

    def series(self, metric: str) -> str:
        """A series name every histogram stream has (for label_values)."""
        return metric if self.histograms == "native" else f"{metric}_count"

    def heatmap(self, metric: str, selector: str) -> str:
        """Buckets per time step, as the heatmap panel reads them."""
        if self.histograms == "native":
            return f"sum(rate({metric}{{{selector}}}{_RATE}))"
        return f"prometheus_buckets(sum by (vmrange) (rate({metric}_bucket{{{selector}}}{_RATE})))"

    def quantile(self, q: float, metric: str, selector: str, by: str) -> str:
        """The ``q`` quantile per ``by`` label."""
        if self.histograms == "native":
            return f"histogram_quantile({q}, sum by ({by}) (rate({metric}{{{selector}}}{_RATE})))"
        return f"histogram_quantile({q}, sum by (vmrange, {by}) (rate({metric}_bucket{{{selector}}}{_RATE})))"


PROMETHEUS = Flavour("prometheus", "", "native")
VICTORIA_METRICS = Flavour("victoriametrics", "-vm", "vmrange")
FLAVOURS = (PROMETHEUS, VICTORIA_METRICS)


def _q(expr: str, legend: str = "", *, exemplar: bool = False, instant: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).legend_format(legend or "__auto")
    if exemplar:
        query = query.exemplar(True)
    return query.instant() if instant else query.range()


def _targets(panel: Any, queries: Sequence[prometheus.Dataquery]) -> Any:
    for ref_id, query in zip("ABCDEFGH", queries):
        panel = panel.with_target(query.ref_id(ref_id))
    return panel.datasource(_DS)


def _timeseries(title: str, description: str, unit: str, *queries: prometheus.Dataquery, width: int = 12):
    return _targets(timeseries.Panel().title(title).description(description).unit(unit), queries).span(width)


def _stat(title: str, description: str, unit: str, query: prometheus.Dataquery, width: int = 6):
    return (
        _targets(stat.Panel().title(title).description(description).unit(unit), [query]).span(width).height(4)
    )


def _states(title: str, description: str, query: prometheus.Dataquery, width: int = 12):
    panel = statetimeline.Panel().title(title).description(description).mappings(_DRIFT_STATES).min(0).max(1)
    return _targets(panel, [query]).span(width)


def _trace_links() -> list[dashboard.DashboardLink]:
    """Panel links that open the traces of the series' model (panels whose series carry ``ml_model_name``)."""
    return [dashboard.DashboardLink("Traces of this model").url(_TRACE_LINK).target_blank(True)]


def _variables(board: dashboard.Dashboard, flavour: Flavour, feature: bool = False) -> dashboard.Dashboard:
    board = board.with_variable(
        dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
    ).with_variable(
        dashboard.QueryVariable("model")
        .label("Model")
        .datasource(_DS)
        .query(f"label_values({M['duration']}_count, ml_model_name)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )
    board = board.with_variable(
        dashboard.QueryVariable("version")
        .label("Version")
        .datasource(_DS)
        .query(f'label_values({M["duration"]}_count{{ml_model_name=~"$model"}}, ml_model_version)')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    ).with_variable(
        # only for the trace links: the services (resource service.name) that run the selected models
        dashboard.QueryVariable("service")
        .label("Trace service")
        .datasource(_DS)
        .query(f'label_values({M["duration"]}_count{{ml_model_name=~"$model"}}, service_name)')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    if feature:
        board = board.with_variable(
            dashboard.QueryVariable("feature")
            .label("Feature")
            .datasource(_DS)
            .query(
                f'label_values({{__name__=~"{flavour.series(M["feature_distribution"])}|{M["feature_category"]}",'
                f' ml_model_name=~"$model"}}, ml_feature_name)'
            )
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .current(VariableOption(selected=True, text="All", value="$__all"))
        ).with_variable(
            # the selected features that have a distribution: the heatmap repeats over these
            dashboard.QueryVariable("numeric_feature")
            .label("Numeric feature")
            .hide(VariableHide.HIDE_VARIABLE)
            .datasource(_DS)
            .query(
                f'label_values({flavour.series(M["feature_distribution"])}{{ml_model_name=~"$model",'
                f' ml_feature_name=~"$feature"}}, ml_feature_name)'
            )
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .current(VariableOption(selected=True, text="All", value="$__all"))
        )
    return board


def _board(uid: str, title: str, description: str) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["otel-mlmon", "ml"])
        .time("now-6h", "now")
        .refresh("1m")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .editable()
        .link(
            dashboard.DashboardLink("otel-mlmon")
            .type("dashboards")
            .tags(["otel-mlmon"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def inference_overview(flavour: Flavour = PROMETHEUS) -> dashboard.Dashboard:
    """Requests, errors by type, latency quantiles with exemplars, predictions, batch size, pipeline health."""
    calls = f"{M['duration']}_count"
    board = _variables(
        _board(
            "otel-mlmon-inference" + flavour.uid_suffix,
            "otel-mlmon: inference overview",
            "Throughput, errors, latency and usage of monitored models (ml.inference.*).",
        ),
        flavour,
    )
    quantiles = [
        _q(
            f"histogram_quantile({q}, sum by (le, ml_model_name) "
            f'(rate({M["duration"]}_bucket{{{_MODEL}, error_type=""}}{_RATE})))',
            f"p{round(q * 100)} {{{{ml_model_name}}}}",
            exemplar=True,
        )
        for q in (0.5, 0.95, 0.99)
    ]
    return (
        board.with_row(dashboard.Row("Now"))
        .with_panel(
            _stat(
                "Requests/s",
                "Predict calls per second, all selected models.",
                "reqps",
                _q(f"sum(rate({calls}{{{_MODEL}}}{_RATE}))", instant=True),
            )
        )
        .with_panel(
            _stat(
                "Error rate",
                "Share of predict calls that raised an exception.",
                "percentunit",
                _q(
                    f'sum(rate({calls}{{{_MODEL}, error_type!=""}}{_RATE})) / sum(rate({calls}{{{_MODEL}}}{_RATE}))',
                    instant=True,
                ),
            )
        )
        .with_panel(
            _stat(
                "Latency p95",
                "95th percentile of successful calls.",
                "s",
                _q(
                    f"histogram_quantile(0.95, sum by (le) "
                    f'(rate({M["duration"]}_bucket{{{_MODEL}, error_type=""}}{_RATE})))',
                    instant=True,
                ),
            )
        )
        .with_panel(
            _stat(
                "Predictions/s",
                "Rows predicted per second by successful calls.",
                "short",
                _q(f"sum(rate({M['predictions']}{{{_MODEL}}}{_RATE}))", instant=True),
            )
        )
        .with_row(dashboard.Row("Traffic and errors"))
        .with_panel(
            _timeseries(
                "Requests/s",
                "Predict calls per second by model and version (throughput = rate of ml.inference.duration's count).",
                "reqps",
                _q(
                    f"sum by (ml_model_name, ml_model_version) (rate({calls}{{{_MODEL}}}{_RATE}))",
                    "{{ml_model_name}} {{ml_model_version}}",
                ),
            )
        )
        .with_panel(
            _timeseries(
                "Error rate by error.type",
                "Share of predict calls failing, split by exception class.",
                "percentunit",
                _q(
                    f'sum by (ml_model_name, error_type) (rate({calls}{{{_MODEL}, error_type!=""}}{_RATE}))'
                    f" / on (ml_model_name) group_left"
                    f" sum by (ml_model_name) (rate({calls}{{{_MODEL}}}{_RATE}))",
                    "{{ml_model_name}} {{error_type}}",
                ),
            )
        )
        .with_row(dashboard.Row("Latency"))
        .with_panel(
            _timeseries(
                "Latency p50 / p95 / p99 (successful calls)",
                "Quantiles of ml.inference.duration; exemplar dots open the trace of a call behind them.",
                "s",
                *quantiles,
            ).links(_trace_links())
        )
        .with_panel(
            _timeseries(
                "Failed-call latency p95",
                "95th percentile of calls that raised, by error.type (slow failures are often timeouts).",
                "s",
                _q(
                    f"histogram_quantile(0.95, sum by (le, error_type) "
                    f'(rate({M["duration"]}_bucket{{{_MODEL}, error_type!=""}}{_RATE})))',
                    "{{error_type}}",
                    exemplar=True,
                ),
            )
        )
        .with_row(dashboard.Row("Usage"))
        .with_panel(
            _timeseries(
                "Predictions/s",
                "Rows predicted per second (batch-aware usage).",
                "short",
                _q(
                    f"sum by (ml_model_name, ml_model_version) (rate({M['predictions']}{{{_MODEL}}}{_RATE}))",
                    "{{ml_model_name}} {{ml_model_version}}",
                ),
            )
        )
        .with_panel(
            _timeseries(
                "Batch size (rows per call)",
                "Mean and 95th percentile of rows per call.",
                "short",
                _q(
                    f"sum by (ml_model_name) (rate({M['batch_size']}_sum{{{_MODEL}}}{_RATE}))"
                    f" / sum by (ml_model_name) (rate({M['batch_size']}_count{{{_MODEL}}}{_RATE}))",
                    "mean {{ml_model_name}}",
                ),
                _q(
                    f"histogram_quantile(0.95, sum by (le, ml_model_name) "
                    f"(rate({M['batch_size']}_bucket{{{_MODEL}}}{_RATE})))",
                    "p95 {{ml_model_name}}",
                ),
            )
        )
        .with_row(dashboard.Row("Monitoring pipeline"))
        .with_panel(
            _timeseries(
                "SDK monitoring faults/s",
                "Faults the SDK absorbed (predict calls unaffected, some telemetry lost), by kind.",
                "short",
                _q(f"sum by (otel_mlmon_fault) (rate({M['sdk_faults']}{_RATE}))", "{{otel_mlmon_fault}}"),
                width=8,
            )
        )
        .with_panel(
            _timeseries(
                "Collector items/s",
                "Data points, spans and log records otel-mlmon-collector received and forwarded, by signal.",
                "short",
                _q(f"sum by (signal) (rate({M['collector_items_received']}{_RATE}))", "received {{signal}}"),
                _q(
                    f"sum by (signal) (rate({M['collector_items_forwarded']}{_RATE}))", "forwarded {{signal}}"
                ),
                width=8,
            )
        )
        .with_panel(
            _timeseries(
                "Collector queues and losses",
                "Queue fill per exporter (left) and requests refused or dropped per second (back-pressure).",
                "percentunit",
                _q(
                    f"max by (exporter) ({M['collector_queue_size']} / {M['collector_queue_capacity']})",
                    "queue {{exporter}}",
                ),
                _q(f"sum by (reason) (rate({M['collector_refused']}{_RATE}))", "refused {{reason}}"),
                _q(f"sum by (reason) (rate({M['collector_dropped']}{_RATE}))", "dropped {{reason}}"),
                width=8,
            )
        )
    )


def data_drift(flavour: Flavour = PROMETHEUS) -> dashboard.Dashboard:
    """Drift scores and states per feature, share of drifted features, distributions, missing rate, categories."""
    board = _variables(
        _board(
            "otel-mlmon-drift" + flavour.uid_suffix,
            "otel-mlmon: data drift",
            "Feature and prediction drift from otel-mlmon-collector (ml.drift.*) and the distributions behind it.",
        ),
        flavour,
        feature=True,
    )
    hist = M["feature_distribution"]
    return (
        board.with_row(dashboard.Row("Drift"))
        .with_panel(
            _stat(
                "Drifted features",
                "Share of the model's checked features with drift detected (after the correction across features).",
                "percentunit",
                _q(f"max({M['drift_share']}{{{_MODEL}}})", instant=True),
            )
        )
        .with_panel(
            _stat(
                "Reference profile missing",
                "1 while a model has no reference profile (drift is then not evaluated).",
                "short",
                _q(f"max({M['reference_missing']}{{{_MODEL}}})", instant=True),
            )
        )
        .with_panel(
            _stat(
                "Reference age",
                "Time since the reference profile (training data) was built.",
                "s",
                _q(f"max({M['model_age']}{{{_MODEL}}})", instant=True),
            )
        )
        .with_panel(
            _stat(
                "Rows behind the scores (current window)",
                "Sampled rows in the current evaluation window; scores carry their n.",
                "short",
                _q(f'max({M["drift_sample_size"]}{{{_FEATURE}, ml_drift_side="current"}})', instant=True),
            )
        )
        .with_panel(
            _states(
                "Drift state per feature",
                "Red while a feature's drift checks detect drift.",
                _q(
                    f"max by (ml_model_name, ml_feature_name) ({M['drift_detected']}{{{_FEATURE}}})",
                    "{{ml_model_name}} {{ml_feature_name}}",
                ),
                width=24,
            ).links(_trace_links())
        )
        .with_panel(
            _timeseries(
                "Drift score per feature",
                "Score of each method (PSI, Wasserstein, Jensen–Shannon, KS…) against its threshold (dashed).",
                "short",
                _q(
                    f"max by (ml_feature_name, ml_drift_method) ({M['drift_score']}{{{_FEATURE}}})",
                    "{{ml_feature_name}} {{ml_drift_method}}",
                ),
                _q(
                    f"max by (ml_feature_name, ml_drift_method) ({M['drift_threshold']}{{{_FEATURE}}})",
                    "threshold {{ml_feature_name}} {{ml_drift_method}}",
                ),
            )
        )
        .with_panel(
            _timeseries(
                "p-value per feature (corrected)",
                "p-values of tests that have one, corrected across the model's features; low means drift.",
                "short",
                _q(
                    f"min by (ml_feature_name, ml_drift_method) ({M['drift_p_value']}{{{_FEATURE}}})",
                    "{{ml_feature_name}} {{ml_drift_method}}",
                ),
            )
        )
        .with_panel(
            _timeseries(
                "Reference vs current rows",
                "Rows behind each score, per side (reference profile vs current window).",
                "short",
                _q(
                    f"max by (ml_feature_name, ml_drift_side) ({M['drift_sample_size']}{{{_FEATURE}}})",
                    "{{ml_feature_name}} {{ml_drift_side}}",
                ),
                width=24,
            )
        )
        .with_row(dashboard.Row("Distributions (current traffic)"))
        .with_panel(
            _targets(
                heatmap.Panel()
                .title("Distribution of $numeric_feature")
                .description(
                    "ml.feature.distribution (exponential histogram) of the current traffic over time, "
                    "one panel per numeric feature."
                )
                .calculate(False)
                .repeat("numeric_feature")
                .max_per_row(2),
                [
                    _q(
                        flavour.heatmap(hist, f'{_MODEL}, ml_feature_name=~"$numeric_feature"'),
                        "{{le}}",
                    ).format(PromQueryFormat.HEATMAP)
                ],
            ).span(12)
        )
        .with_panel(
            _timeseries(
                "Feature quantiles (p05 / median / p95)",
                "From the exponential histograms; compare with the reference profile's quantiles.",
                "short",
                *[
                    _q(
                        flavour.quantile(q, hist, _FEATURE, "ml_feature_name"),
                        f"p{round(q * 100):02d} {{{{ml_feature_name}}}}",
                    )
                    for q in (0.05, 0.5, 0.95)
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Missing rate per feature",
                "None/NaN values per sampled row (ml.feature.missing / ml.summary.rows).",
                "percentunit",
                _q(
                    f"sum by (ml_model_name, ml_feature_name) (rate({M['feature_missing']}{{{_FEATURE}}}{_RATE}))"
                    f" / on (ml_model_name) group_left"
                    f" sum by (ml_model_name) (rate({M['summary_rows']}{{{_MODEL}}}{_RATE}))",
                    "{{ml_model_name}} {{ml_feature_name}}",
                ),
            )
        )
        .with_panel(
            _targets(
                bargauge.Panel()
                .title("Top categories")
                .description(
                    "Rows per category of categorical features over the time range (top-K + __other__)."
                )
                .unit("short"),
                [
                    _q(
                        f"topk(10, sum by (ml_feature_name, ml_feature_category) "
                        f"(increase({M['feature_category']}{{{_FEATURE}}}[$__range])))",
                        "{{ml_feature_name}}={{ml_feature_category}}",
                        instant=True,
                    )
                ],
            ).span(12)
        )
        .with_row(dashboard.Row("Predictions"))
        .with_panel(
            _timeseries(
                "Predicted class mix",
                "Share of rows per predicted class (a shift here is prediction drift).",
                "percentunit",
                _q(
                    f"sum by (ml_prediction_class) (rate({M['prediction_class']}{{{_MODEL}}}{_RATE}))"
                    f" / ignoring (ml_prediction_class) group_left"
                    f" sum(rate({M['prediction_class']}{{{_MODEL}}}{_RATE}))",
                    "{{ml_prediction_class}}",
                ),
            )
        )
        .with_panel(
            _timeseries(
                "Prediction confidence (median, p05)",
                "Max class probability per row; falling confidence often precedes an accuracy drop.",
                "percentunit",
                *[
                    _q(
                        flavour.quantile(q, M["prediction_confidence"], _MODEL, "ml_output_name"),
                        f"p{round(q * 100):02d} {{{{ml_output_name}}}}",
                    )
                    for q in (0.05, 0.5)
                ],
            )
        )
    )


def model_performance(flavour: Flavour = PROMETHEUS) -> dashboard.Dashboard:
    """Realized and estimated performance, label coverage and delay, concept-drift events."""
    board = _variables(
        _board(
            "otel-mlmon-performance" + flavour.uid_suffix,
            "otel-mlmon: model performance",
            "Performance from joined ground truth (ml.performance.*), estimated before labels, and concept drift.",
        ),
        flavour,
    )

    def by_model(key: str) -> str:
        return f"max by (ml_model_name, ml_model_version) ({M[key]}{{{_MODEL}}})"

    return (
        board.with_row(dashboard.Row("Classification"))
        .with_panel(
            _timeseries(
                "Accuracy: realized vs estimated",
                "Realized from joined labels; estimated from prediction confidence before labels arrive.",
                "percentunit",
                _q(by_model("accuracy"), "realized {{ml_model_name}} {{ml_model_version}}"),
                _q(by_model("estimated_accuracy"), "estimated {{ml_model_name}} {{ml_model_version}}"),
            ).links(_trace_links())
        )
        .with_panel(
            _timeseries(
                "F1 / precision / recall (macro)",
                "Macro averages over classes, realized, with the estimated F1.",
                "percentunit",
                _q(by_model("f1_macro"), "F1 {{ml_model_name}}"),
                _q(by_model("precision_macro"), "precision {{ml_model_name}}"),
                _q(by_model("recall_macro"), "recall {{ml_model_name}}"),
                _q(by_model("estimated_f1_macro"), "estimated F1 {{ml_model_name}}"),
            )
        )
        .with_panel(
            _timeseries(
                "F1 per class",
                "Realized F1 of each predicted class.",
                "percentunit",
                _q(
                    f"max by (ml_model_name, ml_prediction_class) ({M['f1']}{{{_MODEL}}})",
                    "{{ml_model_name}} {{ml_prediction_class}}",
                ),
                width=24,
            )
        )
        .with_row(dashboard.Row("Regression"))
        .with_panel(
            _timeseries(
                "RMSE and MAE",
                "Errors of regression outputs from joined labels (in the target's unit).",
                "short",
                _q(by_model("rmse"), "RMSE {{ml_model_name}}"),
                _q(by_model("mae"), "MAE {{ml_model_name}}"),
                width=24,
            )
        )
        .with_row(dashboard.Row("Labels and concept drift"))
        .with_panel(
            _timeseries(
                "Label coverage",
                "Share of predictions that received a ground-truth label.",
                "percentunit",
                _q(by_model("label_coverage"), "{{ml_model_name}} {{ml_model_version}}"),
                width=8,
            )
        )
        .with_panel(
            _timeseries(
                "Label delay",
                "Time from prediction to its label.",
                "s",
                _q(by_model("label_delay"), "{{ml_model_name}} {{ml_model_version}}"),
                width=8,
            )
        )
        .with_panel(
            _states(
                "Concept drift",
                "Red while a concept-drift detector on the prediction errors fires.",
                _q(
                    f"max by (ml_model_name, ml_output_name) ({M['concept_drift']}{{{_MODEL}}})",
                    "{{ml_model_name}} {{ml_output_name}}",
                ),
                width=8,
            )
        )
    )


#: File name → builder of every dashboard (built once per flavour, into a directory of the flavour's name).
DASHBOARDS: dict[str, Callable[[Flavour], dashboard.Dashboard]] = {
    "otel-mlmon-inference.json": inference_overview,
    "otel-mlmon-drift.json": data_drift,
    "otel-mlmon-performance.json": model_performance,
}


def render(builder: dashboard.Dashboard) -> str:
    """A dashboard as stable JSON: sorted keys, panel ids numbered in order, two-space indent, final newline."""
    model = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    for number, panel in enumerate(model.get("panels", []), start=1):
        panel["id"] = number
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_all() -> dict[str, str]:
    """Relative path (``flavour/file.json``) → JSON text of every dashboard in every flavour."""
    return {
        f"{flavour.name}/{name}": render(make(flavour))
        for flavour in FLAVOURS
        for name, make in DASHBOARDS.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dashboards into ``OUTPUT_DIR`` (removing JSON files it no longer builds), or with ``--check``
    report the files that are out of date, missing or no longer built."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed files, write nothing"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR, help="directory of the JSON files")
    args = parser.parse_args(argv)
    built = build_all()
    leftovers = sorted(
        str(path.relative_to(args.output))
        for path in args.output.rglob("*.json")
        if str(path.relative_to(args.output)) not in built
    )
    stale = list(leftovers) if args.check else []
    if not args.check:
        for name in leftovers:
            (args.output / name).unlink()
    for name, text in built.items():
        path = args.output / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date (run {Path(__file__).name}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
