"""Every dashboard panel query answers with data from real traffic in a real VictoriaMetrics (Prometheus naming).

The stack: a model decorated with ``otel_mlmon.monitor`` exports with the SDK's OTLP/HTTP metric exporter to a real
otel-mlmon-collector, whose drift engine compares the traffic with a reference profile built by
``Profile.from_data``; the collector forwards everything (its drift gauges and self-metrics included) to
VictoriaMetrics started with ``-opentelemetry.usePrometheusNaming``. Performance, label and concept-drift gauges
have no producer in the collector yet: they are encoded with the collector's own ``Findings`` encoder (realized
values from the test model's predictions against sampled labels, estimated ones from its probabilities) and sent
through the same collector.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from otel_mlmon_collector import Collector
from otel_mlmon_collector._config import parse_config
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._findings import Findings, default_resource
from otel_mlmon_collector._ground_truth._metrics import classification_metrics, regression_metrics

import otel_mlmon
from otel_mlmon import conventions as conv
from tests.collector.deploy.conftest import CACHE, DEPLOY, VM_BIN_ENV, find_binary, unavailable
from tests.collector.deploy.test_dashboards import load_generator

pytestmark = pytest.mark.e2e

DASHBOARD_DIR = DEPLOY / "grafana" / "dashboards" / "victoriametrics"
RATE_INTERVAL = "1m"
RANGE = "1h"
CLASSES = ["legit", "fraud"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e).encode()


@dataclass
class Backend:
    """VictoriaMetrics on a loopback port with Prometheus-style OTLP naming."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def api(self, path: str, **params: str | list[str]) -> Any:
        status, body = _get(f"{self.base_url}{path}?" + urllib.parse.urlencode(params, doseq=True))
        if status != 200:
            raise AssertionError(f"{path} {params} answered {status}: {body[:300]!r}")
        return json.loads(body)["data"]

    def names(self) -> set[str]:
        return set(self.api("/api/v1/label/__name__/values"))


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    """A VictoriaMetrics of this module (Prometheus naming on)."""
    binary = find_binary(
        VM_BIN_ENV, CACHE / "victoria-metrics" / "usr" / "bin" / "victoria-metrics", ".ci/install-backends"
    )
    workdir = Path(tempfile.mkdtemp(prefix="otel-mlmon-deploy-vm-"))
    port = _free_port()
    log_path = workdir / "vm.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"-httpListenAddr=127.0.0.1:{port}",
                f"-storageDataPath={workdir / 'data'}",
                "-search.latencyOffset=0s",
                "-search.disableCache",
                "-opentelemetry.usePrometheusNaming",
                "-loggerLevel=WARN",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    vm = Backend(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 60
    while _get(f"{vm.base_url}/health", 2)[0] != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            unavailable(f"VictoriaMetrics did not start: {log_path.read_text(errors='replace')[-800:]}")
        time.sleep(0.2)
    yield vm
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class Traffic:
    """What the stack sent: models, features, and timings."""

    seconds: float = 0.0
    models: set[str] = field(default_factory=set)
    features: set[str] = field(default_factory=set)


def _rows(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    amount = rng.lognormal(3.0 + shift, 0.5, n)
    age = rng.normal(40, 10, n)
    age[rng.random(n) < 0.05] = np.nan
    country = rng.choice(["DE", "FR", "US", "BR"], size=n, p=[0.5, 0.3, 0.15, 0.05])
    return pd.DataFrame({"amount": amount, "age": age, "country": country})


def _probabilities(X: pd.DataFrame) -> np.ndarray:
    if (X["amount"] < 0).any():
        raise ValueError("negative amount")
    p = 1.0 / (1.0 + np.exp(-(np.log(X["amount"].to_numpy()) - 3.3) * 3))
    return np.column_stack([1 - p, p])


def _performance_findings(rng: np.random.Generator, resource: dict[str, str]) -> Findings:
    """Performance gauges of the fraud and price models, computed from predictions against known labels."""
    X = _rows(rng, 2000)
    probs = _probabilities(X)
    predicted = [CLASSES[i] for i in probs.argmax(axis=1)]
    truth = [CLASSES[int(rng.random() < p)] for p in probs[:, 1]]
    c = classification_metrics(truth, predicted)
    findings = Findings(time.time_ns(), resource)
    fraud = {conv.ATTR_MODEL_NAME: "fraud", conv.ATTR_MODEL_VERSION: "3", conv.ATTR_OUTPUT_NAME: "prediction"}
    perf, est = conv.METRIC_PERFORMANCE_PREFIX, conv.METRIC_PERFORMANCE_ESTIMATED_PREFIX
    for name, value in {
        "accuracy": c.accuracy,
        "precision.macro": c.macro_precision,
        "recall.macro": c.macro_recall,
        "f1.macro": c.macro_f1,
    }.items():
        findings.gauge(perf + name, value, fraud)
    for label, m in c.per_class.items():
        findings.gauge(perf + "f1", m.f1, {**fraud, conv.ATTR_PREDICTION_CLASS: label})
    realized_accuracy = c.accuracy
    # confidence-based estimates (CBPE-style, assuming calibrated probabilities): expected confusion counts
    chosen = probs.argmax(axis=1)
    f1s = []
    for c in range(len(CLASSES)):
        tp = probs[chosen == c, c].sum()
        fp = (1 - probs[chosen == c, c]).sum()
        fn = probs[chosen != c, c].sum()
        f1s.append(2 * tp / (2 * tp + fp + fn))
    findings.gauge(est + "accuracy", float(probs.max(axis=1).mean()), fraud)
    findings.gauge(est + "f1.macro", float(np.mean(f1s)), fraud)
    findings.gauge(conv.METRIC_LABEL_COVERAGE, 0.4, fraud)
    findings.gauge(conv.METRIC_LABEL_DELAY, 3600.0, fraud, unit="s")
    findings.gauge(conv.METRIC_CONCEPT_DRIFT_DETECTED, 0.0, {**fraud, conv.ATTR_DRIFT_METHOD: "adwin"})
    y = rng.normal(100, 20, 500)
    r = regression_metrics(list(y), list(y + rng.normal(0, 5, 500)))
    price = {conv.ATTR_MODEL_NAME: "price", conv.ATTR_MODEL_VERSION: "1", conv.ATTR_OUTPUT_NAME: "prediction"}
    findings.gauge(perf + "rmse", r.rmse, price)
    findings.gauge(perf + "mae", r.mae, price)
    findings.gauge(est + "rmse", 1.1 * r.rmse, price)
    findings.gauge(est + "mae", 1.1 * r.mae, price)
    # against the reference, and the gap of the estimate once labels arrived
    for series, metric, value in ((fraud, "accuracy", realized_accuracy), (price, "rmse", r.rmse)):
        attrs = {**series, conv.ATTR_PERFORMANCE_METRIC: metric}
        findings.gauge(conv.METRIC_PERFORMANCE_REFERENCE, value, attrs)
        findings.gauge(conv.METRIC_PERFORMANCE_REFERENCE_LOWER, 0.9 * value, attrs)
        findings.gauge(conv.METRIC_PERFORMANCE_REFERENCE_UPPER, 1.1 * value, attrs)
        findings.gauge(conv.METRIC_PERFORMANCE_CHANGE, 0.0, attrs)
    gap = {
        **fraud,
        conv.ATTR_PERFORMANCE_METRIC: "accuracy",
        conv.ATTR_WINDOW_START: "0",
        conv.ATTR_WINDOW_END: "3600",
    }
    findings.gauge(
        conv.METRIC_PERFORMANCE_ESTIMATION_GAP, float(probs.max(axis=1).mean()) - realized_accuracy, gap
    )
    findings.gauge(conv.METRIC_PERFORMANCE_ESTIMATION_GAP_Z, 0.5, gap)
    return findings


@pytest.fixture(scope="module")
def traffic(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    """Run the monitored models through a real collector (drift engine on) into the backend: three export rounds."""
    started = time.monotonic()
    rng = np.random.default_rng(7)
    references = tmp_path_factory.mktemp("references")
    reference = _rows(rng, 5000)
    profile = otel_mlmon.Profile.from_data(
        reference,
        _probabilities(reference),
        model="fraud",
        version="3",
        categorical=["country"],
        classes=CLASSES,
    )
    profile.created_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    profile.save(references / "fraud-3.json")

    dead_port = _free_port()  # nothing listens: its exporter drops after its retries
    config = parse_config(
        {
            "receivers": {"grpc": {"enabled": False}, "http": {"endpoint": "127.0.0.1:0"}},
            "health": {"endpoint": "127.0.0.1:0"},
            "self_metrics": {"enabled": True, "interval_seconds": 3600},
            "exporters": [
                {
                    "name": "victoria-metrics",
                    "signals": ["metrics"],
                    "metrics_endpoint": f"{backend.base_url}/opentelemetry/v1/metrics",
                },
                {  # a wrong path: the backend answers 4xx, the collector counts the request as rejected
                    "name": "misconfigured",
                    "signals": ["metrics"],
                    "metrics_endpoint": f"{backend.base_url}/opentelemetry/v1/no-such-path",
                },
                {
                    "name": "unreachable",
                    "signals": ["metrics"],
                    "metrics_endpoint": f"http://127.0.0.1:{dead_port}/v1/metrics",
                    "timeout_seconds": 1,
                    "retry": {
                        "initial_interval_seconds": 0.1,
                        "max_interval_seconds": 0.2,
                        "max_elapsed_seconds": 1,
                    },
                },
            ],
        },
        env={},
    )
    engine_config = DriftConfig(
        references_directory=str(references), evaluation_interval_seconds=0, reference_poll_seconds=0
    )
    collector_box: list[Collector] = []
    engine = DriftProcessor(engine_config, lambda request: collector_box[0].pipeline.emit(request))
    collector = Collector(config, processors=[engine])
    collector_box.append(collector)
    collector.start()

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"http://{collector.http_endpoint}/v1/metrics"),
        export_interval_millis=3_600_000,
    )
    meters = MeterProvider([reader], resource=Resource.create({"service.name": "fraud-api"}))
    tracer_provider = TracerProvider()  # sampled spans: the duration points carry exemplars

    @otel_mlmon.monitor(
        model="fraud",
        version="3",
        categorical=["country"],
        classes=CLASSES,
        meter_provider=meters,
        tracer_provider=tracer_provider,
    )
    def predict_proba(X: pd.DataFrame) -> np.ndarray:
        return _probabilities(X)

    @otel_mlmon.monitor(model="price", version="1", meter_provider=meters, tracer_provider=tracer_provider)
    def predict_price(X: np.ndarray) -> np.ndarray:
        return X.sum(axis=1) * 10

    def broken_rows(args: tuple, kwargs: dict) -> int:
        raise RuntimeError("row count unknown")

    @otel_mlmon.monitor(
        model="churn",
        version="5",
        batch_size=broken_rows,
        meter_provider=meters,
        tracer_provider=tracer_provider,
    )
    def predict_churn(X: np.ndarray) -> np.ndarray:
        return X[:, 0] > 0

    meters_open = True
    try:
        batches: list[tuple[pd.DataFrame, np.ndarray, np.ndarray]] = []
        for round_ in range(3):
            if round_ < 2:
                # round 1 shifts amount upward; round 2 replays round 1's rows, so every exponential histogram
                # keeps its scale between the last two exports (a rescale leaves one export without rate())
                batches = [
                    (
                        _rows(rng, 50 + 10 * i, shift=0.8 * round_),
                        rng.lognormal(1.0, 0.3, size=(8, 3)),
                        rng.normal(size=(4, 2)),
                    )
                    for i in range(20)
                ]
            for features, sizes, usage in batches:
                predict_proba(features)
                predict_price(sizes)
                predict_churn(usage)
            for _ in range(3):
                with pytest.raises(ValueError):
                    predict_proba(pd.DataFrame({"amount": [-1.0], "age": [30.0], "country": ["DE"]}))
            assert meters.force_flush(30_000)
            status = _post(f"http://{collector.http_endpoint}/v1/metrics", b"\x0a\xff not protobuf")
            assert status == 400
            engine.evaluate_now()
            collector.pipeline.emit(_performance_findings(rng, default_resource()).metrics_request())
            time.sleep(1.5)  # let the unreachable exporter give up, so drops are counted
            collector.emit_self_metrics()
            time.sleep(1.0)  # points of each counter a second apart, for rate()
        meters.shutdown()
        meters_open = False
        collector.shutdown(10)
        _get(f"{backend.base_url}/internal/force_flush")
        deadline = time.monotonic() + 30
        expected = {
            "otel_mlmon_collector_requests_dropped_total",
            "otel_mlmon_collector_requests_rejected_total",
        }
        while not expected <= backend.names():
            if time.monotonic() > deadline:
                pytest.fail(f"series never arrived; names: {sorted(backend.names())}")
            time.sleep(0.5)
            _get(f"{backend.base_url}/internal/force_flush")
        features = {"amount", "age", "country", "f0", "f1", "f2"}
        yield Traffic(time.monotonic() - started, {"fraud", "price", "churn"}, features)
    finally:
        if meters_open:
            meters.shutdown()
        collector.shutdown(5)


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-protobuf"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.*),\s*(?P<label>\w+)\)$")


