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

from otel_mlmon._class_probability import sketched_only
from otel_mlmon._faults import report_fault
from otel_mlmon._lifecycle import folder
from otel_mlmon._stack import Stacked as _Stacked
from otel_mlmon._stack import stack_rows as _stack_rows
from otel_mlmon.adapters import Column, Outputs, Table, UnsupportedInput, read_features, read_outputs
from otel_mlmon.adapters._base import ClassProbabilities
from otel_mlmon.adapters._matrix import MatrixTable
from otel_mlmon.adapters._registry import adapter_for
from otel_mlmon.adapters._tensor import TensorAdapter, take_rows, tensor_shape
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
    A numpy input of more than ``max_rows`` rows is sampled before it is copied, so only the sampled rows are; a
    tensor-like one is cut to its sampled rows on its device (a gather, no host copy) and kept by reference.
    """

    #: Buffered calls that wake the background folder.
    FOLD_AT = 512
    #: Buffered bytes that wake the background folder (whatever the number of calls).
    FOLD_BYTES = 4 * 2**20
    #: Buffered calls beyond which calls are left out too: folding costs time per call, and a collection (or the
    #: exit drain) folds what is buffered, so this bounds how long it takes as the byte bound bounds memory.
    MAX_BUFFER = 64 * FOLD_AT
    #: Bytes of buffered calls folded in one step: stacking small calls into batches copies them once more. Each
    #: step pays the sketches' fixed costs (~0.1 ms per column) and a merge: ten 10 000 x 25 DataFrame calls
    #: (~2 MB each by the estimate) fold in one step for ~25% less CPU than in three steps of 8 MB.
    FOLD_STEP_BYTES = 32 * 2**20
    #: Rows of read calls with the same columns held back and added to the sketches at once: updating a sketch
    #: costs ~0.1 ms per column whatever the rows, so a one-row call's share of it falls with the rows added
    #: together. Held rows are added at the next collection at the latest (and when the columns change).
    PENDING_ROWS = 16384
    #: Bytes of read columns held back at most (an estimate: 8 bytes per value).
    PENDING_BYTES = 4 * 2**20
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
        self._collecting = 0  # collections waiting for or inside swap()
        self._summary = Summary(self.config)
        # Reads held back to be added to the sketches together (see PENDING_ROWS); only folds touch them.
        self._pending: list[tuple[Table, Outputs | None]] = []
        self._pending_key: tuple | None = None
        self._pending_rows = 0
        self._pending_bytes = 0

    @property
    def buffered_bytes(self) -> int:
        """The estimated bytes the buffered calls hold now."""
        return self._bytes

    def offer(self, features: Any, outputs: Any, owner: Any = None) -> None:
        """Hot path: keep a sampled call's input and output (and the model object, if any) for the next fold."""
        t = type(features)
        if t is np.ndarray:
            features, outputs = self._sample(features, outputs)
            size = _ENTRY_BYTES + features.nbytes
        else:
            sizer = _sizers.get(t) or _sizer(t)
            # Frames, the common tabular input, are never tensors: no tensor look-up for them.
            if sizer is not _frame_size and self.max_rows is not None and _is_tensor(features):
                features, outputs = self._sample_tensor(features, outputs)
                sizer = _size_of
            size = _ENTRY_BYTES + sizer(features)
            if type(outputs) is np.ndarray:
                outputs = outputs.copy()
        size += outputs.nbytes if type(outputs) is np.ndarray else _size_of(outputs)
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

    def _sample_tensor(self, features: Any, outputs: Any) -> tuple[Any, Any]:
        """A tensor batch of more than ``max_rows`` rows cut to a uniform sample of rows on its device (and their
        outputs): the buffer keeps neither the whole batch nor a host copy of it."""
        shape = tensor_shape(features)
        n = shape[0] if len(shape) >= 2 else 1
        if n <= self.max_rows:
            return features, outputs
        keep = np.sort(self._rng.choice(n, size=self.max_rows, replace=False))
        sampled = take_rows(features, keep.tolist())
        if sampled is None:  # not indexable by rows: kept whole, sampled when read
            return features, outputs
        if type(outputs) is np.ndarray:
            if outputs.ndim >= 1 and outputs.shape[0] == n:
                outputs = outputs[keep]
        elif isinstance(outputs, (list, tuple)) and len(outputs) == n:
            outputs = [outputs[i] for i in keep.tolist()]
        elif _is_tensor(outputs) and tensor_shape(outputs)[:1] == (n,):
            taken = take_rows(outputs, keep.tolist())
            outputs = outputs if taken is None else taken  # unpaired: sampled on its own when read
        return sampled, outputs

    def fold(self, max_entries: int | None = None) -> int:
        """Turn buffered calls (all, or the oldest ``max_entries``) into sketches; return how many are left.

        Never raises; unreadable calls are counted as faults. A step of the folder (``max_entries`` given) while a
        collection waits folds nothing: the collection folds what is buffered in one step, which costs less than
        several (each step pays the sketches' fixed costs and a merge), and waits for no further step.
        """
        if max_entries is not None and self._collecting:
            return 0
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
                read = self._read(features.features, outputs, owner, stacked=True)
                if read is not None:
                    self._hold(partial, read)
                    continue
                for entry in features.entries:  # one unreadable call must not lose the others
                    self._hold(partial, self._read(*entry))
            else:
                self._hold(partial, self._read(features, outputs, owner))
        with self._lock:
            self._summary.merge(partial, consume=True)
        return left

    def _hold(self, summary: Summary, read: tuple[Table, Outputs | None] | None) -> None:
        """Keep a read call (or batch) with the held ones when they have the same columns, else add the held
        ones to ``summary`` first; add everything once ``PENDING_ROWS`` rows or ``PENDING_BYTES`` are held."""
        if read is None:
            return
        table, outputs = read
        key = _read_key(table, outputs)
        size = _read_bytes(table, outputs)
        if key != self._pending_key or self._pending_bytes + size > self.PENDING_BYTES:
            self._add_pending(summary)
        self._pending.append(read)
        self._pending_key = key
        self._pending_rows += table.n_rows
        self._pending_bytes += size
        if self._pending_rows >= self.PENDING_ROWS:
            self._add_pending(summary)

    def _add_pending(self, summary: Summary) -> None:
        """Add the held reads to ``summary`` as one table (same columns, so the same as one by one)."""
        pending = self._pending
        if not pending:
            return
        self._pending, self._pending_key, self._pending_rows, self._pending_bytes = [], None, 0, 0
        table, outputs = pending[0] if len(pending) == 1 else _concat_reads(pending)
        summary.add_features(table)
        if outputs is not None:
            summary.add_outputs(outputs)

    def _read(
        self,
        features: Any,
        outputs: Any,
        owner: Any,
        stacked: bool = False,
    ) -> tuple[Table, Outputs | None] | None:
        """Read one call, or a stacked batch of small calls, as a feature table and its outputs.

        A single call's unreadable input is a counted fault (None), an unreadable output a counted fault (its
        input is kept); a stacked batch returns None on any failure so that its calls can be read one by one.
        """
        names, classes = self.feature_names, self.classes
        if owner is not None:
            names = names if names is not None else getattr(owner, "feature_names_in_", None)
            classes = classes if classes is not None else getattr(owner, "classes_", None)
        try:
            table = read_features(features, names=names, categorical=self.categorical)
        except Exception as exc:  # noqa: BLE001 - any unreadable input is a counted monitoring fault
            if not stacked:
                report_fault("features", exc)
            return None
        read = None
        if table.n_rows == 1 and type(outputs) is np.ndarray and outputs.ndim == 1 and outputs.shape[0] > 1:
            outputs = outputs.reshape(1, -1)  # one row's outputs (e.g. its class probabilities), not k rows
        if outputs is not None:
            try:
                read = read_outputs(outputs, classes=classes)
                if self.decision is not None:
                    read = apply_decision(read, outputs, classes, self.decision)
                read = sketched_only(read, self.config.max_categories)
            except Exception as exc:  # noqa: BLE001
                if stacked:
                    return None
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
        return table, read

    def swap(self) -> Summary:
        with self._lock:
            self._collecting += 1
        try:
            return self._swap()
        finally:
            with self._lock:
                self._collecting -= 1

    def _swap(self) -> Summary:
        if not folder.acquire_gate():  # exiting, and a fold is stuck: report what was folded so far
            with self._lock:
                summary, self._summary = self._summary, Summary(self.config)
            return summary
        try:
            with self._fold_lock:
                self._fold_locked()
                with self._lock:
                    try:
                        self._add_pending(self._summary)
                    except Exception as exc:  # noqa: BLE001 - a fault, never a failed collection
                        report_fault("summaries", exc)
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
_SMALL = frozenset({int, float, bool, type(None)})


