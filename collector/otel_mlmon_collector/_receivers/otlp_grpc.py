"""OTLP/gRPC receiver: the three ``Export`` services of opentelemetry-proto, taking the request as raw bytes.

Registering each service's ``Export`` method with no request deserialiser lets the collector decode once
(to validate and let processors observe) and forward the bytes exactly as received. Answers follow the OTLP
specification: ``INVALID_ARGUMENT`` for a malformed message, ``RESOURCE_EXHAUSTED`` above the size limit
(enforced by gRPC on the decompressed message), ``UNAVAILABLE`` with a ``google.rpc.RetryInfo`` in the
``google.rpc.retryinfo-bin`` trailer under back-pressure or during shutdown.

Calls are served by gRPC's asyncio server on one event-loop thread, so a client that sends its message slowly
costs a coroutine, not a thread, and is cut after ``body_timeout_seconds`` (``DEADLINE_EXCEEDED``). The method
is registered as client-streaming, which is the same on the wire as a unary call, so the collector decides when to
read the message: with ``max_concurrent_rpcs`` calls in progress, one more is answered ``RESOURCE_EXHAUSTED`` with
the ``RetryInfo`` hint (retryable, as the specification asks) before its message is read. Complete messages are
decoded and handed over on ``max_workers`` threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from .._config import (
    ENV_GRPC_ENDPOINT,
    GrpcReceiverConfig,
    ReceiverLimits,
    ReceiverTlsConfig,
    split_host_port,
)
from .._otlp import MalformedRequest, OtlpRequest, count_items, decode_protobuf, spec_for
from .._pipeline import Admission, Pipeline
from .._selfmetrics import REFUSED
from . import bind_error
from ._auth import BearerAuth, grpc_aio_interceptor

__all__ = ["RETRY_INFO_TRAILER", "OtlpGrpcReceiver"]

_log = logging.getLogger(__name__)
#: Trailer key under which gRPC clients (the OTel Python exporter among them) look for the retry hint.
RETRY_INFO_TRAILER = "google.rpc.retryinfo-bin"
_UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


class OtlpGrpcReceiver:
    """Serves ``TraceService``, ``MetricsService`` and ``LogsService`` ``Export`` calls.

    Example:
        >>> from otel_mlmon_collector._pipeline import Pipeline
        >>> from otel_mlmon_collector._config import GrpcReceiverConfig
        >>> r = OtlpGrpcReceiver(Pipeline([]), GrpcReceiverConfig(endpoint="127.0.0.1:0"))
        >>> r.start(); r.endpoint.startswith("127.0.0.1:")
        True
        >>> r.shutdown(1.0)
    """

    name = "otlp_grpc"

    def __init__(
        self,
        pipeline: Pipeline,
        config: GrpcReceiverConfig | None = None,
        limits: ReceiverLimits | None = None,
        tls: ReceiverTlsConfig | None = None,
        auth: BearerAuth | None = None,
    ) -> None:
        """``config``: endpoint and concurrency (``receivers.grpc``); ``limits``: the bounds on one request."""
        self.pipeline = pipeline
        self.config = config or GrpcReceiverConfig()
        self.limits = limits or ReceiverLimits()
        self.tls = tls
        self.auth = auth
        self._server: grpc.aio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool: futures.ThreadPoolExecutor | None = None
        self._port = 0
        #: Calls in progress (read on the loop thread only).
        self.calls_in_progress = 0
        retry = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=self.limits.retry_after_seconds))
        self._retry_trailer = ((RETRY_INFO_TRAILER, retry.SerializeToString()),)

    @property
    def endpoint(self) -> str:
        """The bound ``host:port``."""
        host, port = split_host_port(self.config.endpoint)
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{self._port or port}"

    def start(self) -> None:
        """Bind and start the gRPC server on its own event-loop thread."""
        self._pool = futures.ThreadPoolExecutor(self.config.max_workers, thread_name_prefix="otlp-grpc")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="otlp-grpc-loop", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()
        except BaseException:
            self._stop_loop()
            raise
        _log.info("OTLP/gRPC receiver listening on %s", self.endpoint)

    async def _start(self) -> None:
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self.limits.max_request_bytes),
                ("grpc.max_send_message_length", 4 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ],
            # refused before the handler runs: an unauthenticated call never reaches the pipeline
            interceptors=[grpc_aio_interceptor(self.auth, self.pipeline.metrics)] if self.auth else None,
            # a backstop only: our own limit answers first, with the retry hint gRPC's own refusal lacks
            maximum_concurrent_rpcs=2 * self.config.max_concurrent_rpcs,
        )
        handlers = []
        for signal in ("traces", "metrics", "logs"):
            spec = spec_for(signal)
            method = grpc.stream_unary_rpc_method_handler(
                self._handler(signal),
                request_deserializer=None,  # raw bytes: decoded once below, forwarded as received
                response_serializer=spec.response_class.SerializeToString,
            )
            handlers.append(grpc.method_handlers_generic_handler(spec.grpc_service, {"Export": method}))
        server.add_generic_rpc_handlers(handlers)
        host, port = split_host_port(self.config.endpoint)
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
            await server.stop(None)
            raise bind_error("OTLP/gRPC receiver", address, setting)
        self._port = bound
        await server.start()
        self._server = server

    def shutdown(self, grace_seconds: float) -> None:
        """Refuse new calls, let running ones finish for up to ``grace_seconds``."""
        if self._server is None or self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._server.stop(grace_seconds), self._loop)
        with contextlib.suppress(futures.TimeoutError, RuntimeError):
            future.result(grace_seconds + 1.0)
        self._server = None
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(2.0)
            if not self._thread.is_alive():
                self._loop.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _handler(self, signal: str) -> Any:
        response_class = spec_for(signal).response_class

        async def export(messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
            if self.calls_in_progress >= self.config.max_concurrent_rpcs:
                self._count(signal, "too_many_calls")
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    "too many calls in progress, retry later",
                    trailing_metadata=self._retry_trailer,
                )
            self.calls_in_progress += 1
            try:
                try:
                    payload = await asyncio.wait_for(_first(messages), self.limits.body_timeout_seconds)
                except asyncio.TimeoutError:
                    self._count(signal, "timeout")
                    message = f"request message not received within {self.limits.body_timeout_seconds:g} s"
                    await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, message)
                loop = asyncio.get_running_loop()
                refusal = await loop.run_in_executor(self._pool, self._accept, signal, payload)
            finally:
                self.calls_in_progress -= 1
            if refusal is not None:
                code, message = refusal
                trailer = self._retry_trailer if code is _UNAVAILABLE else ()
                await context.abort(code, message, trailing_metadata=trailer)
            return response_class()

        return export

    def _accept(self, signal: str, payload: bytes | None) -> tuple[grpc.StatusCode, str] | None:
        """On a worker thread: decode and hand over; the refusal's code and message, or None when accepted."""
        pipeline = self.pipeline
        if pipeline.closing:
            self._count(signal, "shutting_down")
            return _UNAVAILABLE, "collector is shutting down"
        if payload is None:
            self._count(signal, "malformed")
            return grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request message"
        if not pipeline.has_room(signal, len(payload)):
            self._count(signal, "backpressure")
            return _UNAVAILABLE, "collector queue is full, retry later"
        try:
            message = decode_protobuf(signal, payload)
        except MalformedRequest as e:
            self._count(signal, "malformed")
            return grpc.StatusCode.INVALID_ARGUMENT, str(e)
        request = OtlpRequest(signal, payload, message, count_items(signal, message), "grpc")
        admission = pipeline.accept(request, "grpc")
        if admission is Admission.SHUTTING_DOWN:
            return _UNAVAILABLE, "collector is shutting down"
        if admission is Admission.BACKPRESSURE:
            return _UNAVAILABLE, "collector queue is full, retry later"
        return None

    def _count(self, signal: str, reason: str) -> None:
        self.pipeline.metrics.add(REFUSED, 1, signal=signal, transport="grpc", reason=reason)


async def _first(messages: AsyncIterator[bytes]) -> bytes | None:
    """The call's request message (a unary call sends exactly one), None when it sent none."""
    async for message in messages:
        return message
    return None


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
