"""Forward requests unchanged to a downstream OTLP endpoint over gRPC or HTTP/protobuf.

The encoded request is sent as it is (no decode, no re-encode); this module only adds transport concerns:
headers, TLS, gzip, timeout, and the classification of the answer into success / retryable / failed,
following the OTLP specification (retryable: HTTP 429, 502, 503, 504; gRPC UNAVAILABLE and friends, and
RESOURCE_EXHAUSTED when the server sent a ``RetryInfo``).
"""

from __future__ import annotations

import email.utils
import gzip
import json
import threading
import time
from typing import Any

import grpc
import requests
from google.rpc import error_details_pb2, status_pb2

from .._config import ExporterConfig
from .._otlp import OtlpRequest, spec_for
from . import ExportResult

__all__ = ["OtlpGrpcExporter", "OtlpHttpExporter", "create_otlp_exporter"]

_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_RETRYABLE_GRPC = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_RETRY_INFO_KEY = "google.rpc.retryinfo-bin"
_MAX_MESSAGE_CHARS = 500


def create_otlp_exporter(config: ExporterConfig) -> OtlpHttpExporter | OtlpGrpcExporter:
    """Build the exporter ``config.protocol`` asks for."""
    if config.protocol == "grpc":
        return OtlpGrpcExporter(config)
    return OtlpHttpExporter(config)


class OtlpHttpExporter:
    """POSTs ``application/x-protobuf`` bodies to ``<endpoint>/v1/<signal>`` (or the signal's own URL)."""

    def __init__(self, config: ExporterConfig) -> None:
        self.config = config
        self.name = config.name
        self._urls = {signal: config.signal_endpoint(signal) for signal in config.signals}
        self._headers = {"Content-Type": "application/x-protobuf", **dict(config.headers)}
        if config.compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        self._verify: bool | str = config.certificate_file or True
        self._cert = (
            (config.client_certificate_file, config.client_key_file)
            if config.client_certificate_file and config.client_key_file
            else config.client_certificate_file
        )
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._headers)
            session.verify = self._verify
            if self._cert:
                session.cert = self._cert  # type: ignore[assignment]
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def export(self, request: OtlpRequest) -> ExportResult:
        """POST the request's bytes and classify the answer."""
        body = request.payload
        if self.config.compression == "gzip":
            body = gzip.compress(body, compresslevel=6)
        url = self._urls[request.signal]
        try:
            # verify per request: requests lets REQUESTS_CA_BUNDLE override a session's verify setting
            response = self._session().post(
                url,
                data=body,
                timeout=self.config.timeout_seconds,
                verify=self._verify,
                cert=self._cert or None,
            )
        except requests.RequestException as e:
            return ExportResult.retryable(f"POST {url}: {_unreachable(e, self.config.timeout_seconds)}")
        if 200 <= response.status_code < 300:
            rejected, message = _partial_success(request.signal, response.content)
            return ExportResult.success(rejected, message)
        message = f"POST {url}: HTTP {response.status_code}: {_http_error_message(response)}"
        if response.status_code in _RETRYABLE_HTTP:
            return ExportResult.retryable(message, _parse_retry_after(response.headers.get("Retry-After")))
        return ExportResult.failed(message)

    def shutdown(self) -> None:
        """Close every thread's connection pool."""
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()


