"""Sender authentication for the receivers and the health endpoint: a shared bearer token, checked in constant time.

One :class:`BearerAuth` serves every listener. Receivers call :meth:`BearerAuth.allows` with the request's
``Authorization`` header (HTTP) or ``authorization`` metadata (gRPC) before they read or decode anything, and answer
a refusal with :func:`http_unauthorized` (401, ``WWW-Authenticate: Bearer``, a ``google.rpc.Status`` body) or
gRPC ``UNAUTHENTICATED`` (:func:`grpc_interceptor`). A token file is read again when it changes (a Kubernetes
Secret volume swaps its symlink, an operator rewrites it), so tokens rotate without a restart; it may hold several
tokens, one per line, so the old and the new one are both accepted while clients move over.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from google.rpc import status_pb2

from .._config import AuthConfig, ConfigError, ReceiversConfig, split_host_port
from .._otlp import spec_for
from .._selfmetrics import REFUSED, SelfMetrics

__all__ = [
    "REASON",
    "BearerAuth",
    "exposure_warning",
    "grpc_aio_interceptor",
    "grpc_interceptor",
    "http_unauthorized",
]

_log = logging.getLogger(__name__)
#: The ``reason`` of ``otel_mlmon.collector.requests.refused`` for a missing or wrong token.
REASON = "unauthenticated"
_UNAUTHENTICATED = 16  # google.rpc.Code.UNAUTHENTICATED
#: How often, at most, a token file's metadata is looked at for a change (a stat per request is not needed).
_RECHECK_SECONDS = 1.0
_LOOPBACK = frozenset(["127.0.0.1", "::1", "localhost"])
_GRPC_SIGNALS = {f"/{spec_for(s).grpc_service}/Export": s for s in ("traces", "metrics", "logs")}


class BearerAuth:
    """Accepts a request whose ``Authorization`` value is ``Bearer <token>`` for one of the configured tokens.

    Args:
        config: ``receivers.auth``: a literal ``bearer_token`` or a ``bearer_token_file``.
        clock: Monotonic time source (tests make file re-checks immediate).

    Raises:
        ConfigError: the token is empty, or the file cannot be read or holds no token.

    Example:
        >>> from otel_mlmon_collector._config import AuthConfig
        >>> auth = BearerAuth(AuthConfig(bearer_token="s3cret"))
        >>> auth.allows("Bearer s3cret"), auth.allows("bearer s3cret"), auth.allows("Bearer wrong"), auth.allows(None)
        (True, True, False, False)
    """

    def __init__(self, config: AuthConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at = clock()
        self._file_state: tuple[int, int, int, int] | None = None
        if config.bearer_token_file:
            self._file_state = _stat(config.bearer_token_file)
            try:
                tokens = _read_tokens(config.bearer_token_file)
            except (OSError, ValueError) as e:
                raise ConfigError(f"receivers.auth.bearer_token_file: {e}") from None
        else:
            token = (config.bearer_token or "").strip()  # taken whole: a literal token may start with "#"
            if not token:
                raise ConfigError("receivers.auth.bearer_token: must not be empty")
            tokens = (token.encode("utf-8", "surrogateescape"),)
        self._tokens = tokens

    def allows(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries a valid bearer token (scheme case-insensitive).

        Every configured token is compared, each with :func:`hmac.compare_digest`, so the time taken does not
        depend on how much of a token a guess got right.
        """
        if not authorization:
            return False
        scheme, _, presented = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        candidate = presented.strip().encode("utf-8", "surrogateescape")
        ok = False
        for token in self._current_tokens():
            ok |= hmac.compare_digest(candidate, token)
        return ok

    def _current_tokens(self) -> tuple[bytes, ...]:
        path = self.config.bearer_token_file
        if path is None:
            return self._tokens
        now = self._clock()
        if now - self._checked_at < _RECHECK_SECONDS:
            return self._tokens
        with self._lock:
            if now - self._checked_at < _RECHECK_SECONDS:
                return self._tokens
            self._checked_at = now
            state = _stat(path)
            if state != self._file_state:
                self._file_state = state
                try:
                    self._tokens = _read_tokens(path)
                    _log.info(
                        "bearer token file %s changed: %d token(s) now accepted", path, len(self._tokens)
                    )
                except (OSError, ValueError) as e:
                    # keep the tokens that worked: a half-written or vanished file must not lock every sender out
                    _log.warning("bearer token file %s: %s; still accepting the previous token(s)", path, e)
        return self._tokens


