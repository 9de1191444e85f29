"""OTLP/gRPC receiver: the three ``Export`` services of opentelemetry-proto, taking the request as raw bytes.

Registering each service's ``Export`` method with no request deserialiser lets the collector decode once
(to validate and let processors observe) and forward the bytes exactly as received. Answers follow the OTLP
specification: ``INVALID_ARGUMENT`` for a malformed message, ``RESOURCE_EXHAUSTED`` above the size limit
(enforced by gRPC on the decompressed message), ``UNAVAILABLE`` with a ``google.rpc.RetryInfo`` in the
``google.rpc.retryinfo-bin`` trailer under back-pressure or during shutdown.
"""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from .._config import ENV_GRPC_ENDPOINT, ReceiverTlsConfig, split_host_port
from .._otlp import MalformedRequest, OtlpRequest, count_items, decode_protobuf, spec_for
from .._pipeline import Admission, Pipeline
from .._selfmetrics import REFUSED
from . import bind_error
from ._auth import BearerAuth, grpc_interceptor

__all__ = ["RETRY_INFO_TRAILER", "OtlpGrpcReceiver"]

_log = logging.getLogger(__name__)
#: Trailer key under which gRPC clients (the OTel Python exporter among them) look for the retry hint.
RETRY_INFO_TRAILER = "google.rpc.retryinfo-bin"


class OtlpGrpcReceiver:
    """Serves ``TraceService``, ``MetricsService`` and ``LogsService`` ``Export`` calls.

    Example:
        >>> from otel_mlmon_collector._pipeline import Pipeline
        >>> r = OtlpGrpcReceiver(Pipeline([]), "127.0.0.1:0")
        >>> r.start(); r.endpoint.startswith("127.0.0.1:")
        True
        >>> r.shutdown(1.0)
    """

    name = "otlp_grpc"

    def __init__(
        self,
        pipeline: Pipeline,
        endpoint: str = "127.0.0.1:4317",
        max_request_bytes: int = 64 * 1024 * 1024,
        retry_after_seconds: int = 1,
        max_workers: int = 8,
        tls: ReceiverTlsConfig | None = None,
        auth: BearerAuth | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.tls = tls
        self.auth = auth
        self.configured_endpoint = endpoint
        self.max_request_bytes = max_request_bytes
        self.retry_after_seconds = retry_after_seconds
        self.max_workers = max_workers
        self._server: grpc.Server | None = None
        self._port = 0
        retry = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=retry_after_seconds))
        self._retry_trailer = ((RETRY_INFO_TRAILER, retry.SerializeToString()),)

    @property
    def endpoint(self) -> str:
        """The bound ``host:port``."""
        host, port = split_host_port(self.configured_endpoint)
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{self._port or port}"

    def start(self) -> None:
        """Bind and start the gRPC server."""
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="otlp-grpc"),
            options=[
                ("grpc.max_receive_message_length", self.max_request_bytes),
                ("grpc.max_send_message_length", 4 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ],
            # refused before the handler runs: an unauthenticated call never reaches the pipeline
            interceptors=[grpc_interceptor(self.auth, self.pipeline.metrics)] if self.auth else None,
        )
        handlers = []
        for signal in ("traces", "metrics", "logs"):
            spec = spec_for(signal)
            method = grpc.unary_unary_rpc_method_handler(
                self._handler(signal),
                request_deserializer=None,  # raw bytes: decoded once below, forwarded as received
                response_serializer=spec.response_class.SerializeToString,
            )
            handlers.append(grpc.method_handlers_generic_handler(spec.grpc_service, {"Export": method}))
        server.add_generic_rpc_handlers(handlers)
        host, port = split_host_port(self.configured_endpoint)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        setting = f"receivers.grpc.endpoint or ${ENV_GRPC_ENDPOINT}"
        try:
            if self.tls is None:
                bound = server.add_insecure_port(address)
            else:
                bound = server.add_secure_port(address, _server_credentials(self.tls))
        except RuntimeError:  # recent grpcio raises "Failed to bind to address" instead of returning 0
            bound = 0
        if bound == 0:
            server.stop(None)
            raise bind_error("OTLP/gRPC receiver", address, setting)
        self._port = bound
        server.start()
        self._server = server
        _log.info("OTLP/gRPC receiver listening on %s", self.endpoint)

    def shutdown(self, grace_seconds: float) -> None:
        """Refuse new calls, let running ones finish for up to ``grace_seconds``."""
        if self._server is None:
            return
        self._server.stop(grace_seconds).wait(grace_seconds + 1.0)
        self._server = None

    def _handler(self, signal: str) -> Any:
        response_class = spec_for(signal).response_class
        pipeline = self.pipeline

        def export(payload: bytes, context: grpc.ServicerContext) -> Any:
            if pipeline.closing:
                pipeline.metrics.add(REFUSED, 1, signal=signal, transport="grpc", reason="shutting_down")
                self._unavailable(context, "collector is shutting down")
            if not pipeline.has_room(signal, len(payload)):
                pipeline.metrics.add(REFUSED, 1, signal=signal, transport="grpc", reason="backpressure")
                self._unavailable(context, "collector queue is full, retry later")
            try:
                message = decode_protobuf(signal, payload)
            except MalformedRequest as e:
                pipeline.metrics.add(REFUSED, 1, signal=signal, transport="grpc", reason="malformed")
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
            request = OtlpRequest(signal, payload, message, count_items(signal, message), "grpc")
            admission = pipeline.accept(request, "grpc")
            if admission is Admission.SHUTTING_DOWN:
                self._unavailable(context, "collector is shutting down")
            elif admission is Admission.BACKPRESSURE:
                self._unavailable(context, "collector queue is full, retry later")
            return response_class()

        return export

    def _unavailable(self, context: grpc.ServicerContext, message: str) -> None:
        context.set_trailing_metadata(self._retry_trailer)
        context.abort(grpc.StatusCode.UNAVAILABLE, message)


def _server_credentials(tls: ReceiverTlsConfig) -> grpc.ServerCredentials:
    with open(tls.key_file, "rb") as f:
        key = f.read()
    with open(tls.cert_file, "rb") as f:
        cert = f.read()
    client_ca = None
    if tls.client_ca_file:
        with open(tls.client_ca_file, "rb") as f:
            client_ca = f.read()
    return grpc.ssl_server_credentials([(key, cert)], client_ca, require_client_auth=client_ca is not None)
