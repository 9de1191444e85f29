"""Per-call overhead of @monitor against a bare call and naive hand-written OpenTelemetry.

Run: ``python bench/overhead.py``. Prints µs per call and ratios to the naive version measured in the same run
(absolute times on shared machines are noisy; the ratios are what to compare). Every variant exports through a
real SDK pipeline (BatchSpanProcessor, a metric reader) into exporters that drop the data, so export cost off the
hot path is not counted but everything on it is.

Targets (issue 2, spans and inference metrics, summaries off): with the span recorded ≤ 0.6× naive, span not
sampled ≤ 0.25×, metrics only ≤ 0.1×. The summaries rows add feature/prediction sketches of every call (a 4×8
numpy batch), measured with the background folding included: the clock stops after a final collection.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode

import otel_mlmon


class _DropSpans(SpanExporter):
    def export(self, spans: Sequence) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _providers(sampler) -> tuple[TracerProvider, MeterProvider]:
    tracer_provider = TracerProvider(sampler=sampler)
    tracer_provider.add_span_processor(BatchSpanProcessor(_DropSpans(), max_queue_size=1 << 16))
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


def model(X):
    return X


def naive(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> Callable:
    """What a user writes by hand: a span, a duration histogram and a counter per call."""
    tracer = tracer_provider.get_tracer("naive")
    meter = meter_provider.get_meter("naive")
    duration = meter.create_histogram("ml.inference.duration", unit="s")
    predictions = meter.create_counter("ml.inference.predictions")
    attrs = {"ml.model.name": "m", "ml.model.version": "1"}

    def wrapper(X):
        with tracer.start_as_current_span("predict m", kind=SpanKind.INTERNAL, attributes=attrs) as span:
            start = time.perf_counter()
            try:
                result = model(X)
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR))
                duration.record(time.perf_counter() - start, {**attrs, "error.type": type(exc).__qualname__})
                raise
            duration.record(time.perf_counter() - start, attrs)
            predictions.add(len(X), attrs)
            return result

    return wrapper


def measure(fn: Callable, arg, calls: int, repeats: int, flush: Callable[[], object] = lambda: None) -> float:
    """Median µs per call over ``repeats`` runs of ``calls`` calls, ``flush()`` (a collection) included."""
    for _ in range(min(calls, 2000)):
        fn(arg)
    flush()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn(arg)
        flush()
        runs.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    X = np.zeros((4, 8))  # a 4-row batch of 8 features

    def monitored(sampler, **options) -> tuple[Callable, Callable]:
        tracer_provider, meter_provider = _providers(sampler)
        fn = otel_mlmon.monitor(
            model="m", version="1", tracer_provider=tracer_provider, meter_provider=meter_provider, **options
        )(model)
        return fn, meter_provider.force_flush

    unsampled = ParentBased(TraceIdRatioBased(0.0))
    variants: dict[str, tuple[Callable, Callable]] = {
        "bare call": (model, lambda: None),
        "naive OTel (span+histogram+counter)": (naive(*_providers(ALWAYS_ON)), lambda: None),
        "@monitor, span recorded": monitored(ALWAYS_ON, summaries=False),
        "@monitor, span not sampled": monitored(unsampled, summaries=False),
        "@monitor, metrics only (trace=False)": monitored(ALWAYS_ON, summaries=False, trace=False),
        "+ summaries, span recorded": monitored(ALWAYS_ON),
        "+ summaries, metrics only": monitored(ALWAYS_ON, trace=False),
        "+ summaries at sample_rate=0.1, recorded": monitored(ALWAYS_ON, sample_rate=0.1),
    }
    results = {
        name: measure(fn, X, args.calls, args.repeats, flush) for name, (fn, flush) in variants.items()
    }
    baseline = results["naive OTel (span+histogram+counter)"]
    targets = {
        "@monitor, span recorded": 0.6,
        "@monitor, span not sampled": 0.25,
        "@monitor, metrics only (trace=False)": 0.1,
    }
    print(f"{'variant':42} {'µs/call':>9} {'× naive':>9}  target")
    for name, micros in results.items():
        target = targets.get(name)
        verdict = "" if target is None else f"≤ {target}  {'ok' if micros / baseline <= target else 'MISSED'}"
        print(f"{name:42} {micros:9.2f} {micros / baseline:9.3f}  {verdict}")


if __name__ == "__main__":
    main()
