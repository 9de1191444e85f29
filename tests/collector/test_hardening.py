"""Issue 16 against collector processes: poison requests, protocol gaps, failing stores, self-metrics, retries.

Most tests start a real ``python -m otel_mlmon_collector`` on loopback and check its answers and its stderr (no
traceback); the rest use an in-process collector with its real receivers where a fault must be injected.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._otlp import OtlpRequest

from otel_mlmon import conventions as conv
from tests.collector.drift_engine._helpers import FEATURES, Replica, make_data
from tests.collector.drift_engine.test_isolation import _poison
from tests.collector.ground_truth._helpers import full_disk, prediction_log

from ._process import CollectorProcess, fraud_references, metric_points
from .conftest import collector_config, wait_until


@pytest.fixture
def references(tmp_path: Path) -> Path:
    return fraud_references(tmp_path, 5_000)


@pytest.fixture
def drift_collector(tmp_path: Path, references: Path) -> Iterator[CollectorProcess]:
    drift = {
        "evaluation_interval_seconds": 0.5,
        "references": {"directory": str(references), "poll_interval_seconds": 0.5},
    }
    with CollectorProcess(tmp_path, {"drift": drift}) as process:
        yield process


def _healthy_payload() -> bytes:
    replica = Replica("delta", model="fraud")
    replica.predict(make_data(np.random.default_rng(3), 500))
    payload = replica.export().payload
    replica.shutdown()
    return payload


def test_poison_request_and_protocol_gaps_against_a_collector_process(
    drift_collector: CollectorProcess,
) -> None:
    """The issue's 374-byte request, deeply nested JSON, HEAD/OPTIONS/PATCH and HTTP/0.9: the healthy model
    keeps being evaluated, every answer is the OTLP one, and the collector logs no traceback."""
    c = drift_collector
    assert c.post("/v1/metrics", _healthy_payload())[0] == 200
    for request in _poison():
        assert c.post("/v1/metrics", request.payload)[0] == 200  # accepted: OTLP answers 200, points refused

    def fraud_evaluated() -> Any:
        models = c.get_health()[1].get("drift", {}).get("models", [])
        return [m for m in models if m["model"] == "fraud" and m["features_checked"] == len(FEATURES)]

    wait_until(fraud_evaluated, 30, what="fraud evaluated after the poison request")

    # deeply nested JSON: 400, not a RecursionError and a dropped connection
    nested = b'{"resourceMetrics": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, body = c.post("/v1/metrics", nested, "application/json")
    assert status == 400 and b"nested too deeply" in body
    nested_object = (
        b'{"resourceMetrics": [{"resource": {"attributes": [{"key": "k", "value": '
        + (b'{"kvlistValue": {"values": [{"key": "k", "value": ' * 5000)
        + b"{}"
        + b"}]}}" * 5000
        + b"}]}}]}"
    )
    assert c.post("/v1/metrics", nested_object, "application/json")[0] == 400

    # other methods: 405 with Allow: POST
    for method in ("HEAD", "OPTIONS", "PATCH", "GET", "PUT", "DELETE"):
        connection = http.client.HTTPConnection(c.http, timeout=10)
        connection.request(method, "/v1/metrics")
        response = connection.getresponse()
        assert (response.status, response.getheader("Allow")) == (405, "POST"), method
        connection.close()

    for method in ("HEAD", "POST", "OPTIONS", "PATCH"):  # the health endpoint answers GET only
        connection = http.client.HTTPConnection(c.health, timeout=10)
        connection.request(method, "/health")
        assert connection.getresponse().status == 405, method
        connection.close()

    # HTTP/0.9: no headers to answer with; the connection is closed, nothing is logged as an error
    with socket.create_connection(tuple(c.http.split(":")), timeout=10) as raw:  # type: ignore[arg-type]
        raw.sendall(b"GET /v1/metrics\r\n\r\n")
        assert raw.recv(1024) == b""
    assert c.post("/v1/metrics", _healthy_payload())[0] == 200  # still serving
    assert c.stop() == 0
    log = c.log()
    assert "Traceback" not in log and "RecursionError" not in log, log


def test_an_unwritable_store_path_is_a_configuration_error_exit_2(tmp_path: Path) -> None:
    """Before, a store directory that cannot be written gave a traceback and exit 1 ("shutdown deadline")."""
    (tmp_path / "blocker").write_text("a file where the store's directory should be")
    path = tmp_path / "blocker" / "state" / "gt.sqlite"
    process = CollectorProcess(tmp_path, {"ground_truth": {"path": str(path)}})
    assert process.wait(60) == 2
    log = process.log()
    assert "configuration error" in log and "ground_truth.path" in log and str(path) in log, log
    assert "Traceback" not in log, log


def test_window_statistics_and_stream_failures_are_exported_as_self_metrics(
    make_collector, references: Path
) -> None:  # type: ignore[no-untyped-def]
    """Before, WindowStats (dropped streams, invalid and late points) were not exported."""
    sink = InMemoryExporter("sink")
    collector = make_collector(
        collector_config(
            drift={"evaluation_interval_seconds": 0, "references": {"directory": str(references)}},
            self_metrics={"enabled": True, "interval_seconds": 3600},
        ),
        exporters={"sink": sink},
    )
    for request in _poison():
        collector.pipeline.accept(request, "http")
    collector.emit_self_metrics()

    def window_points() -> dict[tuple[str, str], int]:
        # the sink also receives the poison requests themselves: read only the self-metrics
        points = metric_points(sink, conv.METRIC_COLLECTOR_DRIFT_WINDOWS)
        return {(attrs[conv.ATTR_COUNTER], attrs[conv.ATTR_STORE]): p.as_int for attrs, p in points}

    wait_until(window_points, 10, what="self-metrics")
    points = window_points()
    assert points[("invalid_points", "current")] == 2
    assert {name for name, _ in points} == {f.name for f in dataclasses.fields(collector.drift.windows.stats)}


def test_a_request_refused_for_back_pressure_and_retried_is_counted_once(
    make_collector, references: Path
) -> None:  # type: ignore[no-untyped-def]
    """Before, processors saw the request before it was queued: refused, then retried, it counted twice."""

    class Stuck(InMemoryExporter):
        def __init__(self) -> None:
            super().__init__("stuck")
            self.release = threading.Event()

        def export(self, request: OtlpRequest) -> Any:
            self.release.wait(30)
            return super().export(request)

    stuck = Stuck()
    collector = make_collector(
        collector_config(
            drift={"evaluation_interval_seconds": 0, "references": {"directory": str(references)}},
            queue={"max_requests": 1, "workers": 1},
        ),
        exporters={"stuck": stuck},
    )
    payload = _healthy_payload()
    request = OtlpRequest("metrics", payload, ExportMetricsServiceRequest.FromString(payload))
    stats = collector.drift.windows.stats
    collector.pipeline.accept(request, "http")  # taken by the worker, which blocks
    wait_until(lambda: len(collector.pipeline.lanes[0].queue) == 0, 10, what="the worker to take it")
    collector.pipeline.accept(request, "http")  # fills the queue
    read = stats.points
    refused = collector.pipeline.accept(request, "http")
    assert refused.value == "backpressure"
    assert stats.points == read  # the refused request was not observed
    stuck.release.set()
    wait_until(lambda: collector.pipeline.accept(request, "http").value == "accepted", 10, what="the retry")
    assert stats.points == 3 * read // 2


def test_store_write_failures_are_counted_and_make_health_degraded(make_collector, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Before, a full disk lost 87 % of the predictions with 200 answers, health 200 and no counter."""
    collector = make_collector(
        collector_config(
            ground_truth={"path": str(tmp_path / "gt.sqlite"), "evaluation_interval_seconds": 0},
            self_metrics={"enabled": False},
        )
    )
    message = ExportLogsServiceRequest()
    message.resource_logs.add().scope_logs.add().log_records.extend(
        [prediction_log(f"p{i}", "yes", time_unix_nano=time.time_ns()) for i in range(100)]
    )
    label_join = collector.performance.label_join
    # The join store's disk is full; the windows' own file is fine (they keep their rows in memory meanwhile).
    with full_disk(label_join.store), mock.patch.object(label_join.windows, "_db", None):
        url = f"http://{collector.http_endpoint}/v1/logs"
        req = urllib.request.Request(
            url, message.SerializeToString(), {"Content-Type": "application/x-protobuf"}
        )
        assert urllib.request.urlopen(req, timeout=10).status == 200  # forwarded all the same
        assert collector.performance.write_failures() == {"predictions": 100}
        status = collector.status()
        assert status["status"] == "degraded" and "disk is full" in status["problems"][0]
        with urllib.request.urlopen(f"http://{collector.health_endpoint}/health", timeout=10) as response:
            assert response.status == 200 and json.loads(response.read())["status"] == "degraded"
        request = collector.metrics.to_request()
        names = {m.name for m in request.message.resource_metrics[0].scope_metrics[0].metrics}
        assert conv.METRIC_COLLECTOR_STORE_FAILURES in names
    collector.performance.process(OtlpRequest("logs", message.SerializeToString(), message))
    assert collector.status()["status"] == "serving"


