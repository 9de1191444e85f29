"""The export bridge: hooks into the OpenTelemetry SDK's metric readers that deliver our pre-aggregated points.

The Python SDK has no MetricProducer (opentelemetry-python #4768), so the bridge wraps each metric reader's
collect callback: when a reader collects (periodic export, ``force_flush``, shutdown, a pull by Prometheus), the
SDK's own metrics come back as usual and the bridge appends a scope ``otel_mlmon`` holding the pre-aggregated
points, in the temporality that reader prefers. Because the bridge sits at collection rather than inside an
exporter, it works for every reader type and exporter a user configured, and it reports even in an interval in
which the SDK itself recorded nothing (where an exporter wrapper would be skipped, FACTS.md).

Per reader it keeps the intervals not yet reported (for delta temporality) and their running total (for
cumulative), so several readers with different preferences each see every recorded call exactly once. Turning
intervals into data points is ``_points.py``'s job.

This is the only module that touches SDK internals. Each one is listed in :data:`SDK_INTERNALS`, read through one
small accessor here, checked before the hooks attach, and pinned by ``tests/sdk/test_bridge_contract.py``. When a
provider or reader lacks one (an SDK outside :data:`SUPPORTED_SDK`), the bridge does not attach to it: one
warning names the SDK version, the internal and what is lost, one ``sdk_hooks`` fault is counted, and spans,
records and the user's calls carry on.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.sdk.metrics import Counter as SdkCounter
from opentelemetry.sdk.metrics import Histogram as SdkHistogram
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_mlmon import _points
from otel_mlmon import conventions as conv
from otel_mlmon._aggregate import Interval, Stream
from otel_mlmon._faults import faults, report_fault
from otel_mlmon._version import __version__

__all__ = [
    "SDK_INTERNALS",
    "SUPPORTED_SDK",
    "MetricBridge",
    "bridge_for",
    "provider_problems",
    "reader_problems",
    "sdk_version",
]

#: The opentelemetry-sdk versions the hooks are tested with (oldest and newest in CI); keep pyproject.toml in step.
SUPPORTED_SDK = ">=1.39,<1.46"

#: Every SDK internal the hooks rely on, and what it is used for. The contract test checks each by name.
SDK_INTERNALS: dict[str, str] = {
    "MeterProvider._measurement_consumer._reader_storages": "the metric readers a provider was built with",
    "MeterProvider._sdk_config.resource": "the resource, for a collection in which the SDK had no metrics itself",
    "MetricReader._collect": "the collect callback a reader calls; the bridge wraps it to append its points",
    "MetricReader._instrument_class_temporality": "a reader's temporality preference per instrument class",
    "MeterProvider.add_metric_reader": "optional (SDK >= 1.43): readers added later are wrapped as they come",
    "PrometheusMetricReader module name": "spots the reader that cannot take exponential histograms",
}

#: What is lost where the hooks cannot attach (the log line says it).
_LOST = (
    "the ml.* metrics (inference duration, predictions, batch size, feature and prediction summaries) and "
    "otel_mlmon.sdk.faults are not exported"
)

_SCOPE = InstrumentationScope(conv.SCOPE_NAME, __version__)
_WRAPPED_MARK = "_otel_mlmon_bridge"


# -- the SDK internals, one accessor each -----------------------------------------------------------------------


def _readers_of(provider: Any) -> list[Any]:
    return list(provider._measurement_consumer._reader_storages)


def _resource_of(provider: Any) -> Any:
    return provider._sdk_config.resource


def _delta_kinds(reader: Any) -> frozenset[str]:
    """The instrument kinds (``_points.COUNTER`` / ``HISTOGRAM``) for which ``reader`` prefers delta."""
    kinds = set()
    for instrument_class, temporality in reader._instrument_class_temporality.items():
        if temporality == AggregationTemporality.DELTA and isinstance(instrument_class, type):
            # The keys are the SDK's private subclasses of the public instrument classes.
            if issubclass(instrument_class, SdkCounter):
                kinds.add(_points.COUNTER)
            elif issubclass(instrument_class, SdkHistogram):
                kinds.add(_points.HISTOGRAM)
    return frozenset(kinds)


def _accepts_exponential(reader: Any) -> bool:
    # opentelemetry-exporter-prometheus answers HTTP 500 for the whole /metrics page as soon as one exponential
    # histogram is present (FACTS.md): for that reader the distributions are left out, everything else stays.
    return "prometheus" not in type(reader).__module__.lower()


def provider_problems(provider: Any) -> list[str]:
    """The :data:`SDK_INTERNALS` of a ``MeterProvider`` that are missing or changed shape (empty when fine)."""
    problems = []
    storages = getattr(getattr(provider, "_measurement_consumer", None), "_reader_storages", None)
    if not isinstance(storages, Mapping):
        problems.append("MeterProvider._measurement_consumer._reader_storages")
    if not hasattr(getattr(provider, "_sdk_config", None), "resource"):
        problems.append("MeterProvider._sdk_config.resource")
    add = getattr(provider, "add_metric_reader", None)
    if add is not None and not callable(add):
        problems.append("MeterProvider.add_metric_reader")
    return problems


def reader_problems(reader: Any) -> list[str]:
    """The :data:`SDK_INTERNALS` of a registered metric reader that are missing or changed shape."""
    problems = []
    if not callable(getattr(reader, "_collect", None)):
        problems.append("MetricReader._collect")
    temporalities = getattr(reader, "_instrument_class_temporality", None)
    if not isinstance(temporalities, Mapping) or not all(
        isinstance(key, type) and isinstance(value, AggregationTemporality)
        for key, value in temporalities.items()
    ):
        problems.append("MetricReader._instrument_class_temporality")
    else:
        for public in (SdkCounter, SdkHistogram):
            if not any(issubclass(key, public) for key in temporalities):
                problems.append(f"MetricReader._instrument_class_temporality (no {public.__name__} key)")
    return problems


def sdk_version() -> str:
    """The installed opentelemetry-sdk version, for messages."""
    try:
        from importlib.metadata import version

        return version("opentelemetry-sdk")
    except Exception:  # noqa: BLE001 - a message detail only
        return "(unknown version)"


def _cannot_attach(problems: list[str], where: str) -> None:
    """One warning and one counted fault for hooks that cannot attach; the caller never retries for this object."""
    report_fault(
        "sdk_hooks",
        message=(
            f"otel-mlmon cannot attach to opentelemetry-sdk {sdk_version()} ({', '.join(problems)} missing or "
            f"changed): {_LOST} through {where}; spans, prediction records and the predict calls are unaffected. "
            f"Supported: opentelemetry-sdk {SUPPORTED_SDK}."
        ),
    )


# -- the bridge ---------------------------------------------------------------------------------------------------


class _ReaderState:
    """What one reader has not reported yet (delta) and its running total (cumulative)."""

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.last_collect_ns = start_ns
        self.pending: dict[Stream, Interval] = {}
        self.cumulative: dict[Stream, Interval] = {}


class MetricBridge:
    """Exports the streams registered with it through every metric reader of one SDK ``MeterProvider``."""

    def __init__(self, provider: Any, _clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = _clock
        self._provider_ref = weakref.ref(provider)
        self._streams: dict[Stream, None] = {faults: None}  # insertion-ordered set
        self._reset()
        self._attach(provider)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._start_ns = self._clock()
        self._readers: weakref.WeakKeyDictionary[Any, _ReaderState] = weakref.WeakKeyDictionary()

    def register(self, stream: Stream) -> None:
        """Export ``stream`` from now on (idempotent)."""
        with self._lock:
            self._streams[stream] = None

    # -- attaching to the SDK ---------------------------------------------------------------------------------

    def _attach(self, provider: Any) -> None:
        for reader in _readers_of(provider):
            self._wrap_reader(reader)
        original_add = getattr(provider, "add_metric_reader", None)
        if original_add is not None and getattr(original_add, _WRAPPED_MARK, None) is None:

            def add_metric_reader(metric_reader: Any) -> None:
                original_add(metric_reader)
                try:
                    self._wrap_reader(metric_reader)
                except Exception as exc:  # noqa: BLE001 - the reader was added; only our points are missing
                    report_fault("sdk_hooks", exc)

            setattr(add_metric_reader, _WRAPPED_MARK, self)
            provider.add_metric_reader = add_metric_reader

    def _wrap_reader(self, reader: Any) -> None:
        original = getattr(reader, "_collect", None)
        if original is None or getattr(original, _WRAPPED_MARK, None) is self:
            return  # not registered with a provider yet, or already wrapped
        problems = reader_problems(reader)
        if problems:
            _cannot_attach(problems, f"the {type(reader).__name__}")
            return
        with self._lock:
            self._readers[reader] = _ReaderState(self._start_ns if not self._readers else self._clock())

        def collect(metric_reader: Any, timeout_millis: float = 10_000) -> MetricsData | None:
            data = original(metric_reader, timeout_millis=timeout_millis)
            try:
                return self._append(metric_reader, data)
            except Exception as exc:  # noqa: BLE001 - never break the user's export
                report_fault("export", exc)
                return data

        setattr(collect, _WRAPPED_MARK, self)
        reader._collect = collect

    def _is_wrapped(self, reader: Any) -> bool:
        return getattr(getattr(reader, "_collect", None), _WRAPPED_MARK, None) is self

    # -- collection -------------------------------------------------------------------------------------------

    def _append(self, reader: Any, data: MetricsData | None) -> MetricsData | None:
        metrics = self.collect_metrics(reader)
        if not metrics:
            return data
        ours = ScopeMetrics(scope=_SCOPE, metrics=metrics, schema_url="")
        provider = self._provider_ref()
        if data is None or not data.resource_metrics:
            if provider is None:
                return data
            return MetricsData(
                [ResourceMetrics(resource=_resource_of(provider), scope_metrics=[ours], schema_url="")]
            )
        first, *rest = data.resource_metrics
        first = ResourceMetrics(
            resource=first.resource,
            scope_metrics=[*first.scope_metrics, ours],
            schema_url=first.schema_url,
        )
        return MetricsData(resource_metrics=[first, *rest])

    def collect_metrics(self, reader: Any) -> list[Metric]:
        """Swap every stream's interval out and return the metrics ``reader`` should receive now."""
        now = self._clock()
        with self._lock:
            state = self._readers.get(reader)
            if state is None:
                return []
            states = list(self._readers.values())
            for stream in self._streams:
                interval = stream.swap()
                if interval.is_empty():
                    continue
                for other in states:
                    other.pending.setdefault(stream, stream.new_interval()).merge(interval)
            pending, state.pending = state.pending, {}
            for stream, interval in pending.items():
                state.cumulative.setdefault(stream, stream.new_interval()).merge(interval)
            delta_start, state.last_collect_ns = state.last_collect_ns, now
            cumulative = dict(state.cumulative)

        return _points.to_metrics(
            ((stream.attributes, total, pending.get(stream)) for stream, total in cumulative.items()),
            now,
            delta_kinds=_delta_kinds(reader),
            cumulative_start_ns=state.start_ns,
            delta_start_ns=delta_start,
            exponential_ok=_accepts_exponential(reader),
        )


