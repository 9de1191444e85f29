"""The pipeline: routing per signal, all-or-none admission, processors, retry with backoff, shutdown flush."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator

import pytest
from otel_mlmon_collector._config import RetryConfig
from otel_mlmon_collector._exporters import ExportResult
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._pipeline import Admission, ExportLane, Pipeline, RateLimitedLog
from otel_mlmon_collector._queue import BoundedQueue
from otel_mlmon_collector._selfmetrics import (
    DROPPED,
    FORWARDED,
    ITEMS_FORWARDED,
    ITEMS_REJECTED,
    PROCESSOR_ERRORS,
    RECEIVED,
    REFUSED,
    REJECTED,
    RETRIED,
    SelfMetrics,
)

FAST_RETRY = RetryConfig(initial_interval_seconds=0.001, max_interval_seconds=0.01, max_elapsed_seconds=5)


class ScriptedExporter:
    """A faulty downstream: answers from a script, then succeeds; records every attempt."""

    def __init__(self, name: str, script: list[ExportResult], block: threading.Event | None = None) -> None:
        self.name = name
        self.script = list(script)
        self.block = block
        self.attempts: list[OtlpRequest] = []
        self.delivered: list[OtlpRequest] = []
        self.lock = threading.Lock()

    def export(self, request: OtlpRequest) -> ExportResult:
        if self.block is not None:
            self.block.wait(10)
        with self.lock:
            self.attempts.append(request)
            if self.script:
                return self.script.pop(0)
            self.delivered.append(request)
            return ExportResult.success()

    def shutdown(self) -> None:
        pass


def _lane(
    exporter, signals=("traces", "metrics", "logs"), retry=FAST_RETRY, metrics=None, size=10, workers=1
):
    return ExportLane(
        exporter, BoundedQueue(size, 1 << 20), signals, retry, metrics or SelfMetrics(), workers,
        _random=random.Random(0),
    )  # fmt: skip


@pytest.fixture
def metrics() -> SelfMetrics:
    return SelfMetrics()


@pytest.fixture
def pipelines() -> Iterator[list[Pipeline]]:
    made: list[Pipeline] = []
    yield made
    for p in made:
        p.shutdown(2)


def test_requests_go_to_every_exporter_of_their_signal(
    metrics: SelfMetrics, pipelines: list[Pipeline]
) -> None:
    """A request is delivered to each exporter that takes its signal and to no other."""
    traces, everything = InMemoryExporter("traces"), InMemoryExporter("all")
    p = Pipeline(
        [_lane(traces, ("traces",), metrics=metrics), _lane(everything, metrics=metrics)], metrics=metrics
    )
    pipelines.append(p)
    p.start()
    assert p.accept(OtlpRequest("traces", b"t", items=3), "grpc") is Admission.ACCEPTED
    assert p.accept(OtlpRequest("logs", b"l", items=1), "http") is Admission.ACCEPTED
    assert p.shutdown(5)
    assert [r.payload for r in traces.requests()] == [b"t"]
    assert sorted(r.payload for r in everything.requests()) == [b"l", b"t"]
    assert metrics.value(RECEIVED, signal="traces", transport="grpc") == 1
    assert metrics.value(FORWARDED, signal="traces", exporter="all") == 1
    assert metrics.value(ITEMS_FORWARDED, signal="traces", exporter="traces") == 3


def test_no_route_is_accepted_and_counted(metrics: SelfMetrics, pipelines: list[Pipeline]) -> None:
    """A signal no exporter takes is accepted (the client is not at fault) and counted as dropped."""
    p = Pipeline([_lane(InMemoryExporter(), ("traces",), metrics=metrics)], metrics=metrics)
    pipelines.append(p)
    p.start()
    assert p.accept(OtlpRequest("logs", b"x"), "http") is Admission.ACCEPTED
    assert metrics.value(DROPPED, signal="logs", exporter="", reason="no_route") == 1


def test_admission_is_all_or_none(metrics: SelfMetrics) -> None:
    """When one exporter's queue is full the request is queued nowhere and the answer is back-pressure."""
    roomy, tight = _lane(InMemoryExporter("roomy"), metrics=metrics), _lane(InMemoryExporter("tight"), size=1)
    p = Pipeline([roomy, tight], metrics=metrics)  # not started: queues only fill
    assert p.accept(OtlpRequest("metrics", b"1"), "grpc") is Admission.ACCEPTED
    assert p.accept(OtlpRequest("metrics", b"2"), "grpc") is Admission.BACKPRESSURE
    assert (len(roomy.queue), len(tight.queue)) == (1, 1)
    assert metrics.value(REFUSED, signal="metrics", transport="grpc", reason="backpressure") == 1
    assert not p.has_room("metrics", 1)


