"""The set-up shared by the drift benchmarks: a collector drift engine over a references directory, fed the OTLP
export of a decorated model (bench/ is on sys.path when a benchmark runs as a script)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._windows import WindowConfig

import otel_mlmon
from otel_mlmon.testing import InMemoryTelemetry


def engine(directory: str) -> DriftProcessor:
    """A drift engine reading references from ``directory``: one window of an hour, evaluated on demand
    (``evaluate_now``), references loaded at once, its OTLP output dropped."""
    config = DriftConfig(
        windows=WindowConfig(window_seconds=3600, evaluation_windows=1),
        evaluation_interval_seconds=0,
        references_directory=directory,
        reference_poll_seconds=0,
    )
    return DriftProcessor(config, emit=lambda request: True)


def feed(
    processor: DriftProcessor,
    model: str,
    batches: Iterable[Any],
    predict: Callable[[Any], Any],
    **monitor: Any,
) -> tuple[float, float]:
    """Monitor ``batches`` through ``predict`` decorated with ``otel_mlmon.monitor(model=model, version="1",
    **monitor)`` (delta temporality, no traces) and hand the OTLP-encoded export to ``processor``.

    Returns the seconds spent in the SDK (calls + collection: the production side of sketching) and in the
    collector's ingestion of the export (decoding the points into the stream's window). Encoding the export
    (the OpenTelemetry exporter's work) is in neither.
    """
    telemetry = InMemoryTelemetry("delta")
    monitored = otel_mlmon.monitor(model=model, version="1", trace=False, **monitor, **telemetry.providers)(
        predict
    )
    started = time.perf_counter()
    for batch in batches:
        monitored(batch)
    data = telemetry.collect()
    sdk_seconds = time.perf_counter() - started
    message = encode_metrics(data)
    request = OtlpRequest("metrics", message.SerializeToString(), message)
    started = time.perf_counter()
    processor.process(request)
    ingest_seconds = time.perf_counter() - started
    telemetry.shutdown()
    return sdk_seconds, ingest_seconds
