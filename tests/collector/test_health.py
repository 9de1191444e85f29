"""Health endpoint: 200 while serving, 503 otherwise, with queue depths and drift findings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import requests
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from otel_mlmon_collector import Collector
from otel_mlmon_collector._otlp import OtlpRequest

import otel_mlmon
from otel_mlmon import Profile
from otel_mlmon.testing import InMemoryTelemetry

from .conftest import collector_config, wait_until


def test_health_reports_serving_and_queues(make_collector: Callable[..., Collector]) -> None:
    """GET /health answers 200 with status serving and each exporter's queue size and capacity."""
    collector = make_collector(collector_config(queue={"max_requests": 17}))
    response = requests.get(f"http://{collector.health_endpoint}/health", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "serving"
    assert body["queues"] == {"console": {"size": 0, "capacity": 17}}
    assert body["uptime_seconds"] >= 0
    assert requests.get(f"http://{collector.health_endpoint}/other", timeout=5).status_code == 404


def test_health_is_503_while_stopping(make_collector: Callable[..., Collector]) -> None:
    """A collector that is stopping answers 503 so load balancers stop sending traffic."""
    collector = make_collector()
    collector._state = "stopping"
    response = requests.get(f"http://{collector.health_endpoint}/health", timeout=5)
    assert response.status_code == 503
    assert response.json()["status"] == "stopping"


def test_health_shows_drift_findings_per_model(
    make_collector: Callable[..., Collector], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With drift on, /health lists each model's checked and drifted features and the log gets a summary line."""
    rng = np.random.default_rng(3)
    train = {"amount": rng.normal(100, 10, 5_000), "age": rng.normal(40, 5, 5_000)}
    Profile.from_data(train, model="fraud", version="1").save(tmp_path / "fraud-1.json")
    collector = make_collector(
        collector_config(
            drift={"references": {"directory": str(tmp_path)}, "evaluation_interval_seconds": 0}
        ),
        drift_summary_seconds=0.1,
    )
    body = requests.get(f"http://{collector.health_endpoint}/health", timeout=5).json()
    assert body["drift"] == {"enabled": True, "evaluated_at": None, "models": []}
    assert body["ground_truth"] == {"enabled": False}

    telemetry = InMemoryTelemetry("delta")

    @otel_mlmon.monitor(model="fraud", version="1", trace=False, max_rows=None, **telemetry.providers)
    def predict(batch: dict[str, np.ndarray]) -> np.ndarray:
        return batch["amount"] > 100

    predict({"amount": rng.normal(130, 10, 2_000), "age": rng.normal(40, 5, 2_000)})
    message = encode_metrics(telemetry.collect())
    telemetry.shutdown()
    collector.pipeline.accept(OtlpRequest("metrics", message.SerializeToString(), message), "http")
    with caplog.at_level(logging.INFO, logger="otel_mlmon_collector"):
        assert collector.drift is not None
        collector.drift.evaluate_now()
        line = wait_until(
            lambda: [r.getMessage() for r in caplog.records if r.getMessage().startswith("drift at ")],
            10,
            what="the drift summary line",
        )[0]
    assert "fraud 1: 1 of 2 features drifted (amount)" in line and "2000 rows" in line, line
    drift = requests.get(f"http://{collector.health_endpoint}/health", timeout=5).json()["drift"]
    assert drift["evaluated_at"] is not None
    (model,) = drift["models"]
    assert model["model"] == "fraud" and model["version"] == "1" and model["rows"] == 2_000
    assert model["features_checked"] == 2 and model["features_drifted"] == ["amount"]
    assert model["reference"].endswith("fraud-1.json")


def test_slow_clients_on_the_health_endpoint_cost_no_thread(make_collector: Callable[..., Collector]) -> None:
    """Before, each connection to /health took a thread (http.server); 60 clients sending headers slowly now
    cost a socket each, and a probe is still answered at once."""
    import socket
    import threading

    collector = make_collector()
    host, port = collector.health_endpoint.rsplit(":", 1)
    before = threading.active_count()
    slow = [socket.create_connection((host, int(port)), timeout=5) for _ in range(60)]
    try:
        for s in slow:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        assert requests.get(f"http://{collector.health_endpoint}/health", timeout=5).status_code == 200
        assert threading.active_count() <= before + 2  # the health server's one worker, perhaps started now
    finally:
        for s in slow:
            s.close()


def test_a_probe_arriving_as_the_endpoint_starts_is_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    """An orchestrator probes as soon as the port is open: the first request, sent the moment the server
    starts (before ``start()`` returns), gets the status rather than an internal error."""
    from otel_mlmon_collector import _health
    from otel_mlmon_collector._receivers._http_server import HttpServer

    answers: list[int] = []
    original = HttpServer.start

    def start_and_probe(self: HttpServer) -> None:
        original(self)
        host, port = self.address
        answers.append(requests.get(f"http://{host}:{port}/health", timeout=5).status_code)

    monkeypatch.setattr(HttpServer, "start", start_and_probe)
    server = _health.HealthServer("127.0.0.1:0", lambda: {"status": "serving"})
    server.start()
    try:
        assert answers == [200]
    finally:
        server.shutdown()
