"""A stand-in for the OpenTelemetry Collector's load-balancing exporter, for the sharded-collector test.

The OpenTelemetry Collector binary cannot be installed on the project's machines, so this router does in Python
what ``loadbalancingexporter`` (otelcol-contrib) documents and implements for ``routing_key: attributes``:

- **Ring** (``consistent_hashing.go``): every endpoint string ("host:port", as the static resolver lists it)
  gets 100 positions ``crc32_ieee(endpoint + byte(i)) % 36000`` for i in 0..99, a position already taken is
  skipped, positions are sorted; a routing key goes to the first position at or after ``crc32_ieee(key) % 36000``,
  wrapping to the first.
- **Metrics** (``splitMetricsByAttributes``): per ResourceMetrics, each routing attribute is looked up on the
  resource, then on the scope, then on each data point; string values are concatenated in the configured order
  into the key (a missing attribute adds nothing). Found on the resource: the whole ResourceMetrics goes under
  one key; on the scope: the whole ScopeMetrics; otherwise each data point separately.
- **Logs** (``splitLogsByAttributes``): per ResourceLogs, each attribute is looked up on the resource, then on the
  first scope's attributes, then on the first scope's first record; the whole ResourceLogs goes under that key.
- Batches routed to the same endpoint are merged and sent to it over OTLP/gRPC (the exporter's only protocol).

It receives OTLP/HTTP protobuf (``/v1/metrics``, ``/v1/logs``) on loopback and answers 200 once every replica
accepted its part, 503 otherwise. Only what the sharding test needs: no traces, no retries, no resolver updates.
"""

from __future__ import annotations

import bisect
import gzip
import threading
import zlib
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

__all__ = ["HashRing", "LoadBalancingRouter", "split_logs", "split_metrics"]

MAX_POSITIONS = 36_000  # 360 degrees with two decimals, as in consistent_hashing.go
WEIGHT = 100  # positions per endpoint


def _crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF  # Go's crc32.NewIEEE()


class HashRing:
    """The exporter's consistent-hash ring over ``endpoints``."""

    def __init__(self, endpoints: Sequence[str], weight: int = WEIGHT) -> None:
        taken: dict[int, str] = {}
        for endpoint in endpoints:
            for i in range(weight):
                position = _crc32(endpoint.encode() + bytes([i])) % MAX_POSITIONS
                taken.setdefault(position, endpoint)  # an occupied position is skipped
        self._positions = sorted(taken)
        self._endpoints = [taken[p] for p in self._positions]

    def items(self) -> list[tuple[int, str]]:
        """The ring as (position, endpoint), sorted by position."""
        return list(zip(self._positions, self._endpoints))

    def endpoint_for(self, key: bytes) -> str:
        """The endpoint owning ``key``: the first ring position at or after the key's."""
        position = _crc32(key) % MAX_POSITIONS
        index = bisect.bisect_left(self._positions, position)
        return self._endpoints[index if index < len(self._positions) else 0]


def _str(attributes, name: str) -> str | None:
    """The attribute's value as ``pcommon.Value.Str()`` gives it (empty for non-strings); None when absent."""
    for kv in attributes:
        if kv.key == name:
            return kv.value.string_value if kv.value.WhichOneof("value") == "string_value" else ""
    return None


def _points(metric: metrics_pb2.Metric):
    kind = metric.WhichOneof("data")
    return getattr(metric, kind).data_points if kind else []


def _one_point(metric: metrics_pb2.Metric, point) -> metrics_pb2.Metric:
    copy = metrics_pb2.Metric()
    copy.CopyFrom(metric)
    points = _points(copy)
    del points[:]
    points.add().CopyFrom(point)
    return copy


def split_metrics(request: metrics_service_pb2.ExportMetricsServiceRequest, attributes: Sequence[str]):
    """``[(key, ResourceMetrics)]`` as ``splitMetricsByAttributes`` splits them."""
    out: list[tuple[str, metrics_pb2.ResourceMetrics]] = []
    for rm in request.resource_metrics:
        key, pending = "", []
        for name in attributes:
            value = _str(rm.resource.attributes, name)
            if value is None:
                pending.append(name)
            else:
                key += value
        if not pending:
            out.append((key, rm))
            continue
        for sm in rm.scope_metrics:
            scope_key, scope_pending = key, []
            for name in pending:
                value = _str(sm.scope.attributes, name)
                if value is None:
                    scope_pending.append(name)
                else:
                    scope_key += value
            if not scope_pending:
                part = metrics_pb2.ResourceMetrics(resource=rm.resource, schema_url=rm.schema_url)
                part.scope_metrics.add().CopyFrom(sm)
                out.append((scope_key, part))
                continue
            for metric in sm.metrics:
                for point in _points(metric):
                    point_key = scope_key + "".join(_str(point.attributes, n) or "" for n in scope_pending)
                    part = metrics_pb2.ResourceMetrics(resource=rm.resource, schema_url=rm.schema_url)
                    scope = part.scope_metrics.add(scope=sm.scope, schema_url=sm.schema_url)
                    scope.metrics.add().CopyFrom(_one_point(metric, point))
                    out.append((point_key, part))
    return out