def _size_of(obj: Any) -> int:
    """A cheap estimate of the bytes a buffered input or output keeps alive (O(1): never walks the rows)."""
    t = type(obj)
    if t in _SMALL:
        return 0
    return (_sizers.get(t) or _sizer(t))(obj)


def _sizer(t: type) -> Any:
    """The size estimate of ``t``'s instances, cached per type."""
    if len(_sizers) >= 1024:  # types made on the fly: keep the cache bounded
        _sizers.clear()
    sizer = _sizers[t] = _sizer_for(t)
    return sizer


def _sizer_for(t: type) -> Any:
    if t in _SMALL:
        return _no_size
    if issubclass(t, (str, bytes)):
        return _text_size
    if issubclass(t, np.ndarray):
        return _array_size
    if t.__module__.startswith("pandas") and t.__name__ == "DataFrame":
        return _frame_size
    if issubclass(t, (list, tuple)):
        return _sequence_size
    if issubclass(t, dict):
        return _dict_size
    return _shaped_size  # pandas Series, pyarrow, tensors (by their shape), anything else a fixed guess


def _no_size(obj: Any) -> int:
    return 0


def _text_size(obj: Any) -> int:
    return 49 + len(obj)


def _array_size(obj: np.ndarray) -> int:
    return obj.nbytes


