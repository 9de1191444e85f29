"""A small asyncio HTTP/1.1 server whose cost does not grow with slow clients.

Connections are read on one event-loop thread, so a client that sends its headers or body slowly costs a socket
and a coroutine, never a thread; only complete requests reach the bounded worker pool (``run``). Each connection
is bounded in time (``header_timeout_seconds`` for the request line and headers, ``body_timeout_seconds`` for the
whole body, ``idle_timeout_seconds`` between keep-alive requests) and the number of open connections is capped
(``max_connections``): one more is answered 503 with ``Retry-After`` and closed at once, the answer the OTLP
specification asks of an overloaded server. Bodies are read in pieces as they arrive, under a byte limit; a
declared ``Content-Length`` is never allocated up front.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email.utils
import logging
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Body", "BodyError", "ConnectionLimits", "HttpServer", "RequestHead", "Response"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_READ_CHUNK = 1 << 20
_MAX_HEADERS = 100
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_LINGER_SECONDS = (
    1.0  # after a final answer, unread request bytes are drained this long so the client reads it
)
_LINGER_BYTES = 1 << 20
_WARN_EVERY_SECONDS = 60.0
_REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 413: "Content Too Large", 415: "Unsupported Media Type", 431:
    "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}  # fmt: skip


@dataclass(frozen=True)
class ConnectionLimits:
    """What one HTTP listener grants its clients; every bound holds whatever a client does (the OTLP/HTTP
    receiver's come from its configuration, the health endpoint's are its own).

    Args:
        max_connections: Open connections at once; one more is answered 503 + ``Retry-After`` and closed.
        max_workers: Threads that decode and hand over complete requests (the loop thread comes on top).
        header_timeout_seconds: Time for a request line and headers, from their first byte (and for a TLS handshake).
        body_timeout_seconds: Time for a whole body, from the end of the headers; past it the answer is 408.
        idle_timeout_seconds: How long a keep-alive connection may wait for its next request.
        max_header_bytes: Request line plus headers; beyond it the answer is 431.
    """

    max_connections: int
    max_workers: int
    header_timeout_seconds: float
    body_timeout_seconds: float
    idle_timeout_seconds: float
    max_header_bytes: int = 64 * 1024


@dataclass
class RequestHead:
    """Request line and headers (names lower-cased; repeated headers joined with ``", "``)."""

    method: str
    target: str
    version: tuple[int, int]
    headers: dict[str, str]

    def header(self, name: str, default: str = "") -> str:
        """The value of header ``name`` (case-insensitive), or ``default``."""
        return self.headers.get(name.lower(), default)

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]


@dataclass
class Response:
    """A complete answer; ``close`` ends the connection after it."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False


class BodyError(Exception):
    """The body could not be read: ``status`` is the answer (400 malformed, 408 too slow, 413 too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Body:
    """The body of one request, read on demand in pieces within the body deadline."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: RequestHead, timeout: float
    ):
        self._reader = reader
        self._writer = writer
        self._deadline = asyncio.get_running_loop().time() + timeout
        self._timeout = timeout
        self._continue = "100-continue" in head.header("expect").lower()
        encoding = head.header("transfer-encoding").lower()
        self.chunked = encoding.replace(" ", "").endswith("chunked")
        self.unsupported = bool(encoding) and not self.chunked
        length = head.header("content-length", "").strip()
        # str.isdigit() alone admits "²" (latin-1 superscripts), which int() refuses: ASCII digits only
        self.declared: int | None = int(length) if length.isascii() and length.isdigit() else None
        self.malformed_length = bool(length) and self.declared is None
        #: Whether the body was read to its end (the connection can then serve another request).
        self.consumed = (
            not self.chunked and not self.unsupported and not self.malformed_length and not self.declared
        )

    async def read(self, limit: int) -> bytes:
        """The whole body, read as it arrives; raises :class:`BodyError` (the body is then not consumed)."""
        if self.unsupported or self.malformed_length:
            raise BodyError(400, "unsupported Transfer-Encoding or bad Content-Length")
        if not self.chunked and self.declared is None:
            raise BodyError(400, "Content-Length or chunked Transfer-Encoding required")
        if self.declared is not None and self.declared > limit and not self.chunked:
            raise BodyError(413, f"request body of {self.declared} bytes exceeds the limit of {limit} bytes")
        out = bytearray()
        await self._pieces(out.extend, limit)
        return bytes(out)

    async def discard(self, cap: int) -> None:
        """Read and drop a body that will not be used (up to ``cap`` bytes) so the client reads the answer."""
        if self.consumed or self.unsupported or self.malformed_length:
            return
        if self._continue or (self.declared is not None and self.declared > cap):
            return  # the client waits for 100 Continue, or the body is too big to drain: close instead
        with contextlib.suppress(BodyError, OSError, asyncio.IncompleteReadError):
            await self._pieces(lambda _: None, cap)

    async def _pieces(self, sink: Callable[[bytes], Any], limit: int) -> None:
        if self._continue and (self.chunked or self.declared):
            self._writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._continue = False
        if self.chunked:
            await self._chunked(sink, limit)
        else:
            remaining = self.declared or 0
            while remaining:
                piece = await self._recv(min(remaining, _READ_CHUNK))
                remaining -= len(piece)
                sink(piece)
        self.consumed = True

    async def _chunked(self, sink: Callable[[bytes], Any], limit: int) -> None:
        total = 0
        while True:
            line = await self._line()
            digits = line.split(b";", 1)[0].strip()
            # RFC 9112: 1*HEXDIG; int() alone would also take "0x10", "1_0", "+5" and "-5"
            if not digits or digits.strip(_HEX_DIGITS):
                raise BodyError(400, "bad chunk size line")
            size = int(digits, 16)
            if size == 0:
                while await self._line() not in (b"\r\n", b"\n"):  # trailers, ignored
                    pass
                return
            total += size
            if total > limit:
                raise BodyError(413, f"chunked request body exceeds the limit of {limit} bytes")
            while size:
                piece = await self._recv(min(size, _READ_CHUNK))
                size -= len(piece)
                sink(piece)
            await self._line()

    async def _recv(self, n: int) -> bytes:
        piece = await self._timed(self._reader.read(n))
        if not piece:
            raise BodyError(400, "body ended before its declared length")
        return piece

    async def _line(self) -> bytes:
        try:
            line = await self._timed(self._reader.readline())
        except ValueError:  # longer than the reader's limit
            raise BodyError(400, "chunk line too long") from None
        if not line:
            raise BodyError(400, "chunked body ended early")
        return line

    async def _timed(self, awaitable: Awaitable[_T]) -> _T:
        remaining = self._deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise asyncio.TimeoutError
            return await asyncio.wait_for(awaitable, remaining)
        except asyncio.TimeoutError:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise BodyError(408, f"request body not received within {self._timeout:g} s") from None