def _substitute(expr: str, values: dict[str, list[str]]) -> str:
    """Replace dashboard variables as Grafana does for multi-value variables: a regex alternation."""
    for name in sorted(values, key=len, reverse=True):
        alternation = "|".join(re.escape(v) for v in values[name]) or ".*"
        expr = expr.replace("${" + name + "}", f"({alternation})").replace("$" + name, f"({alternation})")
    return expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__range", RANGE)


def _variable_values(vm: Backend, board: dict[str, Any]) -> dict[str, list[str]]:
    """Resolve each query variable in order, the way Grafana's label_values() does (series API + label)."""
    values: dict[str, list[str]] = {}
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = _LABEL_VALUES.match(variable["query"])
        assert match, f"unsupported variable query {variable['query']!r}"
        selector = _substitute(match["selector"], values)
        series = vm.api("/api/v1/series", **{"match[]": selector, "start": str(time.time() - 3600)})
        values[variable["name"]] = sorted({s[match["label"]] for s in series if match["label"] in s})
    return values


@dataclass
class Outcome:
    board: str
    panel: str
    expr: str
    series: int = 0
    error: str = ""
    labels: list[dict[str, str]] = field(default_factory=list)
    linked: bool = False


def _run_panels(vm: Backend) -> list[Outcome]:
    outcomes = []
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        board = json.loads(path.read_text())
        values = _variable_values(vm, board)
        for panel in board["panels"]:
            repeat = panel.get("repeat")
            for repeat_value in values.get(repeat, [None]) if repeat else [None]:
                local = dict(values)
                if repeat_value is not None:
                    local[repeat] = [repeat_value]
                for target in panel.get("targets", []):
                    expr = _substitute(target["expr"], local)
                    title = panel["title"] + (f" [{repeat}={repeat_value}]" if repeat_value else "")
                    outcome = Outcome(path.name, title, expr, linked=bool(panel.get("links")))
                    try:
                        result = vm.api("/api/v1/query", query=expr)["result"]
                        outcome.series = len(result)
                        outcome.labels = [r["metric"] for r in result]
                    except AssertionError as e:
                        outcome.error = str(e)
                    outcomes.append(outcome)
    return outcomes


