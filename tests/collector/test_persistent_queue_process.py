"""kill -9 of a real collector process: with ``queue.directory`` every acknowledged request reaches the downstream
after a restart; without it (the in-memory default) they are lost, as docs/collector.md says.

Upstream: ``python -m otel_mlmon_collector`` on loopback. Downstream: another collector (in this process, real
HTTP receiver, in-memory exporter), started only after the kill, on a port fixed in advance.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter

from ._process import CollectorProcess
from .conftest import collector_config, free_port, wait_until

REQUESTS = 40
SPANS = 5


def _traces(i: int) -> bytes:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for j in range(SPANS):
        span = spans.add(
            name=f"r{i}", trace_id=i.to_bytes(16, "big"), span_id=(i * SPANS + j + 1).to_bytes(8, "big")
        )
        span.start_time_unix_nano = span.end_time_unix_nano = 1
    return request.SerializeToString()


def _config(downstream_port: int, queue: dict[str, Any]) -> dict[str, Any]:
    return {
        "queue": queue,
        "self_metrics": {"enabled": False},
        "exporters": [
            {
                "name": "downstream",
                "endpoint": f"http://127.0.0.1:{downstream_port}",
                "timeout_seconds": 1,
                "retry": {
                    "initial_interval_seconds": 0.1,
                    "max_interval_seconds": 0.3,
                    "max_elapsed_seconds": 0,
                },
            }
        ],
    }


def _send_then_kill(tmp_path: Path, config: dict[str, Any]) -> None:
    upstream = CollectorProcess(tmp_path, config)
    try:
        upstream.wait_serving()
        for i in range(REQUESTS):
            status, body = upstream.post("/v1/traces", _traces(i))
            assert status == 200, body
    finally:
        upstream.kill()


def _span_ids(sink: InMemoryExporter) -> list[bytes]:
    ids = []
    for request in sink.requests("traces"):
        message = ExportTraceServiceRequest.FromString(request.payload)
        ids += [s.span_id for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]
    return ids


@pytest.mark.e2e  # two collector processes and a restart: ~15-20 s on a loaded 2-core machine
def test_acknowledged_requests_survive_kill_9_with_queue_directory(tmp_path: Path, make_collector) -> None:  # type: ignore[no-untyped-def]
    """N requests answered 200 while the downstream is down, then kill -9: after a restart with the downstream up,
    every span arrives, each once (none was in flight to a live downstream at the kill)."""
    port = free_port()
    config = _config(port, {"directory": str(tmp_path / "queue"), "fsync": "interval"})
    _send_then_kill(tmp_path, config)
    assert list((tmp_path / "queue" / "downstream").glob("*.seg")), "nothing was written ahead"

    sink = InMemoryExporter("sink")
    make_collector(
        collector_config(receivers={"grpc": {"enabled": False}, "http": {"endpoint": f"127.0.0.1:{port}"}}),
        exporters={"sink": sink},
    )
    restarted = CollectorProcess(tmp_path, config)
    try:
        restarted.wait_serving()
        wait_until(lambda: len(_span_ids(sink)) >= REQUESTS * SPANS, 30, what="every span downstream")
        time.sleep(0.5)  # let a duplicate show up if there were one
        ids = _span_ids(sink)
        assert len(ids) == REQUESTS * SPANS and len(set(ids)) == REQUESTS * SPANS
        status, health = restarted.get_health()
        assert status == 200 and health["queues"]["downstream"]["size"] == 0
        assert "40 requests recovered from disk" in restarted.log()
    finally:
        assert restarted.stop() == 0, restarted.log()


@pytest.mark.e2e
def test_the_in_memory_default_loses_what_was_queued_on_kill_9(tmp_path: Path, make_collector) -> None:  # type: ignore[no-untyped-def]
    """The documented other side: without queue.directory the same kill -9 loses every queued request."""
    port = free_port()
    config = _config(port, {})
    _send_then_kill(tmp_path, config)
    sink = InMemoryExporter("sink")
    make_collector(
        collector_config(receivers={"grpc": {"enabled": False}, "http": {"endpoint": f"127.0.0.1:{port}"}}),
        exporters={"sink": sink},
    )
    with CollectorProcess(tmp_path, config) as restarted:
        status, body = restarted.post("/v1/traces", _traces(999))  # a request after the restart goes through
        assert status == 200, body
        wait_until(lambda: _span_ids(sink), 15, what="the new request downstream")
        assert len(_span_ids(sink)) == SPANS
