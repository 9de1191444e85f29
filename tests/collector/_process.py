"""A real ``python -m otel_mlmon_collector --config FILE`` on loopback, for the tests that need a process.

One class for the hardening, fuzz, slow-client, authentication, memory and kill -9 tests: it writes the
configuration with fresh loopback ports, drops the environment variables that would override it, collects stderr
on a thread (so a chatty process never blocks on a full pipe), waits for ``/health`` and stops with SIGTERM.
Beside it, what those tests also share: a reference directory for drift, and reading a sink's metric points.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter

from otel_mlmon import Profile
from tests.collector.drift_engine._helpers import FEATURES, make_data

from .conftest import free_port, wait_until

#: Variables that would point the process elsewhere than its file says (exporters, SDK signals, our overrides).
ENV_DROP = ("OTEL_EXPORTER_OTLP", "OTEL_MLMON", "OTEL_TRACES", "OTEL_METRICS", "OTEL_LOGS")


class CollectorProcess:
    """The collector as a process: ``http``, ``grpc`` and ``health`` are its ``host:port`` addresses.

    Args:
        tmp_path: Where ``collector.yaml`` is written.
        config: The configuration file's sections; the receivers' and the health endpoint's addresses are
            filled in (other ``receivers`` settings are kept).
        grpc: Serve OTLP/gRPC too (off by default: most tests speak HTTP, and it costs threads and memory).

    Used as a context manager, it waits until serving on entry and stops on exit.
    """

    def __init__(self, tmp_path: Path, config: dict[str, Any], grpc: bool = False) -> None:
        ports: set[int] = set()
        while len(ports) < 3:  # three distinct ports, even if the kernel hands one out twice
            ports.add(free_port())
        self.http, self.grpc, self.health = (f"127.0.0.1:{port}" for port in sorted(ports))
        receivers = dict(config.get("receivers", {}))
        receivers["http"] = {"endpoint": self.http, **receivers.get("http", {})}
        receivers["grpc"] = {"endpoint": self.grpc, "enabled": grpc, **receivers.get("grpc", {})}
        config = {"health": {"endpoint": self.health}, **config, "receivers": receivers}
        path = tmp_path / "collector.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_DROP)}
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "otel_mlmon_collector", "--config", str(path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        #: stderr so far, line by line.
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.popen.stderr), daemon=True)  # type: ignore[arg-type]
        self._reader.start()

    def __enter__(self) -> CollectorProcess:
        try:
            self.wait_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_serving(self, timeout: float = 30.0) -> None:
        """Wait until ``/health`` answers 200; fail with the process's stderr if it exits first."""
        wait_until(
            lambda: self.popen.poll() is not None or self.get_health()[0] == 200,
            timeout,
            0.1,
            what="the collector's health endpoint",
        )
        assert self.popen.poll() is None, self.log()

    def health_answer(self, authorization: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        """``/health``'s status, JSON body (empty when not JSON) and headers; status 0 while nothing answers."""
        headers = {"Authorization": authorization} if authorization else {}
        request = urllib.request.Request(f"http://{self.health}/health", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read()), dict(response.headers)
        except urllib.error.HTTPError as e:
            body = e.read()
            return e.code, json.loads(body) if body.startswith(b"{") else {}, dict(e.headers)
        except (OSError, ValueError):  # not up yet (or, while starting, something else answered)
            return 0, {}, {}

    def get_health(self) -> tuple[int, dict[str, Any]]:
        """``/health``'s status and JSON body, without a token."""
        status, body, _ = self.health_answer()
        return status, body

    def post(self, path: str, body: bytes, content_type: str = "application/x-protobuf") -> tuple[int, bytes]:
        """POST ``body`` to the HTTP receiver; the answer's status and body."""
        connection = http.client.HTTPConnection(self.http, timeout=30)
        try:
            connection.request("POST", path, body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def proc_status(self, field: str) -> int:
        """A number from /proc/PID/status (``Threads``, ``VmRSS``, ``VmSize``; sizes in bytes)."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                parts = line.split()
                return int(parts[1]) * (1024 if len(parts) > 2 else 1)
        raise AssertionError(f"no {field} in /proc/{self.popen.pid}/status")

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself; its exit code (stderr fully read)."""
        code = self.popen.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        """kill -9, as a crash or an OOM kill would."""
        self.popen.send_signal(signal.SIGKILL)
        self.wait(10)

    def stop(self) -> int:
        """SIGTERM (the collector drains and sends its last reports), SIGKILL after 30 s; the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.wait(5)

    def log(self) -> str:
        """stderr so far."""
        return "".join(self.lines)


def fraud_references(tmp_path: Path, rows: int) -> Path:
    """A directory holding the reference profile (of ``rows`` rows) of the drift-engine tests' ``fraud`` model."""
    directory = tmp_path / "profiles"
    directory.mkdir()
    X = make_data(np.random.default_rng(5), rows)
    Profile.from_data(
        X, X[:, 0] > 100, model="fraud", version="1", feature_names=FEATURES, categorical=["country"]
    ).save(directory / "fraud.json")
    return directory


def metric_points(sink: InMemoryExporter, name: str) -> Iterator[tuple[dict[str, str], Any]]:
    """Every data point of the gauge or sum ``name`` the sink received, with its string attributes."""
    for request in sink.requests("metrics"):
        message = ExportMetricsServiceRequest.FromString(request.payload)
        for resource in message.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in getattr(metric, metric.WhichOneof("data")).data_points:
                            yield {kv.key: kv.value.string_value for kv in point.attributes}, point
