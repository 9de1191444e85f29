"""Label delivery: how many prediction records and labels reach a real collector and join, by log pipeline.

Run: ``python bench/label_delivery.py [--chunks 4 --rows 5000]``. A classifier's ``predict_proba`` is called once
per chunk with records on, and the chunk's labels are reported at once, over OTLP/HTTP to an in-process collector.
Two log pipelines, in the same run: the OpenTelemetry SDK's default ``BatchLogRecordProcessor`` (queue 2 048 —
what ``configure()`` built before) and the one ``configure()`` builds now. Prints, per pipeline, the records
delivered and joined, the drops counted, and the wall time per chunk relative to the SDK default's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from otel_mlmon_collector._config import parse_config
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._service import Collector

import otel_mlmon
from otel_mlmon._faults import faults
from otel_mlmon._log_pipeline import DROP_FAULT, log_record_processor


def run(pipeline: str, chunks: int, rows: int, state: Path) -> dict[str, float]:
    config = parse_config(
        {
            "receivers": {"grpc": {"enabled": False}, "http": {"endpoint": "127.0.0.1:0"}},
            "health": {"enabled": False},
            "self_metrics": {"enabled": False},
            "ground_truth": {"path": str(state / f"{pipeline}.sqlite"), "evaluation_interval_seconds": 0},
        },
        env={},
    )
    collector = Collector(config, exporters={"sink": InMemoryExporter("sink")})  # nothing printed
    collector.start()
    exporter = OTLPLogExporter(endpoint=f"http://{collector.http_endpoint}/v1/logs")
    processor = (
        BatchLogRecordProcessor(exporter) if pipeline == "sdk-default" else log_record_processor(exporter)
    )
    logs = LoggerProvider()
    logs.add_log_record_processor(processor)
    dropped = faults.counts().get(DROP_FAULT, 0)
    rng = np.random.default_rng(0)

    @otel_mlmon.monitor(
        model=f"loans-{pipeline}", record_predictions=1.0, trace=False, summaries=False, logger_provider=logs
    )
    def predict_proba(X):
        p = 1 / (1 + np.exp(-X[:, 0]))
        return np.column_stack([1 - p, p])

    start = time.perf_counter()
    try:
        for _ in range(chunks):
            X = rng.normal(size=(rows, 2))
            predict_proba(X)
            ids = otel_mlmon.last_prediction_ids()
            otel_mlmon.flush()
            labels = (rng.uniform(size=rows) < 0.5).astype(int)
            otel_mlmon.record_ground_truth(
                model=f"loans-{pipeline}", prediction_id=ids, value=labels, logger_provider=logs
            )
        logs.force_flush(60_000)
        elapsed = time.perf_counter() - start
        counts = collector.performance.label_join.store.counts()
    finally:
        logs.shutdown()
        collector.shutdown(5)
    return {
        "predictions": counts["predictions"],
        "labels": counts["labels"],
        "joined": counts["joined"],
        "dropped": faults.counts().get(DROP_FAULT, 0) - dropped,
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    total = args.chunks * args.rows
    print(f"{args.chunks} chunks of {args.rows} rows: {total} predictions and {total} labels per pipeline")
    with tempfile.TemporaryDirectory() as state:
        results = {p: run(p, args.chunks, args.rows, Path(state)) for p in ("sdk-default", "configure()")}
    base = results["sdk-default"]["seconds"]
    print(
        f"{'pipeline':<12} {'predictions':>12} {'labels':>8} {'joined':>8} {'dropped':>8} {'time ratio':>10}"
    )
    for name, r in results.items():
        print(
            f"{name:<12} {r['predictions'] / total:>11.1%} {r['labels'] / total:>8.1%} {r['joined'] / total:>8.1%} "
            f"{r['dropped']:>8.0f} {r['seconds'] / base:>10.2f}"
        )


if __name__ == "__main__":
    main()
