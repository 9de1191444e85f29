"""The public API: every promised name imports from the package and its modules."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "otel_mlmon_collector",
    "otel_mlmon_collector.config",
    "otel_mlmon_collector.otlp",
    "otel_mlmon_collector.queue",
    "otel_mlmon_collector.pipeline",
    "otel_mlmon_collector.selfmetrics",
    "otel_mlmon_collector.health",
    "otel_mlmon_collector.service",
    "otel_mlmon_collector.receivers",
    "otel_mlmon_collector.receivers.otlp_grpc",
    "otel_mlmon_collector.receivers.otlp_http",
    "otel_mlmon_collector.exporters",
    "otel_mlmon_collector.exporters.otlp",
    "otel_mlmon_collector.exporters.console",
    "otel_mlmon_collector.exporters.in_memory",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    """Each module's __all__ lists only names it defines."""
    module = importlib.import_module(name)
    for attribute in module.__all__:
        assert hasattr(module, attribute), f"{name}.{attribute}"


def test_package_facade() -> None:
    """The package exports the collector, its configuration loader and the processor seam."""
    import otel_mlmon_collector as c

    assert {"Collector", "Config", "ConfigError", "OtlpRequest", "Processor", "load_config"} <= set(c.__all__)


def test_exporters_and_receivers_satisfy_their_protocols() -> None:
    """The shipped exporters and receivers implement the Exporter and Receiver protocols."""
    from otel_mlmon_collector.config import ExporterConfig
    from otel_mlmon_collector.exporters import Exporter
    from otel_mlmon_collector.exporters.console import ConsoleExporter
    from otel_mlmon_collector.exporters.in_memory import InMemoryExporter
    from otel_mlmon_collector.exporters.otlp import OtlpHttpExporter
    from otel_mlmon_collector.pipeline import Pipeline
    from otel_mlmon_collector.receivers import Receiver
    from otel_mlmon_collector.receivers.otlp_grpc import OtlpGrpcReceiver
    from otel_mlmon_collector.receivers.otlp_http import OtlpHttpReceiver

    for exporter in (
        ConsoleExporter(),
        InMemoryExporter(),
        OtlpHttpExporter(ExporterConfig("h", endpoint="http://x")),
    ):
        assert isinstance(exporter, Exporter)
    for receiver in (OtlpGrpcReceiver(Pipeline([])), OtlpHttpReceiver(Pipeline([]))):
        assert isinstance(receiver, Receiver)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    """Every example in the modules' docstrings runs and prints what it shows."""
    import doctest

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"
