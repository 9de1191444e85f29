"""OTLP exporters over TLS: the configured CA verifies the downstream; without it the connection is refused."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from otel_mlmon_collector._config import ExporterConfig
from otel_mlmon_collector._exporters.otlp import OtlpGrpcExporter, OtlpHttpExporter
from otel_mlmon_collector._otlp import OtlpRequest, spec_for


@pytest.fixture
def grpc_tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[int, list[bytes]]]:
    cert, key = certificate
    received: list[bytes] = []
    server = grpc.server(futures.ThreadPoolExecutor(2))
    spec = spec_for("traces")

    def export(payload: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        received.append(payload)
        return ExportTraceServiceResponse()

    handler = grpc.unary_unary_rpc_method_handler(
        export, request_deserializer=None, response_serializer=ExportTraceServiceResponse.SerializeToString
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(spec.grpc_service, {"Export": handler})]
    )
    credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    yield port, received
    server.stop(0)


def test_grpc_tls_with_the_configured_ca(grpc_tls_server: tuple[int, list[bytes]], certificate) -> None:  # type: ignore[no-untyped-def]
    """With certificate_file the gRPC exporter verifies the server and delivers; without it the call fails."""
    port, received = grpc_tls_server
    cert, _ = certificate
    trusted = OtlpGrpcExporter(
        ExporterConfig("g", protocol="grpc", endpoint=f"https://localhost:{port}", certificate_file=str(cert))
    )
    assert trusted.export(OtlpRequest("traces", b"")).outcome == "success"
    trusted.shutdown()
    assert received == [b""]
    untrusted = OtlpGrpcExporter(
        ExporterConfig("g", protocol="grpc", endpoint=f"localhost:{port}", timeout_seconds=3)
    )  # no scheme, insecure unset: TLS with the system CAs, which do not know this certificate
    assert untrusted.export(OtlpRequest("traces", b"")).outcome == "retryable"
    untrusted.shutdown()
    assert len(received) == 1


@pytest.fixture
def https_server(certificate: tuple[Path, Path]) -> Iterator[tuple[int, list[bytes]]]:
    cert, key = certificate
    received: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()


def test_http_tls_with_the_configured_ca(https_server: tuple[int, list[bytes]], certificate) -> None:  # type: ignore[no-untyped-def]
    """With certificate_file the HTTP exporter verifies the server and delivers; without it, no delivery."""
    port, received = https_server
    cert, _ = certificate
    trusted = OtlpHttpExporter(
        ExporterConfig("h", endpoint=f"https://127.0.0.1:{port}", certificate_file=str(cert))
    )
    assert trusted.export(OtlpRequest("traces", b"payload")).outcome == "success"
    trusted.shutdown()
    untrusted = OtlpHttpExporter(ExporterConfig("h", endpoint=f"https://127.0.0.1:{port}", timeout_seconds=3))
    result = untrusted.export(OtlpRequest("traces", b"other"))
    untrusted.shutdown()
    assert result.outcome == "retryable" and "SSL" in result.message
    assert received == [b"payload"]
