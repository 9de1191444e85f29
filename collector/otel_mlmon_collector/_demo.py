"""``otel-mlmon demo``: a monitored model, its reference, the collector and injected drift, end to end in one process.

A small fraud-scoring model (a fixed logistic formula, nothing to download) is decorated with ``@monitor``; its
reference profile is built on the fly from "training" data; the collector starts on free loopback ports with the
drift engine; the SDK exports spans, metrics and logs to it over OTLP/HTTP; traffic streams, and halfway through
two features drift. A table shows the drift as it goes (``demo_view``: in place on a terminal, a few lines when
piped); the run ends with the features found drifted, the telemetry names to look for and the next steps.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DemoResult", "add_parser", "probe", "run_demo"]

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
    #: Span, metric and event names the collector received or produced, with counts (``telemetry_names``).
    names: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Requests the ``--endpoint`` downstream did not take (dropped or rejected).
    undelivered: int = 0
    #: Why the ``--endpoint`` could not be reached at start, when it could not.
    unreachable: str | None = None
    #: The last drift evaluation (a ``drift_engine.Evaluation``).
    evaluation: Any = None


_DESCRIPTION = """\
Run a monitored model, its reference profile, the collector and injected drift end to end in one process.

A small fraud-scoring model (a fixed formula, nothing to download) is decorated with @monitor; its reference
profile is built from "training" data; the collector starts on free loopback ports with the drift engine; the
SDK sends spans, metrics and logs to it over OTLP/HTTP; traffic streams, and halfway through two features
(amount, country) drift. A table shows latency, throughput and per-column drift as it goes; the run ends naming
the drifted features, the telemetry names to look for in a backend, and the next steps for your own model."""


def _seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def add_parser(subparsers: Any) -> None:
    """Register ``demo`` on the ``otel-mlmon`` command line (entry point group ``otel_mlmon.cli``)."""
    parser = subparsers.add_parser(
        "demo",
        help="run a monitored model, the collector and injected drift end to end",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--duration", type=_seconds, default=None, metavar="SECONDS", help="seconds of traffic (default 40)"
    )
    parser.add_argument("--fast", action="store_true", help=f"a short run: {_FAST_SECONDS:g} s of traffic")
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="also forward everything to this OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=7,
        help="random seed of the traffic (default 7): the same seed, the same run",
    )
    parser.add_argument("--quiet", action="store_true", help="no running display, only the summary")
    parser.set_defaults(handler=lambda args: _main(args))


_FAST_SECONDS = 8.0


def _main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ._demo_view import DemoView, next_steps

    duration = args.duration or (_FAST_SECONDS if args.fast else 40.0)
    console = Console(highlight=False)
    mode = "quiet" if args.quiet else ("live" if console.is_terminal else "lines")
    view = DemoView(console, mode, "fraud", "1")
    try:
        result = run_demo(duration=duration, endpoint=args.endpoint, seed=args.seed, view=view)
    except KeyboardInterrupt:
        print("\nStopped (Ctrl-C); the collector and the SDK were shut down.", file=sys.stderr)
        return 130
    injected = sorted(DRIFTED)
    print()
    print(
        f"Traffic: {result.calls} calls, {result.rows} rows, {result.errors} bad requests (injected on purpose)."
    )
    print(f"Drift injected into: {', '.join(injected)}")
    print(f"Drift detected in:   {', '.join(result.drifted) or 'nothing'}")
    print(f"Outputs compared:    {', '.join(result.outputs) or 'none'}")
    if sorted(result.drifted) == injected:
        print("The collector found exactly the injected drift.")
    if args.endpoint:
        print()
        print(_delivery(args.endpoint, result))
    for line in next_steps(result.names, "fraud", None if result.unreachable else args.endpoint):
        print(line)
    return 0


def _delivery(endpoint: str, result: DemoResult) -> str:
    """Whether ``--endpoint`` took everything, in words (never a bare count of queued requests)."""
    if result.unreachable is None and result.undelivered == 0:
        return f"Everything was forwarded to {endpoint}."
    if result.unreachable is None:
        return (
            f"{endpoint} did not take {result.undelivered} request(s) of this run: it refused them or answered "
            "too slowly (run otel-mlmon-collector with that exporter to see its answers in the log)."
        )
    return (
        f"Nothing answered at {endpoint} ({result.unreachable}): {result.undelivered} request(s) of this run were not delivered "
        "there. Start an OTLP/HTTP backend or an OpenTelemetry Collector on that address (the compose file in "
        "collector/deploy/ starts a whole stack: docs/deployment.md), or run the demo without --endpoint."
    )


def probe(endpoint: str, timeout: float = 1.0) -> str | None:
    """None when something accepts TCP connections at ``endpoint``'s host and port, else the reason in words."""
    parts = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    host = parts.hostname or "127.0.0.1"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 4318)
    except ValueError:
        return "the port is not a number"
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except ConnectionRefusedError:
        return f"connection refused on {host}:{port}"
    except socket.gaierror:
        return f"the host name {host!r} is not known"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout:g} s"
    except OSError as e:
        return f"{host}:{port}: {e.strerror or e}"
    return None


