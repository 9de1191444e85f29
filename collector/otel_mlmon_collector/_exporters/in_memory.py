"""An exporter that keeps what it receives, for tests and for embedding the collector in a program."""

from __future__ import annotations

import threading

from .._otlp import OtlpRequest
from . import ExportResult

__all__ = ["InMemoryExporter"]


class InMemoryExporter:
    """Collects every exported request in order; ``requests(signal)`` reads them back.

    Example:
        >>> exporter = InMemoryExporter()
        >>> exporter.export(OtlpRequest("logs", b"")).outcome
        'success'
        >>> len(exporter.requests("logs"))
        1
    """

    def __init__(self, name: str = "in-memory") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._requests: list[OtlpRequest] = []
        self.shut_down = False

    def export(self, request: OtlpRequest) -> ExportResult:
        """Store the request."""
        with self._lock:
            self._requests.append(request)
        return ExportResult.success()

    def requests(self, signal: str | None = None) -> list[OtlpRequest]:
        """Return the stored requests, optionally only those of one signal."""
        with self._lock:
            return [r for r in self._requests if signal is None or r.signal == signal]

    def clear(self) -> None:
        """Forget everything stored."""
        with self._lock:
            self._requests.clear()

    def shutdown(self) -> None:
        """Mark the exporter shut down."""
        self.shut_down = True
