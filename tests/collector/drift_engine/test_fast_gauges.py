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


def _stream(evaluation: int) -> list[ColumnDrift]:
    """One stream's columns at one evaluation: the same layout at 0, 1, 2 and 5 (values move), a skipped result
    at 3, a non-finite score at 4, a p-value gone at 6, a column dropped at 7 and a method changed at 8."""
    columns = []
    for i in range(6):
        score = 0.01 * (i + 1) * (evaluation + 1)
        distance = DriftResult("wasserstein", score, 0.1, score >= 0.1, None, 1000 + i, 900 + evaluation)
        p = 0.5 / (evaluation + 1)
        tested = DriftResult("missing_rate", 0.002 * i, 0.01, False, p, 1000, 900 + evaluation, 0.05)
        results = {"distribution": distance, "missing_rate": tested}
        if evaluation == 3 and i == 2:
            results["distribution"] = DriftResult(
                "wasserstein", math.nan, 0.1, False, None, 0, 900, None, {"skipped": "empty reference window"}
            )
        if evaluation == 4 and i == 5:
            results["distribution"] = DriftResult("wasserstein", math.inf, 0.1, True, None, 1000, 900)
        if evaluation == 6 and i == 1:
            results["missing_rate"] = DriftResult("missing_rate", 0.0, 0.01, False, None, 1000, 900, 0.05)
        if evaluation == 8 and i == 4:
            results["distribution"] = DriftResult("ks", 0.2, 0.0, True, 0.001, 1000, 900, 0.05)
        columns.append(ColumnDrift("feature", f"f{i}", "numeric", results, score >= 0.1, distance))
    if evaluation == 7:
        del columns[3]
    return columns


def test_streams_in_bulk_write_the_request_and_events_of_column_by_column() -> None:
    """Result gauges written per stream in bulk (the layout kept from the last evaluation) give the request and
    events of column by column, across evaluations that keep or change the layout, with a second stream."""
    keys = [StreamKey("m", "1", "predict"), StreamKey("n", None, "predict")]
    windows = [{"ml.model.name": k.model, "ml.operation": k.operation} for k in keys]
    bulk, single = DriftFindings(), DriftFindings()
    bulk_writes = 0
    for evaluation in range(10):
        ours, expected = Findings(T + evaluation, RESOURCE), Findings(T + evaluation, RESOURCE)
        for key, window in zip(keys, windows):
            columns = _stream(evaluation)
            before = len(ours._gauges.get("ml.drift.score", ("", "", []))[2])
            changes = bulk.columns(ours, key, window, columns, lambda: (0.0, 60.0))
            after = len(ours._gauges.get("ml.drift.score", ("", "", []))[2])
            bulk_writes += after - before == 1  # one chunk for the stream's scores
            assert changes == sum(
                single.column(expected, key, window, c, lambda: (0.0, 60.0)) for c in columns
            )
        request, oracle = ours.metrics_request(), expected.metrics_request()
        assert request is not None and oracle is not None
        assert request.payload == oracle.payload
        assert request.items == oracle.items == ours.points == expected.points
        assert [e[:3] for e in ours._events] == [e[:3] for e in expected._events]
    # In bulk: the second stream (the first of each evaluation places the gauges column by column) at evaluations
    # 1, 2 and 5; 0 has no layout yet, 3 and 4 a skipped result and an infinite score, 6 to 9 follow a change.
    assert bulk_writes == 3
