"""The FastAPI example served by real gunicorn / uvicorn worker processes, its telemetry read back from a collector."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from sklearn.datasets import load_breast_cancer

from .conftest import (
    EXAMPLES,
    Received,
    collector_with,
    free_port,
    http_status,
    otel_env,
    run_example,
    wait_until,
)

SERVICE = EXAMPLES / "fastapi_service"
SPAN = "predict breast-cancer"
BATCHES = [1, 3, 8, 20, 1, 5, 13, 2, 40, 7, 1, 9, 16, 4, 30, 6, 2, 11, 25, 3]  # 207 rows in 20 requests


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _serve(command: list[str], collector, log: Path, **extra_env: str) -> tuple[subprocess.Popen, str]:
    """Start ``python -m <command>`` (``{port}`` filled in) in the example's directory; wait until it answers."""
    port = free_port()
    env = otel_env(
        collector,
        OTEL_METRIC_EXPORT_INTERVAL="1000",  # export every second so the test sees live workers, not just exit
        OTEL_BSP_SCHEDULE_DELAY="200",
        WEB_CONCURRENCY="2",
        **extra_env,
    )
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *(arg.format(port=port) for arg in command)],
            cwd=SERVICE, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: process.poll() is not None or http_status(f"{base}/healthz") == 200,
            90,
            "the service to answer",
        )
    except BaseException:
        _stop(process)
        raise
    assert process.poll() is None, log.read_text(errors="replace")[-3000:]
    return process, base


def _stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)  # graceful: each worker's lifespan shutdown flushes its telemetry
    try:
        return process.wait(40)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the server and its workers: the session started for them
        process.wait(5)
        raise


def _exercise(base: str, received: Received, process: subprocess.Popen, log: Path) -> None:
    """Send real requests, then check spans, row counts and the error against what the collector received."""
    data = load_breast_cancer()
    assert _post(f"{base}/predict", {"rows": [[1.0, 2.0, 3.0]]})[0] == 422  # wrong width: a recorded failure
    start = 0
    for rows in BATCHES:
        status, body = _post(f"{base}/predict", {"rows": data.data[start : start + rows].tolist()})
        assert status == 200, body
        assert len(body["predictions"]) == rows and set(body["predictions"]) <= {"malignant", "benign"}
        start += rows
    sent = sum(BATCHES)

    # Exported while the workers run (periodic reader and batch span processor alive in every forked worker).
    wait_until(
        lambda: received.total("ml.inference.predictions", **{"ml.model.name": "breast-cancer"}) == sent,
        30,
        f"ml.inference.predictions == {sent} from the running workers",
    )
    wait_until(lambda: len(received.spans(SPAN)) == len(BATCHES) + 1, 30, "one span per request")

    assert _stop(process) == 0, log.read_text(errors="replace")[-3000:]
    # No double counting after the shutdown flush; one failed call, with its error type.
    assert received.total("ml.inference.predictions", **{"ml.model.name": "breast-cancer"}) == sent
    calls = received.total("ml.inference.duration", lambda p: p.count, **{"ml.model.name": "breast-cancer"})
    assert calls == len(BATCHES) + 1
    failed = received.total("ml.inference.duration", lambda p: p.count, **{"error.type": "ValueError"})
    assert failed == 1
    spans = received.spans(SPAN)
    assert len(spans) == len(BATCHES) + 1
    assert {resource["service.name"] for resource, _ in spans} == {"cancer-screening"}
    assert sum(1 for _, s in spans if s.status.code == 2) == 1  # STATUS_CODE_ERROR
    # Feature sketches left the workers too: all 30 features, every row counted once.
    features = {a["ml.feature.name"] for _, a, _ in received.points("ml.feature.distribution")}
    assert features == set(data.feature_names)
    assert received.total("ml.summary.rows", **{"ml.model.name": "breast-cancer"}) == sent


@pytest.mark.e2e
def test_gunicorn_uvicorn_workers(collector, tmp_path: Path) -> None:
    """gunicorn (preloaded app, 2 forked uvicorn workers) exports every request's span and rows to the collector."""
    running, received = collector
    process, base = _serve(
        ["gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:{port}", "app:app"],
        running,
        tmp_path / "log",
    )
    try:
        _exercise(base, received, process, tmp_path / "log")
    finally:
        if process.poll() is None:
            _stop(process)


@pytest.mark.e2e
def test_uvicorn_workers(collector, tmp_path: Path) -> None:
    """uvicorn --workers 2 (spawned worker processes) exports every request's span and rows to the collector."""
    running, received = collector
    command = ["uvicorn", "app:app", "--workers", "2", "--host", "127.0.0.1", "--port", "{port}"]
    process, base = _serve(command, running, tmp_path / "log")
    try:
        _exercise(base, received, process, tmp_path / "log")
    finally:
        if process.poll() is None:
            _stop(process)


@pytest.mark.e2e
def test_reference_and_shifted_traffic_give_drift_on_that_feature(tmp_path: Path) -> None:
    """REFERENCE_DIR + send_traffic.py --shift "mean radius=1.5": the collector flags that feature and only it."""
    references = tmp_path / "profiles"
    running = collector_with(
        InMemoryExporter(),
        drift={"references": {"directory": str(references)}, "evaluation_interval_seconds": 0},
    )
    try:
        command = ["gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:{port}", "app:app"]
        process, base = _serve(command, running, tmp_path / "log", REFERENCE_DIR=str(references))
        try:
            stdout = run_example(
                SERVICE / "send_traffic.py",
                *("--url", base, "--requests", "60", "--shift", "mean radius=1.5"),
                env=otel_env(running),
            )
        finally:
            assert _stop(process) == 0  # the workers' last metrics are flushed on the way out
        assert re.fullmatch(r"sent \d+ rows in 60 requests \(0 failed\)\n", stdout), stdout
        assert running.drift is not None
        running.drift.references.refresh()
        evaluation = running.drift.evaluate_now()
        drifted = sorted(evaluation.stream("breast-cancer").drifted("feature"))
    finally:
        running.shutdown(5)
    assert drifted == ["mean radius"]
