"""Prediction identity and ``ml.prediction`` records: what the collector joins late labels to.

Ids are given by the caller (``monitor(prediction_id=...)``) or generated cheaply: one reservation of a counter
block per call, formatted only when read. A sampled share of calls become ``ml.prediction`` log records, built by
the background folder (never on the predict call) with the trace and span ids captured at call time.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from opentelemetry import trace as otel_trace
from opentelemetry._logs import SeverityNumber, get_logger_provider
from opentelemetry.trace import NonRecordingSpan, SpanContext

from otel_mlmon import conventions as conv
from otel_mlmon._faults import report_fault
from otel_mlmon._kinds import looks_like_text
from otel_mlmon._log_pipeline import install_drop_counter, patient
from otel_mlmon._model_logs import model_logger
from otel_mlmon._version import __version__
from otel_mlmon.adapters import is_probability, read_outputs
from otel_mlmon.decisions import Columns, apply_decision

__all__ = ["GeneratedIds", "PredictionRecorder", "generate_ids", "last_prediction_ids"]

_last_ids: contextvars.ContextVar[Sequence[str] | None] = contextvars.ContextVar(
    "otel_mlmon_ids", default=None
)


def last_prediction_ids() -> Sequence[str] | None:
    """The prediction ids of the last monitored call made in this thread or task, one per row.

    Report outcomes later with ``otel_mlmon.record_ground_truth(model=..., prediction_id=ids[i], value=...)``.
    None when no call with ids enabled (``monitor(prediction_id=...)`` or ``record_predictions > 0``) ran yet.
    """
    return _last_ids.get()


class GeneratedIds(Sequence[str]):
    """Ids ``{process prefix}-{counter}`` for ``n`` rows, formatted only when read (cheap for large batches)."""

    __slots__ = ("n", "prefix", "start")

    def __init__(self, prefix: str, start: int, n: int) -> None:
        self.prefix = prefix
        self.start = start
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.n))]
        if index < 0:
            index += self.n
        if not 0 <= index < self.n:
            raise IndexError(index)
        return f"{self.prefix}-{self.start + index:x}"

    def __repr__(self) -> str:
        return f"GeneratedIds({self[0] if self.n else ''!r}... n={self.n})"


class _IdSource:
    """Unique ids without coordination: a random per-process prefix (renewed after fork) and a counter."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._prefix = os.urandom(8).hex()
        self._next = 0

    def take(self, n: int) -> GeneratedIds:
        with self._lock:
            start = self._next
            self._next += n
        return GeneratedIds(self._prefix, start, n)


_ids = _IdSource()
generate_ids = _ids.take


def set_last_ids(ids: Sequence[str] | None) -> None:
    _last_ids.set(ids)