def test_every_panel_query_returns_data(backend: Backend, traffic: Traffic) -> None:
    """Each query of each panel (variables resolved from the backend) runs without error and returns series."""
    started = time.monotonic()
    outcomes = _run_panels(backend)
    failed = [o for o in outcomes if o.error or o.series == 0]
    report = "\n".join(f"{o.board} / {o.panel}: {o.error or 'no data'}\n    {o.expr}" for o in failed)
    assert not failed, f"{len(failed)} of {len(outcomes)} panel queries failed:\n{report}"
    assert len(outcomes) >= 40
    print(
        f"\n{len(outcomes)} panel queries over {len({o.board for o in outcomes})} dashboards returned "
        f"{sum(o.series for o in outcomes)} series in {time.monotonic() - started:.2f} s "
        f"(traffic and collector: {traffic.seconds:.1f} s)"
    )


def test_trace_links_get_the_labels_they_use(backend: Backend, traffic: Traffic) -> None:
    """Panels with a trace link return series that carry ml_model_name, and $service lists the apps' services."""
    linked = [o for o in _run_panels(backend) if o.linked]
    assert len(linked) >= 4
    for outcome in linked:
        assert all("ml_model_name" in labels for labels in outcome.labels), outcome.panel
    board = json.loads((DASHBOARD_DIR / "otel-mlmon-inference.json").read_text())
    assert _variable_values(backend, board)["service"] == ["fraud-api"]


