"""Generate otel-mlmon's Grafana dashboards as code (grafana-foundation-sdk), so the JSON is never hand-edited.

    python collector/deploy/dashboards           # write collector/deploy/grafana/dashboards/*/*.json
    python collector/deploy/dashboards --check   # exit 1 when the committed JSON differs from a fresh build

One module per dashboard (``inference``, ``drift``, ``performance``) on the pieces they share (``_panels``);
``_generate`` renders them and writes or checks the files. Metric names are built from
``otel_mlmon.conventions`` by :func:`~.names.prometheus_name`, the translation Prometheus-style OTLP receivers
apply (Prometheus' OTLP receiver with its default translation, VictoriaMetrics with
``-opentelemetry.usePrometheusNaming``, Mimir). Backends store exponential histograms differently, so every
dashboard is built in two flavours (:class:`Flavour`): ``prometheus/`` (native histograms: Prometheus 3, Mimir)
and ``victoriametrics/`` (``vmrange`` buckets, MetricsQL ``prometheus_buckets``); they differ only in the
feature-distribution and confidence panels.

This directory is a script, not an installed package: run it as above, or ``python -m dashboards`` from
``collector/deploy``.
"""

from __future__ import annotations

from ._generate import COMMAND, DASHBOARDS, OUTPUT_DIR, build_all, main, render
from ._panels import FLAVOURS, PROMETHEUS, TRACES_DATASOURCE_UID, VICTORIA_METRICS, Flavour
from .drift import data_drift
from .inference import inference_overview
from .names import METRICS, prometheus_name
from .performance import model_performance

__all__ = [
    "COMMAND",
    "DASHBOARDS",
    "FLAVOURS",
    "METRICS",
    "OUTPUT_DIR",
    "PROMETHEUS",
    "TRACES_DATASOURCE_UID",
    "VICTORIA_METRICS",
    "Flavour",
    "build_all",
    "data_drift",
    "inference_overview",
    "main",
    "model_performance",
    "prometheus_name",
    "render",
]