def split_logs(request: logs_service_pb2.ExportLogsServiceRequest, attributes: Sequence[str]):
    """``[(key, ResourceLogs)]`` as ``splitLogsByAttributes`` splits them: one key per ResourceLogs."""
    out: list[tuple[str, logs_pb2.ResourceLogs]] = []
    for rl in request.resource_logs:
        key = ""
        for name in attributes:
            value = _str(rl.resource.attributes, name)
            if value is None and rl.scope_logs:
                first_scope = rl.scope_logs[0]
                value = _str(first_scope.scope.attributes, name)
                if value is None and first_scope.log_records:
                    value = _str(first_scope.log_records[0].attributes, name)
            key += value or ""
        out.append((key, rl))
    return out


class LoadBalancingRouter:
    """OTLP/HTTP in, OTLP/gRPC out to ``endpoints`` by ``routing_attributes``; ``routed`` counts keys per endpoint.

    Usage::

        with LoadBalancingRouter(["127.0.0.1:4317", "127.0.0.1:5317"], ["ml.model.name"]) as router:
            exporter = OTLPMetricExporter(endpoint=f"{router.url}/v1/metrics")
    """

    def __init__(self, endpoints: Sequence[str], routing_attributes: Sequence[str]) -> None:
        self.ring = HashRing(endpoints)
        self.routing_attributes = list(routing_attributes)
        #: (signal, routing key) → endpoint, for every key seen
        self.routed: dict[tuple[str, str], str] = {}
        #: signal → requests that held several routing keys (split across replicas or not)
        self.mixed: dict[str, int] = {"metrics": 0, "logs": 0}
        #: the replicas' gRPC errors, answered with 503 (the exporter retries the whole request)
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._channels = {e: grpc.insecure_channel(e) for e in endpoints}
        self._metrics = {e: metrics_service_pb2_grpc.MetricsServiceStub(c) for e, c in self._channels.items()}
        self._logs = {e: logs_service_pb2_grpc.LogsServiceStub(c) for e, c in self._channels.items()}
        router = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                try:
                    if self.path == "/v1/metrics":
                        request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
                        router.route_metrics(request)
                        reply = metrics_service_pb2.ExportMetricsServiceResponse()
                    elif self.path == "/v1/logs":
                        request = logs_service_pb2.ExportLogsServiceRequest.FromString(body)
                        router.route_logs(request)
                        reply = logs_service_pb2.ExportLogsServiceResponse()
                    else:
                        self.send_error(404)
                        return
                except grpc.RpcError as error:
                    with router._lock:
                        router.failures.append(f"{self.path}: {error.code()}")
                    self.send_error(503)
                    return
                payload = reply.SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _endpoint(self, signal: str, key: str) -> str:
        endpoint = self.ring.endpoint_for(key.encode())
        with self._lock:
            self.routed[(signal, key)] = endpoint
        return endpoint

    def _count_mixed(self, signal: str, split: list) -> None:
        if len({key for key, _ in split}) > 1:
            with self._lock:
                self.mixed[signal] += 1

    def route_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        parts: dict[str, metrics_service_pb2.ExportMetricsServiceRequest] = {}
        split = split_metrics(request, self.routing_attributes)
        self._count_mixed("metrics", split)
        for key, rm in split:
            endpoint = self._endpoint("metrics", key)
            parts.setdefault(
                endpoint, metrics_service_pb2.ExportMetricsServiceRequest()
            ).resource_metrics.add().CopyFrom(rm)
        for endpoint, part in parts.items():
            self._metrics[endpoint].Export(part, timeout=60)

    def route_logs(self, request: logs_service_pb2.ExportLogsServiceRequest) -> None:
        parts: dict[str, logs_service_pb2.ExportLogsServiceRequest] = {}
        split = split_logs(request, self.routing_attributes)
        self._count_mixed("logs", split)
        for key, rl in split:
            endpoint = self._endpoint("logs", key)
            parts.setdefault(
                endpoint, logs_service_pb2.ExportLogsServiceRequest()
            ).resource_logs.add().CopyFrom(rl)
        for endpoint, part in parts.items():
            self._logs[endpoint].Export(part, timeout=60)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for channel in self._channels.values():
            channel.close()

    def __enter__(self) -> LoadBalancingRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
