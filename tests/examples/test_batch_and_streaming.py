"""The batch-scoring and streaming examples run as real processes, their telemetry read back from a collector."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter

from .conftest import EXAMPLES, collector_with, otel_env, run_example

BATCH_ROWS, CHUNK = 5_000, 700  # 8 chunks: 7 of 700 rows and one of 100


@pytest.mark.e2e
def test_batch_scoring_one_span_per_chunk_under_the_job_span(collector, tmp_path: Path) -> None:
    """Every chunk is one monitored call: 8 spans under the job's span, 5000 rows counted, 5000 rows written."""
    running, received = collector
    output = tmp_path / "scores.csv"
    stdout = run_example(
        EXAMPLES / "batch_scoring.py",
        *("--output", str(output), "--rows", str(BATCH_ROWS), "--chunk-size", str(CHUNK)),
        env=otel_env(running),
    )
    assert f"scored {BATCH_ROWS} rows in 8 chunks" in stdout
    with open(output, newline="") as f:
        assert len(list(csv.DictReader(f))) == BATCH_ROWS
    running.pipeline.shutdown(10)  # everything received has been handed to the exporter

    where = {"ml.model.name": "diabetes-progression"}
    assert received.total("ml.inference.predictions", **where) == BATCH_ROWS
    sizes = [p for _, a, p in received.points("ml.inference.batch.size") if a.get("ml.model.name")]
    assert sum(p.count for p in sizes) == 8 and sum(p.sum for p in sizes) == BATCH_ROWS
    (job,) = [s for _, s in received.spans("score table")]
    chunks = received.spans("predict diabetes-progression")
    assert len(chunks) == 8
    assert {(s.trace_id, s.parent_span_id) for _, s in chunks} == {(job.trace_id, job.span_id)}
    features = {a["ml.feature.name"] for _, a, _ in received.points("ml.feature.distribution")}
    assert features == {"age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"}


@pytest.mark.e2e
def test_batch_scoring_reference_and_shift_give_drift_on_the_shifted_column(tmp_path: Path) -> None:
    """With --reference-dir and --shift bmi=1, the collector's drift section flags bmi and only bmi."""
    references = tmp_path / "profiles"
    running = collector_with(
        InMemoryExporter(),
        drift={"references": {"directory": str(references)}, "evaluation_interval_seconds": 0},
    )
    try:
        run_example(
            EXAMPLES / "batch_scoring.py",
            *("--output", str(tmp_path / "scores.csv"), "--rows", "4000", "--chunk-size", "1000"),
            *("--reference-dir", str(references), "--shift", "bmi=1.0"),
            env=otel_env(running),
        )
        assert running.drift is not None
        running.drift.references.refresh()
        evaluation = running.drift.evaluate_now()
        drifted = sorted(evaluation.stream("diabetes-progression").drifted("feature"))
    finally:
        running.shutdown(5)
    assert drifted == ["bmi"]


@pytest.mark.e2e
def test_streaming_model_one_span_per_stream_early_exits_included(collector) -> None:
    """40 async-generator streams (8 left early by their client) give 40 OK spans and the requested rows."""
    running, received = collector
    stdout = run_example(EXAMPLES / "streaming_model.py", "--streams", "40", env=otel_env(running))
    match = re.search(r"40 streams: (\d+) images requested, (\d+) results delivered", stdout)
    assert match, stdout
    requested, delivered = int(match[1]), int(match[2])
    assert delivered < requested  # some clients left early
    running.pipeline.shutdown(10)

    spans = received.spans("predict digits")
    assert len(spans) == 40
    assert all(s.status.code != 2 for _, s in spans)  # leaving early is not an error
    where = {"ml.model.name": "digits"}
    assert received.total("ml.inference.duration", lambda p: p.count, **where) == 40
    assert received.total("ml.inference.predictions", **where) == requested  # rows of the inputs
    assert received.total("ml.summary.rows", **where) == requested
    assert len({a["ml.feature.name"] for _, a, _ in received.points("ml.feature.distribution")}) == 64
