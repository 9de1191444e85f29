"""The collector's public API, found by walking the package: every public name is in a facade or in a private module.

Two namespaces are public (docs/collector-api.md): the package itself and ``otel_mlmon_collector.drift``, the
drift methods (plus ``otel_mlmon_collector.offline``, which re-exports ``compare`` and ``replay`` for
``python -m``). Every other module is private, by a leading underscore in its dotted name; a public module may
only hold names that a facade exports. A new module is checked without editing this file.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from types import ModuleType

import otel_mlmon_collector
import pytest

PACKAGE = otel_mlmon_collector.__name__
#: The public namespaces: the package and its drift methods.
FACADES = (PACKAGE, f"{PACKAGE}.drift")
#: The names the package promises, sorted (docs/collector-api.md documents each).
FACADE = [
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
AWAITING_PRIVATE_NAME: tuple[str, ...] = ()


def _modules() -> list[str]:
    """Every module of the package, found by walking it."""
    return [PACKAGE, *(m.name for m in pkgutil.walk_packages(otel_mlmon_collector.__path__, f"{PACKAGE}."))]


def _awaiting(name: str) -> bool:
    return any(name == f"{PACKAGE}.{m}" or name.startswith(f"{PACKAGE}.{m}.") for m in AWAITING_PRIVATE_NAME)


def _is_private(name: str) -> bool:
    """A module is private when a part of its dotted name below the package starts with an underscore."""
    return any(part.startswith("_") for part in name.split(".")[1:])


def _public_modules() -> list[str]:
    return [name for name in _modules() if not _is_private(name) and not _awaiting(name)]


def _public_names(module: ModuleType) -> dict[str, object]:
    """The names a module offers: its ``__all__`` and every public class, function or object defined in the
    collector that it holds (an import of a collector name makes it reachable too)."""
    names = {name: getattr(module, name) for name in getattr(module, "__all__", ())}
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        if getattr(value, "__module__", "").startswith(PACKAGE):
            names[name] = value
    return names


def _exported() -> dict[str, list[object]]:
    """Name → the objects the facades export under it."""
    out: dict[str, list[object]] = {}
    for facade in FACADES:
        module = importlib.import_module(facade)
        for name in module.__all__:
            out.setdefault(name, []).append(getattr(module, name))
    return out


def test_the_facade_is_the_promised_names() -> None:
    """The package exports exactly the promised names, sorted, each importable."""
    assert otel_mlmon_collector.__all__ == FACADE
    for name in FACADE:
        assert getattr(otel_mlmon_collector, name) is not None, name


def test_the_walk_sees_the_whole_package() -> None:
    """The walk reaches nested modules, and private ones are recognised as such."""
    modules = _modules()
    assert "otel_mlmon_collector.drift._psi" in modules
    assert len(modules) > 40
    assert _is_private("otel_mlmon_collector._queue") and _is_private("otel_mlmon_collector.drift._psi")
    assert not _is_private("otel_mlmon_collector.drift") and not _is_private(PACKAGE)


def test_modules_awaiting_a_private_name_exist() -> None:
    """Each module still waiting for its private name exists under its public one (no stale entry)."""
    for name in AWAITING_PRIVATE_NAME:
        module = importlib.import_module(f"{PACKAGE}.{name}")
        assert not _is_private(module.__name__), name


@pytest.mark.parametrize("name", _public_modules())
def test_public_modules_hold_only_facade_names(name: str) -> None:
    """Every public name reachable in a public module is one a facade exports (the same object)."""
    exported = _exported()
    module = importlib.import_module(name)
    stray = [
        attr
        for attr, value in _public_names(module).items()
        if not any(value is promised for promised in exported.get(attr, ()))
    ]
    assert not stray, f"{name} offers {stray}: export them from a facade or move them to a private module"


@pytest.mark.parametrize("name", _modules())
def test_every_module_has_a_docstring_and_a_consistent_all(name: str) -> None:
    """Each module says why it exists, and its __all__ lists names it holds, without duplicates."""
    module = importlib.import_module(name)
    assert module.__doc__ and module.__doc__.strip(), name
    listed = getattr(module, "__all__", [])
    assert len(set(listed)) == len(listed), name
    for attr in listed:
        assert hasattr(module, attr), f"{name}.{attr}"


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    """Every example in the modules' docstrings runs and prints what it shows."""
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"


def test_exporters_and_receivers_satisfy_their_protocols() -> None:
    """The shipped exporters and receivers implement the Exporter and Receiver protocols."""
    from otel_mlmon_collector._config import ExporterConfig
    from otel_mlmon_collector._exporters.console import ConsoleExporter
    from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
    from otel_mlmon_collector._exporters.otlp import OtlpHttpExporter
    from otel_mlmon_collector._pipeline import Pipeline
    from otel_mlmon_collector._receivers import Receiver
    from otel_mlmon_collector._receivers.otlp_grpc import OtlpGrpcReceiver
    from otel_mlmon_collector._receivers.otlp_http import OtlpHttpReceiver

    for exporter in (
        ConsoleExporter(),
        InMemoryExporter(),
        OtlpHttpExporter(ExporterConfig("h", endpoint="http://x")),
    ):
        assert isinstance(exporter, otel_mlmon_collector.Exporter)
    for receiver in (OtlpGrpcReceiver(Pipeline([])), OtlpHttpReceiver(Pipeline([]))):
        assert isinstance(receiver, Receiver)
