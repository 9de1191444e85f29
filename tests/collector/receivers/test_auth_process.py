"""Authentication against a real ``python -m otel_mlmon_collector`` process on loopback.

The process forwards to a second, in-process collector (real receivers, in-memory exporter) standing in for the
downstream backend, so "nothing forwarded" and the self-metrics are read where a backend would read them.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext
from otel_mlmon_collector import Collector
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter

import otel_mlmon
from otel_mlmon import conventions as conv

from .._process import CollectorProcess
from ..conftest import collector_config, wait_until

TOKEN = "tok-7f3a9c1e5b"
TRACE_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class AuthCollector(CollectorProcess):
    """An authenticating collector process (gRPC, HTTP, health on loopback) forwarding downstream."""

    def __init__(self, tmp_path: Path, downstream: str) -> None:
        self.token_file = tmp_path / "token"
        self.token_file.write_text(TOKEN + "\n")
        config = {
            "receivers": {"auth": {"bearer_token_file": str(self.token_file)}},
            "exporters": [{"name": "down", "endpoint": f"http://{downstream}", "retry": {"enabled": False}}],
            "self_metrics": {"enabled": True, "interval_seconds": 600},  # sent once, at shutdown
        }
        super().__init__(tmp_path, config, grpc=True)


@pytest.fixture
def downstream(make_collector: Callable[..., Collector]) -> tuple[Collector, InMemoryExporter]:
    sink = InMemoryExporter("sink")
    return make_collector(collector_config(), exporters={"sink": sink}), sink


@pytest.fixture
def authed(tmp_path: Path, downstream: tuple[Collector, InMemoryExporter]) -> Iterator[AuthCollector]:
    with AuthCollector(tmp_path, downstream[0].http_endpoint) as process:
        yield process


def _span(name: str) -> ReadableSpan:
    return ReadableSpan(name, context=SpanContext(0x1234, 0x5678, False), start_time=1, end_time=2)


def _request(name: str) -> bytes:
    message = ExportTraceServiceRequest()
    message.resource_spans.add().scope_spans.add().spans.add(
        name=name, trace_id=b"\x01" * 16, span_id=b"\x02" * 8
    )
    return message.SerializeToString()


def _post(endpoint: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        f"http://{endpoint}/v1/traces",
        data=body,
        headers={"Content-Type": "application/x-protobuf", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _span_names(sink: InMemoryExporter) -> list[str]:
    names = []
    for request in sink.requests("traces"):
        for rs in request.decoded().resource_spans:
            names += [span.name for ss in rs.scope_spans for span in ss.spans]
    return sorted(names)


def _refused(sink: InMemoryExporter) -> dict[tuple[str, str], int]:
    """``(transport, reason) → count`` over signals, from the authenticating collector's self-metrics report."""
    out: dict[tuple[str, str], int] = {}
    for request in sink.requests("metrics"):
        for rm in request.decoded().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name != conv.METRIC_COLLECTOR_REQUESTS_REFUSED:
                        continue
                    for point in metric.sum.data_points:
                        attrs = {a.key: a.value.string_value for a in point.attributes}
                        key = (attrs["transport"], attrs["reason"])
                        out[key] = out.get(key, 0) + point.as_int
    return out


