"""The log pipeline that carries ``ml.prediction`` / ``ml.ground_truth`` records: sized so nothing is lost.

OpenTelemetry's ``BatchLogRecordProcessor`` keeps 2 048 records by default and drops the newest beyond that with one
"Queue full, dropping Log." line; a single 5 000-row call with records on overflows it. :func:`log_record_processor`
builds the processor :func:`otel_mlmon.configure` installs: a larger queue and export batch, and back-pressure for
otel-mlmon's own emitters (the background folder, ``record_ground_truth``), which wait for room instead of dropping.
:func:`install_drop_counter` counts every drop of any SDK batch log processor — the user's own included — as the
``log_records_dropped`` fault (``otel_mlmon.sdk.faults``) with a rate-limited warning saying what to set.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from otel_mlmon._faults import report_fault

__all__ = [
    "DROP_FAULT",
    "EXPORT_BATCH_SIZE",
    "MAX_QUEUE_SIZE",
    "SCHEDULE_DELAY_MILLIS",
    "install_drop_counter",
    "log_record_processor",
    "patient",
]

#: Records the processor holds (the SDK's default is 2 048). A record with two-class probabilities is ≈2 KB of
#: Python objects, so a full queue is ≈64 MB; it only fills when the exporter is slower than the emitters.
MAX_QUEUE_SIZE = 32_768
#: Records per OTLP export request (SDK default 512): fewer, larger requests keep up with bursts.
EXPORT_BATCH_SIZE = 2_048
#: Longest wait before a partial batch is exported (SDK default 1 000 ms).
SCHEDULE_DELAY_MILLIS = 500
#: How long a patient emitter waits for room in a full queue before the record is dropped (and counted).
MAX_WAIT_SECONDS = 10.0
#: Fault kind of each log record an SDK batch processor dropped.
DROP_FAULT = "log_records_dropped"

_ENV_QUEUE = "OTEL_BLRP_MAX_QUEUE_SIZE"
_ENV_BATCH = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"
_ENV_DELAY = "OTEL_BLRP_SCHEDULE_DELAY"
_SDK_LOGGER = "opentelemetry.sdk._shared_internal"
_patience = threading.local()
_installed = False
_install_lock = threading.Lock()


@contextlib.contextmanager
def patient() -> Iterator[None]:
    """Within this block, emits from this thread wait (up to ``MAX_WAIT_SECONDS``) for room in a full queue of
    the processor :func:`log_record_processor` built, instead of dropping. Never used on a predict call."""
    previous = getattr(_patience, "on", False)
    _patience.on = True
    try:
        yield
    finally:
        _patience.on = previous


def log_record_processor(exporter: Any) -> Any:
    """A ``BatchLogRecordProcessor`` for ``exporter`` sized for bursts of prediction records and labels.

    The ``OTEL_BLRP_*`` variables, when set, win over otel-mlmon's sizes (``MAX_QUEUE_SIZE``,
    ``EXPORT_BATCH_SIZE``, ``SCHEDULE_DELAY_MILLIS``).
    """
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    class _PatientBatchLogRecordProcessor(BatchLogRecordProcessor):
        """Waits for room when the emitting thread is inside :func:`patient` (otel-mlmon's own records)."""

        def on_emit(self, log_record: Any) -> None:
            processor = getattr(self, "_batch_processor", None)
            if getattr(_patience, "on", False):
                _wait_for_room(processor)
            full = _is_full(processor)
            _patience.counting = True  # this drop is counted here (older SDKs drop without a word)
            try:
                super().on_emit(log_record)
            finally:
                _patience.counting = False
            if full:
                _count_drop()

    install_drop_counter()
    batch = None if os.environ.get(_ENV_BATCH) else EXPORT_BATCH_SIZE
    queue = None if os.environ.get(_ENV_QUEUE) else MAX_QUEUE_SIZE
    if queue is None and batch is not None:
        batch = min(
            batch, BatchLogRecordProcessor._default_max_queue_size()
        )  # the SDK requires batch <= queue
    return _PatientBatchLogRecordProcessor(
        exporter,
        schedule_delay_millis=None if os.environ.get(_ENV_DELAY) else SCHEDULE_DELAY_MILLIS,
        max_export_batch_size=batch,
        max_queue_size=queue,
    )


def _is_full(processor: Any) -> bool:
    # Reads the SDK's BatchProcessor internals; without them (another SDK version): never full.
    queue = getattr(processor, "_queue", None)
    size = getattr(processor, "_max_queue_size", None)
    return queue is not None and isinstance(size, int) and len(queue) >= size


def _wait_for_room(processor: Any) -> None:
    if not _is_full(processor):
        return
    queue, size = processor._queue, processor._max_queue_size
    awaken = getattr(processor, "_worker_awaken", None)
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while len(queue) >= size and not getattr(processor, "_shutdown", False) and time.monotonic() < deadline:
        if awaken is not None:
            awaken.set()  # the worker exports while the queue holds a full batch
        time.sleep(0.002)


class _DropCounter(logging.Filter):
    """Counts the SDK's "Queue full, dropping Log." lines (it logs one per drop, then de-duplicates)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if (
                record.msg == "Queue full, dropping %s."
                and record.args
                and record.args[0] == "Log"
                and not getattr(_patience, "counting", False)
            ):
                _count_drop()
        except Exception:  # noqa: BLE001 - a logging filter must never raise
            pass
        return True


def _count_drop() -> None:
    report_fault(
        DROP_FAULT,
        message=(
            "otel-mlmon: the OpenTelemetry batch log processor's queue is full and it dropped log records "
            "(ml.prediction / ml.ground_truth records among them: their labels cannot join); raise "
            "OTEL_BLRP_MAX_QUEUE_SIZE and OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, or build your BatchLogRecordProcessor "
            "with max_queue_size=32768, max_export_batch_size=2048 (see docs/ground-truth.md)"
        ),
    )


def install_drop_counter() -> None:
    """Count log records dropped by any OpenTelemetry SDK batch processor in this process (idempotent).

    The filter goes first on the SDK's logger, ahead of its duplicate filter, so every drop is seen.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        logging.getLogger(_SDK_LOGGER).filters.insert(0, _DropCounter())
        _installed = True
