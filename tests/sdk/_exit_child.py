"""A monitored program run as a subprocess by test_lifecycle.py: a tight loop of predict calls, then exit.

Usage: ``python _exit_child.py OUT KIND SECONDS MODE`` where MODE is ``plain`` (providers created after importing
otel_mlmon, as ``configure()`` does), ``early`` (providers set up before the import, as ``opentelemetry-instrument``
does), ``fork`` (four forked children run the loop and ``sys.exit``), ``pool`` (a multiprocessing pool runs it
while the parent does too) or ``slow`` (folds made slow by fault injection). Every process exports its
``ml.prediction`` records and its metrics to files named ``OUT.<pid>.logs`` / ``OUT.<pid>.metrics`` at export time,
and writes the calls it made to ``OUT.<pid>.calls``. Nothing here flushes or shuts down: exit does.
"""

from __future__ import annotations

import json
import os
import sys
import time

OUT, KIND, SECONDS, MODE = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]


def _setup_providers() -> dict:
    from opentelemetry import metrics, trace
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import (
        BatchLogRecordProcessor,
        LogRecordExporter,
        LogRecordExportResult,
    )
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider

    class FileLogs(LogRecordExporter):
        def export(self, batch):
            with open(f"{OUT}.{os.getpid()}.logs", "a") as f:
                for data in batch:
                    if data.log_record.event_name == "ml.prediction":
                        f.write(data.log_record.attributes["ml.prediction.id"] + "\n")
            return LogRecordExportResult.SUCCESS

        def force_flush(self, timeout_millis=30_000):
            return True

        def shutdown(self):
            pass

    class FileMetrics(MetricExporter):
        def __init__(self):
            super().__init__(preferred_temporality={})

        def export(self, metrics_data, timeout_millis=10_000, **kwargs):
            found = {"rows": 0, "faults": {}}
            for rm in metrics_data.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        for point in metric.data.data_points:
                            if metric.name == "ml.summary.rows":
                                found["rows"] += point.value
                            elif metric.name == "otel_mlmon.sdk.faults":
                                found["faults"][point.attributes.get("otel_mlmon.fault", "?")] = point.value
            with open(f"{OUT}.{os.getpid()}.metrics", "a") as f:
                f.write(json.dumps(found) + "\n")
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis=10_000):
            return True

        def shutdown(self, timeout_millis=30_000, **kwargs):
            pass

    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(FileLogs(), max_queue_size=1_000_000))
    reader = PeriodicExportingMetricReader(FileMetrics(), export_interval_millis=3_600_000)
    meter_provider = MeterProvider(metric_readers=[reader])
    tracer_provider = TracerProvider()
    set_logger_provider(logger_provider)
    metrics.set_meter_provider(meter_provider)
    trace.set_tracer_provider(tracer_provider)
    return {"logger": logger_provider, "meter": meter_provider}


if MODE == "early":
    providers = _setup_providers()

import numpy as np  # noqa: E402

import otel_mlmon  # noqa: E402

if MODE != "early":
    providers = _setup_providers()

if MODE == "slow":  # fault injection: folding costs 20 ms per call, far slower than the calls come
    from otel_mlmon._summarize import SummaryStream

    _fold_locked = SummaryStream._fold_locked

    def _slow_fold_locked(self, max_entries=None):
        n = len(self._buffer) if max_entries is None else min(max_entries, len(self._buffer))
        time.sleep(0.02 * n)
        return _fold_locked(self, max_entries)

    SummaryStream._fold_locked = _slow_fold_locked

predict = otel_mlmon.monitor(model="m", version="1", record_predictions=1.0, max_rows=None)(lambda x: 0.5)


def _input():
    if KIND == "scalar":
        return 1
    if KIND == "numpy":
        return np.array([[1.0, 2.0, 3.0]])
    if KIND == "pandas":
        import pandas as pd

        return pd.DataFrame({f"c{i}": [float(i)] for i in range(30)})
    if KIND == "list":
        return [[1.0, 2.0, 3.0]]
    raise ValueError(KIND)


_total = {"pid": 0, "calls": 0}


def loop(seconds: float) -> int:
    """Call predict for ``seconds``; return the number of calls and write this process's total so far."""
    if _total["pid"] != os.getpid():  # a forked child counts its own calls only
        _total.update(pid=os.getpid(), calls=0)
    x = _input()
    calls = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(100):
            predict(x)
        calls += 100
    _total["calls"] += calls
    with open(f"{OUT}.{os.getpid()}.calls", "w") as f:
        f.write(str(_total["calls"]))
    return calls


def _pool_task(seconds: float) -> dict:
    from otel_mlmon._faults import faults

    calls = loop(seconds)
    otel_mlmon.flush()  # a pool worker ends with os._exit: nothing at exit runs there
    providers["logger"].force_flush()
    providers["meter"].force_flush()
    return {"calls": calls, "faults": faults.counts()}


if MODE == "fork":
    children = []
    loop(SECONDS / 4)  # the parent's folder is busy when the children are forked
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            loop(SECONDS)
            sys.exit(0)  # a normal interpreter exit in the child
        children.append(pid)
    statuses = [os.waitpid(pid, 0)[1] for pid in children]
    with open(f"{OUT}.statuses", "w") as f:
        f.write(json.dumps([os.waitstatus_to_exitcode(s) for s in statuses]))
elif MODE == "pool":
    import multiprocessing

    with open(f"{OUT}.parent", "w") as f:
        f.write(str(os.getpid()))

    loop(SECONDS / 4)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pending = pool.map_async(_pool_task, [SECONDS / 2] * 4)
        loop(SECONDS / 2)
        results = pending.get(timeout=120)
    with open(f"{OUT}.pool", "w") as f:
        f.write(json.dumps(results))
    loop(SECONDS / 4)
else:
    loop(SECONDS)
print("done", flush=True)
