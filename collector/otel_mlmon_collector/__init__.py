"""otel-mlmon-collector: an OTLP hop that passes telemetry through and analyses ML signals.

The names below are the collector's whole Python API (docs/collector-api.md); every other module is an
implementation detail that may change without notice. Most users run the ``otel-mlmon-collector`` command and
never import this package; the API is for embedding the collector in a process, adding a processor, wiring
references by hand, and running the drift checks on files (``compare``, ``replay``). The drift methods
themselves are the second public namespace, :mod:`otel_mlmon_collector.drift`.
"""

from __future__ import annotations

from otel_mlmon._version import __version__

from ._config import Config, ConfigError, load_config
from ._drift_engine import DriftConfig, DriftProcessor
from ._exporters import Exporter, ExportResult
from ._mlflow_references import MlflowReferenceStore
from ._otlp import OtlpRequest
from ._performance import PerformanceConfig, PerformanceProcessor
from ._pipeline import Processor
from ._references import ChainedReferences, DirectoryReferenceStore, ReferenceProvider
from ._service import Collector
from ._windows import WindowConfig
from .offline import DriftReport, ReplayResult, compare, replay

__all__ = [
    "ChainedReferences",
    "Collector",
    "Config",
    "ConfigError",
    "DirectoryReferenceStore",
    "DriftConfig",
    "DriftProcessor",
    "DriftReport",
    "ExportResult",
    "Exporter",
    "MlflowReferenceStore",
    "OtlpRequest",
    "PerformanceConfig",
    "PerformanceProcessor",
    "Processor",
    "ReferenceProvider",
    "ReplayResult",
    "WindowConfig",
    "__version__",
    "compare",
    "load_config",
    "replay",
]
