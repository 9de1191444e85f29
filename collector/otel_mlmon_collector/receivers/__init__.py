"""OTLP receivers: one small protocol, implemented for gRPC and for HTTP (protobuf and JSON bodies)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Receiver"]


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
