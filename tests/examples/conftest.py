"""Fixtures for the example tests: a real collector on free loopback ports, and readers of what it received."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from otel_mlmon_collector._config import parse_config
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._service import Collector

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last value: {last!r})")


def http_status(url: str, timeout: float = 2.0) -> int:
    """The HTTP status of a GET (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return 0


class Received:
    """Read back the spans and metric points a collector's in-memory exporter captured."""

    def __init__(self, exporter: InMemoryExporter) -> None:
        self.exporter = exporter

    def spans(self, name: str | None = None) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) pairs, optionally only spans of that name."""
        out = []
        for request in self.exporter.requests("traces"):
            for rs in request.decoded().resource_spans:
                resource = _attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    out += [(resource, s) for s in ss.spans if name is None or s.name == name]
        return out

    def points(self, metric: str) -> list[tuple[dict[str, Any], dict[str, Any], Any]]:
        """(resource attributes, point attributes, data point) of every exported point of ``metric``."""
        out = []
        for request in self.exporter.requests("metrics"):
            for rm in request.decoded().resource_metrics:
                resource = _attrs(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        if m.name != metric:
                            continue
                        data = getattr(m, m.WhichOneof("data"))
                        out += [(resource, _attrs(p.attributes), p) for p in data.data_points]
        return out

    def total(self, metric: str, value: Callable[[Any], float] | None = None, **where: str) -> float:
        """Sum over processes and series of the latest value of a cumulative metric, for points matching ``where``.

        A series is (process's ``service.instance.id``, point attributes, start time); its latest cumulative
        value is its largest. ``value`` reads a point (default: a sum's value; ``lambda p: p.count`` for histograms).
        """
        read = value or (lambda p: p.as_int if p.WhichOneof("value") == "as_int" else p.as_double)
        latest: dict[tuple, float] = {}
        for resource, attrs, point in self.points(metric):
            if any(attrs.get(k) != v for k, v in where.items()):
                continue
            key = (
                resource.get("service.instance.id"),
                tuple(sorted(attrs.items())),
                point.start_time_unix_nano,
            )
            latest[key] = max(latest.get(key, 0.0), read(point))
        return sum(latest.values())


def _attrs(key_values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in key_values:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


def collector_with(exporter: InMemoryExporter, **sections: Any) -> Collector:
    """A started collector on free loopback ports whose only exporter is ``exporter``."""
    data: dict[str, Any] = {
        "receivers": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}},
        "health": {"endpoint": "127.0.0.1:0"},
        "self_metrics": {"enabled": False},
        **sections,
    }
    collector = Collector(parse_config(data, env={}), exporters={"captured": exporter})
    collector.start()
    return collector


@pytest.fixture
def collector() -> Iterator[tuple[Collector, Received]]:
    """A real otel-mlmon collector on loopback, capturing everything it receives in memory."""
    exporter = InMemoryExporter("captured")
    running = collector_with(exporter)
    try:
        yield running, Received(exporter)
    finally:
        running.shutdown(5)


def otel_env(collector: Collector, **extra: str) -> dict[str, str]:
    """The environment of an example process: OTLP/HTTP to the collector, nothing inherited from OTEL_* here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{collector.http_endpoint}", PYTHONUNBUFFERED="1", **extra)
    return env


def run_example(script: Path, *args: str, env: dict[str, str], timeout: float = 90) -> str:
    """Run an example script to completion in its own process; return its stdout (fail with its stderr)."""
    done = subprocess.run(
        [sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
