"""``otel-mlmon demo``: a monitored model, its reference, the collector and injected drift, end to end in one process.

A small fraud-scoring model (a fixed logistic formula, nothing to download) is decorated with ``@monitor``; its
reference profile is built on the fly from "training" data; the collector starts on free loopback ports with the
drift engine; the SDK exports spans, metrics and logs to it over OTLP/HTTP; traffic streams, and halfway through
two features drift. The terminal shows a live table and the run ends with the features found drifted.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DemoResult", "add_parser", "run_demo"]

FEATURES = ("amount", "age", "transactions_24h", "hour", "country", "device")
#: What the demo shifts halfway: a numeric feature (amounts grow by 60 %) and a categorical one (country mix).
DRIFTED = ("amount", "country")
_COUNTRIES = np.array(["FR", "DE", "ES", "IT", "US"])
_DEVICES = np.array(["ios", "android", "web"])


def population(rng: np.random.Generator, rows: int, drifted: bool = False) -> dict[str, np.ndarray]:
    """Draw ``rows`` requests; with ``drifted`` the amount and country distributions change."""
    amount = rng.lognormal(mean=3.5, sigma=0.9, size=rows) * (1.6 if drifted else 1.0)
    country_p = [0.05, 0.1, 0.1, 0.15, 0.6] if drifted else [0.4, 0.25, 0.15, 0.15, 0.05]
    return {
        "amount": amount,
        "age": np.clip(rng.normal(41, 12, size=rows), 18, 90),
        "transactions_24h": rng.poisson(3, size=rows).astype(float),
        "hour": rng.integers(0, 24, size=rows).astype(float),
        "country": _COUNTRIES[rng.choice(5, size=rows, p=country_p)],
        "device": _DEVICES[rng.choice(3, size=rows, p=[0.35, 0.45, 0.2])],
    }


def fraud_probability(batch: dict[str, np.ndarray]) -> np.ndarray:
    """The stand-in model: a fixed logistic score; returns P(not fraud), P(fraud) per row."""
    z = (
        -4.0
        + 0.5 * np.log1p(batch["amount"])
        + 0.15 * batch["transactions_24h"]
        - 0.01 * batch["age"]
        + 0.5 * (batch["country"] == "US")
    )
    p = 1.0 / (1.0 + np.exp(-z))
    return np.column_stack([1.0 - p, p])


@dataclass
class DemoResult:
    """What a demo run found."""

    drifted: list[str]
    calls: int
    errors: int
    rows: int
    latencies_ms: list[float] = field(default_factory=list)
    #: The output and confidence columns the last evaluation compared, e.g. ``confidence prediction[fraud]``,
    #: with `` (drift)`` appended where drift was detected.
    outputs: list[str] = field(default_factory=list)


def add_parser(subparsers: Any) -> None:
    """Register ``demo`` on the ``otel-mlmon`` command line (entry point group ``otel_mlmon.cli``)."""
    parser = subparsers.add_parser(
        "demo",
        help="run a monitored model, the collector and injected drift end to end",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of traffic (default 40)")
    parser.add_argument("--fast", action="store_true", help="short windows and intervals (a 10 s run)")
    parser.add_argument(
        "--endpoint", help="also forward everything to this OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quiet", action="store_true", help="no live table, only the summary")
    parser.set_defaults(handler=lambda args: _main(args))


def _main(args: argparse.Namespace) -> int:
    duration = 10.0 if args.fast and args.duration == 40.0 else args.duration
    result = run_demo(duration=duration, endpoint=args.endpoint, seed=args.seed, live=not args.quiet)
    injected = sorted(DRIFTED)
    print()
    print(
        f"Traffic: {result.calls} calls, {result.rows} rows, {result.errors} failed calls (injected bad requests)."
    )
    print(f"Drift injected into: {', '.join(injected)}")
    print(f"Drift detected in:   {', '.join(result.drifted) or 'nothing'}")
    print(f"Outputs compared:    {', '.join(result.outputs) or 'none'}")
    if sorted(result.drifted) == injected:
        print("The collector found exactly the injected drift.")
    return 0


def run_demo(
    duration: float = 40.0, endpoint: str | None = None, seed: int = 7, live: bool = True
) -> DemoResult:
    """Run the demo for ``duration`` seconds of traffic (drift starts halfway) and return what was found."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import otel_mlmon
    from otel_mlmon.profile import Profile

    from .config import parse_config
    from .drift_engine import DriftEngineConfig, DriftProcessor
    from .exporters.in_memory import InMemoryExporter
    from .service import Collector
    from .windows import WindowConfig

    rng = np.random.default_rng(seed)
    # Windows scale with the run so that by the end the evaluation view (3 windows) is mostly the drifted half.
    window = max(2.0, duration / 6)
    tick = min(1.0, window / 2)
    references = tempfile.TemporaryDirectory(prefix="otel-mlmon-demo-")
    train = population(rng, 20_000)
    Profile.from_data(
        train, fraud_probability(train), model="fraud", version="1", classes=["ok", "fraud"]
    ).save(f"{references.name}/fraud-1.json.gz")

    exporters: list[dict[str, Any]] = []
    if endpoint:
        exporters.append({"name": "downstream", "protocol": "http/protobuf", "endpoint": endpoint})
    config = parse_config(
        {
            "receivers": {"grpc": {"enabled": False}, "http": {"endpoint": "127.0.0.1:0"}},
            "exporters": exporters,
            "self_metrics": {"enabled": False},
            "health": {"enabled": False},
        },
        env={},
    )
    captured = InMemoryExporter("demo")
    holder: dict[str, Collector] = {}
    engine = DriftProcessor(
        DriftEngineConfig(
            windows=WindowConfig(window_seconds=window, evaluation_windows=3),
            evaluation_interval_seconds=0,  # the demo evaluates on its own ticks
            references_directory=references.name,
            reference_poll_seconds=0,
        ),
        emit=lambda request: holder["collector"].pipeline.emit(request),
    )
    collector = Collector(config, processors=[engine], exporters={"demo": captured})
    holder["collector"] = collector
    collector.start()
    url = f"http://{collector.http_endpoint}"

    resource = Resource.create({"service.name": "otel-mlmon-demo"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{url}/v1/metrics"), export_interval_millis=int(tick * 1000)
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs"))
    )

    @otel_mlmon.monitor(
        model="fraud",
        version="1",
        classes=["ok", "fraud"],
        record_predictions=0.05,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        logger_provider=logger_provider,
    )
    def predict_proba(batch: dict[str, np.ndarray]) -> np.ndarray:
        if any(len(v) == 0 for v in batch.values()):
            raise ValueError("empty request")
        return fraud_probability(batch)

    result = DemoResult(drifted=[], calls=0, errors=0, rows=0)
    start = time.monotonic()
    next_tick = start + tick
    evaluation = None
    try:
        while (now := time.monotonic()) - start < duration:
            drifted = now - start >= duration / 2
            rows = int(rng.integers(20, 80))
            batch = population(rng, 0 if rng.random() < 0.01 else rows, drifted=drifted)
            began = time.perf_counter()
            try:
                predict_proba(batch)
                result.rows += rows
            except ValueError:
                result.errors += 1
            result.latencies_ms.append((time.perf_counter() - began) * 1000)
            result.calls += 1
            time.sleep(0.005)
            if now >= next_tick:
                next_tick += tick
                evaluation = engine.evaluate_now()
                if live:
                    _print_table(result, evaluation, now - start, drifted)
        meter_provider.force_flush()
        evaluation = engine.evaluate_now()
        if live:
            _print_table(result, evaluation, time.monotonic() - start, True)
        try:
            stream = evaluation.stream("fraud", "1")
        except KeyError:
            pass
        else:
            result.drifted = sorted(stream.drifted("feature"))
            result.outputs = [
                _column_label(c) + (" (drift)" if c.detected else "")
                for c in stream.columns
                if c.target != "feature"
            ]
    finally:
        otel_mlmon.flush()
        for provider in (tracer_provider, meter_provider, logger_provider):
            provider.shutdown()
        engine.shutdown()
        collector.shutdown()
        references.cleanup()
    return result


def _column_label(column: Any) -> str:
    """``output prediction`` or ``confidence prediction[fraud]`` (confidence is per predicted class)."""
    name = column.name
    if isinstance(name, tuple):
        name = f"{name[0]}[{name[1]}]"
    return f"{column.target} {name}"


def _print_table(result: DemoResult, evaluation: Any, elapsed: float, drifting: bool) -> None:
    recent = result.latencies_ms[-500:] or [math.nan]
    p50, p95 = np.percentile(recent, [50, 95])
    print(
        f"\n[{elapsed:5.1f}s] calls={result.calls} rows={result.rows} errors={result.errors} "
        f"throughput={result.calls / max(elapsed, 1e-9):.0f} calls/s latency p50={p50:.2f} ms p95={p95:.2f} ms"
        f"{'   << drift injected >>' if drifting else ''}"
    )
    try:
        stream = evaluation.stream("fraud", "1")
    except KeyError:
        print("  (waiting for the first summaries to reach the collector)")
        return
    print(f"  {'column':28} {'method':14} {'score':>9} {'p-value':>9} {'n':>7}  state")
    for column in stream.columns:
        if column.decisive is None:
            continue
        d = column.decisive
        p = "" if d.p_value is None else f"{d.p_value:9.3g}"
        state = "DRIFT" if column.detected else "ok"
        label = column.name if column.target == "feature" else _column_label(column)
        print(f"  {label:28} {d.method:14} {d.score:9.4f} {p:>9} {d.n_current:7d}  {state}")
    sys.stdout.flush()
