"""OTLP/HTTP receiver: protobuf and JSON bodies, gzip, size limits, spec status codes, bounded under slow clients.

Answers (OTLP specification, "OTLP/HTTP"): 200 with an empty ``Export*ServiceResponse``; 400 for a malformed
body; 404 for another path; 405 for another method; 408 when headers or body do not arrive in time; 413 when the
body exceeds the limit after decompression; 415 for another content type or encoding; 503 with ``Retry-After``
under back-pressure, with too many connections open, or during shutdown. Error bodies are a ``google.rpc.Status``
in the request's encoding (protobuf or JSON). Connections are served by :mod:`._http_server` (one event-loop
thread, a bounded worker pool for decoding), so slow clients cost no thread.
"""

from __future__ import annotations

import json
import logging
import ssl
import zlib

from google.rpc import status_pb2

from .._config import (
    ENV_HTTP_ENDPOINT,
    HttpReceiverConfig,
    ReceiverLimits,
    ReceiverTlsConfig,
    split_host_port,
)
from .._otlp import MalformedRequest, OtlpRequest, count_items, decode_json, decode_protobuf, spec_for
from .._pipeline import Admission, Pipeline
from .._selfmetrics import REFUSED
from . import bind_error
from ._auth import REASON as UNAUTHENTICATED
from ._auth import BearerAuth, http_unauthorized
from ._http_server import Body, BodyError, ConnectionLimits, HttpServer, RequestHead, Response

__all__ = ["OtlpHttpReceiver"]

_log = logging.getLogger(__name__)
_PATHS = {spec_for(s).http_path: s for s in ("traces", "metrics", "logs")}
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
#: Reserved per byte of a JSON body: its decoded document and message cost several times its size.
_JSON_COST = 4
#: Compression assumed before the decompressed size is known (more is reserved once it is).
_GZIP_RATIO = 4
_AUTH_DISCARD_CAP = 1 << 20  # body bytes read (and dropped) before answering 401; more: answer and close
#: Bodies up to this size are decoded on the loop thread: handing them to a worker costs more than decoding them
#: (each hand-over waits for the GIL twice), and larger ones on the worker pool, so the loop keeps reading others.
_INLINE_BYTES = 64 << 10
_DISCARD_CAP = 8 << 20  # bodies we refuse are read and dropped up to this size (or the limit), then we close
#: ``reason`` of the refusal counter for the HTTP server's own answers (anything else there is a malformed head).
_SERVER_REASONS = {503: "too_many_connections", 408: "timeout", 431: "too_large", 500: "internal_error"}


class _TooLarge(Exception):
    pass


