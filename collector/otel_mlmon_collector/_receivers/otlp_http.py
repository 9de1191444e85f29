"""OTLP/HTTP receiver on the standard library: protobuf and JSON bodies, gzip, size limits, spec status codes.

Answers (OTLP specification, "OTLP/HTTP"): 200 with an empty ``Export*ServiceResponse``; 400 for a malformed
body; 404 for another path; 405 for another method; 413 when the body exceeds the limit after decompression;
415 for another content type or encoding; 503 with ``Retry-After`` under back-pressure or during shutdown.
Error bodies are a ``google.rpc.Status`` in the request's encoding (protobuf or JSON).
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.rpc import status_pb2

from .._config import ENV_HTTP_ENDPOINT, ReceiverTlsConfig, split_host_port
from .._otlp import MalformedRequest, OtlpRequest, count_items, decode_json, decode_protobuf, spec_for
from .._pipeline import Admission, Pipeline
from .._selfmetrics import REFUSED
from . import bind_error
from ._auth import REASON as UNAUTHENTICATED
from ._auth import BearerAuth, http_unauthorized

__all__ = ["OtlpHttpReceiver"]

_log = logging.getLogger(__name__)
_PATHS = {spec_for(s).http_path: s for s in ("traces", "metrics", "logs")}
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_READ_CHUNK = 1 << 20
#: Reserved per byte of a JSON body: its decoded document and message cost several times its size.
_JSON_COST = 4
#: Compression assumed before the decompressed size is known (more is reserved once it is).
_GZIP_RATIO = 4
_AUTH_DISCARD_CAP = 1 << 20  # body bytes read (and dropped) before answering 401; more: answer and close
_DISCARD_CAP = 8 << 20  # bodies we refuse are read and dropped up to this size (or the limit), then we close


class _TooLarge(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], receiver: OtlpHttpReceiver) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.receiver = receiver
        super().__init__(address, _Handler)
        if receiver.tls is not None:
            # the handshake happens on the handler's thread at first read, never in the accept loop
            self.socket = _ssl_context(receiver.tls).wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )


class OtlpHttpReceiver:
    """Serves ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs`` and hands each request to a pipeline.

    Example:
        >>> from otel_mlmon_collector._pipeline import Pipeline
        >>> r = OtlpHttpReceiver(Pipeline([]), "127.0.0.1:0")
        >>> r.start(); r.endpoint.startswith("127.0.0.1:")
        True
        >>> r.shutdown(1.0)
    """

    name = "otlp_http"

    def __init__(
        self,
        pipeline: Pipeline,
        endpoint: str = "127.0.0.1:4318",
        max_request_bytes: int = 64 * 1024 * 1024,
        retry_after_seconds: int = 1,
        socket_timeout_seconds: float = 30.0,
        tls: ReceiverTlsConfig | None = None,
        auth: BearerAuth | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.tls = tls
        self.auth = auth
        self.configured_endpoint = endpoint
        self.max_request_bytes = max_request_bytes
        self.retry_after_seconds = retry_after_seconds
        self.socket_timeout_seconds = socket_timeout_seconds
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """The bound ``host:port``."""
        if self._server is None:
            return self.configured_endpoint
        host, port = self._server.server_address[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"

    def start(self) -> None:
        """Bind and serve on a background thread."""
        try:
            self._server = _Server(split_host_port(self.configured_endpoint), self)
        except OSError as e:
            raise bind_error(
                "OTLP/HTTP receiver",
                self.configured_endpoint,
                f"receivers.http.endpoint or ${ENV_HTTP_ENDPOINT}",
                e,
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-http", daemon=True
        )
        self._thread.start()
        scheme = "https" if self.tls else "http"
        _log.info("OTLP/HTTP receiver listening on %s://%s", scheme, self.endpoint)

    def shutdown(self, grace_seconds: float) -> None:
        """Stop accepting connections; handler threads already running finish on their own."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(grace_seconds)
        self._server = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "otel-mlmon-collector"
    sys_version = ""

    def setup(self) -> None:
        self.timeout = self.server.receiver.socket_timeout_seconds
        super().setup()
        # answers are written in one piece; without this, Nagle + delayed ACK add milliseconds per request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError) as e:  # a bad handshake or a vanished client
            _log.debug("connection from %s ended: %s", self.client_address[0], e)

    def log_message(self, format: str, *args: object) -> None:
        _log.debug("%s " + format, self.address_string(), *args)

    # -- dispatch ---------------------------------------------------------------------------------------

    def do_POST(self) -> None:
        receiver = self.server.receiver
        signal = _PATHS.get(self.path.split("?", 1)[0])
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        as_json = content_type == _JSON
        if signal is None:
            self._discard_body()
            self._error(404, f"unknown path {self.path!r}: use /v1/traces, /v1/metrics or /v1/logs", as_json)
            return
        if receiver.auth is not None and not self._authenticated(receiver.auth, signal, as_json):
            return
        if content_type not in (_PROTOBUF, _JSON):
            self._discard_body()
            self._refuse(signal, "unsupported_media_type")
            self._error(
                415, f"unsupported Content-Type {content_type!r}: use {_PROTOBUF} or {_JSON}", as_json=False
            )
            return
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            self._discard_body()
            self._refuse(signal, "unsupported_media_type")
            self._error(415, f"unsupported Content-Encoding {encoding!r}: use gzip or none", as_json)
            return
        limit = receiver.max_request_bytes
        # Queue room is reserved before the body is read and decoded (issue 16: 12 concurrent 60 MiB JSON bodies
        # were read and decoded at once); more is reserved once the decompressed size is known.
        declared = self.headers.get("Content-Length", "")
        size = min(int(declared), limit) if declared.isdigit() else limit
        charge = _charge(size * (_GZIP_RATIO if encoding == "gzip" else 1), as_json, limit)
        if not receiver.pipeline.reserve(charge):
            self._discard_body()
            self._refuse(signal, "backpressure")
            self._unavailable(as_json)
            return
        try:
            charge = self._receive(signal, as_json, encoding, limit, charge)
        finally:
            receiver.pipeline.release(charge)

    def _receive(self, signal: str, as_json: bool, encoding: str, limit: int, charge: int) -> int:
        """Read, decode and hand over one request body; returns the bytes reserved for it in the end."""
        receiver = self.server.receiver
        try:
            body = self._read_body(limit)
            if encoding == "gzip":
                body = _gunzip(body, limit)
        except _TooLarge as e:
            self._refuse(signal, "too_large")
            self.close_connection = True
            self._error(413, str(e), as_json)
            return charge
        except MalformedRequest as e:
            self._refuse(signal, "malformed")
            self._error(400, str(e), as_json)
            return charge
        except (OSError, ValueError) as e:
            self.close_connection = True
            self._error(400, f"cannot read request body: {e}", as_json)
            return charge
        needed = _charge(len(body), as_json, limit)
        if needed > charge:  # decompressed beyond the estimate: reserve the rest too
            if not receiver.pipeline.reserve(needed - charge):
                self._refuse(signal, "backpressure")
                self._unavailable(as_json)
                return charge
            charge = needed
        if not receiver.pipeline.has_room(signal, len(body)):
            self._refuse(signal, "backpressure")
            self._unavailable(as_json)
            return charge
        try:
            if as_json:
                message = decode_json(signal, body)
                payload = message.SerializeToString()
            else:
                message = decode_protobuf(signal, body)
                payload = body
        except MalformedRequest as e:
            self._refuse(signal, "malformed")
            self._error(400, str(e), as_json)
            return charge
        request = OtlpRequest(signal, payload, message, count_items(signal, message), "http")
        admission = receiver.pipeline.accept(request, "http")
        if admission is Admission.ACCEPTED:
            self._success(signal, as_json)
        else:
            self._unavailable(as_json)
        return charge

    def do_GET(self) -> None:
        self._method_not_allowed()

    do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_GET

    def parse_request(self) -> bool:
        """The standard parsing, minus HTTP/0.9 (no headers to answer with): such a request is closed unanswered."""
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":
            self.close_connection = True
            return False
        return True

    # -- body -------------------------------------------------------------------------------------------

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise ValueError("Content-Length or chunked Transfer-Encoding required")
        length = int(length_header)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            self._discard_body()
            raise _TooLarge(f"request body of {length} bytes exceeds the limit of {limit} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            raise ValueError(f"body ended after {len(body)} of {length} bytes")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise _TooLarge(f"chunked request body exceeds the limit of {limit} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise ValueError("chunked body ended early")
            parts.append(chunk)
            self.rfile.readline(1024)

    def _discard_body(self) -> None:
        """Read and drop a body we will not use, so the client reads our answer; close if it is huge."""
        length = self.headers.get("Content-Length")
        cap = max(self.server.receiver.max_request_bytes, _DISCARD_CAP)
        if length and length.isdigit() and int(length) <= cap:
            remaining = int(length)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, _READ_CHUNK))
                if not chunk:
                    break
                remaining -= len(chunk)
        else:
            self.close_connection = True

    # -- answers ----------------------------------------------------------------------------------------

    def _authenticated(self, auth: BearerAuth, signal: str, as_json: bool) -> bool:
        """Whether the ``Authorization`` header holds a valid token; if not, answer 401 (counted) unread."""
        header = self.headers.get("Authorization")
        if auth.allows(header):
            return True
        self._refuse(signal, UNAUTHENTICATED)
        # a small body is read and dropped so that the client reads the answer; a large one is not worth it
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= _AUTH_DISCARD_CAP:
            self.rfile.read(int(length))
        else:
            self.close_connection = True
        status, headers, body, content_type = http_unauthorized(bool(header), as_json)
        self._send(status, body, content_type, headers)
        return False

    def _refuse(self, signal: str, reason: str) -> None:
        self.server.receiver.pipeline.metrics.add(REFUSED, 1, signal=signal, transport="http", reason=reason)

    def _success(self, signal: str, as_json: bool) -> None:
        if as_json:
            self._send(200, b"{}", _JSON)
        else:
            self._send(200, spec_for(signal).response_class().SerializeToString(), _PROTOBUF)

    def _unavailable(self, as_json: bool) -> None:
        seconds = self.server.receiver.retry_after_seconds
        message = (
            "collector is shutting down"
            if self.server.receiver.pipeline.closing
            else "collector queue is full, retry later"
        )
        self._error(503, message, as_json, {"Retry-After": str(seconds)})

    def _method_not_allowed(self) -> None:
        if (
            self.command == "HEAD"
        ):  # the client reads no body after a HEAD answer: do not reuse the connection
            self.close_connection = True
        self._discard_body()
        self._error(405, f"method {self.command} not allowed: use POST", False, {"Allow": "POST"})

    def _error(self, status: int, message: str, as_json: bool, headers: dict[str, str] | None = None) -> None:
        _log.debug("answering %d to %s %s: %s", status, self.command, self.path, message)
        if as_json:
            body = json.dumps({"code": _grpc_code(status), "message": message}).encode()
            self._send(status, body, _JSON, headers)
        else:
            body = status_pb2.Status(code=_grpc_code(status), message=message).SerializeToString()
            self._send(status, body, _PROTOBUF, headers)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n" + body)  # headers and body leave in one write
        self.flush_headers()


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
    return {400: 3, 404: 12, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14}.get(http_status, 2)