Handler = Callable[[RequestHead, Body], Awaitable[Response]]
ErrorResponse = Callable[[int, str], Response]


class HttpServer:
    """Serves ``handler`` on ``address`` from an event-loop thread, within :class:`ConnectionLimits`.

    Args:
        address: ``(host, port)`` to bind (port 0 picks one).
        handler: Called on the loop for each request head, with its unread body; returns the answer.
        error: Builds the answer for a request the server itself refuses (status, message).
        limits: Connection, time and size bounds.
        ssl_context: Speak TLS (handshake within ``header_timeout_seconds``).
        name: Thread name prefix.
    """

    def __init__(
        self,
        address: tuple[str, int],
        handler: Handler,
        error: ErrorResponse,
        limits: ConnectionLimits,
        ssl_context: ssl.SSLContext | None = None,
        name: str = "http",
    ) -> None:
        self.limits = limits
        self._handler = handler
        self._error = error
        self._ssl = ssl_context
        self._name = name
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._socket = sock
        self.address: tuple[str, int] = sock.getsockname()[:2]
        self._pool = concurrent.futures.ThreadPoolExecutor(
            limits.max_workers, thread_name_prefix=f"{name}-worker"
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy = 0
        #: Connections open now, and connections refused because ``max_connections`` were open.
        self.open_connections = 0
        self.refused_connections = 0
        self._warned_at = float("-inf")

    def start(self) -> None:
        """Start the loop thread and accept connections."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection,
            sock=self._socket,
            limit=self.limits.max_header_bytes,
            ssl=self._ssl,
            ssl_handshake_timeout=self.limits.header_timeout_seconds if self._ssl else None,
        )

    def run(self, fn: Callable[..., _T], *args: Any) -> Awaitable[_T]:
        """Run ``fn(*args)`` on the worker pool (for decoding and handing over; never on the loop)."""
        return self._loop.run_in_executor(self._pool, fn, *args)

    def shutdown(self, grace_seconds: float) -> None:
        """Stop accepting; let requests in progress finish for up to ``grace_seconds``, then close everything."""
        if not self._thread.is_alive():
            self._socket.close()
            return
        future = asyncio.run_coroutine_threadsafe(self._stop(grace_seconds), self._loop)
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            future.result(grace_seconds + 2.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if not self._thread.is_alive():
            self._loop.close()

    async def _stop(self, grace_seconds: float) -> None:
        if self._server is not None:
            self._server.close()
        deadline = self._loop.time() + grace_seconds
        while self._busy and self._loop.time() < deadline:
            await asyncio.sleep(0.02)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- one connection ---------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:  # answers leave in one write; without this Nagle + delayed ACK add milliseconds
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.open_connections >= self.limits.max_connections:
                self.refused_connections += 1
                now = self._loop.time()
                if now - self._warned_at >= _WARN_EVERY_SECONDS:  # say so, at most once a minute
                    self._warned_at = now
                    _log.warning(
                        "%s: %d connection(s) refused so far, %d open: max_connections reached (raise it, or add"
                        " collectors, if these are legitimate senders)",
                        self._name,
                        self.refused_connections,
                        self.open_connections,
                    )
                response = self._error(503, "too many connections, retry later")
                await self._answer(reader, writer, response, "POST", close=True)
                return
            self.open_connections += 1
            try:
                await self._requests(reader, writer)
            finally:
                self.open_connections -= 1
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:  # gone, too slow, bad TLS
            _log.debug("connection ended: %s", e)
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - one connection's failure must not reach the loop's handler
            _log.exception("unexpected error serving a connection")
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        limits = self.limits
        first = True
        loop = asyncio.get_running_loop()
        while True:
            # the first request's head must arrive within the header timeout of the connection; later ones may
            # wait for the idle timeout, then take the header timeout from their first byte
            wait = limits.header_timeout_seconds if first else limits.idle_timeout_seconds
            try:
                deadline = loop.time() + limits.header_timeout_seconds
                start = await asyncio.wait_for(reader.read(1), wait)
                if not start:
                    return
                if not first:
                    deadline = loop.time() + limits.header_timeout_seconds
                rest = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), max(0.0, deadline - loop.time()))
                data = start + rest
            except asyncio.TimeoutError:
                if first:
                    await self._answer(
                        reader, writer, self._error(408, "request headers not received in time")
                    )
                return  # an idle keep-alive connection is closed quietly
            except asyncio.LimitOverrunError:
                await self._answer(reader, writer, self._error(431, "request line and headers too large"))
                return
            except asyncio.IncompleteReadError:
                return
            first = False
            head = _parse_head(data)
            if isinstance(head, tuple):
                await self._answer(reader, writer, self._error(*head))
                return
            if head is None:  # HTTP/0.9: there are no headers to answer with
                return
            body = Body(reader, writer, head, limits.body_timeout_seconds)
            self._busy += 1
            try:
                response = await self._handler(head, body)
            except Exception:  # noqa: BLE001 - a handler bug is answered 500, the server keeps serving
                _log.exception("unexpected error answering %s %s", head.method, head.path)
                response = self._error(500, "internal error")
                response.close = True
            finally:
                self._busy -= 1
            close = response.close or not body.consumed or _wants_close(head) or self._server_closing()
            await self._answer(reader, writer, response, head.method, close)
            if close:
                return

    def _server_closing(self) -> bool:
        return self._server is None or not self._server.is_serving()

    async def _answer(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        response: Response,
        method: str = "POST",
        close: bool = True,
    ) -> None:
        """Write ``response`` in one piece; when closing, drain what the client still sends for a moment."""
        lines = [
            f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}",
            "Server: otel-mlmon-collector",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        lines += [f"{k}: {v}" for k, v in response.headers.items()]
        if close:
            lines.append("Connection: close")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        writer.write(payload if method == "HEAD" else payload + response.body)
        await asyncio.wait_for(writer.drain(), self.limits.body_timeout_seconds)
        if close:
            await _linger(reader, writer)


def _wants_close(head: RequestHead) -> bool:
    tokens = {t.strip() for t in head.header("connection").lower().split(",")}
    if head.version >= (1, 1):
        return "close" in tokens
    return "keep-alive" not in tokens


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close and read what the client still sends, briefly: closing with unread bytes resets the
    connection, and the client may lose the answer (Apache's lingering close)."""
    loop = asyncio.get_running_loop()
    deadline, drained = loop.time() + _LINGER_SECONDS, 0
    try:
        if writer.can_write_eof():
            writer.write_eof()
        while drained < _LINGER_BYTES and (left := deadline - loop.time()) > 0:
            piece = await asyncio.wait_for(reader.read(65536), left)
            if not piece:
                return
            drained += len(piece)
    except (asyncio.TimeoutError, OSError):
        pass


def _parse_head(data: bytes) -> RequestHead | tuple[int, str] | None:
    """The head of a request; the answer's status and message when it is malformed; None for HTTP/0.9."""
    lines = data.decode("latin-1").split("\r\n")
    while lines and not lines[0]:  # RFC 9112: empty lines before a request line are ignored
        lines.pop(0)
    parts = lines[0].split() if lines else []
    if len(parts) == 2:
        return None
    bad = (400, "malformed request line or header")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return bad
    method, target, version_text = parts
    try:
        major, minor = (int(x) for x in version_text[5:].split("."))
    except ValueError:
        return bad
    if major >= 2:
        return 505, "this server speaks HTTP/1.0 and HTTP/1.1"
    if major < 1:
        return bad
    headers: dict[str, str] = {}
    count = 0
    for line in lines[1:]:
        if not line:
            continue
        count += 1
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or line[0] in " \t":
            return bad  # no colon, space before it, or obsolete line folding
        key, value = name.lower(), value.strip()
        if key in headers:
            if key == "content-length" and headers[key] != value:
                return bad  # two different lengths: a request smuggling attempt
            if key != "content-length":
                headers[key] += ", " + value
        else:
            headers[key] = value
    if count > _MAX_HEADERS:
        return 431, "too many header fields"
    return RequestHead(method, target, (major, minor), headers)
