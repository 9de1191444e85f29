"""Fork safety: a forked worker (gunicorn, Celery prefork) starts from zero and never re-exports the parent's."""

from __future__ import annotations

import json
import os
import sys

import pytest

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon.testing import InMemoryTelemetry


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_after_fork_counts_only_its_own_calls():
    """Calls made in the parent before fork are not exported again by the child; each side counts its own."""
    telemetry = InMemoryTelemetry()

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        return X

    for _ in range(5):
        predict([1])
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what its own reader sees, then leave without running pytest's teardown
        try:
            for _ in range(3):
                predict([[1], [2]])
            point = telemetry.points(conv.METRIC_PREDICTIONS)[0]
            calls = telemetry.points(conv.METRIC_DURATION)[0].count
            os.write(write_fd, json.dumps({"rows": point.value, "calls": calls}).encode())
        except BaseException as exc:  # noqa: BLE001 - report anything to the parent
            os.write(write_fd, json.dumps({"error": repr(exc)}).encode())
        finally:
            sys.stdout.flush()
            os._exit(0)
    os.close(write_fd)
    _, _status = os.waitpid(pid, 0)
    child = json.loads(os.read(read_fd, 65536).decode())
    os.close(read_fd)
    assert child == {"rows": 6, "calls": 3}
    assert telemetry.points(conv.METRIC_PREDICTIONS)[0].value == 5
    assert telemetry.points(conv.METRIC_DURATION)[0].count == 5
