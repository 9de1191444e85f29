"""A tiny HTTP health endpoint for orchestrators: ``GET /health`` says whether the collector is serving."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from ._config import ENV_HEALTH_ENDPOINT, split_host_port
from ._receivers import bind_error
from ._receivers._auth import BearerAuth, http_unauthorized
from ._receivers._http_server import Body, ConnectionLimits, HttpServer, RequestHead, Response

__all__ = ["HealthServer"]

_log = logging.getLogger(__name__)
#: States answered with 200.
_UP = frozenset(["serving", "degraded"])


class HealthServer:
    """Answers ``GET /health`` (and ``/``) with 200 and a JSON status while ``status()`` says ``serving``.

    ``status`` returns a JSON-able mapping with at least
    ``{"status": "serving" | "degraded" | "starting" | "stopping"}``; ``degraded`` (serving, but something is
    failing: the body's ``problems`` say what) is still answered with 200, because restarting the collector (a
    liveness probe) would not mend a full disk and would lose its in-memory queue; anything else is answered with
    503 so load balancers stop sending traffic. Other methods than GET get 405. It is served by the receivers'
    event-loop server (:mod:`._receivers._http_server`): slow clients cost a socket, not a thread.

    With ``auth`` (``receivers.auth`` is set) the answer to a request without a token is the status alone
    (``{"status": "serving"}``, same code), so that probes need no secret; queues, drift findings and problems
    (file paths) are shown only with a valid ``Authorization: Bearer`` token, and a wrong token gets 401.
    """

    def __init__(
        self,
        endpoint: str,
        status: Callable[[], dict[str, Any]],
        auth: BearerAuth | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.configured_endpoint = endpoint
        self.status = status
        self.auth = auth
        # Probes are few and small: a handful of connections, short deadlines, so slow clients cost a socket each
        # on the receivers' event-loop server (never a thread) and cannot starve the orchestrator's probes for long.
        self.limits = limits or ConnectionLimits(
            max_connections=64, max_workers=1, header_timeout_seconds=5.0, body_timeout_seconds=5.0,
            idle_timeout_seconds=30.0, max_header_bytes=16 * 1024,
        )  # fmt: skip
        self._server: HttpServer | None = None
        self._started = time.monotonic()

    @property
    def endpoint(self) -> str:
        """The bound ``host:port``."""
        if self._server is None:
            return self.configured_endpoint
        host, port = self._server.address
        return f"{host}:{port}"

    def start(self) -> None:
        """Bind and serve on a background thread."""
        try:
            server = HttpServer(
                split_host_port(self.configured_endpoint), self._handle, _refusal, self.limits, name="health"
            )
        except OSError as e:
            raise bind_error(
                "health endpoint", self.configured_endpoint, f"health.endpoint or ${ENV_HEALTH_ENDPOINT}", e
            ) from None
        self._server = server  # before serving: a probe may arrive as soon as it starts
        server.start()
        _log.info("health endpoint on http://%s/health", self.endpoint)

    async def _handle(self, head: RequestHead, body: Body) -> Response:
        if head.method != "GET":
            return Response(405, b"method not allowed: use GET\n", headers={"Allow": "GET"}, close=True)
        if head.path not in ("/", "/health"):
            return Response(404, b"not found\n", close=True)
        server = self._server
        if server is None:  # shutting down
            return Response(503, b"shutting down\n", headers={"Retry-After": "1"}, close=True)
        return await server.run(self._answer, head.header("authorization"))

    def _answer(self, header: str) -> Response:
        """The answer to a GET (on the server's worker: ``status()`` may take locks)."""
        if self.auth is not None and header and not self.auth.allows(header):
            code, headers, body, content_type = http_unauthorized(True, as_json=True)
            return Response(code, body, content_type, dict(headers))
        state = dict(self.status())
        if self.auth is None or header:  # liveness stays open; what the collector holds needs the token
            state["uptime_seconds"] = round(time.monotonic() - self._started, 3)
        else:
            state = {"status": state.get("status")}
        code = 200 if state.get("status") in _UP else 503
        return Response(code, json.dumps(state).encode(), "application/json")

    def shutdown(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown(1.0)
            self._server = None


def _refusal(status: int, message: str) -> Response:
    """The server's own refusals (too many connections, headers too slow or too large)."""
    headers = {"Retry-After": "1"} if status == 503 else {}
    return Response(status, f"{message}\n".encode(), headers=headers, close=True)