def test_processors_observe_in_order_and_faults_do_not_stop_forwarding(
    metrics: SelfMetrics, pipelines: list[Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    """Processors see each request in order with its decoded message; one that raises is counted and logged."""
    seen: list[tuple[str, object]] = []

    class Recorder:
        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail, self.stopped = name, fail, False

        def process(self, request: OtlpRequest) -> None:
            seen.append((self.name, request.message))
            if self.fail:
                raise RuntimeError("boom")

        def shutdown(self) -> None:
            self.stopped = True

    first, broken, last = Recorder("first"), Recorder("broken", fail=True), Recorder("last")
    sink = InMemoryExporter()
    p = Pipeline([_lane(sink, metrics=metrics)], [first, broken], metrics=metrics)
    p.add_processor(last)
    pipelines.append(p)
    p.start()
    marker = object()
    with caplog.at_level(logging.ERROR):
        assert p.accept(OtlpRequest("logs", b"x", marker), "http") is Admission.ACCEPTED  # type: ignore[arg-type]
    assert seen == [("first", marker), ("broken", marker), ("last", marker)]
    assert metrics.value(PROCESSOR_ERRORS, processor="broken") == 1
    assert "processor broken failed" in caplog.text
    assert p.shutdown(5)
    assert len(sink.requests()) == 1 and sink.requests()[0].message is None
    assert first.stopped and last.stopped


def test_emit_skips_processors(metrics: SelfMetrics, pipelines: list[Pipeline]) -> None:
    """Telemetry the collector emits itself is queued without passing through processors."""
    calls = []

    class P:
        name = "p"

        def process(self, request: OtlpRequest) -> None:
            calls.append(request)

        def shutdown(self) -> None:
            pass

    sink = InMemoryExporter()
    p = Pipeline([_lane(sink, metrics=metrics)], [P()], metrics=metrics)
    pipelines.append(p)
    p.start()
    assert p.emit(OtlpRequest("metrics", b"self"))
    assert p.shutdown(5)
    assert calls == [] and [r.payload for r in sink.requests()] == [b"self"]


def test_retryable_answers_are_retried_until_success(metrics: SelfMetrics, pipelines: list[Pipeline]) -> None:
    """Retryable outcomes are retried (counted) and the request is finally delivered once."""
    exporter = ScriptedExporter("flaky", [ExportResult.retryable("503"), ExportResult.retryable("503")])
    p = Pipeline([_lane(exporter, metrics=metrics)], metrics=metrics)
    pipelines.append(p)
    p.start()
    p.accept(OtlpRequest("traces", b"x"), "grpc")
    assert p.shutdown(5)
    assert len(exporter.attempts) == 3 and len(exporter.delivered) == 1
    assert metrics.value(RETRIED, signal="traces", exporter="flaky") == 2
    assert metrics.value(FORWARDED, signal="traces", exporter="flaky") == 1


def test_permanent_rejection_is_logged_with_the_message_and_counted(
    metrics: SelfMetrics, pipelines: list[Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    """A non-retryable answer is not retried; the downstream's message is logged and the rejection counted."""
    exporter = ScriptedExporter("strict", [ExportResult.failed("HTTP 400: bad timestamp")])
    p = Pipeline([_lane(exporter, metrics=metrics)], metrics=metrics)
    pipelines.append(p)
    p.start()
    with caplog.at_level(logging.WARNING):
        p.accept(OtlpRequest("metrics", b"x"), "http")
        assert p.shutdown(5)
    assert len(exporter.attempts) == 1
    assert metrics.value(REJECTED, signal="metrics", exporter="strict") == 1
    assert "HTTP 400: bad timestamp" in caplog.text


def test_partial_success_is_counted(metrics: SelfMetrics, pipelines: list[Pipeline]) -> None:
    """Items a downstream reports as rejected in partial_success are counted."""
    exporter = ScriptedExporter("partial", [ExportResult.success(rejected_items=2, message="dupes")])
    p = Pipeline([_lane(exporter, metrics=metrics)], metrics=metrics)
    pipelines.append(p)
    p.start()
    p.accept(OtlpRequest("metrics", b"x", items=5), "http")
    assert p.shutdown(5)
    assert metrics.value(ITEMS_REJECTED, signal="metrics", exporter="partial") == 2


def test_retries_stop_at_max_elapsed(metrics: SelfMetrics, pipelines: list[Pipeline]) -> None:
    """A request still failing when the next attempt would pass max_elapsed_seconds is dropped and counted."""
    retry = RetryConfig(initial_interval_seconds=0.02, max_interval_seconds=0.05, max_elapsed_seconds=0.2)
    exporter = ScriptedExporter("down", [ExportResult.retryable("refused")] * 1000)
    p = Pipeline([_lane(exporter, retry=retry, metrics=metrics)], metrics=metrics)
    pipelines.append(p)
    p.start()
    p.accept(OtlpRequest("logs", b"x"), "http")
    assert p.shutdown(5)
    assert metrics.value(DROPPED, signal="logs", exporter="down", reason="retries_exhausted") == 1
    assert 3 <= len(exporter.attempts) <= 12


def test_retry_delay_grows_exponentially_and_honours_hints() -> None:
    """Delays follow initial*multiplier**k within ±20 %, capped; a server hint replaces them, capped too."""
    lane = _lane(InMemoryExporter(), retry=RetryConfig(initial_interval_seconds=1, max_interval_seconds=5))
    delays = [lane._delay(k, None) for k in range(5)]
    for k, d in enumerate(delays):
        assert 0.8 * min(5, 2**k) <= d <= 1.2 * min(5, 2**k)
    assert lane._delay(0, 3.0) == 3.0
    assert lane._delay(0, 60.0) == 5.0


def test_shutdown_flushes_within_the_deadline_and_drops_the_rest(metrics: SelfMetrics) -> None:
    """Shutdown delivers what it can before the deadline, then drops and counts the remainder."""
    gate = threading.Event()
    exporter = ScriptedExporter("slow", [], block=gate)
    p = Pipeline([_lane(exporter, metrics=metrics)], metrics=metrics)
    p.start()
    for i in range(4):
        p.accept(OtlpRequest("traces", bytes([i])), "grpc")
    threading.Timer(0.3, gate.set).start()  # the first export is stuck until after the deadline
    assert not p.shutdown(0.1)
    assert p.accept(OtlpRequest("traces", b"late"), "grpc") is Admission.SHUTTING_DOWN
    assert metrics.value(DROPPED, signal="traces", exporter="slow", reason="shutdown") == 3
    assert len(exporter.delivered) == 1


def test_rate_limited_log_suppresses_and_reports(caplog: pytest.LogCaptureFixture) -> None:
    """Within the interval repeated messages are suppressed; the next one says how many were."""
    log = RateLimitedLog(logging.getLogger("t"), interval_seconds=0.05)
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            log.log(logging.INFO, "k", "hello %d", 1)
        time.sleep(0.06)
        log.log(logging.INFO, "k", "hello %d", 2)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["hello 1", "hello 2 (4 similar messages suppressed)"]
