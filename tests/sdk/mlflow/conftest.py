"""A real MLflow tracking server (model registry, artifact proxy) on a free loopback port, for the MLflow tests.

The server comes from ``.ci/install-mlflow`` (its own venv in ``.ci/.cache/mlflow-venv``) or the executable named
by ``OTEL_MLMON_MLFLOW_BIN``. In CI (``CI`` set) a missing server is installed once with ``.ci/install-mlflow``
(idempotent; a no-op when ``.ci/run`` already ran it). Unavailable, it fails the test when ``CI`` is set and skips
it with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
MLFLOW_BIN_ENV = "OTEL_MLMON_MLFLOW_BIN"
DEFAULT_BIN = REPO / ".ci" / ".cache" / "mlflow-venv" / "bin" / "mlflow"
START_TIMEOUT_SECONDS = 120.0


def unavailable(reason: str) -> None:
    """Fail in CI (a silent skip is not a pass there), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"MLflow server unavailable in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest(uri: str, endpoint: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call ``/api/2.0/mlflow/<endpoint>`` (POST with a JSON body, GET without) and return the JSON answer."""
    body = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/{endpoint}",
        data=body,
        headers={"Content-Type": "application/json"} if body else {},
        method="POST" if body else "GET",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``mlflow server`` (sqlite backend, served artifacts) and yield its tracking URI."""
    binary = os.environ.get(MLFLOW_BIN_ENV) or str(DEFAULT_BIN)
    if os.environ.get("CI") and not os.environ.get(MLFLOW_BIN_ENV) and not _executable(binary):
        installed = subprocess.run(
            [str(REPO / ".ci" / "install-mlflow")], capture_output=True, text=True, timeout=900, check=False
        )
        if installed.returncode != 0:
            unavailable(f".ci/install-mlflow failed ({installed.returncode}): {installed.stderr[-1500:]}")
    if not _executable(binary):
        unavailable(f"mlflow not found at {binary} (run .ci/install-mlflow or set {MLFLOW_BIN_ENV})")
    tmp = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed after the server stops
    command = [
        binary,
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp / 'mlflow.db'}",
        "--artifacts-destination",
        str(tmp / "artifacts"),
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "true"}
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = started + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                unavailable(f"mlflow server exited with {process.returncode}: {_tail(tmp / 'server.log')}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                unavailable(
                    f"mlflow server not ready in {START_TIMEOUT_SECONDS:.0f} s: {_tail(tmp / 'server.log')}"
                )
            time.sleep(0.25)
        print(f"mlflow server ready in {time.monotonic() - started:.1f} s at {uri}")  # shown with -s / -rP
        yield uri
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
        log.close()


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "(no log)"
