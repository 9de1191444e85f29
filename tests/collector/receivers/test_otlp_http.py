"""OTLP/HTTP receiver: protobuf, JSON and gzip bodies, and every answer the OTLP specification asks for."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable

import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from otel_mlmon_collector import Collector
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._selfmetrics import REFUSED

from ..conftest import collector_config

PB = {"Content-Type": "application/x-protobuf"}


def _traces() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="predict")
    span.trace_id = bytes(range(16))
    span.span_id = bytes(range(8))
    return request


@pytest.fixture
def sink() -> InMemoryExporter:
    return InMemoryExporter("mem")


@pytest.fixture
def collector(make_collector: Callable[..., Collector], sink: InMemoryExporter) -> Collector:
    config = collector_config(receivers={"max_request_bytes": 4096, "grpc": {"enabled": False}})
    return make_collector(config, exporters={"mem": sink})


def _url(collector: Collector, path: str = "/v1/traces") -> str:
    return f"http://{collector.http_endpoint}{path}"


def _wait_delivered(sink: InMemoryExporter, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(sink.requests()) < n and time.monotonic() < deadline:
        time.sleep(0.01)


def test_protobuf_body_is_forwarded_byte_for_byte(collector: Collector, sink: InMemoryExporter) -> None:
    """A protobuf body is answered 200 with an empty protobuf response and forwarded as the same bytes."""
    body = _traces().SerializeToString()
    response = requests.post(_url(collector), data=body, headers=PB, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-protobuf"
    assert response.content == b""
    _wait_delivered(sink, 1)
    assert sink.requests("traces")[0].payload == body
    assert sink.requests("traces")[0].items == 1


def test_json_body_is_answered_in_json_and_forwarded_as_protobuf(
    collector: Collector, sink: InMemoryExporter
) -> None:
    """A JSON body gets a JSON answer and is re-encoded once to protobuf for forwarding."""
    document = {
        "resourceMetrics": [
            {"scopeMetrics": [{"metrics": [{"name": "m", "gauge": {"dataPoints": [{"asInt": "5"}]}}]}]}
        ]
    }
    response = requests.post(_url(collector, "/v1/metrics"), json=document, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {}
    _wait_delivered(sink, 1)
    forwarded = sink.requests("metrics")[0].decoded()
    assert forwarded.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].as_int == 5


def test_gzip_body_is_accepted(collector: Collector, sink: InMemoryExporter) -> None:
    """Content-Encoding: gzip bodies are decompressed and forwarded uncompressed."""
    body = _traces().SerializeToString()
    response = requests.post(
        _url(collector), data=gzip.compress(body), headers={**PB, "Content-Encoding": "gzip"}, timeout=5
    )
    assert response.status_code == 200
    _wait_delivered(sink, 1)
    assert sink.requests()[0].payload == body


def test_chunked_body_is_accepted(collector: Collector, sink: InMemoryExporter) -> None:
    """A body sent with chunked transfer encoding (no Content-Length) is read and accepted."""
    body = _traces().SerializeToString()
    response = requests.post(_url(collector), data=iter([body[:5], body[5:]]), headers=PB, timeout=5)
    assert response.status_code == 200
    _wait_delivered(sink, 1)
    assert sink.requests()[0].payload == body


def _status(response: requests.Response) -> status_pb2.Status:
    assert response.headers["Content-Type"] == "application/x-protobuf"
    return status_pb2.Status.FromString(response.content)


@pytest.mark.parametrize(
    ("path", "body", "headers", "code", "text"),
    [
        ("/v1/traces", b"\xff\xff\xff", PB, 400, "not a valid protobuf ExportTraceServiceRequest"),
        ("/v1/traces", b"\x1f\x8b garbage", {**PB, "Content-Encoding": "gzip"}, 400, "not valid gzip"),
        ("/v1/traces", gzip.compress(b"x" * 100)[:-9], {**PB, "Content-Encoding": "gzip"}, 400, "truncated"),
        ("/v1/spans", b"", PB, 404, "unknown path '/v1/spans'"),
        ("/v1/traces", b"{}", {"Content-Type": "text/plain"}, 415, "unsupported Content-Type 'text/plain'"),
        ("/v1/traces", b"", {**PB, "Content-Encoding": "br"}, 415, "unsupported Content-Encoding 'br'"),
        ("/v1/traces", b"\0" * 5000, PB, 413, "5000 bytes exceeds the limit of 4096 bytes"),
        (
            "/v1/traces",
            gzip.compress(b"\0" * 1_000_000, compresslevel=9),
            {**PB, "Content-Encoding": "gzip"},
            413,
            "exceeds the limit of 4096 bytes after decompression",
        ),
    ],
)
def test_bad_requests_get_the_specified_answer_and_service_continues(
    collector: Collector, sink: InMemoryExporter, path: str, body: bytes, headers: dict, code: int, text: str
) -> None:
    """Malformed → 400, wrong path → 404, wrong type → 415, too large or a gzip bomb → 413; then a good one → 200."""
    response = requests.post(_url(collector, path), data=body, headers=headers, timeout=10)
    assert response.status_code == code
    assert text in _status(response).message
    good = requests.post(_url(collector), data=_traces().SerializeToString(), headers=PB, timeout=5)
    assert good.status_code == 200


def test_malformed_json_gets_a_json_status(collector: Collector) -> None:
    """A bad JSON body is answered 400 with a JSON google.rpc.Status saying what was wrong."""
    response = requests.post(
        _url(collector), data=b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
        headers={"Content-Type": "application/json"}, timeout=5,
    )  # fmt: skip
    assert response.status_code == 400
    assert "not a hex-encoded id" in response.json()["message"]


def test_other_methods_are_not_allowed(collector: Collector) -> None:
    """GET on an OTLP path is answered 405 with Allow: POST."""
    response = requests.get(_url(collector), timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_refusals_are_counted(collector: Collector) -> None:
    """Each refused request increments the refused counter with its reason."""
    requests.post(_url(collector), data=b"\xff\xff", headers=PB, timeout=5)
    assert collector.metrics.value(REFUSED, signal="traces", transport="http", reason="malformed") == 1


def test_backpressure_answers_503_with_retry_after(make_collector: Callable[..., Collector]) -> None:
    """With the exporter's queue full the receiver answers 503 with Retry-After, and 200 once there is room."""
    gate = threading.Event()

    class Stuck(InMemoryExporter):
        def export(self, request):  # type: ignore[no-untyped-def]
            gate.wait(10)
            return super().export(request)

    config = collector_config(
        receivers={"retry_after_seconds": 2, "grpc": {"enabled": False}},
        queue={"max_requests": 1, "workers": 1},
    )
    collector = make_collector(config, exporters={"stuck": Stuck("stuck")})
    body = ExportLogsServiceRequest().SerializeToString()
    url = _url(collector, "/v1/logs")
    lane = collector.pipeline.lanes[0]
    answers = [requests.post(url, data=body, headers=PB, timeout=5)]
    deadline = time.monotonic() + 5
    while lane.queue.in_flight < 1 and time.monotonic() < deadline:  # the worker took it and is stuck
        time.sleep(0.01)
    answers += [requests.post(url, data=body, headers=PB, timeout=5) for _ in range(2)]
    assert [a.status_code for a in answers[:2]] == [200, 200]  # one in flight, one queued
    assert answers[2].status_code == 503
    assert answers[2].headers["Retry-After"] == "2"
    assert "queue is full" in _status(answers[2]).message
    gate.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if requests.post(url, data=body, headers=PB, timeout=5).status_code == 200:
            break
        time.sleep(0.05)
    else:
        pytest.fail("receiver never accepted again after the queue drained")


