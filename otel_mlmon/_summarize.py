"""Feature and prediction summaries of sampled calls, built off the hot path.

A sampled call only appends its input and return value (numpy arrays copied, since callers may reuse buffers) to a
buffer. The buffer is folded into a :class:`~otel_mlmon.summary.Summary` every ``FOLD_AT`` calls and at each metric
collection: consecutive single rows are stacked into one batch first, so the adapters and sketches run vectorised
over many calls instead of once per call.
"""

from __future__ import annotations

import queue
import random
import threading
import weakref
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from otel_mlmon._faults import report_fault
from otel_mlmon._stack import Stacked as _Stacked
from otel_mlmon._stack import stack_rows as _stack_rows
from otel_mlmon.adapters import read_features, read_outputs
from otel_mlmon.summary import Summary, SummaryConfig

__all__ = ["SummaryStream"]

_TRACE_ID_MASK = (1 << 64) - 1


class Sampler:
    """Decides which calls enter the summaries, consistently with trace sampling.

    With a valid trace id the rule is the one of OpenTelemetry's ``TraceIdRatioBased`` sampler (the low 64 bits of
    the trace id below ``rate * 2**64``), so with ``sample_rate`` ≥ the trace sampling ratio every sampled trace's
    features are in the summaries, and services agree on which requests are in. Without a span a seeded random
    draw is used. Either way each call is included with probability ``rate``.
    """

    def __init__(self, rate: float, seed: int | None = None) -> None:
        self.rate = rate
        self._bound = round(rate * (_TRACE_ID_MASK + 1))
        self._random = random.Random(seed).random

    def __call__(self, trace_id: int) -> bool:
        if self.rate >= 1.0:
            return True
        if trace_id:
            return (trace_id & _TRACE_ID_MASK) < self._bound
        return self._random() < self.rate


class _Folder:
    """One daemon thread per process that folds full buffers, so a predict call never waits for a fold.

    It also flushes the watched buffers (prediction records) every ``FLUSH_SECONDS``, so records of low traffic
    do not wait for a full buffer.
    """

    FLUSH_SECONDS = 1.0

    def __init__(self) -> None:
        self._watched: weakref.WeakSet[Any] = weakref.WeakSet()
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="otel-mlmon-folder", daemon=True)
                    self._thread.start()

    def request(self, stream: Any) -> None:
        """Fold ``stream`` (anything with ``fold()``) soon, on the folder thread."""
        self._ensure_thread()
        self._queue.put(stream)

    def watch(self, stream: Any) -> None:
        """Fold ``stream`` at least every FLUSH_SECONDS while it lives."""
        self._watched.add(stream)
        self._ensure_thread()

    def flush(self) -> None:
        """Fold every watched buffer now, in the calling thread."""
        for stream in list(self._watched):
            _fold_quietly(stream)

    def _run(self) -> None:
        while True:
            try:
                stream = self._queue.get(timeout=self.FLUSH_SECONDS)
            except queue.Empty:
                self.flush()
                continue
            _fold_quietly(stream)


def _fold_quietly(stream: Any) -> None:
    try:
        stream.fold()
    except Exception as exc:  # noqa: BLE001 - the folder thread must survive anything
        report_fault("summaries", exc)


folder = _Folder()