def test_variables_list_the_models_and_features_sent(backend: Backend, traffic: Traffic) -> None:
    """The model, version and feature variables list exactly what the monitored models reported."""
    board = json.loads((DASHBOARD_DIR / "otel-mlmon-drift.json").read_text())
    values = _variable_values(backend, board)
    assert set(values["model"]) == traffic.models
    assert set(values["version"]) == {"1", "3", "5"}
    assert set(values["feature"]) == traffic.features
    assert set(values["numeric_feature"]) == traffic.features - {"country"}


def test_drift_engine_flags_the_shifted_feature(backend: Backend, traffic: Traffic) -> None:
    """Real drift output reaches the panels: amount drifted in the second round, country did not."""
    detected = backend.api(
        "/api/v1/query",
        query='max by (ml_feature_name) (ml_drift_detected_ratio{ml_model_name="fraud", ml_drift_target="feature"})',
    )["result"]
    state = {r["metric"]["ml_feature_name"]: float(r["value"][1]) for r in detected}
    assert state["amount"] == 1.0
    assert state["country"] == 0.0
    missing = backend.api("/api/v1/query", query="ml_drift_reference_missing_ratio")["result"]
    assert {r["metric"]["ml_model_name"]: float(r["value"][1]) for r in missing} == {
        "fraud": 0.0,
        "price": 1.0,
        "churn": 1.0,
    }


