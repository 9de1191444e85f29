"""Sharded collectors: three real otel-mlmon-collector processes behind a load-balancing router give the same
drift and performance findings as one collector fed the same traffic.

The router is ``_lb_router.LoadBalancingRouter``, a stand-in for the OpenTelemetry Collector's load-balancing
exporter (its ring and its ``routing_key: attributes`` split, ``routing_attributes: [ml.model.name]``), because the
Collector binary cannot be installed here. The SDK exports every signal twice, once to the router and once to a
fourth, unsharded collector, so both sides see the same traffic at the same time; labels come from another
process's resource (``service.name: label-job``), as a label job's would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon._log_pipeline import log_record_processor
from otel_mlmon.profile import Profile
from tests.e2e._lb_router import HashRing, LoadBalancingRouter, split_logs, split_metrics
from tests.sdk.otlp_sink import OTLPSink

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["f0", "f1", "f2", "f3", "f4"]
#: The routing attributes of the shipped load-balancing config (the router uses what users deploy).
ROUTING = next(
    e["routing_attributes"]
    for e in yaml.safe_load((ROOT / "collector" / "otelcol-loadbalancing.yaml").read_text())[
        "exporters"
    ].values()
    if e.get("routing_key") == "attributes"
)
#: Findings that depend on when they were computed, not on the traffic.
TIME_DEPENDENT = {conv.METRIC_MODEL_AGE}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kv(key: str, value: str):
    from opentelemetry.proto.common.v1 import common_pb2

    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


# -- the router's hashing and splits, checked against the exporter's own test vectors (fast, not e2e) -----------


def test_ring_positions_and_lookups_match_the_load_balancing_exporters_test_vectors() -> None:
    """consistent_hashing_test.go: 5 positions per endpoint for endpoint-1/-2, and two trace ids' owners."""
    assert HashRing(["endpoint-1", "endpoint-2"], weight=5).items() == [
        (1401, "endpoint-1"),
        (4175, "endpoint-1"),
        (10240, "endpoint-2"),
        (14133, "endpoint-1"),
        (15002, "endpoint-2"),
        (17836, "endpoint-1"),
        (21263, "endpoint-2"),
        (21667, "endpoint-1"),
        (26806, "endpoint-2"),
        (27020, "endpoint-2"),
    ]
    ring = HashRing(["endpoint-1", "endpoint-2"])
    assert len(ring.items()) == 200
    assert ring.endpoint_for(bytes([1, 2] + [0] * 14)) == "endpoint-1"
    assert ring.endpoint_for(bytes([128, 128] + [0] * 14)) == "endpoint-2"


def test_metrics_split_per_point_and_logs_per_resource_by_the_routing_attribute() -> None:
    """Points of two models in one ResourceMetrics go under their own keys; a ResourceLogs goes under the key of
    its resource attribute, or of its first record when the resource has none."""
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(_kv("service.name", "scoring"))
    metric = rm.scope_metrics.add().metrics.add(name=conv.METRIC_PREDICTIONS)
    for model in ("fraud", "churn"):
        metric.sum.data_points.add(as_int=1).attributes.append(_kv(conv.ATTR_MODEL_NAME, model))
    keys = [
        (key, part.scope_metrics[0].metrics[0].sum.data_points[0].attributes[0].value.string_value)
        for key, part in split_metrics(request, ROUTING)
    ]
    assert keys == [("fraud", "fraud"), ("churn", "churn")]

    logs = logs_service_pb2.ExportLogsServiceRequest()
    by_resource = logs.resource_logs.add()
    by_resource.resource.attributes.append(_kv(conv.ATTR_MODEL_NAME, "fraud"))
    by_record = logs.resource_logs.add()
    records = by_record.scope_logs.add().log_records
    for model in ("churn", "fraud"):  # the second record follows the first one's key
        records.append(logs_pb2.LogRecord(attributes=[_kv(conv.ATTR_MODEL_NAME, model)]))
    assert [key for key, _ in split_logs(logs, ROUTING)] == ["fraud", "churn"]


