"""Receivers over TLS and mutual TLS, with the official exporters as clients."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext
from otel_mlmon_collector import Collector
from otel_mlmon_collector._config import ConfigError, parse_config
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter

from ..conftest import collector_config

PB = {"Content-Type": "application/x-protobuf"}


def _span(name: str) -> ReadableSpan:
    return ReadableSpan(name, context=SpanContext(0x1234, 0x5678, False), start_time=1, end_time=2)


def _tls_collector(make, certificate, sink, client_ca: bool = False) -> Collector:  # type: ignore[no-untyped-def]
    cert, key = certificate
    tls = {"cert_file": str(cert), "key_file": str(key)}
    if client_ca:
        tls["client_ca_file"] = str(cert)  # the self-signed certificate is also the client's CA
    return make(collector_config(receivers={"tls": tls}), exporters={"mem": sink})


def _names(sink: InMemoryExporter, n: int) -> list[str]:
    deadline = time.monotonic() + 5
    while len(sink.requests()) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return [r.decoded().resource_spans[0].scope_spans[0].spans[0].name for r in sink.requests()]


def test_grpc_receiver_over_tls(
    make_collector: Callable[..., Collector], certificate: tuple[Path, Path]
) -> None:
    """The official gRPC exporter trusting the certificate delivers; a plaintext client cannot."""
    sink = InMemoryExporter("mem")
    collector = _tls_collector(make_collector, certificate, sink)
    port = collector.grpc_endpoint.rsplit(":", 1)[1]
    secure = GrpcSpanExporter(
        endpoint=f"https://localhost:{port}",
        credentials=grpc.ssl_channel_credentials(certificate[0].read_bytes()),
    )
    assert secure.export([_span("over tls")]) == SpanExportResult.SUCCESS
    secure.shutdown()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError):
        channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")(b"", timeout=3)
    assert _names(sink, 1) == ["over tls"]


def test_http_receiver_over_tls(
    make_collector: Callable[..., Collector], certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The official HTTP exporter with certificate_file delivers over https; plaintext fails and TLS still serves."""
    # the official exporter's requests session lets these variables override its certificate_file
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    sink = InMemoryExporter("mem")
    collector = _tls_collector(make_collector, certificate, sink)
    url = f"https://{collector.http_endpoint}/v1/traces"
    exporter = HttpSpanExporter(endpoint=url, certificate_file=str(certificate[0]))
    assert exporter.export([_span("first")]) == SpanExportResult.SUCCESS
    with pytest.raises(requests.ConnectionError):
        requests.post(url.replace("https://", "http://"), data=b"", headers=PB, timeout=3)
    assert exporter.export([_span("second")]) == SpanExportResult.SUCCESS
    exporter.shutdown()
    assert _names(sink, 2) == ["first", "second"]


def test_mutual_tls_requires_a_client_certificate(
    make_collector: Callable[..., Collector], certificate: tuple[Path, Path]
) -> None:
    """With client_ca_file set, clients without a certificate are refused and clients with one are served."""
    sink = InMemoryExporter("mem")
    collector = _tls_collector(make_collector, certificate, sink, client_ca=True)
    cert, key = certificate
    url = f"https://{collector.http_endpoint}/v1/traces"
    # refused in the handshake: TLS 1.3 clients see the alert (SSLError) or just the closed connection
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(url, data=b"", headers=PB, verify=str(cert), timeout=3)
    assert sink.requests() == []
    accepted = requests.post(
        url, data=b"", headers=PB, verify=str(cert), cert=(str(cert), str(key)), timeout=5
    )
    assert accepted.status_code == 200
    port = collector.grpc_endpoint.rsplit(":", 1)[1]
    with_cert = grpc.ssl_channel_credentials(cert.read_bytes(), key.read_bytes(), cert.read_bytes())
    without = grpc.ssl_channel_credentials(cert.read_bytes())
    method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    with grpc.secure_channel(f"localhost:{port}", with_cert) as channel:
        assert channel.unary_unary(method)(b"", timeout=5) == b""
    with grpc.secure_channel(f"localhost:{port}", without) as channel, pytest.raises(grpc.RpcError):
        channel.unary_unary(method)(b"", timeout=3)


def test_tls_configuration_is_validated(certificate: tuple[Path, Path]) -> None:
    """cert_file and key_file are required and must exist; errors name the key."""
    with pytest.raises(ConfigError, match=r"receivers\.tls\.key_file: required"):
        parse_config({"receivers": {"tls": {"cert_file": str(certificate[0])}}}, env={})
    with pytest.raises(ConfigError, match=r"receivers\.tls\.cert_file: no such file '/nonexistent.pem'"):
        parse_config({"receivers": {"tls": {"cert_file": "/nonexistent.pem", "key_file": "/x"}}}, env={})
    config = parse_config(
        {"receivers": {"tls": {"cert_file": str(certificate[0]), "key_file": str(certificate[1])}}}, env={}
    )
    assert config.receivers.tls is not None and config.receivers.tls.client_ca_file is None
