"""A tiny HTTP health endpoint for orchestrators: ``GET /health`` says whether the collector is serving."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._config import ENV_HEALTH_ENDPOINT, split_host_port
from ._receivers import bind_error
from ._receivers._auth import BearerAuth, http_unauthorized

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
    503 so load balancers stop sending traffic. Other methods than GET get 405.

    With ``auth`` (``receivers.auth`` is set) the answer to a request without a token is the status alone
    (``{"status": "serving"}``, same code), so that probes need no secret; queues, drift findings and problems
    (file paths) are shown only with a valid ``Authorization: Bearer`` token, and a wrong token gets 401.
    """

    def __init__(
        self, endpoint: str, status: Callable[[], dict[str, Any]], auth: BearerAuth | None = None
    ) -> None:
        self.configured_endpoint = endpoint
        self.status = status
        self.auth = auth
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    @property
    def endpoint(self) -> str:
        """The bound ``host:port``."""
        if self._server is None:
            return self.configured_endpoint
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> None:
        """Bind and serve on a background thread."""
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] not in ("/", "/health"):
                    self.send_error(404)
                    return
                header = self.headers.get("Authorization")
                if health.auth is not None and header and not health.auth.allows(header):
                    code, headers, body, content_type = http_unauthorized(True, as_json=True)
                    self._answer(code, body, content_type, headers)
                    return
                state = dict(health.status())
                if (
                    health.auth is None or header
                ):  # liveness stays open; what the collector holds needs the token
                    state["uptime_seconds"] = round(time.monotonic() - health._started, 3)
                else:
                    state = {"status": state.get("status")}
                self._answer(200 if state.get("status") in _UP else 503, json.dumps(state).encode())

            def _answer(
                self,
                code: int,
                body: bytes,
                content_type: str = "application/json",
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _not_allowed(self) -> None:
                self.send_error(405)

            do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

            def log_message(self, format: str, *args: object) -> None:
                _log.debug("health: " + format, *args)

        try:
            server = ThreadingHTTPServer(split_host_port(self.configured_endpoint), Handler)
        except OSError as e:
            raise bind_error(
                "health endpoint", self.configured_endpoint, f"health.endpoint or ${ENV_HEALTH_ENDPOINT}", e
            ) from None
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="health", daemon=True
        )
        self._thread.start()
        _log.info("health endpoint on http://%s/health", self.endpoint)

    def shutdown(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
