"""Issue 16, item 2: the issue's floods against a collector process; its RSS grows within the documented bound.

Before the fix, each of these floods alone grew a collector by hundreds of MiB: 16 384-bucket histograms kept at
their size (12 windows x 256 columns: +2.1 GB), 100 000 categories in one column (+264 MiB), 100 000 cumulative
series (+221 MiB), 1 000 made-up model names (``max_streams`` full for 2 h). Here a smaller version of each is
sent to one process configured with small bounds, and its RSS growth must stay within
``WindowConfig.worst_case_bytes()`` plus a fixed allowance for requests in flight and the allocator.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from otel_mlmon_collector._windows import WindowConfig

from otel_mlmon import conventions as conv
from tests.collector.drift_engine.test_isolation import _kv

from ._process import CollectorProcess
from .conftest import wait_until
from .test_hardening import _healthy_payload

WINDOW = 300
BOUNDS = {"max_streams": 100, "max_cells": 2000, "max_categories_total": 20000, "max_series": 2000}
#: Requests in flight (each flood request is at most ~10 MB), protobuf and allocator slack.
ALLOWANCE = 120 << 20


def _message(name: str, temporality: int) -> tuple[ExportMetricsServiceRequest, metrics_pb2.Metric]:
    message = ExportMetricsServiceRequest()
    metric = message.resource_metrics.add().scope_metrics.add().metrics.add(name=name)
    getattr(
        metric, "exponential_histogram" if "distribution" in name else "sum"
    ).aggregation_temporality = temporality
    return message, metric


def _wide_histograms(now_ns: int, window: int, columns: int) -> bytes:
    """One window's ``columns`` feature points of 16 384 buckets each (the most an SDK can send)."""
    message, metric = _message(conv.METRIC_FEATURE_DISTRIBUTION, metrics_pb2.AGGREGATION_TEMPORALITY_DELTA)
    t = now_ns - window * WINDOW * 10**9
    ones = [1] * 16384
    for c in range(columns):
        point = metric.exponential_histogram.data_points.add(
            time_unix_nano=t, start_time_unix_nano=t - 10**9, scale=20, count=16384
        )
        point.positive.offset = 1000 * c
        point.positive.bucket_counts.extend(ones)
        point.attributes.extend(_kv({conv.ATTR_MODEL_NAME: "wide", conv.ATTR_FEATURE_NAME: f"f{c}"}))
    return message.SerializeToString()


def _categories(now_ns: int, count: int) -> bytes:
    message, metric = _message(conv.METRIC_FEATURE_CATEGORY_COUNT, metrics_pb2.AGGREGATION_TEMPORALITY_DELTA)
    for i in range(count):
        point = metric.sum.data_points.add(
            time_unix_nano=now_ns, start_time_unix_nano=now_ns - 10**9, as_int=1
        )
        attrs = {
            conv.ATTR_MODEL_NAME: "cats",
            conv.ATTR_FEATURE_NAME: "city",
            conv.ATTR_FEATURE_CATEGORY: f"c{i:06d}",
        }
        point.attributes.extend(_kv(attrs))
    return message.SerializeToString()


def _series(now_ns: int, count: int, model: str = "series") -> bytes:
    message, metric = _message(conv.METRIC_SUMMARY_ROWS, metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE)
    for i in range(count):
        point = metric.sum.data_points.add(
            time_unix_nano=now_ns, start_time_unix_nano=now_ns - 10**9, as_int=5
        )
        point.attributes.extend(_kv({conv.ATTR_MODEL_NAME: model, "replica": f"r{i:06d}"}))
    return message.SerializeToString()


def _models(now_ns: int, count: int) -> bytes:
    message, metric = _message(conv.METRIC_SUMMARY_ROWS, metrics_pb2.AGGREGATION_TEMPORALITY_DELTA)
    for i in range(count):
        point = metric.sum.data_points.add(
            time_unix_nano=now_ns, start_time_unix_nano=now_ns - 10**9, as_int=1
        )
        point.attributes.extend(_kv({conv.ATTR_MODEL_NAME: f"made-up-{i}"}))
    return message.SerializeToString()


@pytest.mark.e2e
def test_floods_grow_a_collector_process_within_the_documented_bound(tmp_path: Path) -> None:
    import time

    bound = WindowConfig(**BOUNDS).worst_case_bytes()
    with CollectorProcess(tmp_path, {"drift": {"evaluation_interval_seconds": 2, **BOUNDS}}) as process:
        for _ in range(3):  # warm up: imports, first allocations
            assert process.post("/v1/metrics", _healthy_payload())[0] == 200
        time.sleep(1)
        before = process.proc_status("VmRSS")
        now_ns = time.time_ns()
        for window in range(12):  # 12 windows x 128 columns x 16 384 buckets: 200 MB at the points' size
            assert process.post("/v1/metrics", _wide_histograms(now_ns, window, 128))[0] == 200
        assert process.post("/v1/metrics", _categories(now_ns, 100_000))[0] == 200
        for part in range(5):  # 100 000 cumulative series
            assert process.post("/v1/metrics", _series(now_ns, 20_000, f"series{part}"))[0] == 200
        assert process.post("/v1/metrics", _models(now_ns, 1000))[0] == 200
        time.sleep(3)  # an evaluation over everything held
        grown = process.proc_status("VmRSS") - before
        status = process.get_health()[1]
        assert status.get("status") == "serving"
        wait_until(lambda: process.get_health()[1]["drift"]["evaluated_at"], 10, what="an evaluation")
    print(
        f"RSS growth {grown / 2**20:.0f} MiB; bound {bound / 2**20:.0f} MiB + allowance {ALLOWANCE / 2**20:.0f} MiB"
    )
    assert grown <= bound + ALLOWANCE, (grown, bound)
    assert "Traceback" not in process.log(), process.log()
