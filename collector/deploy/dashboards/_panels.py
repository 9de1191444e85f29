"""What every dashboard shares: backend flavours, PromQL pieces, queries, panels, the board and its variables.

The dashboard modules (``inference``, ``drift``, ``performance``) only choose panels and write their queries with
these pieces, so a change of look, data source or variable is made here once for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from string import ascii_uppercase
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, statetimeline, timeseries
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

from .names import METRICS

__all__ = [
    "FEATURE",
    "FLAVOURS",
    "MODEL",
    "PROMETHEUS",
    "RATE",
    "TRACES_DATASOURCE_UID",
    "VICTORIA_METRICS",
    "Flavour",
    "aggregate",
    "bucket_quantile",
    "gauge_query",
    "layout",
    "new_board",
    "query",
    "stat_panel",
    "state_panel",
    "sum_rate",
    "timeseries_panel",
    "trace_links",
    "with_queries",
]

#: Datasource uid of the traces backend that exemplars and trace links open (see grafana/provisioning).
TRACES_DATASOURCE_UID = "jaeger"
#: Series of the models and versions chosen in the dashboard's variables.
MODEL = 'ml_model_name=~"$model", ml_model_version=~"$version"'
#: ``MODEL`` narrowed to the chosen features.
FEATURE = f'{MODEL}, ml_feature_name=~"$feature"'
#: The range of every ``rate()``: Grafana's interval that always spans a few scrapes.
RATE = "[$__rate_interval]"

_DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
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


# ----------------------------------------------------------------------------------------------------------
# PromQL


def sum_rate(metric: str, selector: str = "", by: str = "") -> str:
    """Per-second rate of ``metric`` over ``RATE``, summed (per ``by`` labels when given).

    >>> sum_rate("calls_total", 'job="a"', by="le")
    'sum by (le) (rate(calls_total{job="a"}[$__rate_interval]))'
    >>> sum_rate("calls_total")
    'sum(rate(calls_total[$__rate_interval]))'
    """
    series = f"{metric}{{{selector}}}" if selector else metric
    return f"sum by ({by}) (rate({series}{RATE}))" if by else f"sum(rate({series}{RATE}))"


def aggregate(function: str, metric: str, selector: str, by: str = "") -> str:
    """``function`` (max, min…) of a gauge's selected series, per ``by`` labels when given.

    >>> aggregate("max", "ml_drift_share_ratio", 'a="b"', by="ml_model_name")
    'max by (ml_model_name) (ml_drift_share_ratio{a="b"})'
    """
    series = f"{metric}{{{selector}}}"
    return f"{function} by ({by}) ({series})" if by else f"{function}({series})"


def bucket_quantile(q: float, metric: str, selector: str, by: str = "") -> str:
    """The ``q`` quantile per ``by`` labels of an explicit-bucket histogram (``_bucket`` series by ``le``)."""
    buckets = sum_rate(f"{metric}_bucket", selector, by=f"le, {by}" if by else "le")
    return f"histogram_quantile({q}, {buckets})"


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
            return sum_rate(metric, selector)
        return f"prometheus_buckets({sum_rate(f'{metric}_bucket', selector, by='vmrange')})"

    def quantile(self, q: float, metric: str, selector: str, by: str) -> str:
        """The ``q`` quantile per ``by`` label."""
        if self.histograms == "native":
            return f"histogram_quantile({q}, {sum_rate(metric, selector, by=by)})"
        return f"histogram_quantile({q}, {sum_rate(f'{metric}_bucket', selector, by=f'vmrange, {by}')})"


PROMETHEUS = Flavour("prometheus", "", "native")
VICTORIA_METRICS = Flavour("victoriametrics", "-vm", "vmrange")
FLAVOURS = (PROMETHEUS, VICTORIA_METRICS)


# ----------------------------------------------------------------------------------------------------------
# queries and panels


def query(
    expr: str, legend: str = "", *, exemplar: bool = False, instant: bool = False
) -> prometheus.Dataquery:
    """A PromQL query of the templated data source; ``legend`` in Grafana's ``{{label}}`` syntax."""
    built = prometheus.Dataquery().expr(expr).legend_format(legend or "__auto")
    if exemplar:
        built = built.exemplar(True)
    return built.instant() if instant else built.range()


def gauge_query(function: str, metric: str, selector: str, by: str, prefix: str = "") -> prometheus.Dataquery:
    """``function`` (max, min…) of a gauge per ``by`` labels: one line each, named by them after ``prefix``.

    >>> built = gauge_query("max", "ml_drift_score_ratio", 'a="b"', "ml_feature_name, ml_drift_method", "score")
    >>> built.build().expr
    'max by (ml_feature_name, ml_drift_method) (ml_drift_score_ratio{a="b"})'
    >>> built.build().legend_format
    'score {{ml_feature_name}} {{ml_drift_method}}'
    """
    names = " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(","))
    return query(aggregate(function, metric, selector, by=by), f"{prefix} {names}" if prefix else names)


