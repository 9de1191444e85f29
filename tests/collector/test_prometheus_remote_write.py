"""The Prometheus remote-write exporter: names, wire format, temporality rule, and a real Prometheus 2.42 end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cramjam
import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from otel_mlmon_collector._config import ConfigError, ExporterConfig
from otel_mlmon_collector._exporters._prompb import (
    NativeHistogram,
    Sample,
    TimeSeries,
    encode_write_request,
    spans_and_deltas,
)
from otel_mlmon_collector._exporters.prometheus_remote_write import (
    PrometheusRemoteWriteExporter,
    metric_name,
    translate,
)
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._service import Collector

import otel_mlmon
from otel_mlmon.profile import Profile

from .conftest import CACHE, REPO, collector_config, free_port, wait_until

PROMETHEUS_BIN_ENV = "OTEL_MLMON_PROMETHEUS_BIN"
#: Panels with nothing to show for this traffic: no errors, faults or refusals, no categorical feature or classifier.
NOTHING_TO_SHOW = re.compile(
    r'error_type!=""|sdk_faults|requests_refused|category_count|prediction_class|prediction_confidence'
)
DASHBOARDS = REPO / "collector" / "deploy" / "grafana" / "dashboards" / "prometheus"
NAMES = ["amount", "age", "score", "tenure"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"unavailable in CI: {reason}")
    pytest.skip(reason)


def _request(
    *metrics: metrics_pb2.Metric, resource: dict[str, str] | None = None
) -> ExportMetricsServiceRequest:
    message = ExportMetricsServiceRequest()
    rm = message.resource_metrics.add()
    for key, value in (resource or {"service.name": "svc", "service.instance.id": "i-1"}).items():
        kv = rm.resource.attributes.add()
        kv.key, kv.value.string_value = key, value
    rm.scope_metrics.add().metrics.extend(metrics)
    return message


def _series(series: list[TimeSeries]) -> dict[str, TimeSeries]:
    return {",".join(f"{k}={v}" for k, v in ts.labels): ts for ts in series}


# ----------------------------------------------------------------------------------------------------------
# translation and wire format


def test_metric_names_match_what_the_dashboards_query() -> None:
    """Every metric the dashboards and alert rules read gets the same name from the exporter as from the generator."""
    from tests.collector.deploy.test_dashboards import load_generator

    module = load_generator()
    for kind in ("counter", "gauge", "histogram"):
        for name, unit in (
            ("ml.inference.duration", "s"),
            ("ml.drift.score", "1"),
            ("ml.x", "{row}"),
            ("a.b", "ms"),
        ):
            assert metric_name(name, kind, unit) == module.prometheus_name(name, kind, unit)
    assert metric_name("http.requests.total", "counter", "") == "http_requests_total"
    assert metric_name("wait_seconds", "gauge", "s") == "wait_seconds"


def test_spans_and_deltas_split_long_gaps_and_keep_short_ones() -> None:
    """Buckets become Prometheus spans (first offset absolute, then gaps) with delta-encoded counts."""
    assert spans_and_deltas(5, [2, 0, 0, 4, 0, 0, 0, 1]) == ([(5, 4), (3, 1)], [2, -2, 0, 4, -3])
    assert spans_and_deltas(0, [0, 0]) == ([], [])


def test_wire_format_decodes_with_a_generic_protobuf_reader() -> None:
    """A WriteRequest decodes field by field as Prometheus' types.proto says (checked with protobuf's own decoder)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fd = descriptor_pb2.FileDescriptorProto(name="rw_test.proto", package="rwtest", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto

    def msg(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        m = fd.message_type.add(name=name)
        for fname, number, ftype, label, tname in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if tname:
                f.type_name = tname

    opt, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    msg("Label", ("name", 1, T.TYPE_STRING, opt, ""), ("value", 2, T.TYPE_STRING, opt, ""))
    msg("Sample", ("value", 1, T.TYPE_DOUBLE, opt, ""), ("timestamp", 2, T.TYPE_INT64, opt, ""))
    msg("BucketSpan", ("offset", 1, T.TYPE_SINT32, opt, ""), ("length", 2, T.TYPE_UINT32, opt, ""))
    msg(
        "Histogram",
        ("count_int", 1, T.TYPE_UINT64, opt, ""),
        ("sum", 3, T.TYPE_DOUBLE, opt, ""),
        ("schema", 4, T.TYPE_SINT32, opt, ""),
        ("zero_threshold", 5, T.TYPE_DOUBLE, opt, ""),
        ("zero_count_int", 6, T.TYPE_UINT64, opt, ""),
        ("negative_spans", 8, T.TYPE_MESSAGE, rep, ".rwtest.BucketSpan"),
        ("negative_deltas", 9, T.TYPE_SINT64, rep, ""),
        ("positive_spans", 11, T.TYPE_MESSAGE, rep, ".rwtest.BucketSpan"),
        ("positive_deltas", 12, T.TYPE_SINT64, rep, ""),
        ("timestamp", 15, T.TYPE_INT64, opt, ""),
    )
    msg(
        "TimeSeries",
        ("labels", 1, T.TYPE_MESSAGE, rep, ".rwtest.Label"),
        ("samples", 2, T.TYPE_MESSAGE, rep, ".rwtest.Sample"),
        ("histograms", 4, T.TYPE_MESSAGE, rep, ".rwtest.Histogram"),
    )
    msg("WriteRequest", ("timeseries", 1, T.TYPE_MESSAGE, rep, ".rwtest.TimeSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    WriteRequest = message_factory.GetMessageClass(pool.FindMessageTypeByName("rwtest.WriteRequest"))
    h = NativeHistogram(7, -1.5, -2, 0.0, 1, 3, [4, 0, 1], -4, [1], 1_700_000_000_123)
    wire = encode_write_request(
        [
            TimeSeries((("__name__", "x"), ("a", "é")), [Sample(-2.5, -1), Sample(3.0, 5)]),
            TimeSeries((), [], [h]),
        ]
    )
    decoded = WriteRequest.FromString(wire)
    first, second = decoded.timeseries
    assert [(lb.name, lb.value) for lb in first.labels] == [("__name__", "x"), ("a", "é")]
    assert [(s.value, s.timestamp) for s in first.samples] == [(-2.5, -1), (3.0, 5)]
    (hist,) = second.histograms
    assert (hist.count_int, hist.sum, hist.schema, hist.zero_count_int, hist.timestamp) == (
        7,
        -1.5,
        -2,
        1,
        h.timestamp_ms,
    )
    assert [(s.offset, s.length) for s in hist.positive_spans] == [(3, 3)] and list(hist.positive_deltas) == [
        4,
        -4,
        1,
    ]
    assert [(s.offset, s.length) for s in hist.negative_spans] == [(-4, 1)] and list(
        hist.negative_deltas
    ) == [1]


def test_translation_of_sums_gauges_histograms_and_the_delta_rule() -> None:
    """Counters get _total, explicit buckets become cumulative le series, deltas are dropped and counted."""
    counter = metrics_pb2.Metric(name="ml.inference.predictions", unit="{prediction}")
    counter.sum.is_monotonic, counter.sum.aggregation_temporality = True, 2
    p = counter.sum.data_points.add(as_int=42, time_unix_nano=2_000_000_000)
    p.attributes.add(key="ml.model.name").value.string_value = "fraud"
    gauge = metrics_pb2.Metric(name="ml.drift.score", unit="1")
    gauge.gauge.data_points.add(as_double=0.25, time_unix_nano=2_000_000_000, flags=0)
    stale = metrics_pb2.Metric(name="ml.model.age", unit="s")
    stale.gauge.data_points.add(time_unix_nano=2_000_000_000, flags=1)
    hist = metrics_pb2.Metric(name="ml.inference.duration", unit="s")
    hist.histogram.aggregation_temporality = 2
    hist.histogram.data_points.add(
        time_unix_nano=2_000_000_000, count=6, sum=0.5, explicit_bounds=[0.01, 0.02], bucket_counts=[1, 3, 2]
    )
    delta = metrics_pb2.Metric(name="ml.feature.missing", unit="1")
    delta.sum.is_monotonic, delta.sum.aggregation_temporality = True, 1
    delta.sum.data_points.add(as_int=1, time_unix_nano=2_000_000_000)
    series, metadata, dropped, reason = translate(
        _request(counter, gauge, stale, hist, delta, resource={"service.name": "scoring", "host.name": "h1"})
    )
    by = _series(series)
    assert by["__name__=ml_inference_predictions_total,job=scoring,ml_model_name=fraud"].samples == [
        Sample(42.0, 2000)
    ]
    assert by["__name__=ml_drift_score_ratio,job=scoring"].samples == [Sample(0.25, 2000)]
    assert np.isnan(by["__name__=ml_model_age_seconds,job=scoring"].samples[0].value)
    buckets = {k: ts.samples[0].value for k, ts in by.items() if "bucket" in k}
    assert buckets == {
        "__name__=ml_inference_duration_seconds_bucket,job=scoring,le=0.01": 1.0,
        "__name__=ml_inference_duration_seconds_bucket,job=scoring,le=0.02": 4.0,
        "__name__=ml_inference_duration_seconds_bucket,job=scoring,le=+Inf": 6.0,
    }
    assert by["__name__=target_info,host_name=h1,job=scoring"].samples == [Sample(1.0, 2000)]
    assert dropped == 1 and "delta" in reason
    assert ("ml_inference_predictions_total", "counter", "", "{prediction}") in metadata


def test_exponential_histogram_becomes_a_native_histogram_downscaled_to_schema_8() -> None:
    """Scale 10 is merged four buckets at a time into schema 8 and every index moves up by one."""
    metric = metrics_pb2.Metric(name="ml.feature.distribution", unit="1")
    metric.exponential_histogram.aggregation_temporality = 2
    point = metric.exponential_histogram.data_points.add(
        time_unix_nano=5_000_000, count=10, sum=12.0, scale=10, zero_count=1
    )
    point.positive.offset, point.positive.bucket_counts[:] = 7, [1, 1, 1, 1, 1]  # OTel 7..11 → 1, 2, 2, 2, 2
    point.negative.offset, point.negative.bucket_counts[:] = -5, [2, 1, 1]  # OTel -5..-3 → -2, -1, -1
    coarse = metrics_pb2.Metric(name="coarse")
    coarse.exponential_histogram.aggregation_temporality = 2
    coarse.exponential_histogram.data_points.add(time_unix_nano=5_000_000, count=1, scale=-5)
    series, _, dropped, _ = translate(_request(metric, coarse))
    (ts,) = series
    (h,) = ts.histograms
    assert (h.schema, h.count, h.zero_count, h.timestamp_ms) == (8, 10, 1, 5)
    assert (h.positive_offset, list(h.positive_counts)) == (2, [1, 4])
    assert (h.negative_offset, list(h.negative_counts)) == (-1, [2, 2])
    assert dropped == 1


def test_exporter_skips_samples_prometheus_would_refuse_and_classifies_answers(tmp_path: Path) -> None:
    """Nothing reachable → retryable; an older sample for a delivered series is skipped, not sent."""
    exporter = PrometheusRemoteWriteExporter(
        ExporterConfig(
            "rw", type="prometheus_remote_write", endpoint=f"http://127.0.0.1:{free_port()}/api/v1/write"
        )
    )
    gauge = metrics_pb2.Metric(name="g")
    gauge.gauge.data_points.add(as_double=1.0, time_unix_nano=9_000_000)
    request = OtlpRequest("metrics", _request(gauge).SerializeToString())
    assert exporter.export(request).outcome == "retryable"
    assert exporter.export(OtlpRequest("traces", b"")).outcome == "success"
    exporter._remember(translate(request.decoded())[0])
    result = exporter.export(request)
    assert (result.outcome, result.rejected_items) == ("success", 1)
    exporter.shutdown()


def test_config_accepts_the_remote_write_type_for_metrics_only() -> None:
    """``type: prometheus_remote_write`` defaults to the metrics signal and needs an http(s) URL."""
    config = collector_config(
        exporters=[
            {"name": "prom", "type": "prometheus_remote_write", "endpoint": "http://127.0.0.1:9/api/v1/write"}
        ]
    )
    (exporter,) = config.exporters
    assert (exporter.type, exporter.signals) == ("prometheus_remote_write", ("metrics",))
    with pytest.raises(ConfigError, match=r"exporters\[0\]\.endpoint"):
        collector_config(
            exporters=[{"name": "prom", "type": "prometheus_remote_write", "endpoint": "127.0.0.1:9"}]
        )


# ----------------------------------------------------------------------------------------------------------
# end to end with a real Prometheus 2.42


@dataclass
class Prometheus:
    base_url: str

    @property
    def write_url(self) -> str:
        return f"{self.base_url}/api/v1/write"

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.base_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())["data"]["result"]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus 2.42 (Debian) with the remote-write receiver and native histograms, on a free loopback port."""
    binary = os.environ.get(PROMETHEUS_BIN_ENV) or str(CACHE / "prometheus" / "usr" / "bin" / "prometheus")
    if not os.access(binary, os.X_OK):
        _unavailable(
            f"prometheus not found at {binary} (run .ci/install-prometheus or set {PROMETHEUS_BIN_ENV})"
        )
    workdir = tmp_path_factory.mktemp("prometheus-rw")
    (workdir / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115 - the process writes to it until teardown
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            _unavailable(
                f"Prometheus exited: {(workdir / 'prometheus.log').read_text(errors='replace')[-800:]}"
            )
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_until(ready, 60.0, 0.3, "Prometheus ready")
        yield Prometheus(base)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


@pytest.mark.e2e
def test_prometheus_answers_promql_over_what_the_collector_remote_writes(
    tmp_path: Path, prometheus: Prometheus
) -> None:
    """Decorated model → OTLP → collector (drift on) → remote write → Prometheus 2.42: counters, drift gauges,
    histogram_quantile over classic buckets and over a native histogram matching the data's median, dashboard panels."""
    rng = np.random.default_rng(7)
    model = f"rw-{uuid.uuid4().hex[:8]}"
    references = tmp_path / "profiles"
    Profile.from_data(
        rng.normal(5.0, 1.0, size=(5_000, 4)), model=model, version="1", feature_names=NAMES
    ).save(references / f"{model}.json.gz")
    config = collector_config(
        exporters=[
            {"name": "prometheus", "type": "prometheus_remote_write", "endpoint": prometheus.write_url}
        ],
        drift={"references": {"directory": str(references)}, "evaluation_interval_seconds": 0},
        self_metrics={"enabled": True, "interval_seconds": 3600},
    )
    collector = Collector(config)
    collector.start()
    provider = MeterProvider(
        resource=Resource.create({"service.name": "rw-e2e", "service.instance.id": model}),
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"http://{collector.http_endpoint}/v1/metrics"),
                export_interval_millis=3_600_000,
            )
        ],
    )
    sent: list[np.ndarray] = []

    def model_fn(X: np.ndarray) -> np.ndarray:
        time.sleep(0.03)
        return X[:, 0]

    try:
        predict = otel_mlmon.monitor(
            model=model, version="1", feature_names=NAMES, trace=False, meter_provider=provider
        )(model_fn)
        for _ in range(2):  # two exports: the second one's cumulative points supersede the first
            for _ in range(4):
                X = rng.normal(5.0, 1.0, size=(250, 4))
                X[:, 0] += 1.5  # amount drifts
                sent.append(X)
                predict(X)
            assert provider.force_flush()
        assert collector.drift is not None
        assert "amount" in collector.drift.evaluate_now().stream(model).drifted("feature")
        collector.emit_self_metrics()
    finally:
        provider.shutdown()
        assert collector.shutdown(10)

    selector = f'ml_model_name="{model}"'

    def value(expr: str) -> float:
        result = wait_until(lambda: prometheus.query(expr), 20.0, 0.3, expr)
        return float(result[0]["value"][1])

    data = np.concatenate(sent)
    assert value(f"sum(ml_inference_predictions_total{{{selector}}})") == len(data)
    assert value(f"sum(ml_inference_duration_seconds_count{{{selector}}})") == 8
    bounds = sorted(
        float(s["metric"]["le"])
        for s in prometheus.query(f"ml_inference_duration_seconds_bucket{{{selector}}}")
    )
    lower = max(b for b in bounds if b <= 0.03)
    upper = min(b for b in bounds if b > 0.03)
    p50 = value(f"histogram_quantile(0.5, sum by (le) (ml_inference_duration_seconds_bucket{{{selector}}}))")
    assert lower <= p50 <= upper
    detected = {
        s["metric"]["ml_feature_name"]: float(s["value"][1])
        for s in prometheus.query(
            f'max by (ml_feature_name) (ml_drift_detected_ratio{{{selector}, ml_drift_target="feature"}})'
        )
    }
    assert detected["amount"] == 1.0 and detected["age"] == 0.0
    assert value('sum(otel_mlmon_collector_items_received_total{job="otel-mlmon-collector"})') > 0

    feature = f'ml_feature_distribution{{{selector}, ml_feature_name="amount"}}'
    (native,) = wait_until(lambda: prometheus.query(feature), 20.0, 0.3, feature)
    assert float(native["histogram"][1]["count"]) == len(data)
    median = float(np.median(data[:, 0]))
    estimate = value(f"histogram_quantile(0.5, {feature})")
    (bucket,) = [b for b in native["histogram"][1]["buckets"] if float(b[1]) < median <= float(b[2])]
    left, right = float(bucket[1]), float(bucket[2])
    assert left <= estimate <= right, (median, estimate, bucket)
    assert abs(estimate - median) / median <= right / left - 1

    ran, answered, failed = 0, 0, []
    for board in ("otel-mlmon-inference", "otel-mlmon-drift"):
        dashboard = json.loads((DASHBOARDS / f"{board}.json").read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$__rate_interval", "5m").replace("$__range", "1h")
                expr = re.sub(r"\$\{?(\w+)\}?", lambda m: model if m[1] == "model" else ".*", expr)
                ran += 1
                try:
                    if prometheus.query(expr):
                        answered += 1
                    elif not NOTHING_TO_SHOW.search(expr):
                        failed.append(f"{board} / {panel['title']}: no data\n    {expr}")
                except urllib.error.HTTPError as e:
                    failed.append(f"{board} / {panel['title']}: {e.read()[:200]!r}")
    assert not failed, "\n".join(failed)
    quantiles = prometheus.query(
        f"histogram_quantile(0.5, sum by (ml_feature_name) (rate(ml_feature_distribution{{{selector}}}[5m])))"
    )
    assert len(quantiles) == 4
    print(f"\n{answered} of {ran} inference and drift panel queries returned data")
    print(f"native median {estimate:.4f} vs data {median:.4f}; bucket ({left:.4f}, {right:.4f}]")


@pytest.mark.e2e
def test_prometheus_keeps_fresh_samples_when_a_request_carries_stale_ones(prometheus: Prometheus) -> None:
    """Prometheus refuses a whole request holding one out-of-order sample; the exporter skips that sample so the
    rest lands, and a scale-12 histogram arrives downscaled to schema 8 with its median intact."""
    run = uuid.uuid4().hex[:8]
    now_ns = time.time_ns() // 1_000_000 * 1_000_000
    exporter = PrometheusRemoteWriteExporter(
        ExporterConfig("rw", type="prometheus_remote_write", endpoint=prometheus.write_url)
    )

    def gauge(name: str, value: float, at_ns: int) -> metrics_pb2.Metric:
        metric = metrics_pb2.Metric(name=name)
        point = metric.gauge.data_points.add(as_double=value, time_unix_nano=at_ns)
        point.attributes.add(key="run").value.string_value = run
        return metric

    fine = metrics_pb2.Metric(name="fine.distribution")
    fine.exponential_histogram.aggregation_temporality = 2
    values = np.random.default_rng(3).uniform(1.0, 1.01, size=999)
    scale = 12
    index = np.floor(np.log2(values) * 2**scale).astype(int)  # no exact powers of two in this range
    counts = np.bincount(index - index.min())
    point = fine.exponential_histogram.data_points.add(
        time_unix_nano=now_ns, count=len(values), sum=float(values.sum()), scale=scale
    )
    point.positive.offset, point.positive.bucket_counts[:] = int(index.min()), counts.tolist()
    point.attributes.add(key="run").value.string_value = run
    first = exporter.export(
        OtlpRequest("metrics", _request(gauge("a", 1.0, now_ns), fine).SerializeToString())
    )
    assert first.outcome == "success", first.message
    older = _request(gauge("a", 2.0, now_ns - 60_000_000_000), gauge("b", 3.0, now_ns)).SerializeToString()
    # straight to Prometheus, the stale sample sinks the whole request
    series, metadata, _, _ = translate(ExportMetricsServiceRequest.FromString(older))
    raw = bytes(cramjam.snappy.compress_raw(encode_write_request(series, metadata)))
    try:
        urllib.request.urlopen(
            urllib.request.Request(
                prometheus.write_url,
                data=raw,
                headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"},
            ),
            timeout=10,
        )
        refused = None
    except urllib.error.HTTPError as e:
        refused = e.code
    assert refused == 400
    assert prometheus.query(f'b{{run="{run}"}}') == []
    second = exporter.export(OtlpRequest("metrics", older))
    exporter.shutdown()
    assert (second.outcome, second.rejected_items) == ("success", 1), second.message
    (b,) = wait_until(lambda: prometheus.query(f'b{{run="{run}"}}'), 20.0, 0.3, "series b")
    assert float(b["value"][1]) == 3.0
    (a,) = prometheus.query(f'a{{run="{run}"}}')
    assert float(a["value"][1]) == 1.0
    estimate = float(
        prometheus.query(f'histogram_quantile(0.5, fine_distribution{{run="{run}"}})')[0]["value"][1]
    )
    median = float(np.median(values))
    assert abs(estimate - median) / median <= 2 ** (2**-8) - 1
