"""The result gauges appended straight to their points once placed give the request the point-by-point adders give."""

from __future__ import annotations

import math

from otel_mlmon_collector._drift_engine.encoding import (
    DriftFindings,
    _column_attributes,
    _result_gauges,
    _series_prefixes,
)
from otel_mlmon_collector._drift_engine.records import ColumnDrift
from otel_mlmon_collector._findings import Findings
from otel_mlmon_collector._windows import StreamKey
from otel_mlmon_collector.drift import DriftResult

T = 1_795_000_000_000_000_000
RESOURCE = {"service.name": "otel-mlmon-collector"}


def _columns() -> list[ColumnDrift]:
    """Columns whose gauges are placed in a telling order: a skipped result first (sample sizes only), a
    non-finite score before any score, p-values only from the fourth column on, then the fast path."""
    skipped = DriftResult(
        "ks", math.nan, 0.0, False, None, 0, 40, 0.05, {"skipped": "empty reference window"}
    )
    infinite = DriftResult("psi", math.inf, 0.1, True, None, 50, 40)
    distance = DriftResult("wasserstein", 0.05, 0.1, False, None, 50, 40)
    tested = DriftResult("missing_rate", 0.002, 0.01, False, 0.7, 50, 40, 0.05, {"test": "z"})
    nan_p = DriftResult("ks", 0.2, 0.0, False, math.nan, 50, 40, 0.05)
    columns = []
    for i, results in enumerate(
        [
            {"distribution": skipped},
            {"distribution": infinite},
            {"distribution": distance, "out_of_range": distance},
            {"distribution": distance, "missing_rate": tested},
            *[{"distribution": distance, "missing_rate": tested} for _ in range(3)],
            {"distribution": skipped, "missing_rate": tested},
            {"distribution": nan_p, "out_of_range": infinite},
        ]
    ):
        columns.append(ColumnDrift("feature", f"f{i}", "numeric", results, None, None))
    columns.append(
        ColumnDrift("confidence", ("prediction", "1"), "numeric", {"distribution": nan_p}, None, None)
    )
    return columns


def test_fast_path_writes_the_request_of_the_point_by_point_adders() -> None:
    key = StreamKey("m", "1", "predict")
    window = {"ml.model.name": "m", "ml.model.version": "1", "ml.operation": "predict"}
    payloads = []
    for evaluation in range(2):  # the second evaluation starts from the kept series prefixes
        fast, engine = Findings(T + evaluation, RESOURCE), DriftFindings()
        oracle, adders_of = Findings(T + evaluation, RESOURCE), DriftFindings()
        adders = adders_of._adders_for(oracle)
        for column in _columns():
            engine.column(fast, key, window, column, lambda: (0.0, 1.0))
            for result in column.results.values():
                prefixes = _series_prefixes(_column_attributes(window, column), result.method)
                _result_gauges(adders, prefixes, result)
        ours, expected = fast.metrics_request(), oracle.metrics_request()
        assert ours is not None and expected is not None
        assert ours.payload == expected.payload
        assert ours.items == expected.items == fast.points
        payloads.append(ours.payload)
    assert payloads[0] != payloads[1]  # the time differs: not one cached payload
