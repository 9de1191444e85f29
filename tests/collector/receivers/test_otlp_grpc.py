"""OTLP/gRPC receiver: the official exporter round trip, raw bytes forwarded, and the specified status codes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanContext
from otel_mlmon_collector import Collector
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._otlp import spec_for
from otel_mlmon_collector._receivers.otlp_grpc import RETRY_INFO_TRAILER
from otel_mlmon_collector._selfmetrics import REFUSED

from ..conftest import collector_config


@pytest.fixture
def sink() -> InMemoryExporter:
    return InMemoryExporter("mem")


@pytest.fixture
def collector(make_collector: Callable[..., Collector], sink: InMemoryExporter) -> Collector:
    config = collector_config(receivers={"max_request_bytes": 4096, "http": {"enabled": False}})
    return make_collector(config, exporters={"mem": sink})


@pytest.fixture
def channel(collector: Collector) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(collector.grpc_endpoint) as ch:
        yield ch


def _raw_call(channel: grpc.Channel, signal: str = "traces"):  # type: ignore[no-untyped-def]
    spec = spec_for(signal)
    return channel.unary_unary(
        spec.grpc_method, request_serializer=None, response_deserializer=spec.response_class.FromString
    )


def _wait_delivered(sink: InMemoryExporter, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(sink.requests()) < n and time.monotonic() < deadline:
        time.sleep(0.01)


def test_official_grpc_exporter_with_gzip_round_trip(collector: Collector, sink: InMemoryExporter) -> None:
    """Spans from the official gRPC exporter (gzip) arrive with their name, attributes and ids."""
    provider = TracerProvider()
    exporter = OTLPSpanExporter(
        endpoint=f"http://{collector.grpc_endpoint}", insecure=True, compression=grpc.Compression.Gzip
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("predict", attributes={"ml.model.name": "m"}) as span:
        trace_id = span.get_span_context().trace_id
    provider.shutdown()
    _wait_delivered(sink, 1)
    received = sink.requests("traces")[0]
    got = received.decoded().resource_spans[0].scope_spans[0].spans[0]
    assert (got.name, got.attributes[0].value.string_value) == ("predict", "m")
    assert int.from_bytes(got.trace_id, "big") == trace_id
    assert received.items == 1


def test_raw_bytes_are_forwarded_as_received(
    collector: Collector, sink: InMemoryExporter, channel: grpc.Channel
) -> None:
    """The request bytes reach the exporter unchanged, unknown fields included."""
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(name="x")
    payload = request.SerializeToString() + b"\xf8\x07\x01"  # unknown field 127 = 1
    assert _raw_call(channel)(payload, timeout=5) == ExportTraceServiceResponse()
    _wait_delivered(sink, 1)
    assert sink.requests()[0].payload == payload


def test_malformed_is_invalid_argument_with_a_message(collector: Collector, channel: grpc.Channel) -> None:
    """Bytes that are not the request message get INVALID_ARGUMENT saying so, and the next call succeeds."""
    with pytest.raises(grpc.RpcError) as info:
        _raw_call(channel)(b"\xff\xff\xff\xff", timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid protobuf ExportTraceServiceRequest" in info.value.details()
    assert collector.metrics.value(REFUSED, signal="traces", transport="grpc", reason="malformed") == 1
    assert _raw_call(channel)(b"", timeout=5) == ExportTraceServiceResponse()


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
def test_oversized_is_resource_exhausted(channel: grpc.Channel, compression: grpc.Compression) -> None:
    """A message over the limit after decompression (also a small gzip bomb) gets RESOURCE_EXHAUSTED."""
    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.add().body.string_value = "a" * 200_000
    with pytest.raises(grpc.RpcError) as info:
        _raw_call(channel, "logs")(request.SerializeToString(), timeout=5, compression=compression)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _raw_call(channel, "logs")(b"", timeout=5) is not None


def test_backpressure_is_unavailable_with_retry_info_the_exporter_honours(
    make_collector: Callable[..., Collector],
) -> None:
    """A full queue answers UNAVAILABLE with RetryInfo in the trailer; the official exporter retries and succeeds."""
    gate = threading.Event()
    delivered = InMemoryExporter("slow")

    class Stuck(InMemoryExporter):
        def export(self, request):  # type: ignore[no-untyped-def]
            gate.wait(10)
            return delivered.export(request)

    config = collector_config(
        receivers={"retry_after_seconds": 1, "http": {"enabled": False}},
        queue={"max_requests": 1, "workers": 1},
    )
    collector = make_collector(config, exporters={"stuck": Stuck("stuck")})
    with grpc.insecure_channel(collector.grpc_endpoint) as ch:
        call = _raw_call(ch, "logs")
        call(b"", timeout=5)  # taken by the worker, stuck
        deadline = time.monotonic() + 5
        while collector.pipeline.lanes[0].queue.in_flight < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        call(b"", timeout=5)  # queued
        with pytest.raises(grpc.RpcError) as info:
            call(b"", timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    trailers = dict(info.value.trailing_metadata())
    hint = error_details_pb2.RetryInfo.FromString(trailers[RETRY_INFO_TRAILER])
    assert hint.retry_delay.seconds == 1

    provider_exporter = OTLPSpanExporter(
        endpoint=f"http://{collector.grpc_endpoint}", insecure=True, timeout=15
    )
    span = ReadableSpan("after-backpressure", context=SpanContext(1, 2, False))
    threading.Timer(0.5, gate.set).start()  # the downstream frees up while the exporter is backing off
    started = time.monotonic()
    assert provider_exporter.export([span]) == SpanExportResult.SUCCESS
    assert time.monotonic() - started >= 0.4
    _wait_delivered(delivered, 3)
    assert [r.signal for r in delivered.requests()] == ["logs", "logs", "traces"]


def test_shutting_down_is_unavailable(
    make_collector: Callable[..., Collector], sink: InMemoryExporter
) -> None:
    """Once shutdown started, calls still reaching the server get UNAVAILABLE (retryable)."""
    collector = make_collector(
        collector_config(receivers={"http": {"enabled": False}}), exporters={"mem": sink}
    )
    collector.pipeline._closing = True  # the state shutdown sets before the server stops
    with grpc.insecure_channel(collector.grpc_endpoint) as ch, pytest.raises(grpc.RpcError) as info:
        _raw_call(ch)(b"", timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in info.value.details()