def test_rule_metric_names_exist_in_the_backend(backend: Backend, traffic: Traffic) -> None:
    """Every metric the alerting rules read is a name the backend stores for otel-mlmon's OTLP output."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "otel-mlmon-rules.yaml").read_text())
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            expr = rule["expr"]
            labels = {
                name.strip() for names in re.findall(r"by \(([^)]*)\)", expr) for name in names.split(",")
            }
            labels |= set(re.findall(r"(\w+)\s*(?:=|!=|=~|!~)\s*\"", expr))
            used |= set(re.findall(r"\b((?:ml|otel_mlmon)_[a-z_]+)\b", expr)) - labels
    names = backend.names()
    assert used - names == set()
    generator = load_generator()
    assert {n for n in used if n in names} <= {
        n + suffix for n in generator.METRICS.values() for suffix in ("", "_bucket", "_count", "_sum")
    }


# ------------------------------------------------------------------------------- the same data in Prometheus 2.42


def _openmetrics(backend: Backend) -> tuple[str, float]:
    """Every otel-mlmon sample the backend holds, as OpenMetrics text (seconds timestamps), and the last time."""
    status, body = _get(
        f"{backend.base_url}/api/v1/export?"
        + urllib.parse.urlencode({"match[]": '{__name__=~"ml_.*|otel_mlmon_.*"}'})
    )
    assert status == 200, body[:300]
    lines, last = [], 0.0
    for row in body.decode().splitlines():
        series = json.loads(row)
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        for value, millis in zip(series["values"], series["timestamps"]):
            last = max(last, millis / 1000)
            lines.append((name, rendered, millis / 1000, repr(float(value))))
    # OpenMetrics wants each family's lines together, and a series' samples in time order
    lines.sort()
    text = "".join(f"{name}{{{labels}}} {value} {seconds:.3f}\n" for name, labels, seconds, value in lines)
    return text + "# EOF\n", last


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass
class Prometheus:
    base_url: str
    time: float

    def query(self, expr: str) -> list[dict[str, Any]]:
        status, body = _get(
            f"{self.base_url}/api/v1/query?"
            + urllib.parse.urlencode({"query": expr, "time": f"{self.time:.3f}"})
        )
        if status != 200:
            raise AssertionError(f"{expr!r} answered {status}: {body[:300]!r}")
        return json.loads(body)["data"]["result"]


@pytest.fixture(scope="module")
def prometheus_backfilled(backend: Backend, traffic: Traffic, promtool: str) -> Iterator[Prometheus]:
    """Prometheus 2.42 (Debian) started on TSDB blocks backfilled with the traffic VictoriaMetrics received."""
    binary = str(Path(promtool).with_name("prometheus"))
    if not os.access(binary, os.X_OK):
        unavailable(f"prometheus not found next to {promtool}")
    workdir = Path(tempfile.mkdtemp(prefix="otel-mlmon-deploy-prom-"))
    text, last = _openmetrics(backend)
    (workdir / "data.om").write_text(text)
    result = subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "-q",
            str(workdir / "data.om"),
            str(workdir / "tsdb"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (workdir / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    port = _free_port()
    with open(workdir / "prometheus.log", "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=10y",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while _get(f"{base}/-/ready", 2)[0] != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            unavailable(
                f"Prometheus did not start: {(workdir / 'prometheus.log').read_text(errors='replace')[-800:]}"
            )
        time.sleep(0.3)
    yield Prometheus(base, last)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def test_panel_queries_run_on_prometheus(prometheus_backfilled: Prometheus, backend: Backend) -> None:
    """Prometheus 2.42's own engine runs the Prometheus-flavour panel queries on the same data without error, and
    every query that does not read exponential histograms (stored as vmrange buckets here) returns data."""
    flavour_dir = DASHBOARD_DIR.parent / "prometheus"
    failed, ran, histogram = [], 0, 0
    for path in sorted(flavour_dir.glob("*.json")):
        board = json.loads(path.read_text())
        values = _variable_values(backend, board)
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = _substitute(target["expr"], values)
                ran += 1
                try:
                    result = prometheus_backfilled.query(expr)
                except AssertionError as e:
                    failed.append(f"{path.name} / {panel['title']}: {e}")
                    continue
                reads_native = re.search(r"\b(ml_feature_distribution|ml_prediction_confidence)\{", expr)
                if reads_native:
                    histogram += 1
                elif not result:
                    failed.append(f"{path.name} / {panel['title']}: no data\n    {expr}")
    assert not failed, "\n".join(failed)
    assert ran >= 45 and histogram == 6
    print(
        f"\nPrometheus 2.42 ran {ran} panel queries; {ran - histogram} returned data, {histogram} read native histograms"
    )