def test_queue_room_is_reserved_before_a_body_is_read_and_decoded(make_collector) -> None:  # type: ignore[no-untyped-def]
    """Before, 12 concurrent 60 MiB JSON bodies were all read and decoded (1.9 GB) before the queue bound was
    checked. Now a body in flight holds its room: a second large body is refused before it is read."""
    collector = make_collector(collector_config(queue={"max_bytes": 4 << 20}))
    host, port = collector.http_endpoint.split(":")
    body = json.dumps(
        {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x" * 900_000}}]}]}]}
    )
    head = (
        f"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as slow:
        slow.sendall(head + body[:1000].encode())  # the first body is in flight: 4 x 900 kB of room reserved
        wait_until(lambda: collector.pipeline._reserved > 0, 10, what="the reservation")
        connection = http.client.HTTPConnection(collector.http_endpoint, timeout=10)
        connection.request("POST", "/v1/logs", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 503 and response.getheader("Retry-After")
        connection.close()
        slow.sendall(body[1000:].encode())
        assert slow.recv(100).startswith(b"HTTP/1.1 200")
    wait_until(lambda: collector.pipeline._reserved == 0, 10, what="the release")
    # the first body is exported before its queue room is free again (slow on a busy machine)
    wait_until(lambda: collector.status()["queues"]["console"]["size"] == 0, 30, what="the export")
    connection = http.client.HTTPConnection(collector.http_endpoint, timeout=10)
    connection.request("POST", "/v1/logs", body=body, headers={"Content-Type": "application/json"})
    assert connection.getresponse().status == 200