_bridges: weakref.WeakKeyDictionary[Any, MetricBridge] = weakref.WeakKeyDictionary()
#: SDK providers the hooks could not attach to: reported once, then left alone.
_unattachable: weakref.WeakSet[Any] = weakref.WeakSet()
_bridges_lock = threading.Lock()


def bridge_for(provider: Any) -> MetricBridge | None:
    """The bridge of an SDK ``MeterProvider``, created on first use; None for other providers (no-op, proxy) and
    for an SDK provider the hooks cannot attach to (reported once). Never raises."""
    if not isinstance(provider, SdkMeterProvider):
        return None
    with _bridges_lock:
        bridge = _bridges.get(provider)
        if bridge is not None or provider in _unattachable:
            return bridge
        problems = provider_problems(provider)
        if not problems:
            try:
                bridge = _bridges[provider] = MetricBridge(provider)
                return bridge
            except Exception as exc:  # noqa: BLE001 - an internal that passed the check still broke
                problems = [f"attaching failed with {type(exc).__name__}: {exc}"]
        _unattachable.add(provider)
        _cannot_attach(problems, "this MeterProvider")
        return None


def _reset_after_fork() -> None:
    # The parent exports what it recorded; the child starts empty, with fresh locks and start times.
    global _bridges_lock
    _bridges_lock = threading.Lock()
    for bridge in list(_bridges.values()):
        bridge._reset()
        provider = bridge._provider_ref()
        if provider is None:
            continue
        try:
            readers = _readers_of(provider)
        except Exception as exc:  # noqa: BLE001
            report_fault("sdk_hooks", exc)
            continue
        for reader in readers:
            if bridge._is_wrapped(reader):
                bridge._readers[reader] = _ReaderState(bridge._start_ns)