class OtlpGrpcExporter:
    """Calls ``<Signal>Service/Export`` with the encoded request as the raw message (no re-serialisation)."""

    def __init__(self, config: ExporterConfig) -> None:
        self.config = config
        self.name = config.name
        self._metadata = tuple(config.headers)
        self._compression = (
            grpc.Compression.Gzip if config.compression == "gzip" else grpc.Compression.NoCompression
        )
        self._channels: dict[str, grpc.Channel] = {}
        self._calls: dict[str, Any] = {}
        for signal in config.signals:
            target = config.signal_endpoint(signal)
            channel = self._channels.get(target)
            if channel is None:
                channel = self._channels[target] = self._open_channel(target)
            spec = spec_for(signal)
            self._calls[signal] = channel.unary_unary(
                spec.grpc_method,
                request_serializer=None,  # the payload is already the encoded message
                response_deserializer=spec.response_class.FromString,
            )

    def _open_channel(self, target: str) -> grpc.Channel:
        secure = not self.config.insecure
        if target.startswith("http://"):
            target, secure = target[len("http://") :], False
        elif target.startswith("https://"):
            target, secure = target[len("https://") :], True
        target = target.rstrip("/")
        options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        if not secure:
            return grpc.insecure_channel(target, options=options)
        root = _read(self.config.certificate_file)
        key = _read(self.config.client_key_file)
        chain = _read(self.config.client_certificate_file)
        credentials = grpc.ssl_channel_credentials(root, key, chain)
        return grpc.secure_channel(target, credentials, options=options)

    def export(self, request: OtlpRequest) -> ExportResult:
        """Send the request's bytes and classify the status."""
        try:
            response = self._calls[request.signal](
                request.payload,
                timeout=self.config.timeout_seconds,
                metadata=self._metadata or None,
                compression=self._compression,
            )
        except grpc.RpcError as e:
            return _classify_grpc_error(e)
        partial = response.partial_success
        rejected = _rejected_count(request.signal, partial)
        return ExportResult.success(rejected, partial.error_message)

    def shutdown(self) -> None:
        """Close the channels."""
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()


#: Phrases of the socket errors a first user meets, as found in requests' nested messages, and what they mean.
_CAUSES = (
    ("connection refused", "connection refused: nothing listens there"),
    ("name or service not known", "the host name is not known"),
    ("nodename nor servname", "the host name is not known"),
    ("temporary failure in name resolution", "the host name could not be resolved"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "the network is unreachable"),
    ("certificate verify failed", "its TLS/SSL certificate is not trusted; set certificate_file"),
)


def _unreachable(error: requests.RequestException, timeout: float) -> str:
    """What went wrong, in one plain sentence: requests' own text nests three exception reprs deep."""
    if isinstance(error, requests.Timeout):
        return f"no answer within {timeout:g} s (timeout_seconds)"
    text = str(error).lower()
    for phrase, meaning in _CAUSES:
        if phrase in text:
            return f"cannot connect ({meaning})"
    if isinstance(error, requests.ConnectionError):
        return f"cannot connect ({str(error)[:_MAX_MESSAGE_CHARS]})"
    return f"{type(error).__name__}: {str(error)[:_MAX_MESSAGE_CHARS]}"


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def _classify_grpc_error(error: grpc.RpcError) -> ExportResult:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    message = f"gRPC {code.name}: {details}"
    retry_after = None
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == _RETRY_INFO_KEY:
            try:
                info = error_details_pb2.RetryInfo.FromString(value)
                retry_after = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
            except Exception:  # noqa: BLE001 - a malformed hint is ignored, the backoff applies
                retry_after = None
    if code in _RETRYABLE_GRPC or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and retry_after is not None):
        return ExportResult.retryable(message, retry_after)
    return ExportResult.failed(message)


def _rejected_count(signal: str, partial: Any) -> int:
    field = {"traces": "rejected_spans", "metrics": "rejected_data_points", "logs": "rejected_log_records"}
    return int(getattr(partial, field[signal], 0))


def _partial_success(signal: str, content: bytes) -> tuple[int, str]:
    if not content:
        return 0, ""
    try:
        response = spec_for(signal).response_class.FromString(content)
    except Exception:  # noqa: BLE001 - some backends answer 200 with a non-OTLP body; the data was accepted
        return 0, ""
    partial = response.partial_success  # type: ignore[attr-defined]
    return _rejected_count(signal, partial), partial.error_message


def _http_error_message(response: requests.Response) -> str:
    content_type = response.headers.get("Content-Type", "")
    content = response.content or b""
    if "protobuf" in content_type:
        try:
            status = status_pb2.Status.FromString(content)
            if status.message:
                return status.message[:_MAX_MESSAGE_CHARS]
        except Exception:  # noqa: BLE001 - fall through to the raw text
            pass
    if "json" in content_type:
        try:
            document = json.loads(content)
            if isinstance(document, dict) and isinstance(document.get("message"), str):
                return document["message"][:_MAX_MESSAGE_CHARS]
        except ValueError:
            pass
    text = content.decode("utf-8", "replace").strip()
    return text[:_MAX_MESSAGE_CHARS] or response.reason or "(no body)"


def _parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` is either delay seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