class SummaryStream:
    """The summaries of one (model, version, operation): buffered on the hot path, folded by a background
    thread every ``FOLD_AT`` calls and at each collection."""

    #: Buffered calls that wake the background folder.
    FOLD_AT = 512
    #: Buffered calls beyond which new calls are left out of the summaries (the folder is not keeping up);
    #: they are counted as ``summaries_overflow`` faults. Bounds the buffer's memory.
    MAX_BUFFER = 16 * FOLD_AT

    def __init__(
        self,
        attributes: dict[str, str],
        config: SummaryConfig,
        *,
        feature_names: Sequence[str] | None = None,
        categorical: Collection[str] = (),
        classes: Sequence[Any] | None = None,
        max_rows: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.attributes = attributes
        self.config = config
        self.feature_names = feature_names
        self.categorical = frozenset(categorical)
        self.classes = classes
        self.max_rows = max_rows
        self._rng = np.random.default_rng(seed)
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._fold_lock = threading.Lock()
        self._buffer: list[tuple[Any, Any, Any]] = []
        self._summary = Summary(self.config)

    def offer(self, features: Any, outputs: Any, owner: Any = None) -> None:
        """Hot path: keep a sampled call's input and output (and the model object, if any) for the next fold."""
        if type(features) is np.ndarray:
            features = features.copy()
        if type(outputs) is np.ndarray:
            outputs = outputs.copy()
        with self._lock:
            buffered = len(self._buffer)
            if buffered < self.MAX_BUFFER:
                self._buffer.append((features, outputs, owner))
        if buffered + 1 == self.FOLD_AT:
            folder.request(self)
        elif buffered >= self.MAX_BUFFER:
            report_fault("summaries_overflow")

    def fold(self) -> None:
        """Turn the buffered calls into sketches. Never raises; unreadable calls are counted as faults."""
        with self._fold_lock:  # one fold at a time, so a collection sees every fold that started before it
            self._fold_locked()

    def _fold_locked(self) -> None:
        with self._lock:
            buffer, self._buffer = self._buffer, []
        if not buffer:
            return
        partial = Summary(self.config)
        for features, outputs, owner in _stack_rows(buffer, self.max_rows):
            if isinstance(features, _Stacked):
                batch = Summary(self.config)
                if self._add(batch, features.features, outputs, owner, stacked=True):
                    partial.merge(batch)
                    continue
                for entry in features.entries:  # one unreadable call must not lose the others
                    self._add(partial, *entry)
            else:
                self._add(partial, features, outputs, owner)
        with self._lock:
            self._summary.merge(partial)

    def _add(
        self,
        summary: Summary,
        features: Any,
        outputs: Any,
        owner: Any,
        stacked: bool = False,
    ) -> bool:
        """Read one call, or a stacked batch of small calls, into ``summary``.

        A single call's unreadable input or output is a counted fault (its readable part is kept) and the
        result is True; a stacked batch returns False on any failure so that its calls can be read one by one.
        """
        names, classes = self.feature_names, self.classes
        if owner is not None:
            names = names if names is not None else getattr(owner, "feature_names_in_", None)
            classes = classes if classes is not None else getattr(owner, "classes_", None)
        try:
            table = read_features(features, names=names, categorical=self.categorical)
        except Exception as exc:  # noqa: BLE001 - any unreadable input is a counted monitoring fault
            if stacked:
                return False
            report_fault("features", exc)
            return True
        read = None
        if table.n_rows == 1 and type(outputs) is np.ndarray and outputs.ndim == 1 and outputs.shape[0] > 1:
            outputs = outputs.reshape(1, -1)  # one row's outputs (e.g. its class probabilities), not k rows
        if outputs is not None:
            try:
                read = read_outputs(outputs, classes=classes)
            except Exception as exc:  # noqa: BLE001
                if stacked:
                    return False
                report_fault("outputs", exc)
        if not stacked and self.max_rows is not None and table.n_rows > self.max_rows:
            keep = np.sort(self._rng.choice(table.n_rows, size=self.max_rows, replace=False))
            table = table.take(keep)
            if read is not None and read.table.n_rows > self.max_rows:
                read = read.take(keep)
        summary.add_features(table)
        if read is not None:
            summary.add_outputs(read)
        return True

    def swap(self) -> Summary:
        with self._fold_lock:
            self._fold_locked()
            with self._lock:
                summary, self._summary = self._summary, Summary(self.config)
        return summary

    def new_interval(self) -> Summary:
        return Summary(self.config)