def _frame_size(obj: Any) -> int:
    # A DataFrame costs far more than its values: a one-row frame of 30 columns holds ~8 KB (blocks, arrays,
    # indexes), measured with tracemalloc on pandas 3.
    rows, columns = len(obj.index), len(obj.columns)  # df.shape, without its property chain
    return 2000 + 200 * columns + 8 * rows * columns


def _sequence_size(obj: Any) -> int:
    if not obj:
        return 56
    first = obj[0]
    per_item = 8 + (_size_of(first) if isinstance(first, (list, tuple, dict, str)) else 32)
    return 56 + len(obj) * per_item


def _dict_size(obj: Any) -> int:
    return 232 + 100 * len(obj)


def _shaped_size(obj: Any) -> int:
    shape = getattr(obj, "shape", None)
    if isinstance(shape, tuple) and shape and all(isinstance(d, int) for d in shape):
        size = 8
        for d in shape:
            size *= d
        return size
    return 64


_sizers: dict[type, Any] = {}


def _is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a tensor-like (decided once per type: a type's instances all have the same methods)."""
    t = type(obj)
    if t in _NOT_TENSORS:
        return False
    answer = _tensor_types.get(t)
    if answer is None:
        if len(_tensor_types) >= 1024:
            _tensor_types.clear()
        try:  # what the adapters read as a tensor (pandas, pyarrow and polars objects have shapes too)
            answer = isinstance(adapter_for(obj), TensorAdapter)
        except UnsupportedInput:
            answer = False
        _tensor_types[t] = answer
    return answer


_NOT_TENSORS = _SMALL | {str, bytes, dict, list, tuple, np.ndarray}
_tensor_types: dict[type, bool] = {}


def _read_key(table: Table, outputs: Outputs | None) -> tuple:
    """What two reads must share to be added as one table: column names, kinds and dtypes, in order."""
    if isinstance(table, MatrixTable):  # one array: its names and dtype (its columns are never made here)
        features: tuple = ("matrix", table.names, table.source.dtype)
    else:
        features = tuple((c.name, c.kind, c.values.dtype, c.values.shape[1:]) for c in table.columns)
    if outputs is None:
        return features, None
    columns = tuple((c.name, c.kind, c.values.dtype, c.values.shape[1:]) for c in outputs.table.columns)
    # Reads are concatenated only when each probability output has the same classes, in the same order.
    classes = tuple((name, tuple(p.labels)) for name, p in outputs.probabilities.items())
    return features, columns, tuple(outputs.confidence), classes


def _read_bytes(table: Table, outputs: Outputs | None) -> int:
    if isinstance(table, MatrixTable):
        values = table.source.nbytes
    else:
        values = sum(c.values.nbytes for c in table.columns)
    if outputs is not None:
        values += sum(c.values.nbytes for c in outputs.table.columns)
        values += sum(v.nbytes for v in outputs.confidence.values())
        values += sum(p.matrix.nbytes + p.predicted.nbytes for p in outputs.probabilities.values())
    return values


def _concat_tables(tables: list[Table]) -> Table:
    first = tables[0]
    if isinstance(first, MatrixTable):  # same _read_key: all are, with the same names and dtype
        return MatrixTable(np.concatenate([t.source for t in tables]), first.names)  # type: ignore[attr-defined]
    columns = tuple(
        Column(c.name, np.concatenate([t.columns[j].values for t in tables]), c.kind)
        for j, c in enumerate(first.columns)
    )
    return Table(sum(t.n_rows for t in tables), columns)


def _concat_reads(reads: list[tuple[Table, Outputs | None]]) -> tuple[Table, Outputs | None]:
    """Reads with the same :func:`_read_key` as one read of all their rows, in order."""
    table = _concat_tables([table for table, _ in reads])
    first = reads[0][1]
    if first is None:
        return table, None
    outputs = [o for _, o in reads]
    confidence = {name: np.concatenate([o.confidence[name] for o in outputs]) for name in first.confidence}
    probabilities = {
        name: ClassProbabilities(
            np.concatenate([o.probabilities[name].matrix for o in outputs]),
            p.labels,
            np.concatenate([o.probabilities[name].predicted for o in outputs]),
        )
        for name, p in first.probabilities.items()
    }
    return table, Outputs(_concat_tables([o.table for o in outputs]), confidence, probabilities)
