"""Fixtures for the collector tests: a collector on free loopback ports, and the real backends (session-scoped).

Backends are found under ``.ci/.cache`` (installed by ``.ci/install-backends``) or through
``OTEL_MLMON_VICTORIA_METRICS_BIN``, ``OTEL_MLMON_PHOENIX_BIN`` and ``OTEL_MLMON_OTEL_JS_DIR``. When one cannot start, the tests that need it
fail if ``CI`` is set (a silent skip in CI is not a pass) and are skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from otel_mlmon_collector import Collector
from otel_mlmon_collector._config import Config, parse_config

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".ci" / ".cache"
VM_BIN_ENV = "OTEL_MLMON_VICTORIA_METRICS_BIN"
PHOENIX_BIN_ENV = "OTEL_MLMON_PHOENIX_BIN"
OTEL_JS_DIR_ENV = "OTEL_MLMON_OTEL_JS_DIR"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def collector_config(**overrides: Any) -> Config:
    """A configuration on free loopback ports, self-metrics off unless asked, plus the given sections."""
    data: dict[str, Any] = {
        "receivers": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}},
        "health": {"endpoint": "127.0.0.1:0"},
        "self_metrics": {"enabled": False},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(data, env={})


@pytest.fixture
def make_collector() -> Iterator[Callable[..., Collector]]:
    """Build and start collectors; every one still running is shut down after the test."""
    started: list[Collector] = []

    def make(config: Config | None = None, **kwargs: Any) -> Collector:
        collector = Collector(config or collector_config(), **kwargs)
        collector.start()
        started.append(collector)
        return collector

    yield make
    for collector in started:
        collector.shutdown(5.0)


def wait_until(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last value: {last!r})")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"backend unavailable in CI: {reason}")
    pytest.skip(reason)


def _http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


class _Process:
    """A backend process we started, with its log file for error messages."""

    def __init__(self, args: list[str], env: dict[str, str] | None, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - kept open for the process's lifetime
        self.popen = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, url: str, timeout: float, name: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                self.stop()
                _unavailable(f"{name} exited with {self.popen.returncode}: {self.tail()}")
            if _http_get(url, timeout=2.0)[0] == 200:
                return
            time.sleep(0.3)
        self.stop()
        _unavailable(f"{name} not ready at {url} after {timeout} s: {self.tail()}")

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()


class VictoriaMetrics:
    """A VictoriaMetrics process on a loopback port: OTLP/HTTP metrics in, PromQL out; can stop and restart."""

    def __init__(self, binary: str, workdir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: _Process | None = None
        self._starts = 0

    @property
    def otlp_metrics_url(self) -> str:
        return f"{self.base_url}/opentelemetry/v1/metrics"

    def start(self) -> None:
        """Start (or restart) on the same port and data directory; wait until healthy."""
        self._starts += 1
        args = [
            self.binary,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=WARN",
        ]
        self.process = _Process(args, None, self.workdir / f"vm.{self._starts}.log")
        self.process.wait_ready(f"{self.base_url}/health", 60, "VictoriaMetrics")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        if self.process is not None:
            self.process.stop()

    def force_flush(self) -> None:
        _http_get(f"{self.base_url}/internal/force_flush")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Run an instant PromQL query and return ``data.result``."""
        status, body = _http_get(f"{self.base_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        if status != 200:
            raise AssertionError(f"query {promql!r} answered {status}: {body[:500]!r}")
        return json.loads(body)["data"]["result"]

    def poll(self, promql: str, timeout: float = 30.0, count: int = 1) -> list[dict[str, Any]]:
        """Flush and query until at least ``count`` series come back."""

        def attempt() -> list[dict[str, Any]] | None:
            self.force_flush()
            result = self.query(promql)
            return result if len(result) >= count else None

        return wait_until(attempt, timeout, 0.5, f"VictoriaMetrics series for {promql!r}")


def _vm_binary() -> str:
    binary = os.environ.get(VM_BIN_ENV) or str(
        CACHE / "victoria-metrics" / "usr" / "bin" / "victoria-metrics"
    )
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        _unavailable(
            f"VictoriaMetrics binary not found at {binary} (run .ci/install-backends or set {VM_BIN_ENV})"
        )
    return binary


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """VictoriaMetrics on a free loopback port for the whole session."""
    vm = VictoriaMetrics(_vm_binary(), tmp_path_factory.mktemp("victoria-metrics"))
    vm.start()
    yield vm
    vm.stop()


@pytest.fixture
def own_victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics of this test alone (for tests that stop and restart the downstream)."""
    vm = VictoriaMetrics(_vm_binary(), tmp_path)
    vm.start()
    yield vm
    vm.stop()


@dataclass
class Phoenix:
    """A running Arize Phoenix: OTLP/HTTP traces in, REST spans out."""

    base_url: str
    process: _Process

    @property
    def otlp_traces_url(self) -> str:
        return f"{self.base_url}/v1/traces"

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Return the spans Phoenix stored for ``project`` (empty while it does not exist yet)."""
        status, body = _http_get(
            f"{self.base_url}/v1/projects/{urllib.parse.quote(project)}/spans?limit=1000"
        )
        if status != 200:
            return []
        return json.loads(body).get("data", [])


def _phoenix_binary() -> str:
    return os.environ.get(PHOENIX_BIN_ENV) or str(CACHE / "phoenix-venv" / "bin" / "phoenix")


def _start_phoenix(binary: str, workdir: Path) -> Phoenix:
    port, grpc_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "PHOENIX_", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_WORKING_DIR=str(workdir / "data"),
        PHOENIX_TELEMETRY_ENABLED="false",
    )
    workdir.mkdir(parents=True, exist_ok=True)
    return Phoenix(f"http://127.0.0.1:{port}", _Process([binary, "serve"], env, workdir / "phoenix.log"))


