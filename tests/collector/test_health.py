"""Health endpoint: 200 while serving, 503 otherwise, with queue depths."""

from __future__ import annotations

from collections.abc import Callable

import requests
from otel_mlmon_collector import Collector

from .conftest import collector_config


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
