"""otel-mlmon-collector: an OTLP hop that passes telemetry through and analyses ML signals."""

from __future__ import annotations

from otel_mlmon._version import __version__

from .config import Config, ConfigError, load_config
from .otlp import OtlpRequest
from .pipeline import Processor
from .service import Collector

__all__ = ["Collector", "Config", "ConfigError", "OtlpRequest", "Processor", "__version__", "load_config"]