_early_phoenix: list[Phoenix] = []


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Run the tests that need Phoenix last, so its slow start-up (up to minutes on a busy machine) overlaps the rest."""
    items.sort(
        key=lambda item: "phoenix" in getattr(item, "fixturenames", ())
    )  # stable: other order unchanged


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start Phoenix as soon as a collected test needs it: its 10-60 s start-up overlaps the other tests."""
    binary = _phoenix_binary()
    wanted = any("phoenix" in getattr(item, "fixturenames", ()) for item in session.items)
    if wanted and os.path.isfile(binary) and os.access(binary, os.X_OK) and not _early_phoenix:
        workdir = Path(tempfile.mkdtemp(prefix="otel-mlmon-phoenix-"))
        _early_phoenix.append(_start_phoenix(binary, workdir))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop an early-started Phoenix that no test used, and remove its working directory."""
    for ph in _early_phoenix:
        ph.process.stop()
        shutil.rmtree(ph.process.log_path.parent, ignore_errors=True)
    _early_phoenix.clear()


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    """Arize Phoenix on free loopback ports for the whole session (started at collection when possible).

    Its start-up took 11-20 s on a quiet machine and over 120 s during a full CI run on a busy one: the tests
    that use it run last and it gets 240 s more once they start.
    """
    binary = _phoenix_binary()
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        _unavailable(f"Phoenix not found at {binary} (run .ci/install-backends or set {PHOENIX_BIN_ENV})")
    ph = _early_phoenix[0] if _early_phoenix else _start_phoenix(binary, tmp_path_factory.mktemp("phoenix"))
    ph.process.wait_ready(f"{ph.base_url}/healthz", 240, "Phoenix")
    yield ph
    ph.process.stop()


@dataclass
class OtelJs:
    """Node.js plus the OpenTelemetry JS SDK's OTLP/HTTP exporters (an independent OTLP/JSON client)."""

    node: str
    node_modules: Path

    def run(self, script: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", ""), "NODE_PATH": str(self.node_modules)}
        return subprocess.run(
            [self.node, str(script), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="session")
def otel_js() -> OtelJs:
    """The OpenTelemetry JS client installed by .ci/install-backends (or found through OTEL_MLMON_OTEL_JS_DIR)."""
    node = shutil.which("node")
    directory = Path(os.environ.get(OTEL_JS_DIR_ENV) or CACHE / "otel-js")
    modules = directory / "node_modules"
    if node is None:
        _unavailable("node is not installed")
    if not (modules / "@opentelemetry" / "exporter-trace-otlp-http").is_dir():
        _unavailable(
            f"OpenTelemetry JS not found in {modules} (run .ci/install-backends or set {OTEL_JS_DIR_ENV})"
        )
    return OtelJs(node, modules)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for localhost / 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        _unavailable("the openssl command is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def categorical_work(monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    """Spies on a categorical check's two costly steps, from now on: ``(tables built, sketches read)``, one entry
    per ``ContingencyTable.build`` and per ``CategoricalCounts.from_sketch`` (both still do their work)."""
    from otel_mlmon_collector.drift import CategoricalCounts, ContingencyTable

    builds: list = []
    reads: list = []
    build = ContingencyTable.build.__func__  # type: ignore[attr-defined]
    from_sketch = CategoricalCounts.from_sketch.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        ContingencyTable, "build", classmethod(lambda cls, *a, **k: builds.append(a) or build(cls, *a, **k))
    )
    monkeypatch.setattr(
        CategoricalCounts,
        "from_sketch",
        classmethod(lambda cls, *a, **k: reads.append(a) or from_sketch(cls, *a, **k)),
    )
    return builds, reads
