"""Contract with the OpenTelemetry SDK: every internal the bridge's hooks rely on, pinned by name.

When an opentelemetry-sdk release renames or reshapes one of them, a test here fails with the internal's name and
the SDK version, before any user sees metrics silently disappear. CI runs this module against the oldest and the
newest supported SDK (.ci/test-otel-oldest).
"""

from __future__ import annotations

import contextlib
import io
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ConsoleMetricExporter,
    InMemoryMetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from otel_mlmon import _bridge, _points

SDK_VERSION = version("opentelemetry-sdk")


def _changed(internal: str, detail: str) -> str:
    return (
        f"opentelemetry-sdk {SDK_VERSION} changed {internal} ({_bridge.SDK_INTERNALS[internal]}): {detail}. "
        "Adapt otel_mlmon/_bridge.py or narrow SUPPORTED_SDK and pyproject.toml."
    )


@contextlib.contextmanager
def _pinned(internal: str):
    """Turn an exception from touching ``internal`` into a failure that names it."""
    try:
        yield
    except (AttributeError, KeyError, TypeError) as exc:
        pytest.fail(_changed(internal, f"{type(exc).__name__}: {exc}"))


def _missing(problems: list[str]) -> str:
    purposes = [
        next((why for name, why in _bridge.SDK_INTERNALS.items() if problem.startswith(name)), "?")
        for problem in problems
    ]
    return f"opentelemetry-sdk {SDK_VERSION}: missing or changed: " + "; ".join(
        f"{problem} ({why})" for problem, why in zip(problems, purposes)
    )


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _readers() -> dict[str, object]:
    return {
        "InMemoryMetricReader": lambda: InMemoryMetricReader(),
        "PeriodicExportingMetricReader": lambda: PeriodicExportingMetricReader(
            ConsoleMetricExporter(out=io.StringIO()),
            export_interval_millis=10**9,
        ),
    }


@pytest.mark.parametrize("reader_type", sorted(_readers()))
def test_every_internal_is_present(reader_type):
    """A provider and each standard reader type have every internal the hooks check before attaching."""
    reader = _readers()[reader_type]()
    provider = MeterProvider(metric_readers=[reader])
    try:
        problems = _bridge.provider_problems(provider)
        assert problems == [], _missing(problems)
        problems = _bridge.reader_problems(reader)
        assert problems == [], f"{reader_type}: " + _missing(problems)
    finally:
        provider.shutdown()


def test_reader_storages_are_keyed_by_the_providers_readers():
    """_measurement_consumer._reader_storages lists exactly the readers the provider was built with."""
    readers = [InMemoryMetricReader(), InMemoryMetricReader()]
    provider = MeterProvider(metric_readers=readers)
    internal = "MeterProvider._measurement_consumer._reader_storages"
    try:
        consumer = getattr(provider, "_measurement_consumer", None)
        assert consumer is not None, _changed(internal, "MeterProvider has no _measurement_consumer")
        storages = getattr(consumer, "_reader_storages", None)
        assert storages is not None, _changed(internal, f"{type(consumer).__name__} has no _reader_storages")
        assert set(_bridge._readers_of(provider)) == set(readers), _changed(
            internal, f"keys are {list(storages)}"
        )
    finally:
        provider.shutdown()


def test_sdk_config_resource_is_the_providers_resource():
    """_sdk_config.resource is the resource given to the provider (used when the SDK itself had no data)."""
    resource = Resource.create({"service.name": "contract"})
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()], resource=resource)
    try:
        with _pinned("MeterProvider._sdk_config.resource"):
            got = _bridge._resource_of(provider)
        assert got.attributes.get("service.name") == "contract", _changed(
            "MeterProvider._sdk_config.resource", f"got {got!r}"
        )
    finally:
        provider.shutdown()


