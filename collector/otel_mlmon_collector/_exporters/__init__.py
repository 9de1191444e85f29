"""Where received telemetry goes: one small protocol (export / shutdown) and its implementations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .._otlp import OtlpRequest

__all__ = ["ExportResult", "Exporter"]


@dataclass(frozen=True)
class ExportResult:
    """The outcome of one export attempt.

    ``outcome`` is ``"success"``, ``"retryable"`` (try again, after ``retry_after_seconds`` if the downstream
    said so) or ``"failed"`` (rejected for good; ``message`` carries the downstream's reason).
    ``rejected_items`` is the downstream's ``partial_success`` count on a success.
    """

    outcome: str
    message: str = ""
    retry_after_seconds: float | None = None
    rejected_items: int = 0

    @classmethod
    def success(cls, rejected_items: int = 0, message: str = "") -> ExportResult:
        """A delivered request (possibly with some items rejected downstream)."""
        return cls("success", message, None, rejected_items)

    @classmethod
    def retryable(cls, message: str, retry_after_seconds: float | None = None) -> ExportResult:
        """A transient failure worth retrying."""
        return cls("retryable", message, retry_after_seconds)

    @classmethod
    def failed(cls, message: str) -> ExportResult:
        """A permanent rejection: retrying would not help."""
        return cls("failed", message)


@runtime_checkable
class Exporter(Protocol):
    """Sends encoded OTLP requests somewhere; called from several worker threads at once."""

    name: str

    def export(self, request: OtlpRequest) -> ExportResult:
        """Send one request and report the outcome; must not raise."""
        ...

    def shutdown(self) -> None:
        """Release connections; called once, after the last export."""
        ...
