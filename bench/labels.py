"""Label join throughput: predictions and late labels through the collector's SQLite join store.

Run: ``python bench/labels.py``. Prints records/s for adding predictions, labels/s for labels that join, and the
full path (parse OTLP log records → store → join → windowed performance), against a baseline measured in the same
run: decoding the same OTLP payloads with protobuf alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from otel_mlmon_collector._ground_truth import LabelJoin
from otel_mlmon_collector._ground_truth._records import parse_logs_request
from otel_mlmon_collector._ground_truth._store import JoinStore
from otel_mlmon_collector._otlp import OtlpRequest

from otel_mlmon import conventions as conv


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _request(event: str, ids: range, value_key: str, now_ns: int) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for i in ids:
        record: LogRecord = scope.log_records.add()
        record.time_unix_nano = now_ns
        record.event_name = event
        record.attributes.extend(
            [
                _kv(conv.ATTR_MODEL_NAME, "churn"),
                _kv(conv.ATTR_MODEL_VERSION, "2"),
                _kv(conv.ATTR_PREDICTION_ID, f"id-{i}"),
                _kv(value_key, "leave" if i % 3 else "stay"),
            ]
        )
    return request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    n, batch = args.records, args.batch
    now = time.time_ns()
    predictions = [
        _request(conv.EVENT_PREDICTION, range(s, min(s + batch, n)), conv.ATTR_PREDICTION_VALUE, now)
        for s in range(0, n, batch)
    ]
    labels = [
        _request(conv.EVENT_GROUND_TRUTH, range(s, min(s + batch, n)), conv.ATTR_GROUND_TRUTH_VALUE, now)
        for s in range(0, n, batch)
    ]
    payloads = [r.SerializeToString() for r in predictions + labels]

    started = time.perf_counter()
    for payload in payloads:
        ExportLogsServiceRequest.FromString(payload)
    decode = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        store = JoinStore(str(Path(tmp) / "join.sqlite"))
        parsed_p = [parse_logs_request(r).predictions for r in predictions]
        parsed_l = [parse_logs_request(r).labels for r in labels]
        started = time.perf_counter()
        for chunk in parsed_p:
            store.add_predictions(chunk)
        add_predictions = time.perf_counter() - started
        started = time.perf_counter()
        joined = 0
        for chunk in parsed_l:
            store.add_labels(chunk)
            joined += len(store.pop_joined())
        add_labels = time.perf_counter() - started
        store.close()

        processor = LabelJoin(str(Path(tmp) / "full.sqlite"), window_seconds=3600)
        started = time.perf_counter()
        for payload in payloads:
            processor.process(OtlpRequest("logs", payload))
        report = processor.evaluate()
        full = time.perf_counter() - started
        processor.shutdown()

    (window,) = report.windows.values()
    print(f"== {n:,} predictions then {n:,} labels, batches of {batch} ==")
    print(f"protobuf decode only (baseline)       {2 * n / decode:12,.0f} records/s")
    print(f"join store: add predictions           {n / add_predictions:12,.0f} records/s")
    print(
        f"join store: add labels + join         {joined / add_labels:12,.0f} labels/s   ({joined:,} joined)"
    )
    print(
        f"full path (parse, store, join, window) {2 * n / full:11,.0f} records/s   ratio to decode {decode / full:.3f}"
    )
    print(f"window accuracy over the joined rows  {window.classification.accuracy:12.3f}")


if __name__ == "__main__":
    main()
