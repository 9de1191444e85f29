"""OTLP receivers: one small protocol, implemented for gRPC and for HTTP (protobuf and JSON bodies)."""

from __future__ import annotations

import errno
from typing import Protocol, runtime_checkable

__all__ = ["Receiver", "bind_error"]


def bind_error(what: str, address: str, setting: str, cause: BaseException | None = None) -> OSError:
    """An ``OSError`` that names the address that could not be bound and the setting that chooses it.

    Args:
        what: The listener, e.g. ``OTLP/HTTP receiver``.
        address: The ``host:port`` it tried.
        setting: Where a user changes it, e.g. ``receivers.http.endpoint or $OTEL_MLMON_COLLECTOR_HTTP_ENDPOINT``.
        cause: The error the bind raised, if any (its reason is kept, the traceback is not needed).
    """
    code = getattr(cause, "errno", None)
    if code == errno.EADDRINUSE or cause is None or not getattr(cause, "strerror", None):
        reason = "the address is already in use (another collector running?)"
    else:
        reason = str(cause.strerror).lower()  # type: ignore[union-attr]
    error = OSError(f"cannot listen on {address} for the {what}: {reason}; change {setting}")
    error.errno = code or errno.EADDRINUSE  # str() stays the sentence alone, without "[Errno 98]"
    return error


@runtime_checkable
class Receiver(Protocol):
    """Accepts OTLP export requests from clients and hands them to the pipeline."""

    name: str

    @property
    def endpoint(self) -> str:
        """The ``host:port`` actually bound (a configured port 0 becomes the chosen port)."""
        ...

    def start(self) -> None:
        """Bind and start serving; raises ``OSError`` if the address cannot be bound."""
        ...

    def shutdown(self, grace_seconds: float) -> None:
        """Stop accepting, let in-flight requests finish for up to ``grace_seconds``."""
        ...