def test_collect_is_the_callback_a_reader_calls():
    """reader.collect() calls reader._collect(reader, timeout_millis=...) and hands on what it returns."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    internal = "MetricReader._collect"
    calls = []
    original = getattr(reader, "_collect", None)
    assert callable(original), _changed(internal, f"{type(reader).__name__}._collect is {original!r}")
    marker = MetricsData(resource_metrics=[])

    def collect(metric_reader, timeout_millis=10_000):
        calls.append((metric_reader, timeout_millis))
        original(metric_reader, timeout_millis=timeout_millis)
        return marker

    try:
        with _pinned(internal):
            reader._collect = collect
            data = reader.get_metrics_data()
        assert calls and calls[0][0] is reader, _changed(
            internal, f"not called as _collect(reader, ...): {calls}"
        )
        assert data is marker, _changed(internal, "its return value is not what the reader delivers")
    finally:
        provider.shutdown()


@pytest.mark.parametrize("preference", ["cumulative", "delta"])
def test_instrument_class_temporality_follows_the_readers_preference(preference):
    """_instrument_class_temporality maps (subclasses of) the public Counter and Histogram to the preference."""
    temporality = AggregationTemporality[preference.upper()]
    reader = InMemoryMetricReader(preferred_temporality={Counter: temporality, Histogram: temporality})
    provider = MeterProvider(metric_readers=[reader])
    try:
        expected = {_points.COUNTER, _points.HISTOGRAM} if preference == "delta" else set()
        internal = "MetricReader._instrument_class_temporality"
        with _pinned(internal):
            kinds = _bridge._delta_kinds(reader)
        assert kinds == expected, _changed(internal, f"{reader._instrument_class_temporality!r}")
    finally:
        provider.shutdown()


def test_readers_added_later_are_wrapped_where_the_sdk_can_add_them():
    """On SDKs with MeterProvider.add_metric_reader (>= 1.43) a reader added after attaching gets our points."""
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    try:
        if not hasattr(provider, "add_metric_reader"):
            assert _version_tuple(SDK_VERSION) < (1, 43), _changed(
                "MeterProvider.add_metric_reader", "gone although this SDK is >= 1.43"
            )
            pytest.skip(f"opentelemetry-sdk {SDK_VERSION} cannot add readers to a provider")
        bridge = _bridge.bridge_for(provider)
        assert bridge is not None, "the bridge did not attach (see the warning logged above)"
        later = InMemoryMetricReader()
        with _pinned("MeterProvider.add_metric_reader"):
            provider.add_metric_reader(later)
        assert bridge._is_wrapped(later), _changed(
            "MeterProvider.add_metric_reader", "the new reader's _collect"
        )
    finally:
        provider.shutdown()


def test_prometheus_reader_is_recognised(monkeypatch):
    """The Prometheus reader (which rejects exponential histograms) is spotted by its module name."""
    prometheus = pytest.importorskip("opentelemetry.exporter.prometheus")
    from prometheus_client import CollectorRegistry, core

    monkeypatch.setattr(core, "REGISTRY", CollectorRegistry())
    monkeypatch.setattr(prometheus, "REGISTRY", core.REGISTRY, raising=False)
    reader = prometheus.PrometheusMetricReader()
    assert not _bridge._accepts_exponential(reader), _changed(
        "PrometheusMetricReader module name", type(reader).__module__
    )
    assert _bridge._accepts_exponential(InMemoryMetricReader())


def test_every_checked_internal_is_documented():
    """Each name the checks can report is listed in SDK_INTERNALS (the table docs/configuration.md follows)."""
    reported = [*_bridge.provider_problems(object()), *_bridge.reader_problems(object())]
    assert reported, "the checks found nothing missing on a bare object"
    for name in reported:
        assert any(name.startswith(internal) for internal in _bridge.SDK_INTERNALS), name


def test_installed_sdk_is_in_the_supported_range_declared_in_pyproject():
    """The SDK under test is inside SUPPORTED_SDK, and pyproject.toml declares the same range for the SDK, API
    and OTLP exporter."""
    lower, upper = re.fullmatch(r">=([\d.]+),<([\d.]+)", _bridge.SUPPORTED_SDK).groups()
    assert _version_tuple(lower) <= _version_tuple(SDK_VERSION) < _version_tuple(upper), (
        f"opentelemetry-sdk {SDK_VERSION} is outside the supported range {_bridge.SUPPORTED_SDK}"
    )
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    text = pyproject.read_text()
    for package in ("opentelemetry-api", "opentelemetry-sdk", "opentelemetry-exporter-otlp"):
        assert f'"{package}{_bridge.SUPPORTED_SDK}"' in text, f"{package} in pyproject.toml"
