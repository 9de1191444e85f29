"""OpenTelemetry-native monitoring for machine-learning inference."""

from __future__ import annotations

from otel_mlmon._version import __version__

__all__ = ["__version__"]