class OtlpHttpReceiver:
    """Serves ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs`` and hands each request to a pipeline.

    Example:
        >>> from otel_mlmon_collector._pipeline import Pipeline
        >>> from otel_mlmon_collector._config import HttpReceiverConfig
        >>> r = OtlpHttpReceiver(Pipeline([]), HttpReceiverConfig(endpoint="127.0.0.1:0"))
        >>> r.start(); r.endpoint.startswith("127.0.0.1:")
        True
        >>> r.shutdown(1.0)
    """

    name = "otlp_http"

    def __init__(
        self,
        pipeline: Pipeline,
        config: HttpReceiverConfig | None = None,
        limits: ReceiverLimits | None = None,
        tls: ReceiverTlsConfig | None = None,
        auth: BearerAuth | None = None,
    ) -> None:
        """``config``: endpoint and concurrency (``receivers.http``); ``limits``: the bounds on one request."""
        self.pipeline = pipeline
        self.config = config = config or HttpReceiverConfig()
        self.limits = limits = limits or ReceiverLimits()
        self.tls = tls
        self.auth = auth
        #: What the connection server grants clients: this receiver's concurrency, the shared timeouts.
        self.connection_limits = ConnectionLimits(
            max_connections=config.max_connections,
            max_workers=config.max_workers,
            header_timeout_seconds=limits.header_timeout_seconds,
            body_timeout_seconds=limits.body_timeout_seconds,
            idle_timeout_seconds=config.idle_timeout_seconds,
        )
        self._server: HttpServer | None = None

    @property
    def endpoint(self) -> str:
        """The bound ``host:port``."""
        if self._server is None:
            return self.config.endpoint
        host, port = self._server.address
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"

    @property
    def server(self) -> HttpServer | None:
        """The running server (its ``open_connections`` and ``refused_connections``), None when stopped."""
        return self._server

    def start(self) -> None:
        """Bind and serve on a background thread."""
        context = _ssl_context(self.tls) if self.tls is not None else None
        try:
            server = HttpServer(
                split_host_port(self.config.endpoint),
                self._handle,
                self._refusal,
                self.connection_limits,
                context,
                "otlp-http",
            )
        except OSError as e:
            raise bind_error(
                "OTLP/HTTP receiver",
                self.config.endpoint,
                f"receivers.http.endpoint or ${ENV_HTTP_ENDPOINT}",
                e,
            ) from None
        server.start()
        self._server = server
        scheme = "https" if self.tls else "http"
        _log.info("OTLP/HTTP receiver listening on %s://%s", scheme, self.endpoint)

    def shutdown(self, grace_seconds: float) -> None:
        """Stop accepting connections; requests in progress get up to ``grace_seconds`` to finish."""
        if self._server is None:
            return
        self._server.shutdown(grace_seconds)
        self._server = None

    # -- the request-handling entry point ---------------------------------------------------------------

    async def _handle(self, head: RequestHead, body: Body) -> Response:
        """Answer one request. Checks on the head alone (method, path, type) come before any body byte is read,
        then queue room is reserved, then the body is read (on the loop) and decoded (on the worker pool)."""
        signal = _PATHS.get(head.path)
        content_type = head.header("content-type").split(";", 1)[0].strip().lower()
        as_json = content_type == _JSON
        if head.method != "POST":
            return await self._refuse_unread(body, _method_not_allowed(head))
        if signal is None:
            message = f"unknown path {head.target!r}: use /v1/traces, /v1/metrics or /v1/logs"
            return await self._refuse_unread(body, _status(404, message, as_json))
        if self.auth is not None and not self.auth.allows(head.headers.get("authorization")):
            self._count(signal, UNAUTHENTICATED)
            status, headers, payload, content_type = http_unauthorized(
                "authorization" in head.headers, as_json
            )
            # a small body is read and dropped so that the client reads the answer; a larger one closes
            await body.discard(_AUTH_DISCARD_CAP)
            return Response(status, payload, content_type, headers)
        if content_type not in (_PROTOBUF, _JSON):
            self._count(signal, "unsupported_media_type")
            message = f"unsupported Content-Type {content_type!r}: use {_PROTOBUF} or {_JSON}"
            return await self._refuse_unread(body, _status(415, message, False))
        encoding = head.header("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            self._count(signal, "unsupported_media_type")
            message = f"unsupported Content-Encoding {encoding!r}: use gzip or none"
            return await self._refuse_unread(body, _status(415, message, as_json))
        limit = self.limits.max_request_bytes
        # Queue room is reserved before the body is read and decoded (issue 16: 12 concurrent 60 MiB JSON bodies
        # were read and decoded at once); more is reserved once the decompressed size is known.
        size = min(body.declared, limit) if body.declared is not None else limit
        charge = _charge(size * (_GZIP_RATIO if encoding == "gzip" else 1), as_json, limit)
        if not self.pipeline.reserve(charge):
            self._count(signal, "backpressure")
            return await self._refuse_unread(body, self._unavailable(as_json))
        try:
            try:
                raw = await body.read(limit)
            except BodyError as e:
                if e.status == 413:
                    self._count(signal, "too_large")
                    await body.discard(max(limit, _DISCARD_CAP))
                else:
                    self._count(signal, "timeout" if e.status == 408 else "malformed")
                return _status(e.status, str(e), as_json, close=True)
            args = (signal, raw, as_json, encoding == "gzip", charge)
            if len(raw) <= _INLINE_BYTES:
                response, charge = self._decode_and_accept(*args)
            else:
                response, charge = await self._server.run(self._decode_and_accept, *args)  # type: ignore[union-attr]
            return response
        finally:
            self.pipeline.release(charge)

    def _decode_and_accept(
        self, signal: str, body: bytes, as_json: bool, gzipped: bool, charge: int
    ) -> tuple[Response, int]:
        """On a worker thread: decompress, decode and hand over; returns the answer and the bytes reserved now."""
        limit = self.limits.max_request_bytes
        try:
            if gzipped:
                body = _gunzip(body, limit)
        except _TooLarge as e:
            self._count(signal, "too_large")
            return _status(413, str(e), as_json, close=True), charge
        except MalformedRequest as e:
            self._count(signal, "malformed")
            return _status(400, str(e), as_json), charge
        needed = _charge(len(body), as_json, limit)
        if needed > charge:  # decompressed beyond the estimate: reserve the rest too
            if not self.pipeline.reserve(needed - charge):
                self._count(signal, "backpressure")
                return self._unavailable(as_json), charge
            charge = needed
        if not self.pipeline.has_room(signal, len(body)):
            self._count(signal, "backpressure")
            return self._unavailable(as_json), charge
        try:
            if as_json:
                message = decode_json(signal, body)
                payload = message.SerializeToString()
            else:
                message = decode_protobuf(signal, body)
                payload = body
        except MalformedRequest as e:
            self._count(signal, "malformed")
            return _status(400, str(e), as_json), charge
        request = OtlpRequest(signal, payload, message, count_items(signal, message), "http")
        if self.pipeline.accept(request, "http") is not Admission.ACCEPTED:
            return self._unavailable(as_json), charge
        if as_json:
            return Response(200, b"{}", _JSON), charge
        return Response(200, spec_for(signal).response_class().SerializeToString(), _PROTOBUF), charge

    # -- answers ----------------------------------------------------------------------------------------

    async def _refuse_unread(self, body: Body, response: Response) -> Response:
        """Answer without using the body: drop it if small enough (the connection stays usable), else close."""
        await body.discard(max(self.limits.max_request_bytes, _DISCARD_CAP))
        return response

    def _count(self, signal: str, reason: str) -> None:
        self.pipeline.metrics.add(REFUSED, 1, signal=signal, transport="http", reason=reason)

    def _unavailable(self, as_json: bool) -> Response:
        message = (
            "collector is shutting down" if self.pipeline.closing else "collector queue is full, retry later"
        )
        return _status(503, message, as_json, {"Retry-After": str(self.limits.retry_after_seconds)})

    def _refusal(self, status: int, message: str) -> Response:
        """The server's own refusals (too many connections, headers too slow, too large or malformed), in
        protobuf; counted without a ``signal``, as the request's path was not read (or not at all)."""
        reason = _SERVER_REASONS.get(status, "malformed")
        self.pipeline.metrics.add(REFUSED, 1, transport="http", reason=reason)
        headers = {"Retry-After": str(self.limits.retry_after_seconds)} if status == 503 else None
        return _status(status, message, False, headers, close=True)


def _method_not_allowed(head: RequestHead) -> Response:
    response = _status(405, f"method {head.method} not allowed: use POST", False, {"Allow": "POST"})
    response.close = head.method == "HEAD"  # the client reads no body after a HEAD answer: do not reuse
    return response


def _status(
    status: int, message: str, as_json: bool, headers: dict[str, str] | None = None, close: bool = False
) -> Response:
    """An error answer: a ``google.rpc.Status`` in the request's encoding."""
    _log.debug("answering %d: %s", status, message)
    if as_json:
        body = json.dumps({"code": _grpc_code(status), "message": message}).encode()
        return Response(status, body, _JSON, headers or {}, close)
    body = status_pb2.Status(code=_grpc_code(status), message=message).SerializeToString()
    return Response(status, body, _PROTOBUF, headers or {}, close)


def _ssl_context(tls: ReceiverTlsConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file:
        context.load_verify_locations(tls.client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip (or zlib) data, stopping as soon as the output would exceed ``limit`` bytes."""
    decompressor = zlib.decompressobj(wbits=47)  # 32 + 15: accept gzip or zlib headers
    try:
        out = decompressor.decompress(data, limit + 1)
        if len(out) > limit or decompressor.unconsumed_tail:
            raise _TooLarge(f"request body exceeds the limit of {limit} bytes after decompression")
        out += decompressor.flush()
    except zlib.error as e:
        raise MalformedRequest(f"body is not valid gzip: {e}") from None
    if len(out) > limit:
        raise _TooLarge(f"request body exceeds the limit of {limit} bytes after decompression")
    if not decompressor.eof:
        raise MalformedRequest("gzip body is truncated")
    return out


def _charge(size: int, as_json: bool, limit: int) -> int:
    """Queue bytes reserved for a body of ``size`` bytes while it is read and decoded (JSON costs more)."""
    return min(size, limit) * (_JSON_COST if as_json else 1)


def _grpc_code(http_status: int) -> int:
    """The gRPC code matching an HTTP answer (google.rpc.Status carries one)."""
    return {400: 3, 404: 12, 405: 12, 408: 4, 413: 8, 415: 3, 429: 8, 431: 3, 503: 14, 505: 12}.get(
        http_status, 2
    )
