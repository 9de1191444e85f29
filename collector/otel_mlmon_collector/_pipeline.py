"""Wiring from receivers to exporters: processors observe each request, then bounded queues feed the exporters.

Data flow (nouns, as in the OTel SDK): ``OtlpRequest`` → the ``CategoryBudget`` (budget.py: category series cut
to the top N per column in the forwarded copy) → one ``BoundedQueue`` per ``Exporter`` that takes the signal (all
or none: a request is queued for every exporter or refused with back-pressure, so a client retry never duplicates
data downstream) → ``Processor``s (in order; observe only the full request, once it is queued, so a retry is not
observed twice) and ``ExportLane`` workers that send, retry with exponential backoff, and count the outcome.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Protocol, runtime_checkable

from otel_mlmon._ratelimit import RateLimitedLog

from ._budget import CategoryBudget
from ._config import SIGNALS, RetryConfig
from ._exporters import Exporter, ExportResult
from ._otlp import OtlpRequest
from ._queue import BoundedQueue, ExportQueue  # noqa: F401 - BoundedQueue is used by the doctest
from ._selfmetrics import (
    DROPPED,
    FORWARDED,
    ITEMS_FORWARDED,
    ITEMS_RECEIVED,
    ITEMS_REJECTED,
    PROCESSOR_ERRORS,
    QUEUE_BYTES,
    QUEUE_CAPACITY,
    QUEUE_SIZE,
    RECEIVED,
    REFUSED,
    REJECTED,
    RETRIED,
    BoundCounters,
    SelfMetrics,
)

__all__ = ["Admission", "ExportLane", "Pipeline", "Processor", "RateLimitedLog"]

_log = logging.getLogger(__name__)


class Admission(enum.Enum):
    """What a receiver should answer for a request it handed to the pipeline."""

    ACCEPTED = "accepted"
    BACKPRESSURE = "backpressure"
    SHUTTING_DOWN = "shutting_down"


@runtime_checkable
class Processor(Protocol):
    """Observes every accepted request once it is queued (the drift engine plugs in here).

    ``process`` runs on the receiver's thread with ``request.message`` decoded; it must not modify the
    message and should be quick. Exceptions are caught, counted and logged; the request is forwarded anyway.
    """

    name: str

    def process(self, request: OtlpRequest) -> None:
        """Look at one request."""
        ...

    def shutdown(self) -> None:
        """Flush and release; called once after the receivers stopped."""
        ...


class ExportLane:
    """One exporter with its own bounded queue and worker threads that retry with exponential backoff.

    The delay before retry ``k`` (from 0) is ``min(max_interval, initial * multiplier**k)`` with ±20 % jitter,
    or the downstream's ``Retry-After`` / ``RetryInfo`` hint when it sent one (capped at ``max_interval``);
    a request is dropped when the next attempt would start after ``max_elapsed_seconds`` (0: no limit).
    """

    def __init__(
        self,
        exporter: Exporter,
        queue: ExportQueue,
        signals: Sequence[str],
        retry: RetryConfig,
        metrics: SelfMetrics,
        workers: int = 1,
        _clock: Callable[[], float] = time.monotonic,
        _random: random.Random | None = None,
    ) -> None:
        self.exporter = exporter
        self.queue = queue
        self.signals = tuple(signals)
        self.retry = retry
        self.metrics = metrics
        self.workers = workers
        self._clock = _clock
        self._random = _random or random.Random()
        self._reset()

    def _reset(self) -> None:
        self._threads: list[threading.Thread] = []
        self._abort = threading.Event()
        self._rejections = RateLimitedLog(_log)
        self._forwarded = {
            s: self.metrics.bound_each((FORWARDED, ITEMS_FORWARDED), signal=s, exporter=self.name)
            for s in self.signals
        }

    @property
    def name(self) -> str:
        """The exporter's name."""
        return self.exporter.name

    def start(self) -> None:
        """Start the worker threads."""
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"export-{self.name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, deadline: float) -> int:
        """Close the queue, let the workers drain it until ``deadline`` (monotonic), then drop the rest.

        A durable queue (``queue.directory``) drops nothing: what is left stays on disk for the next start.

        Returns:
            How many requests were dropped because the deadline passed.
        """
        self.queue.close()
        for thread in self._threads:
            thread.join(max(0.0, deadline - self._clock()))
        dropped = 0
        if any(t.is_alive() for t in self._threads):
            self._abort.set()
            for request in self.queue.drain():
                self._count_drop(request, "shutdown")
                dropped += 1
            for thread in self._threads:
                thread.join(self.exporter_timeout() + 1.0)
        self.queue.shutdown()
        self.exporter.shutdown()
        return dropped

    def exporter_timeout(self) -> float:
        """The exporter's own per-attempt timeout, if it has one."""
        config = getattr(self.exporter, "config", None)
        return float(getattr(config, "timeout_seconds", 0.0) or 0.0)

    def _work(self) -> None:
        while True:
            request = self.queue.get()
            if request is None:
                return
            finished = True
            try:
                finished = self._deliver(request)
            finally:
                self.queue.task_done(request, keep=not finished)

    def _deliver(self, request: OtlpRequest) -> bool:
        """Send with retries; False only when shutdown interrupted it and a durable queue keeps it."""
        started = self._clock()
        attempt = 0
        while True:
            try:
                result = self.exporter.export(request)
            except Exception as e:  # noqa: BLE001 - an exporter bug must not kill the worker
                result = ExportResult.failed(f"exporter raised {type(e).__name__}: {e}")
            attrs = {"signal": request.signal, "exporter": self.name}
            if result.outcome == "success":
                self._forwarded[request.signal].add(1, request.items)
                if result.rejected_items:
                    self.metrics.add(ITEMS_REJECTED, result.rejected_items, **attrs)
                    self._rejections.log(
                        logging.WARNING,
                        f"partial:{self.name}",
                        "exporter %s: downstream rejected %d of %d %s items: %s",
                        self.name,
                        result.rejected_items,
                        request.items,
                        request.signal,
                        result.message,
                    )
                return True
            if result.outcome == "failed":
                self.metrics.add(REJECTED, 1, **attrs)
                self._rejections.log(
                    logging.WARNING,
                    f"failed:{self.name}",
                    "exporter %s: %s request rejected, not retried: %s",
                    self.name,
                    request.signal,
                    result.message,
                )
                return True
            delay = self._delay(attempt, result.retry_after_seconds)
            elapsed = self._clock() - started
            limit = self.retry.max_elapsed_seconds
            if not self.retry.enabled or (limit > 0 and elapsed + delay > limit):
                self._count_drop(request, "retries_exhausted")
                self._rejections.log(
                    logging.WARNING,
                    f"exhausted:{self.name}",
                    "exporter %s: dropping %s request after %d attempts in %.1f s: %s",
                    self.name,
                    request.signal,
                    attempt + 1,
                    elapsed,
                    result.message,
                )
                return True
            self._rejections.log(
                logging.WARNING,  # an unreachable downstream must be visible at the default level
                f"retry:{self.name}",
                "exporter %s: retrying %s request in %.2f s: %s",
                self.name,
                request.signal,
                delay,
                result.message,
            )
            if self._abort.wait(delay):
                if self.queue.durable:
                    return False  # stays on disk, sent after the next start
                self._count_drop(request, "shutdown")
                return True
            self.metrics.add(RETRIED, 1, **attrs)
            attempt += 1

    def _delay(self, attempt: int, hint: float | None) -> float:
        cap = self.retry.max_interval_seconds
        if hint is not None:
            return min(max(hint, 0.0), cap)
        base = min(cap, self.retry.initial_interval_seconds * self.retry.multiplier**attempt)
        return base * self._random.uniform(0.8, 1.2)

    def _count_drop(self, request: OtlpRequest, reason: str) -> None:
        self.metrics.add(DROPPED, 1, signal=request.signal, exporter=self.name, reason=reason)