def http_unauthorized(presented: bool, as_json: bool) -> tuple[int, dict[str, str], bytes, str]:
    """The OTLP/HTTP answer to a refused request: status, headers, body and its content type.

    401 with ``WWW-Authenticate: Bearer`` (RFC 6750; ``error="invalid_token"`` when a token was presented) and a
    ``google.rpc.Status`` body (code ``UNAUTHENTICATED``) in the request's encoding, as OTLP/HTTP answers errors.
    """
    challenge = 'Bearer realm="otel-mlmon-collector"'
    if presented:
        challenge += ', error="invalid_token"'
    message = (
        "invalid bearer token" if presented else "missing bearer token: send 'Authorization: Bearer <token>'"
    )
    if as_json:
        body = json.dumps({"code": _UNAUTHENTICATED, "message": message}).encode()
        content_type = "application/json"
    else:
        body = status_pb2.Status(code=_UNAUTHENTICATED, message=message).SerializeToString()
        content_type = "application/x-protobuf"
    return 401, {"WWW-Authenticate": challenge}, body, content_type


def grpc_interceptor(auth: BearerAuth, metrics: SelfMetrics) -> grpc.ServerInterceptor:
    """A server interceptor answering ``UNAUTHENTICATED`` to calls without a valid ``authorization`` metadata.

    A refused call is counted in ``otel_mlmon.collector.requests.refused`` (``reason=unauthenticated``) and its
    handler never runs, so nothing reaches the pipeline.
    """
    return _AuthInterceptor(auth, metrics)


def grpc_aio_interceptor(auth: BearerAuth, metrics: SelfMetrics) -> grpc.aio.ServerInterceptor:
    """The same as :func:`grpc_interceptor`, for a ``grpc.aio`` server."""
    return _AioAuthInterceptor(auth, metrics)


_DENIED = "missing or invalid bearer token"


class _AuthInterceptor(grpc.ServerInterceptor):
    def __init__(self, auth: BearerAuth, metrics: SelfMetrics) -> None:
        self.auth = auth
        self.metrics = metrics

        def refuse(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, _DENIED)

        self._refusal = grpc.unary_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        if _refused(self.auth, self.metrics, handler_call_details):
            return self._refusal
        return continuation(handler_call_details)


class _AioAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, auth: BearerAuth, metrics: SelfMetrics) -> None:
        self.auth = auth
        self.metrics = metrics

        async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, _DENIED)

        self._refusal = grpc.unary_unary_rpc_method_handler(refuse)

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        if _refused(self.auth, self.metrics, handler_call_details):
            return self._refusal
        return await continuation(handler_call_details)


def _refused(auth: BearerAuth, metrics: SelfMetrics, handler_call_details: Any) -> bool:
    """Whether an OTLP call lacks a valid token (counted); other methods pass, for gRPC to answer UNIMPLEMENTED."""
    if auth.allows(_metadata_value(handler_call_details.invocation_metadata or (), "authorization")):
        return False
    signal = _GRPC_SIGNALS.get(handler_call_details.method)
    if signal is None:
        return False
    metrics.add(REFUSED, 1, signal=signal, transport="grpc", reason=REASON)
    return True


def exposure_warning(receivers: ReceiversConfig) -> str | None:
    """A warning when a receiver listens beyond loopback in plaintext without authentication, else None."""
    if receivers.auth is not None or receivers.tls is not None:
        return None
    exposed = [
        r.endpoint
        for r in (receivers.grpc, receivers.http)
        if r.enabled and split_host_port(r.endpoint)[0] not in _LOOPBACK
    ]
    if not exposed:
        return None
    return (
        f"receivers listen on {', '.join(exposed)} in plaintext and accept any sender: set receivers.auth "
        "(bearer token) or receivers.tls, or bind 127.0.0.1 (docs/collector.md, Limits and guarantees)"
    )


def _metadata_value(metadata: Iterable[Any], key: str) -> str | None:
    for item in metadata:
        k, v = (item.key, item.value) if hasattr(item, "key") else item
        if k == key:
            return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)
    return None


def _stat(path: str) -> tuple[int, int, int, int] | None:
    """What identifies a version of the file (a rotated Secret volume changes the inode behind the symlink)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)


def _read_tokens(path: str) -> tuple[bytes, ...]:
    with open(path, encoding="utf-8") as f:
        tokens = _tokens(f.read().splitlines())
    if not tokens:
        raise ValueError(f"{path!r} holds no token (one per line; blank lines and # comments are ignored)")
    return tokens


def _tokens(lines: Iterable[str]) -> tuple[bytes, ...]:
    out = []
    for line in lines:
        token = line.strip()
        if token and not token.startswith("#"):
            out.append(token.encode("utf-8", "surrogateescape"))
    return tuple(out)