def with_queries(panel: Any, *queries: prometheus.Dataquery, width: int = 12) -> Any:
    """``panel`` reading ``queries`` (ref ids A, B, …) from the templated data source, ``width`` of 24 columns
    wide."""
    for ref_id, item in zip(ascii_uppercase, queries):
        panel = panel.with_target(item.ref_id(ref_id))
    return panel.datasource(_DATASOURCE).span(width)


def timeseries_panel(
    title: str, description: str, unit: str, *queries: prometheus.Dataquery, width: int = 12
) -> timeseries.Panel:
    """Lines over time, one per series of each query."""
    panel = timeseries.Panel().title(title).description(description).unit(unit)
    return with_queries(panel, *queries, width=width)


def stat_panel(
    title: str, description: str, unit: str, item: prometheus.Dataquery, width: int = 6
) -> stat.Panel:
    """One number (an instant query), in the short row at the top of a dashboard."""
    panel = stat.Panel().title(title).description(description).unit(unit)
    return with_queries(panel, item, width=width).height(4)


def state_panel(
    title: str, description: str, item: prometheus.Dataquery, width: int = 12
) -> statetimeline.Panel:
    """A drift / no-drift band per series of a 0/1 gauge (green 0, red 1)."""
    panel = statetimeline.Panel().title(title).description(description).mappings(_DRIFT_STATES).min(0).max(1)
    return with_queries(panel, item, width=width)


def trace_links() -> list[dashboard.DashboardLink]:
    """Panel links that open the traces of the series' model (panels whose series carry ``ml_model_name``)."""
    return [dashboard.DashboardLink("Traces of this model").url(_TRACE_LINK).target_blank(True)]


# ----------------------------------------------------------------------------------------------------------
# the board


def new_board(
    uid: str, title: str, description: str, flavour: Flavour, feature: bool = False
) -> dashboard.Dashboard:
    """An empty dashboard (``uid`` plus the flavour's suffix) linked to the other otel-mlmon dashboards, with the
    data source, model, version and trace-service variables, and with ``feature`` the feature variables too."""
    board = (
        dashboard.Dashboard(title)
        .uid(uid + flavour.uid_suffix)
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
    for variable in _variables(flavour, feature):
        board = board.with_variable(variable)
    return board


def layout(board: dashboard.Dashboard, *items: dashboard.Row | Any) -> dashboard.Dashboard:
    """``board`` with ``items`` added in order: a ``dashboard.Row`` starts a row, anything else is a panel."""
    for item in items:
        board = board.with_row(item) if isinstance(item, dashboard.Row) else board.with_panel(item)
    return board


def _variables(flavour: Flavour, feature: bool) -> Iterable[Any]:
    calls = f"{METRICS['duration']}_count"
    yield dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
    yield _query_variable("model", "Model", f"label_values({calls}, ml_model_name)")
    yield _query_variable(
        "version", "Version", f'label_values({calls}{{ml_model_name=~"$model"}}, ml_model_version)'
    )
    # only for the trace links: the services (resource service.name) that run the selected models
    yield _query_variable(
        "service",
        "Trace service",
        f'label_values({calls}{{ml_model_name=~"$model"}}, service_name)',
        choose_all=False,
    )
    if not feature:
        return
    distribution = flavour.series(METRICS["feature_distribution"])
    yield _query_variable(
        "feature",
        "Feature",
        f'label_values({{__name__=~"{distribution}|{METRICS["feature_category"]}",'
        f' ml_model_name=~"$model"}}, ml_feature_name)',
    )
    # the selected features that have a distribution: the heatmap repeats over these
    yield _query_variable(
        "numeric_feature",
        "Numeric feature",
        f'label_values({distribution}{{ml_model_name=~"$model", ml_feature_name=~"$feature"}}, ml_feature_name)',
    ).hide(VariableHide.HIDE_VARIABLE)


def _query_variable(name: str, label: str, values: str, choose_all: bool = True) -> dashboard.QueryVariable:
    """A variable listing ``values`` (a ``label_values`` query) anew with the time range, sorted; with
    ``choose_all`` several or all can be chosen, all by default."""
    variable = (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(_DATASOURCE)
        .query(values)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    if choose_all:
        variable = (
            variable.multi(True)
            .include_all(True)
            .all_value(".*")
            .current(VariableOption(selected=True, text="All", value="$__all"))
        )
    return variable