# -- the end-to-end proof --------------------------------------------------------------------------------------


class _Replica:
    """One real otel-mlmon-collector process (``python -m otel_mlmon_collector --config FILE``)."""

    def __init__(self, name: str, directory: Path, references: Path, sink: OTLPSink) -> None:
        self.name = name
        self.grpc = f"127.0.0.1:{_free_port()}"
        self.http = f"127.0.0.1:{_free_port()}"
        self.health = f"127.0.0.1:{_free_port()}"
        config = {
            "receivers": {"grpc": {"endpoint": self.grpc}, "http": {"endpoint": self.http}},
            "health": {"endpoint": self.health},
            "self_metrics": {"enabled": False},
            "exporters": [
                {
                    "name": "findings",
                    "signals": ["metrics"],
                    "protocol": "http/protobuf",
                    "metrics_endpoint": f"http://127.0.0.1:{sink.http_port}/v1/metrics",
                }
            ],
            "drift": {
                "references": {"directory": str(references)},
                "evaluation_interval_seconds": 1,
            },
            "ground_truth": {
                "path": str(directory / f"{name}.sqlite"),
                "window_seconds": 3600,
                "evaluation_interval_seconds": 1,
            },
            "service": {"log_level": "WARNING"},
        }
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "collector")])}
        for variable in [v for v in env if v.startswith("OTEL_")]:
            del env[variable]
        self.log = (directory / f"{name}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "otel_mlmon_collector", "--config", str(path)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"{self.name} exited: see {self.log.name}"
            try:
                with urllib.request.urlopen(f"http://{self.health}/health", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def _latest_findings(sink: OTLPSink, since_ns: int) -> dict[tuple, float]:
    """(metric, point attributes, service.instance.id of the replica) → value of the newest gauge point."""
    newest: dict[tuple, tuple[int, float]] = {}
    for resource, _scope, metric in sink.metrics():
        if not metric.HasField("gauge") or metric.name in TIME_DEPENDENT:
            continue
        instance = next(
            (kv.value.string_value for kv in resource.attributes if kv.key == "service.instance.id"), ""
        )
        for point in metric.gauge.data_points:
            if point.time_unix_nano <= since_ns:
                continue
            attributes = tuple(sorted((kv.key, _value(kv.value)) for kv in point.attributes))
            key = (metric.name, attributes, instance)
            value = point.as_double if point.HasField("as_double") else float(point.as_int)
            if key not in newest or point.time_unix_nano >= newest[key][0]:
                newest[key] = (point.time_unix_nano, value)
    return {key: value for key, (_t, value) in newest.items()}


def _per_model(found: dict[tuple, float]) -> tuple[dict[tuple, float], dict[tuple, set[str]]]:
    """The findings of a model (keyed without the replica) and which replicas emitted each."""
    values: dict[tuple, float] = {}
    sources: dict[tuple, set[str]] = {}
    for (name, attributes, instance), value in found.items():
        if _model_of((name, attributes)):
            values[(name, attributes)] = value
            sources.setdefault((name, attributes), set()).add(instance)
    return values, sources


def _replica_totals(found: dict[tuple, float]) -> dict[tuple, float]:
    """Replica-wide gauges (no model: the label store's record counts), summed over replicas."""
    totals: dict[tuple, float] = {}
    for (name, attributes, _instance), value in found.items():
        if not _model_of((name, attributes)):
            totals[(name, attributes)] = totals.get((name, attributes), 0.0) + value
    return totals


def _value(value) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _model_of(key: tuple) -> str:
    return dict(key[1]).get(conv.ATTR_MODEL_NAME, "")


def _pick_models(ring: HashRing, count: int) -> list[str]:
    """``count`` model names, the first ones covering every replica of the ring (so each one gets work)."""
    owners = {endpoint for _, endpoint in ring.items()}
    names, covered = [], set()
    for i in range(1000):
        name = f"model-{i}"
        owner = ring.endpoint_for(name.encode())
        if owner not in covered or len(covered) == len(owners):
            names.append(name)
            covered.add(owner)
        if len(names) == count:
            return names
    raise AssertionError("no model names cover the ring")


@pytest.mark.e2e
def test_three_replicas_behind_the_router_find_what_one_collector_finds(tmp_path: Path) -> None:
    """Four models with labels (one with two shifted features): each model's metrics and labels reach one shard,
    every shard gets a model, and the shards' drift and performance findings equal the single collector's."""
    rng = np.random.default_rng(17)
    references = tmp_path / "profiles"
    sharded_sink, single_sink = OTLPSink().start(), OTLPSink().start()
    shards = [_Replica(f"shard-{i}", tmp_path, references, sharded_sink) for i in range(3)]
    single = _Replica("single", tmp_path, references, single_sink)
    replicas = [*shards, single]
    router = LoadBalancingRouter([shard.grpc for shard in shards], ROUTING)
    models = _pick_models(router.ring, 4)
    drifted = models[0]
    for model in models:
        train = rng.normal(size=(5_000, len(FEATURES)))
        Profile.from_data(train, model=model, version="1", feature_names=FEATURES).save(
            references / f"{model}.json.gz"
        )

    def exporters(kind):
        # A request the exporter gives up on (10 s by default) is lost, and on a busy 2-core machine four
        # collectors, the router and this process can take longer than that to answer one.
        return [
            kind(endpoint=f"{url}/v1/{'metrics' if kind is OTLPMetricExporter else 'logs'}", timeout=120)
            for url in (router.url, f"http://{single.http}")
        ]

    meters = MeterProvider(
        resource=Resource.create({"service.name": "scoring"}),
        metric_readers=[
            PeriodicExportingMetricReader(e, export_interval_millis=3_600_000)
            for e in exporters(OTLPMetricExporter)
        ],
    )
    loggers = LoggerProvider(resource=Resource.create({"service.name": "scoring"}))
    label_job = LoggerProvider(resource=Resource.create({"service.name": "label-job"}))
    for provider in (loggers, label_job):
        for exporter in exporters(OTLPLogExporter):
            provider.add_log_record_processor(log_record_processor(exporter))
    try:
        deadline = time.monotonic() + 90  # four processes import numpy, scipy, grpc at once: slow when busy
        for replica in replicas:
            replica.wait_ready(deadline)
        truth: dict[str, tuple[list[str], list[str], list[str]]] = {}
        for model in models:
            predict_proba = otel_mlmon.monitor(
                model=model,
                version="1",
                feature_names=FEATURES,
                classes=["no", "yes"],
                record_predictions=1.0,
                trace=False,
                meter_provider=meters,
                logger_provider=loggers,
            )(lambda X: np.column_stack([1 / (1 + np.exp(X[:, 0])), 1 / (1 + np.exp(-X[:, 0]))]))
            ids, labels, predicted = [], [], []
            for _ in range(3):
                X = rng.normal(size=(300, len(FEATURES)))
                if model == drifted:
                    X[:, 1] += 1.0
                    X[:, 3] *= 2.0
                proba = predict_proba(X)
                ids += list(otel_mlmon.last_prediction_ids())
                predicted += ["yes" if p > 0.5 else "no" for p in proba[:, 1]]
                labels += ["yes" if u < p else "no" for u, p in zip(rng.random(300), proba[:, 1])]
            truth[model] = (ids, labels, predicted)
        otel_mlmon.flush()
        for model, (ids, labels, _) in truth.items():
            otel_mlmon.record_ground_truth(
                model=model, prediction_id=ids[:600], value=labels[:600], logger_provider=label_job
            )
        assert all(p.force_flush(timeout_millis=150_000) for p in (meters, loggers, label_job))
        done_ns = time.time_ns()

        def missing(sink: OTLPSink) -> list[str]:
            """What is not there yet: every prediction and label joined, every model's drift evaluated after the
            last request (drift is emitted every cycle, performance when a window changed)."""
            per_model, _ = _per_model(_latest_findings(sink, 0))
            counts = {
                (k[0], _model_of(k)): v
                for k, v in per_model.items()
                if k[0] in (conv.METRIC_PERFORMANCE_PREDICTED, conv.METRIC_PERFORMANCE_LABELLED)
            }
            after = {
                _model_of(k) for k in _latest_findings(sink, done_ns) if k[0] == conv.METRIC_DRIFT_DETECTED
            }
            gaps = [
                f"{m}: {counts.get((conv.METRIC_PERFORMANCE_PREDICTED, m))} of 900 predicted, "
                f"{counts.get((conv.METRIC_PERFORMANCE_LABELLED, m))} of 600 labelled"
                for m in models
                if counts.get((conv.METRIC_PERFORMANCE_PREDICTED, m)) != 900
                or counts.get((conv.METRIC_PERFORMANCE_LABELLED, m)) != 600
            ]
            return gaps + [
                f"{m}: no drift evaluated after the last request" for m in models if m not in after
            ]

        def complete(sink: OTLPSink) -> dict[tuple, float]:
            """The findings once nothing is ``missing``; else empty."""
            return {} if missing(sink) else _latest_findings(sink, 0)

        end = time.monotonic() + 90
        while not (complete(sharded_sink) and complete(single_sink)):
            assert time.monotonic() < end, (
                f"not every prediction and label was joined and evaluated in 90 s: sharded {missing(sharded_sink)}, "
                f"single {missing(single_sink)}; router {router.failures}"
            )
            time.sleep(0.5)
        time.sleep(2.5)  # two more evaluation cycles: nothing may change any more
        sharded_found, single_found = complete(sharded_sink), complete(single_sink)
    finally:
        meters.shutdown()
        loggers.shutdown()
        label_job.shutdown()
        router.close()
        for replica in replicas:
            replica.stop()
        sharded_sink.stop()
        single_sink.stop()

    # Routing: one key per model for both signals, metrics and labels of a model to the same shard, all shards used.
    owner = {model: router.ring.endpoint_for(model.encode()) for model in models}
    for (signal, key), endpoint in router.routed.items():
        assert key in owner, f"{signal} routed under {key!r}, not a model name"
        assert endpoint == owner[key]
    assert {signal for signal, _ in router.routed} == {"metrics", "logs"}
    assert router.mixed["metrics"] > 0 and router.mixed["logs"] > 0  # requests held several models: split
    assert set(owner.values()) == {shard.grpc for shard in shards}
    # Each model's findings come from exactly one shard (one service.instance.id).
    sharded, sources = _per_model(sharded_found)
    single, _ = _per_model(single_found)
    for model in models:
        instances = set().union(*(i for key, i in sources.items() if _model_of(key) == model))
        assert len(instances) == 1, f"{model}'s findings come from {instances}"

    # The findings: the same series, the same values; replica-wide counts add up to the single collector's.
    assert sorted(sharded) == sorted(single)
    for key, value in single.items():
        assert sharded[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert _replica_totals(sharded_found) == _replica_totals(single_found)
    detected = {
        dict(key[1]).get(conv.ATTR_FEATURE_NAME)
        for key, v in sharded.items()
        if key[0] == conv.METRIC_DRIFT_DETECTED and _model_of(key) == drifted and v == 1.0
    }
    assert {"f1", "f3"} <= detected
    for model, (_ids, labels, predicted) in truth.items():
        (accuracy,) = [
            v
            for key, v in sharded.items()
            if key[0] == conv.METRIC_PERFORMANCE_ACCURACY and _model_of(key) == model
        ]
        assert accuracy == pytest.approx(np.mean(np.array(labels[:600]) == np.array(predicted[:600])))
