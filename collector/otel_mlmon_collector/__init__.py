"""otel-mlmon-collector: an OTLP hop that passes telemetry through and analyses ML signals."""

from __future__ import annotations

from typing import Any

from otel_mlmon._version import __version__

from .config import Config, ConfigError, load_config
from .otlp import OtlpRequest
from .pipeline import Processor
from .service import Collector

__all__ = [
    "Collector",
    "Config",
    "ConfigError",
    "OtlpRequest",
    "Processor",
    "__version__",
    "compare",
    "load_config",
    "replay",
]


def __getattr__(name: str) -> Any:
    # The offline API loads the drift engine (numpy, the methods): only when asked for.
    if name in ("compare", "replay"):
        from . import offline

        return getattr(offline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
