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
from otel_mlmon.adapters import Outputs, Table, read_features, read_outputs
from otel_mlmon.adapters._base import Column
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


class SummaryStream:
    """The summaries of one (model, version, operation): buffered on the hot path, folded at collection."""

    #: Buffered calls that trigger a fold in the calling thread (bounds the buffer's memory).
    FOLD_AT = 512

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
        self._buffer: list[tuple[Any, Any, Any, Any]] = []
        self._summary = Summary(self.config)

    def offer(self, features: Any, outputs: Any, names: Any = None, classes: Any = None) -> None:
        """Hot path: keep a sampled call's input and output for the next fold."""
        if type(features) is np.ndarray:
            features = features.copy()
        if type(outputs) is np.ndarray:
            outputs = outputs.copy()
        with self._lock:
            self._buffer.append((features, outputs, names, classes))
            full = len(self._buffer) >= self.FOLD_AT
        if full:
            self.fold()

    def fold(self) -> None:
        """Turn the buffered calls into sketches. Never raises; unreadable calls are counted as faults."""
        with self._lock:
            buffer, self._buffer = self._buffer, []
        if not buffer:
            return
        partial = Summary(self.config)
        for features, outputs, names, classes in _stack_rows(buffer):
            self._add(partial, features, outputs, names, classes)
        with self._lock:
            self._summary.merge(partial)

    def _add(self, summary: Summary, features: Any, outputs: Any, names: Any, classes: Any) -> None:
        try:
            names = names if names is not None else self.feature_names
            table = read_features(features, names=names, categorical=self.categorical)
        except Exception as exc:  # noqa: BLE001 - any unreadable input is a counted monitoring fault
            report_fault("features", exc)
            return
        keep = None
        if self.max_rows is not None and table.n_rows > self.max_rows:
            keep = np.sort(self._rng.choice(table.n_rows, size=self.max_rows, replace=False))
            table = _take(table, keep)
        summary.add_features(table)
        if outputs is None:
            return
        try:
            read = read_outputs(outputs, classes=classes if classes is not None else self.classes)
        except Exception as exc:  # noqa: BLE001
            report_fault("outputs", exc)
            return
        if keep is not None and read.table.n_rows > self.max_rows:
            read = Outputs(
                _take(read.table, keep), {k: np.asarray(v)[keep] for k, v in read.confidence.items()}
            )
        summary.add_outputs(read)

    def swap(self) -> Summary:
        self.fold()
        with self._lock:
            summary, self._summary = self._summary, Summary(self.config)
        return summary

    def new_interval(self) -> Summary:
        return Summary(self.config)


def _take(table: Table, rows: np.ndarray) -> Table:
    return Table(len(rows), tuple(Column(c.name, c.values[rows], c.kind) for c in table.columns))


def _stack_key(features: Any, outputs: Any) -> tuple | None:
    """A key under which consecutive single-row numpy calls can be stacked into one batch, or None."""
    if type(features) is not np.ndarray or features.dtype.names is not None:
        return None
    if features.ndim == 1:
        width = features.shape[0]
    elif features.ndim == 2:
        width = features.shape[1]
    else:
        return None
    if outputs is None:
        out_key: tuple = ("none",)
    elif type(outputs) is np.ndarray and outputs.ndim in (1, 2) and outputs.dtype.names is None:
        rows = 1 if features.ndim == 1 else features.shape[0]
        if outputs.shape[0] != rows and not (features.ndim == 1 and outputs.ndim == 1):
            return None
        out_key = ("array", outputs.shape[1:] if features.ndim == 2 else outputs.shape, outputs.dtype.kind)
    elif isinstance(outputs, (int, float, str, np.generic)) and not isinstance(outputs, bool):
        out_key = ("scalar", type(outputs))
    else:
        return None
    return (width, features.dtype.kind, out_key)


def _stack_rows(buffer: list[tuple[Any, Any, Any, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """Stack runs of numpy calls with the same width, dtype kind and output shape into single batches."""
    out: list[tuple[Any, Any, Any, Any]] = []
    run: list[tuple[Any, Any, Any, Any]] = []
    run_key: tuple | None = None

    def flush() -> None:
        if len(run) == 1:
            out.append(run[0])
        elif run:
            features = np.vstack([np.atleast_2d(f) for f, _, _, _ in run])
            first_out = run[0][1]
            if first_out is None:
                outputs = None
            elif type(first_out) is np.ndarray:
                if run[0][0].ndim == 1 and first_out.ndim == 1 and first_out.shape[0] != 1:
                    outputs = np.vstack([o for _, o, _, _ in run])  # one row's probability vector per call
                else:
                    outputs = np.concatenate([o for _, o, _, _ in run])
            else:
                outputs = np.asarray([o for _, o, _, _ in run])
            out.append((features, outputs, run[0][2], run[0][3]))
        run.clear()

    for entry in buffer:
        key = _stack_key(entry[0], entry[1])
        key = None if key is None else (*key, id(entry[2]), id(entry[3]))
        if key is None or key != run_key:
            flush()
            run_key = key
        run.append(entry)
        if key is None:
            flush()
            run_key = None
    flush()
    return out
