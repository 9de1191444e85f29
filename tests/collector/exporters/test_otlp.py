"""OTLP exporters: forwarding to a real OTLP/HTTP and OTLP/gRPC server and classifying every kind of answer."""

from __future__ import annotations

import gzip
import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import ClassVar

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from otel_mlmon_collector import Collector
from otel_mlmon_collector._config import ExporterConfig
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._exporters.otlp import (
    OtlpGrpcExporter,
    OtlpHttpExporter,
    _parse_retry_after,
    create_otlp_exporter,
)
from otel_mlmon_collector._otlp import OtlpRequest

from ..conftest import collector_config, free_port


def _request() -> OtlpRequest:
    message = ExportTraceServiceRequest()
    message.resource_spans.add().scope_spans.add().spans.add(name="forwarded")
    return OtlpRequest("traces", message.SerializeToString() + b"\xf8\x07\x01", items=1)


@pytest.fixture
def downstream(make_collector: Callable[..., Collector]) -> tuple[Collector, InMemoryExporter]:
    """A real otel-mlmon-collector acting as the downstream, storing what it receives."""
    sink = InMemoryExporter("downstream")
    return make_collector(collector_config(), exporters={"sink": sink}), sink


def _wait(sink: InMemoryExporter, n: int = 1) -> None:
    deadline = time.monotonic() + 5
    while len(sink.requests()) < n and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_http_forwards_bytes_unchanged(downstream, compression: str) -> None:  # type: ignore[no-untyped-def]
    """The HTTP exporter delivers exactly the received bytes (gzip or not) with the configured headers."""
    collector, sink = downstream
    config = ExporterConfig("h", endpoint=f"http://{collector.http_endpoint}", compression=compression)
    exporter = create_otlp_exporter(config)
    assert isinstance(exporter, OtlpHttpExporter)
    request = _request()
    assert exporter.export(request).outcome == "success"
    exporter.shutdown()
    _wait(sink)
    assert sink.requests()[0].payload == request.payload


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_grpc_forwards_bytes_unchanged(downstream, compression: str) -> None:  # type: ignore[no-untyped-def]
    """The gRPC exporter delivers exactly the received bytes, plaintext because of the http:// scheme."""
    collector, sink = downstream
    config = ExporterConfig(
        "g", protocol="grpc", endpoint=f"http://{collector.grpc_endpoint}", compression=compression,
        headers=(("x-tenant", "a"),),
    )  # fmt: skip
    exporter = create_otlp_exporter(config)
    assert isinstance(exporter, OtlpGrpcExporter)
    request = _request()
    assert exporter.export(request).outcome == "success"
    exporter.shutdown()
    _wait(sink)
    assert sink.requests()[0].payload == request.payload