def test_keep_alive_serves_several_requests_on_one_connection(collector: Collector) -> None:
    """HTTP/1.1 keep-alive: consecutive requests on one session reuse the connection."""
    with requests.Session() as session:
        for _ in range(3):
            assert session.post(_url(collector), data=b"", headers=PB, timeout=5).status_code == 200


def test_metrics_response_type(collector: Collector) -> None:
    """The 200 body parses as the signal's Export*ServiceResponse."""
    response = requests.post(_url(collector, "/v1/metrics"), data=b"", headers=PB, timeout=5)
    assert ExportMetricsServiceResponse.FromString(response.content) == ExportMetricsServiceResponse()


def test_official_http_exporter_round_trip(collector: Collector, sink: InMemoryExporter) -> None:
    """The official OTel HTTP span exporter's spans arrive with name and attributes."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=_url(collector))))
    with provider.get_tracer("t").start_as_current_span("predict", attributes={"ml.model.name": "m"}):
        pass
    provider.shutdown()
    _wait_delivered(sink, 1)
    span = sink.requests("traces")[0].decoded().resource_spans[0].scope_spans[0].spans[0]
    assert span.name == "predict"
    assert span.attributes[0].key == "ml.model.name"


def test_slow_client_does_not_block_others(collector: Collector) -> None:
    """A client that sends headers and stalls does not stop another client from being served."""
    host, port = collector.http_endpoint.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as stalled:
        stalled.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        response = requests.post(_url(collector), data=b"", headers=PB, timeout=5)
    assert response.status_code == 200


def test_json_answer_for_unknown_path_when_json_was_sent(collector: Collector) -> None:
    """Error bodies follow the request's encoding: JSON requests get a JSON Status."""
    response = requests.post(
        _url(collector, "/v1/nothing"), data=b"{}", headers={"Content-Type": "application/json"}, timeout=5
    )
    assert response.status_code == 404
    assert json.loads(response.content)["code"] == 12


def test_connections_beyond_max_connections_and_malformed_heads_are_counted(
    make_collector: Callable[..., Collector],
) -> None:
    """A connection refused at ``receivers.http.max_connections`` (503 before its request is read) and a
    malformed request head are counted in the refused counter, without a signal: none was read."""
    config = collector_config(receivers={"http": {"max_connections": 2}, "grpc": {"enabled": False}})
    collector = make_collector(config)
    host, port = collector.http_endpoint.rsplit(":", 1)
    server = next(r for r in collector.receivers if r.name == "otlp_http").server  # type: ignore[attr-defined]
    held = [socket.create_connection((host, int(port)), timeout=5) for _ in range(2)]
    try:
        for s in held:
            s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        deadline = time.monotonic() + 5
        while server.open_connections < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        with socket.create_connection((host, int(port)), timeout=5) as third:
            assert third.recv(200).startswith(b"HTTP/1.1 503")
    finally:
        for s in held:
            s.close()
    assert collector.metrics.value(REFUSED, transport="http", reason="too_many_connections") == 1
    deadline = time.monotonic() + 5
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    with socket.create_connection((host, int(port)), timeout=5) as bad:
        bad.sendall(b"POST /v1/traces HTTP/1.1\r\nno colon here\r\n\r\n")
        assert bad.recv(200).startswith(b"HTTP/1.1 400")
    assert collector.metrics.value(REFUSED, transport="http", reason="malformed") == 1