class Pipeline:
    """Routes each accepted request through the processors into the queue of every exporter taking its signal.

    Example:
        >>> from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
        >>> sink = InMemoryExporter()
        >>> lane = ExportLane(sink, BoundedQueue(10, 1 << 20), ["logs"], RetryConfig(), SelfMetrics())
        >>> p = Pipeline([lane])
        >>> p.start()
        >>> p.accept(OtlpRequest("logs", b""), "http")
        <Admission.ACCEPTED: 'accepted'>
        >>> p.shutdown(timeout_seconds=5)
        True
        >>> len(sink.requests("logs"))
        1
    """

    def __init__(
        self,
        lanes: Iterable[ExportLane],
        processors: Iterable[Processor] = (),
        metrics: SelfMetrics | None = None,
        budget: CategoryBudget | None = None,
    ) -> None:
        self.lanes = tuple(lanes)
        self.processors = list(processors)
        #: Applied to what is forwarded, after the processors saw the full request (default: the defaults).
        self.budget = budget or CategoryBudget()
        self.metrics = metrics or (self.lanes[0].metrics if self.lanes else SelfMetrics())
        self._reset()

    def _reset(self) -> None:
        self._routes = {s: tuple(lane for lane in self.lanes if s in lane.signals) for s in SIGNALS}
        self._admit = threading.Lock()
        self._closing = False
        self._reserved = 0  # queue bytes held for bodies being read and decoded (reserve / release)
        self._received: dict[tuple[str, str], BoundCounters] = {}
        self._processor_errors = RateLimitedLog(_log)
        self.metrics.gauge(QUEUE_SIZE, lambda: [({"exporter": ln.name}, len(ln.queue)) for ln in self.lanes])
        self.metrics.gauge(
            QUEUE_BYTES, lambda: [({"exporter": ln.name}, ln.queue.bytes) for ln in self.lanes]
        )
        self.metrics.gauge(
            QUEUE_CAPACITY, lambda: [({"exporter": ln.name}, ln.queue.max_requests) for ln in self.lanes]
        )

    @property
    def closing(self) -> bool:
        """True once shutdown started: receivers answer ``UNAVAILABLE`` / 503."""
        return self._closing

    def add_processor(self, processor: Processor) -> None:
        """Append a processor (before ``start``)."""
        self.processors.append(processor)

    def start(self) -> None:
        """Start every exporter's workers."""
        for lane in self.lanes:
            lane.start()

    def reserve(self, size: int) -> bool:
        """Hold ``size`` bytes of queue room for a body about to be read and decoded; False when there is none.

        Receivers reserve before reading (and ``release`` after the request is answered), so the bodies in flight
        and the queued payloads together stay within the queues' ``max_bytes``: a burst of large requests is
        answered with back-pressure instead of being decoded all at once. With nothing queued or reserved one
        body of any size is admitted, so no request is refused forever.
        """
        with self._admit:
            if self._closing:
                return False
            for lane in self.lanes:
                queue = lane.queue
                idle = self._reserved == 0 and len(queue) == 0
                if not idle and queue.bytes + self._reserved + size > queue.max_bytes:
                    return False
            self._reserved += size
            return True

    def release(self, size: int) -> None:
        """Give back room taken by :meth:`reserve`."""
        with self._admit:
            self._reserved -= size

    def has_room(self, signal: str, size: int) -> bool:
        """Return whether a request of ``size`` bytes for ``signal`` would be queued now."""
        return all(lane.queue.has_room(size) for lane in self._routes[signal])

    def accept(self, request: OtlpRequest, transport: str) -> Admission:
        """Admit a decoded request from a receiver: queue it for every exporter of its signal, then observe it.

        Returns ``BACKPRESSURE`` when any of those queues is full (nothing queued anywhere) and
        ``SHUTTING_DOWN`` after shutdown started; the receiver turns these into retryable answers.
        """
        signal = request.signal
        if self._closing:
            self.metrics.add(REFUSED, 1, signal=signal, transport=transport, reason="shutting_down")
            return Admission.SHUTTING_DOWN
        size = len(request.payload)
        if not self.has_room(signal, size):
            self.metrics.add(REFUSED, 1, signal=signal, transport=transport, reason="backpressure")
            return Admission.BACKPRESSURE
        admission = self._enqueue(self._budgeted(request))
        if admission is Admission.ACCEPTED:
            # Observed once queued: a request refused for back-pressure (and retried) is counted once.
            self._observe(request)
            counters = self._received.get((signal, transport))
            if counters is None:
                counters = self._received[(signal, transport)] = self.metrics.bound_each(
                    (RECEIVED, ITEMS_RECEIVED), signal=signal, transport=transport
                )
            counters.add(1, request.items)
        else:
            self.metrics.add(REFUSED, 1, signal=signal, transport=transport, reason="backpressure")
        return admission

    def emit(self, request: OtlpRequest, exporters: Collection[str] | None = None) -> bool:
        """Queue telemetry the collector produced itself (self-metrics, processor output), skipping processors.

        Args:
            request: the encoded request.
            exporters: only these exporters (by name) among those taking the signal; ``None`` for all.

        Returns whether it was queued; when a queue is full it is not queued anywhere.
        """
        return self._enqueue(request, exporters) is Admission.ACCEPTED

    def _observe(self, request: OtlpRequest) -> None:
        for processor in self.processors:
            try:
                processor.process(request)
            except Exception as e:  # noqa: BLE001 - a processor fault must never stop pass-through
                self.metrics.add(PROCESSOR_ERRORS, 1, processor=processor.name)
                self._processor_errors.log(
                    logging.ERROR,
                    processor.name,
                    "processor %s failed on a %s request: %s: %s",
                    processor.name,
                    request.signal,
                    type(e).__name__,
                    e,
                )

    def _budgeted(self, request: OtlpRequest) -> OtlpRequest:
        try:
            return self.budget.apply(request)
        except Exception as e:  # noqa: BLE001 - a budget fault forwards the request as received
            self.metrics.add(PROCESSOR_ERRORS, 1, processor="category_budget")
            self._processor_errors.log(
                logging.ERROR,
                "category_budget",
                "category budget failed on a %s request, forwarded as received: %s: %s",
                request.signal,
                type(e).__name__,
                e,
            )
            return request

    def _enqueue(self, request: OtlpRequest, exporters: Collection[str] | None = None) -> Admission:
        lanes = self._routes[request.signal]
        if exporters is not None:
            lanes = tuple(lane for lane in lanes if lane.name in exporters)
        if not lanes:
            self.metrics.add(DROPPED, 1, signal=request.signal, exporter="", reason="no_route")
            return Admission.ACCEPTED
        queued = request.for_queue()
        size = len(queued.payload)
        with self._admit:
            if self._closing:
                return Admission.SHUTTING_DOWN
            if not all(lane.queue.has_room(size) for lane in lanes):
                return Admission.BACKPRESSURE
            # A disk queue can still fail to write (disk full): then back-pressure, as for a full queue (the
            # lanes that did take it send it, and the client's retry may duplicate it there).
            written = [lane.queue.put_unchecked(queued) for lane in lanes]
        # fsync (queue.fsync: always) outside the lock, grouped across receivers, before the client hears "ok".
        if not all(written) or not all([lane.queue.commit() for lane in lanes]):
            return Admission.BACKPRESSURE
        return Admission.ACCEPTED

    def shutdown(self, timeout_seconds: float) -> bool:
        """Stop admitting, flush every queue within ``timeout_seconds``, stop processors and exporters.

        Returns:
            True if everything queued was delivered (or finally rejected) before the deadline.
        """
        deadline = time.monotonic() + timeout_seconds
        with self._admit:
            self._closing = True
        for processor in self.processors:
            try:
                processor.shutdown()
            except Exception:  # noqa: BLE001 - shutdown continues whatever a processor does
                _log.exception("processor %s failed to shut down", processor.name)
        dropped = 0
        for lane in self.lanes:
            dropped += lane.stop(deadline)
        if dropped:
            _log.warning("shutdown deadline passed: %d queued requests dropped", dropped)
        return dropped == 0