class _Scripted(http.server.BaseHTTPRequestHandler):
    """An HTTP downstream that answers from a script (status, headers, body) and records requests."""

    script: ClassVar[list[tuple[int, dict[str, str], bytes]]] = []
    seen: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((dict(self.headers), body))
        status, headers, payload = type(self).script.pop(0) if type(self).script else (200, {}, b"")
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[_Scripted]]]:
    handler = type("Handler", (_Scripted,), {"script": [], "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_http_classifies_answers(scripted) -> None:  # type: ignore[no-untyped-def]
    """429/502/503/504 are retryable with the Retry-After hint; 400 fails with the Status message; 200 succeeds."""
    url, handler = scripted
    rejected = status_pb2.Status(code=3, message="bad span id").SerializeToString()
    partial = ExportTraceServiceResponse()
    partial.partial_success.rejected_spans = 2
    partial.partial_success.error_message = "too old"
    handler.script = [
        (503, {"Retry-After": "7"}, b""),
        (429, {}, b""),
        (400, {"Content-Type": "application/x-protobuf"}, rejected),
        (500, {"Content-Type": "text/plain"}, b"internal trouble"),
        (200, {"Content-Type": "application/x-protobuf"}, partial.SerializeToString()),
    ]
    exporter = OtlpHttpExporter(
        ExporterConfig("h", endpoint=url, headers=(("authorization", "Bearer t"),), compression="gzip")
    )
    results = [exporter.export(_request()) for _ in range(5)]
    exporter.shutdown()
    assert [r.outcome for r in results] == ["retryable", "retryable", "failed", "failed", "success"]
    assert results[0].retry_after_seconds == 7.0
    assert results[1].retry_after_seconds is None
    assert "HTTP 400: bad span id" in results[2].message
    assert "HTTP 500: internal trouble" in results[3].message
    assert (results[4].rejected_items, results[4].message) == (2, "too old")
    headers, body = handler.seen[0]
    assert headers["authorization"] == "Bearer t"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == _request().payload
    assert handler.seen[0][0]["Host"].startswith("127.0.0.1")


def test_http_connection_refused_is_retryable() -> None:
    """A downstream that is not listening is a retryable outcome, not a crash, and says so in plain words."""
    exporter = OtlpHttpExporter(
        ExporterConfig("h", endpoint=f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    )
    result = exporter.export(_request())
    assert result.outcome == "retryable"
    assert result.message.endswith("cannot connect (connection refused: nothing listens there)"), (
        result.message
    )


def _grpc_server(behaviour: Callable[[bytes, grpc.ServicerContext], object]) -> tuple[grpc.Server, int]:
    from concurrent import futures

    server = grpc.server(futures.ThreadPoolExecutor(2))
    handler = grpc.unary_unary_rpc_method_handler(
        behaviour, request_deserializer=None, response_serializer=ExportTraceServiceResponse.SerializeToString
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.mark.parametrize(
    ("code", "hint", "outcome"),
    [
        (grpc.StatusCode.UNAVAILABLE, 3, "retryable"),
        (grpc.StatusCode.UNAVAILABLE, None, "retryable"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 2, "retryable"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, None, "failed"),
        (grpc.StatusCode.INVALID_ARGUMENT, None, "failed"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, None, "retryable"),
        (grpc.StatusCode.PERMISSION_DENIED, None, "failed"),
    ],
)
def test_grpc_classifies_status_codes(code: grpc.StatusCode, hint: int | None, outcome: str) -> None:
    """Codes are classified as the OTLP spec says; RESOURCE_EXHAUSTED is retryable only with a RetryInfo."""

    def behaviour(payload: bytes, context: grpc.ServicerContext) -> object:
        if hint is not None:
            info = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=hint))
            context.set_trailing_metadata((("google.rpc.retryinfo-bin", info.SerializeToString()),))
        context.abort(code, "scripted failure")

    server, port = _grpc_server(behaviour)
    try:
        exporter = OtlpGrpcExporter(
            ExporterConfig("g", protocol="grpc", endpoint=f"127.0.0.1:{port}", insecure=True)
        )
        result = exporter.export(_request())
        exporter.shutdown()
    finally:
        server.stop(0)
    assert result.outcome == outcome
    assert f"gRPC {code.name}: scripted failure" in result.message
    assert result.retry_after_seconds == (
        float(hint) if hint is not None and outcome == "retryable" else None
    )


def test_grpc_partial_success_is_reported() -> None:
    """A success carrying partial_success reports the rejected count and message."""

    def behaviour(payload: bytes, context: grpc.ServicerContext) -> object:
        response = ExportTraceServiceResponse()
        response.partial_success.rejected_spans = 3
        response.partial_success.error_message = "dropped invalid"
        return response

    server, port = _grpc_server(behaviour)
    try:
        exporter = OtlpGrpcExporter(ExporterConfig("g", protocol="grpc", endpoint=f"http://127.0.0.1:{port}"))
        result = exporter.export(_request())
        exporter.shutdown()
    finally:
        server.stop(0)
    assert (result.outcome, result.rejected_items, result.message) == ("success", 3, "dropped invalid")


def test_grpc_unreachable_is_retryable() -> None:
    """Nothing listening: UNAVAILABLE, retryable."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exporter = OtlpGrpcExporter(
        ExporterConfig("g", protocol="grpc", endpoint=f"http://127.0.0.1:{port}", timeout_seconds=2)
    )
    assert exporter.export(_request()).outcome == "retryable"
    exporter.shutdown()


def test_retry_after_parsing() -> None:
    """Retry-After is read as seconds or as an HTTP date; garbage is ignored."""
    assert _parse_retry_after("12") == 12.0
    assert _parse_retry_after(None) is None
    assert _parse_retry_after("soon") is None
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= (_parse_retry_after(future) or 0) <= 31