def run_demo(
    duration: float = 40.0,
    endpoint: str | None = None,
    seed: int = 7,
    live: bool = True,
    view: Any = None,
) -> DemoResult:
    """Run the demo for ``duration`` seconds of traffic (drift starts halfway) and return what was found.

    ``view`` is a :class:`~otel_mlmon_collector._demo_view.DemoView`; without one, ``live`` chooses between a
    display fitted to standard output (in place on a terminal, a few lines when piped) and none.
    """
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

    from ._config import parse_config
    from ._demo_view import DemoView, telemetry_names
    from ._drift_engine import DriftConfig, DriftProcessor
    from ._exporters.in_memory import InMemoryExporter
    from ._selfmetrics import DROPPED, REJECTED
    from ._service import Collector
    from ._windows import WindowConfig

    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be more than 0 seconds, got {duration!r}")
    if view is None:
        from rich.console import Console

        console = Console(highlight=False)
        mode = "quiet" if not live else ("live" if console.is_terminal else "lines")
        view = DemoView(console, mode, "fraud", "1")
    rng = np.random.default_rng(seed)
    # Windows scale with the run so that by the end the evaluation view (3 windows) is mostly the drifted half.
    window = max(2.0, duration / 6)
    tick = min(1.0, window / 2)
    unreachable = probe(endpoint) if endpoint else None
    if unreachable:
        view.say(
            f"Note: nothing answers at {endpoint} ({unreachable}); the demo runs anyway and says at the end."
        )
    # The collector's own log lines (retries to an unreachable --endpoint, shutdown) would interleave with the
    # display; the demo reports what matters itself, in words, at the end.
    quiet_log = _QuietLog("otel_mlmon_collector")
    references = tempfile.TemporaryDirectory(prefix="otel-mlmon-demo-")
    train = population(rng, 20_000)
    Profile.from_data(
        train, fraud_probability(train), model="fraud", version="1", classes=["ok", "fraud"]
    ).save(f"{references.name}/fraud-1.json.gz")

    exporters: list[dict[str, Any]] = []
    if endpoint:
        exporters.append(
            {
                "name": "downstream",
                "protocol": "http/protobuf",
                "endpoint": endpoint,
                "retry": {"max_elapsed_seconds": 5},
            }
        )
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
        DriftConfig(
            windows=WindowConfig(window_seconds=window, evaluation_windows=3),
            evaluation_interval_seconds=0,  # the demo evaluates on its own ticks
            references_directory=references.name,
            reference_poll_seconds=0,
        ),
        emit=lambda request: holder["collector"].pipeline.emit(request),
    )
    collector = Collector(config, processors=[engine], exporters={"demo": captured}, drift_summary_seconds=0)
    holder["collector"] = collector
    try:
        collector.start()
    except BaseException:
        quiet_log.close()
        references.cleanup()
        raise
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

    result = DemoResult(drifted=[], calls=0, errors=0, rows=0, unreachable=unreachable)
    view.say(
        f"Sending {duration:g} s of traffic to a monitored model 'fraud'; drift starts at {duration / 2:g} s."
    )
    start = time.monotonic()
    next_tick = start + tick
    evaluation = None
    try:
        with view:
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
                    view.update(result, evaluation, now - start, drifted)
            meter_provider.force_flush()
            evaluation = engine.evaluate_now()
            view.final(result, evaluation, time.monotonic() - start)
        result.evaluation = evaluation
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
        with _SigintIgnored():  # a second Ctrl-C must not cut the shutdown short with a traceback
            otel_mlmon.flush()
            for provider in (tracer_provider, meter_provider, logger_provider):
                provider.shutdown()
            engine.shutdown()
            collector.shutdown(3.0 if endpoint else None)
            references.cleanup()
            quiet_log.close()
    result.names = telemetry_names(captured.requests())
    if endpoint:
        result.undelivered = collector.metrics.total(
            DROPPED, exporter="downstream"
        ) + collector.metrics.total(REJECTED, exporter="downstream")
    return result


def _column_label(column: Any) -> str:
    """``output prediction`` or ``confidence prediction[fraud]`` (confidence is per predicted class)."""
    name = column.name
    if isinstance(name, tuple):
        name = f"{name[0]}[{name[1]}]"
    return f"{column.target} {name}"


class _QuietLog:
    """Keeps a logger's records for the run instead of letting them reach standard error."""

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)
        self.records: list[logging.LogRecord] = []
        self._handler = _ListHandler(self.records)
        self._propagate = self.logger.propagate
        self.logger.addHandler(self._handler)
        self.logger.propagate = False

    def close(self) -> None:
        """Put the logger back as it was."""
        self.logger.removeHandler(self._handler)
        self.logger.propagate = self._propagate


class _ListHandler(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.INFO)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _SigintIgnored:
    """Ignore SIGINT inside the block (main thread only; elsewhere a no-op)."""

    def __enter__(self) -> None:
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
