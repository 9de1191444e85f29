"""Feature and prediction summaries of sampled calls, built off the hot path.

A sampled call only appends its input and return value (numpy arrays copied, since callers may reuse buffers) to a
buffer. The buffer is folded into a :class:`~otel_mlmon.summary.Summary` every ``FOLD_AT`` calls and at each metric
collection: consecutive single rows are stacked into one batch first, so the adapters and sketches run vectorised
over many calls instead of once per call.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from otel_mlmon._faults import report_fault
from otel_mlmon._lifecycle import folder
from otel_mlmon._stack import Stacked as _Stacked
from otel_mlmon._stack import stack_rows as _stack_rows
from otel_mlmon.adapters import read_features, read_outputs
from otel_mlmon.decisions import apply_decision
from otel_mlmon.summary import Summary, SummaryConfig

__all__ = ["DEFAULT_MAX_BUFFER_BYTES", "SummaryStream", "folder"]

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


class SummaryStream:
    """The summaries of one (model, version, operation): buffered on the hot path, folded by a background
    thread every ``FOLD_AT`` calls or ``FOLD_BYTES`` bytes, and at each collection.

    The buffer is bounded in bytes (``SummaryConfig.max_buffer_bytes``, an estimate of what the buffered calls
    hold) and in calls (``MAX_BUFFER``); a call that does not fit is left out of the summaries and counted as a
    ``summaries_overflow`` fault.
    A numpy input of more than ``max_rows`` rows is sampled before it is copied, so only the sampled rows are.
    """

    #: Buffered calls that wake the background folder.
    FOLD_AT = 512
    #: Buffered bytes that wake the background folder (whatever the number of calls).
    FOLD_BYTES = 4 * 2**20
    #: Buffered calls beyond which calls are left out too: folding costs time per call, and a collection (or the
    #: exit drain) folds what is buffered, so this bounds how long it takes as the byte bound bounds memory.
    MAX_BUFFER = 64 * FOLD_AT
    #: Bytes of buffered calls folded in one step: stacking small calls into batches copies them once more.
    FOLD_STEP_BYTES = 8 * 2**20
    #: Fault kind of each call left out because exit's time budget ran out before it was folded.
    EXIT_FAULT = "summaries_exit"

    def __init__(
        self,
        attributes: dict[str, str],
        config: SummaryConfig,
        *,
        feature_names: Sequence[str] | None = None,
        categorical: Collection[str] = (),
        classes: Sequence[Any] | None = None,
        max_rows: int | None = None,
        decision: Any = None,
        seed: int | None = None,
    ) -> None:
        self.attributes = attributes
        self.config = config
        self.feature_names = feature_names
        self.categorical = frozenset(categorical)
        self.classes = classes
        self.max_rows = max_rows
        self.decision = decision  # the deployed decision rule of a probability output (otel_mlmon.decisions)
        self.max_buffer_bytes = int(getattr(config, "max_buffer_bytes", DEFAULT_MAX_BUFFER_BYTES))
        self._rng = np.random.default_rng(seed)
        self._reset()
        folder.track(self)  # drained at exit

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._fold_lock = threading.Lock()
        self._buffer: list[tuple[Any, Any, Any]] = []
        self._sizes: list[int] = []
        self._bytes = 0
        self._summary = Summary(self.config)

    @property
    def buffered_bytes(self) -> int:
        """The estimated bytes the buffered calls hold now."""
        return self._bytes

    def offer(self, features: Any, outputs: Any, owner: Any = None) -> None:
        """Hot path: keep a sampled call's input and output (and the model object, if any) for the next fold."""
        if type(features) is np.ndarray:
            features, outputs = self._sample(features, outputs)
            size = _ENTRY_BYTES + features.nbytes
        else:
            if type(outputs) is np.ndarray:
                outputs = outputs.copy()
            size = _ENTRY_BYTES + _size_of(features)
        size += _size_of(outputs)
        with self._lock:
            before = self._bytes
            fits = before + size <= self.max_buffer_bytes and len(self._buffer) < self.MAX_BUFFER
            if fits:
                self._buffer.append((features, outputs, owner))
                self._sizes.append(size)
                self._bytes = before + size
                calls = len(self._buffer)
        if not fits:
            report_fault("summaries_overflow")
        elif calls == self.FOLD_AT or (before < self.FOLD_BYTES <= before + size):
            folder.request(self)

    def _sample(self, features: np.ndarray, outputs: Any) -> tuple[np.ndarray, Any]:
        """A copy of the input, of only ``max_rows`` random rows when it has more (and of their outputs)."""
        n = features.shape[0] if features.ndim >= 2 else 1
        if self.max_rows is None or n <= self.max_rows:
            return features.copy(), outputs.copy() if type(outputs) is np.ndarray else outputs
        keep = np.sort(self._rng.choice(n, size=self.max_rows, replace=False))
        features = features[keep]  # fancy indexing copies the sampled rows only
        if type(outputs) is np.ndarray:
            outputs = outputs[keep] if outputs.ndim >= 1 and outputs.shape[0] == n else outputs.copy()
        elif isinstance(outputs, (list, tuple)) and len(outputs) == n:
            outputs = [outputs[i] for i in keep.tolist()]
        # other outputs keep all their rows; _add samples them on their own
        return features, outputs

    def fold(self, max_entries: int | None = None) -> int:
        """Turn buffered calls (all, or the oldest ``max_entries``) into sketches; return how many are left.

        Never raises; unreadable calls are counted as faults.
        """
        with (
            folder.gate,
            self._fold_lock,
        ):  # one fold at a time, so a collection sees every fold started before
            return self._fold_locked(max_entries)

    def discard(self) -> int:
        """Drop every buffered call (exit ran out of time); return how many were dropped."""
        with self._lock:
            dropped = len(self._buffer)
            self._buffer, self._sizes, self._bytes = [], [], 0
        return dropped

    def _fold_locked(self, max_entries: int | None = None) -> int:
        while True:
            left = self._fold_step(max_entries)
            if max_entries is not None or not left:
                return left

    def _take(self, max_entries: int | None) -> tuple[list[tuple[Any, Any, Any]], int]:
        """Take the oldest buffered calls, at most ``max_entries`` and ``FOLD_STEP_BYTES`` (at least one)."""
        with self._lock:
            n, total = 0, 0
            limit = len(self._buffer) if max_entries is None else min(max_entries, len(self._buffer))
            for size in self._sizes[:limit]:
                if n and total + size > self.FOLD_STEP_BYTES:
                    break
                n, total = n + 1, total + size
            if len(self._sizes) != len(
                self._buffer
            ):  # never expected: fold everything, keep the books straight
                n, total = len(self._buffer), self._bytes
            if n == len(self._buffer):
                buffer, self._buffer, self._sizes, self._bytes = self._buffer, [], [], 0
            else:
                buffer, self._buffer = self._buffer[:n], self._buffer[n:]
                del self._sizes[:n]
                self._bytes -= total
            return buffer, len(self._buffer)

    def _fold_step(self, max_entries: int | None) -> int:
        buffer, left = self._take(max_entries)
        if not buffer:
            return left
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
        return left

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
                if self.decision is not None:
                    read = apply_decision(read, outputs, classes, self.decision)
            except Exception as exc:  # noqa: BLE001
                if stacked:
                    return False
                report_fault("outputs", exc)
        if not stacked and self.max_rows is not None:
            keep, n = None, table.n_rows
            if n > self.max_rows:
                keep = np.sort(self._rng.choice(n, size=self.max_rows, replace=False))
                table = table.take(keep)
            if read is not None and read.table.n_rows > self.max_rows:
                if keep is None or read.table.n_rows != n:  # input rows sampled on the hot path, or unpaired
                    keep = np.sort(self._rng.choice(read.table.n_rows, size=self.max_rows, replace=False))
                read = read.take(keep)
        summary.add_features(table)
        if read is not None:
            summary.add_outputs(read)
        return True

    def swap(self) -> Summary:
        if not folder.acquire_gate():  # exiting, and a fold is stuck: report what was folded so far
            with self._lock:
                summary, self._summary = self._summary, Summary(self.config)
            return summary
        try:
            with self._fold_lock:
                self._fold_locked()
                with self._lock:
                    summary, self._summary = self._summary, Summary(self.config)
        finally:
            folder.gate.release()
        return summary

    def new_interval(self) -> Summary:
        return Summary(self.config)


#: Default bound of one summary stream's buffer (``SummaryConfig(max_buffer_bytes=...)``).
DEFAULT_MAX_BUFFER_BYTES = 64 * 2**20
# What a buffered call costs besides its payload (the tuple, the list slots, the size entry).
_ENTRY_BYTES = 120
_SMALL = (int, float, bool, type(None))


def _size_of(obj: Any) -> int:
    """A cheap estimate of the bytes a buffered input or output keeps alive (O(1): never walks the rows)."""
    if type(obj) in _SMALL:
        return 0
    if isinstance(obj, (str, bytes)):
        return 49 + len(obj)
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    shape = getattr(obj, "shape", None)  # pandas, pyarrow, tensors
    if isinstance(shape, tuple) and shape and all(isinstance(d, int) for d in shape):
        size = 8
        for d in shape:
            size *= d
        return size
    if isinstance(obj, (list, tuple)):
        if not obj:
            return 56
        first = obj[0]
        per_item = 8 + (_size_of(first) if isinstance(first, (list, tuple, dict, str)) else 32)
        return 56 + len(obj) * per_item
    if isinstance(obj, dict):
        return 232 + 100 * len(obj)
    return 64