def test_wrong_or_missing_token_is_refused_and_nothing_forwarded(
    authed: AuthCollector, downstream: tuple[Collector, InMemoryExporter]
) -> None:
    """HTTP 401 + Bearer challenge + google.rpc.Status, gRPC UNAUTHENTICATED; only authorized spans arrive.

    /health: probes get the status without a token; queues and findings need it; a wrong token gets 401.
    """
    _, sink = downstream
    status, body, _ = authed.health_answer()
    assert (status, body) == (200, {"status": "serving"})
    status, body, _ = authed.health_answer(f"Bearer {TOKEN}")
    assert status == 200 and body["status"] == "serving" and "queues" in body and "uptime_seconds" in body
    status, body, headers = authed.health_answer("Bearer nope")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer") and body["code"] == 16

    status, headers, body = _post(authed.http, _request("no token"), {})
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert status_pb2.Status.FromString(body).code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    status, headers, _ = _post(authed.http, _request("wrong token"), {"Authorization": "Bearer nope"})
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
    status, _, _ = _post(authed.http, _request("basic"), {"Authorization": f"Basic {TOKEN}"})
    assert status == 401
    # a large body is not read: the answer comes first and the connection is closed
    big = requests.post(
        f"http://{authed.http}/v1/traces",
        data=b"\0" * (3 << 20),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert big.status_code == 401 and big.headers["Connection"] == "close"
    assert _post(authed.http, _request("http ok"), {"Authorization": f"Bearer {TOKEN}"})[0] == 200

    with grpc.insecure_channel(authed.grpc) as channel:
        export = channel.unary_unary(TRACE_PATH)
        for metadata in ((), (("authorization", "Bearer nope"),), (("authorization", TOKEN),)):
            with pytest.raises(grpc.RpcError) as refused:
                export(_request("grpc refused"), metadata=metadata, timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        export(_request("grpc ok"), metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=10)

    # the official exporters without headers fail (not retried), with them they deliver
    assert GrpcSpanExporter(endpoint=f"http://{authed.grpc}", insecure=True).export([_span("x")]) == (
        SpanExportResult.FAILURE
    )
    assert HttpSpanExporter(endpoint=f"http://{authed.http}/v1/traces").export([_span("x")]) == (
        SpanExportResult.FAILURE
    )
    authed.stop()
    assert "Traceback" not in authed.log(), authed.log()
    wait_until(lambda: _refused(sink), 10, what="self-metrics downstream")
    assert _span_names(sink) == ["grpc ok", "http ok"]
    assert _refused(sink) == {("http", "unauthenticated"): 5, ("grpc", "unauthenticated"): 4}


def test_rotated_token_file_is_used_without_restart(
    authed: AuthCollector, downstream: tuple[Collector, InMemoryExporter]
) -> None:
    """Rewriting the token file switches the accepted token within about a second."""
    _, sink = downstream
    assert _post(authed.http, _request("before"), {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    tmp = authed.token_file.with_suffix(".new")
    tmp.write_text("rotated-token\n")
    os.replace(tmp, authed.token_file)

    def rotated() -> bool:
        return _post(authed.http, _request("after"), {"Authorization": "Bearer rotated-token"})[0] == 200

    wait_until(rotated, 10, interval=0.3, what="the new token to be accepted")
    assert _post(authed.http, _request("old"), {"Authorization": f"Bearer {TOKEN}"})[0] == 401
    authed.stop()
    assert "before" in _span_names(sink) and "after" in _span_names(sink) and "old" not in _span_names(sink)


@pytest.mark.e2e
def test_sdk_exports_with_the_token_from_the_standard_variables(
    authed: AuthCollector, downstream: tuple[Collector, InMemoryExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    """otel_mlmon.configure() with OTEL_EXPORTER_OTLP_HEADERS, or headers=, gets spans and metrics through,
    over OTLP/HTTP and OTLP/gRPC; without the header it is refused."""
    _, sink = downstream
    telemetries = []
    for protocol, endpoint in (("http/protobuf", authed.http), ("grpc", authed.grpc)):
        kind = protocol.split("/")[0]
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{TOKEN}")
        telemetries.append(
            otel_mlmon.configure(
                service_name=f"{kind} from env",
                endpoint=f"http://{endpoint}",
                protocol=protocol,
                set_global=False,
            )
        )
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS")
        # a capitalised name as users write it; gRPC metadata needs it lower-cased, configure() does that
        telemetries.append(
            otel_mlmon.configure(
                service_name=f"{kind} from argument",
                endpoint=f"http://{endpoint}",
                protocol=protocol,
                headers={"Authorization": f"Bearer {TOKEN}"},
                set_global=False,
            )
        )
        telemetries.append(
            otel_mlmon.configure(
                service_name=f"{kind} without",
                endpoint=f"http://{endpoint}",
                protocol=protocol,
                set_global=False,
            )
        )
    for telemetry in telemetries:
        name = telemetry.tracer_provider.resource.attributes["service.name"]
        with telemetry.tracer_provider.get_tracer("t").start_as_current_span(f"span of {name}"):
            telemetry.meter_provider.get_meter("t").create_counter("auth.test.calls").add(1)
        telemetry.force_flush(10_000)
        telemetry.shutdown()
    authed.stop()
    wait_until(lambda: _refused(sink), 10, what="self-metrics downstream")
    senders = [f"{kind} from {how}" for kind in ("grpc", "http") for how in ("argument", "env")]
    assert _span_names(sink) == [f"span of {s}" for s in senders]
    services = set()
    for request in sink.requests("metrics"):
        for rm in request.decoded().resource_metrics:
            attrs = {a.key: a.value.string_value for a in rm.resource.attributes}
            services.add(attrs["service.name"])
    assert services == {*senders, "otel-mlmon-collector"}
    refused = _refused(sink)
    # the senders without a header: their spans and metrics (one metrics export at least)
    assert refused[("http", "unauthenticated")] >= 2 and refused[("grpc", "unauthenticated")] >= 2