def as_ids(value: Any, rows: int | None) -> Sequence[str] | None:
    """Normalise user-given ids: one scalar for a one-row call, or one id per row."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, int, np.integer)):
        return (value.decode() if isinstance(value, bytes) else str(value),)
    if isinstance(value, np.ndarray):
        return [str(v) for v in value.ravel().tolist()]
    if hasattr(value, "tolist"):  # pandas Series / Index, pyarrow arrays
        return [str(v) for v in value.tolist()]
    return [str(v) for v in value]


class PredictionRecorder:
    """Buffers sampled calls and emits one ``ml.prediction`` log record per row from the background folder.

    The buffer is bounded in calls (``MAX_BUFFER``) and in estimated bytes (``MAX_BUFFER_BYTES``); a call beyond
    either is dropped and counted as a ``records_overflow`` fault.
    """

    #: Buffered calls that wake the background folder; beyond MAX_BUFFER calls are dropped and counted.
    FOLD_AT = 512
    MAX_BUFFER = 64 * FOLD_AT
    MAX_BUFFER_BYTES = 64 * 2**20
    #: Fault kind of each call whose records were left out because exit's time budget ran out.
    EXIT_FAULT = "records_exit"

    def __init__(
        self,
        attributes: dict[str, str],
        *,
        classes: Sequence[Any] | None = None,
        max_rows: int | None = None,
        decision: Any = None,
        logger_provider: Any = None,
    ) -> None:
        self.attributes = attributes
        self.classes = classes
        self.max_rows = max_rows  # record sampling: monitor(record_max_rows=...); None records every row
        self.decision = decision
        install_drop_counter()
        self.logger_provider = logger_provider
        self._reset()
        from otel_mlmon._lifecycle import folder

        folder.watch(self)  # flushed at least every folder.FLUSH_SECONDS, by otel_mlmon.flush() and at exit

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._fold_lock = threading.Lock()
        self._buffer: list[tuple[Any, ...]] = []
        self._bytes = 0

    def offer(self, ids: Sequence[str], outputs: Any, owner: Any, span_context: SpanContext | None) -> None:
        """Hot path: keep a sampled call's ids, outputs and span for the next fold."""
        from otel_mlmon._lifecycle import folder

        size = 200
        if type(outputs) is np.ndarray:
            outputs = outputs.copy()
            size += outputs.nbytes
        elif isinstance(outputs, (list, tuple)):
            size += 40 * len(outputs)
        with self._lock:
            buffered = len(self._buffer)
            fits = buffered < self.MAX_BUFFER and self._bytes + size <= self.MAX_BUFFER_BYTES
            if fits:
                self._buffer.append((ids, outputs, owner, span_context, time.time_ns(), size))
                self._bytes += size
        if not fits:
            report_fault("records_overflow")
        elif buffered + 1 == self.FOLD_AT:
            folder.request(self)

    def discard(self) -> int:
        """Drop every buffered call (exit ran out of time); return how many were dropped."""
        with self._lock:
            dropped = len(self._buffer)
            self._buffer, self._bytes = [], 0
        return dropped

    def fold(self, max_entries: int | None = None) -> int:
        """Emit the buffered calls' records (all, or the oldest ``max_entries``); return how many are left.

        Never raises.
        """
        from otel_mlmon._lifecycle import folder

        with folder.gate, self._fold_lock:
            with self._lock:
                if max_entries is None or len(self._buffer) <= max_entries:
                    buffer, self._buffer = self._buffer, []
                else:
                    buffer, self._buffer = self._buffer[:max_entries], self._buffer[max_entries:]
                self._bytes -= sum(entry[-1] for entry in buffer)
                left = len(self._buffer)
            if not buffer:
                return left
            provider = self.logger_provider or get_logger_provider()
            logger = provider.get_logger(conv.SCOPE_NAME, __version__)
            model = self.attributes.get(conv.ATTR_MODEL_NAME)
            if model:  # the model's own resource: a load balancer routes its records with its metrics
                logger = model_logger(logger, model)
            with patient():  # the folder thread waits for room in a full log queue rather than drop records
                for ids, outputs, owner, span_context, time_ns, _size in buffer:
                    try:
                        self._emit(logger, ids, outputs, owner, span_context, time_ns)
                    except Exception as exc:  # noqa: BLE001 - one unreadable call must not stop the others
                        report_fault("records", exc)
            return left

    def _emit(
        self, logger: Any, ids: Sequence[str], outputs: Any, owner: Any, span_context: Any, time_ns: int
    ):
        classes = self.classes
        if classes is None and owner is not None:
            classes = getattr(owner, "classes_", None)
        n = len(ids)
        if n == 1 and type(outputs) is np.ndarray and outputs.ndim == 1 and outputs.shape[0] > 1:
            outputs = outputs.reshape(1, -1)
        read = read_outputs(outputs, classes=classes)
        if self.decision is not None:
            read = apply_decision(read, outputs, classes, self.decision)
        if read.table.n_rows != n:
            raise ValueError(f"{n} prediction ids for {read.table.n_rows} output rows")
        probabilities = None
        if (
            type(outputs) is np.ndarray
            and outputs.ndim == 2
            and outputs.shape[1] > 1
            and is_probability(outputs)
        ):
            probabilities = outputs
            labels = [str(c) for c in (classes if classes is not None else range(outputs.shape[1]))]
        elif isinstance(self.decision, Columns):  # the decision's own output, with the scores beside it
            scores = self.decision.scores_of(outputs, classes)
            if scores is not None:
                probabilities, labels = scores
        rows: Sequence[int] = range(n)
        if self.max_rows is not None and n > self.max_rows:
            rows = sorted(np.random.default_rng().choice(n, size=self.max_rows, replace=False).tolist())
        context = None
        if span_context is not None:
            context = otel_trace.set_span_in_context(NonRecordingSpan(span_context))
        for i in rows:
            for column in read.table.columns:
                if column.kind == "vector":
                    continue  # an embedding is summarised (a vector sketch), never a record per dimension
                value = column.values[i]
                if value is None or (column.kind == "numeric" and np.isnan(value)):
                    continue
                if column.kind != "numeric" and looks_like_text(value):
                    value = conv.OTHER_CATEGORY  # generated text never leaves the process, as in the metrics
                attributes: dict[str, Any] = {
                    **self.attributes,
                    conv.ATTR_PREDICTION_ID: ids[i],
                    conv.ATTR_OUTPUT_NAME: column.name,
                    conv.ATTR_PREDICTION_VALUE: float(value) if column.kind == "numeric" else str(value),
                }
                confidence = read.confidence.get(column.name)
                if confidence is not None and not np.isnan(confidence[i]):
                    attributes[conv.ATTR_PREDICTION_CONFIDENCE] = float(confidence[i])
                if probabilities is not None and len(read.table.columns) == 1:
                    attributes[conv.ATTR_PREDICTION_CLASSES] = labels
                    attributes[conv.ATTR_PREDICTION_PROBABILITIES] = [float(p) for p in probabilities[i]]
                logger.emit(
                    timestamp=time_ns,
                    context=context,
                    severity_number=SeverityNumber.INFO,
                    attributes=attributes,
                    event_name=conv.EVENT_PREDICTION,
                )


def span_context_of(span: Any) -> SpanContext | None:
    if span is None:
        return None
    context = span.get_span_context()
    return context if context.is_valid else None
