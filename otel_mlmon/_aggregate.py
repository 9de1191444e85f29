"""Local aggregation on the hot path: what a decorated call records between two metric collections.

A decorated call never touches an OpenTelemetry instrument. It adds to an ``Interval`` (a few integer and float
updates under one lock); at collection time the bridge swaps the interval out and turns it into data points.
Everything here merges, so intervals combine across collections, readers and temporality conversions.
"""

from __future__ import annotations

import functools
import threading
import time
from bisect import bisect_left
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from otel_mlmon import conventions as conv

__all__ = [
    "CountInterval",
    "ExplicitHistogram",
    "InferenceInterval",
    "InferenceStream",
    "Interval",
    "Stream",
]


@functools.lru_cache(maxsize=16)
def _bounds_array(bounds: tuple[float, ...]) -> np.ndarray:
    return np.asarray(bounds, dtype=np.float64)


class Interval(Protocol):
    """What one stream accumulated over some time span; mergeable."""

    def merge(self, other: Interval) -> None:
        """Add ``other`` into this interval."""

    def is_empty(self) -> bool:
        """True when nothing was recorded."""


class Stream(Protocol):
    """A source of intervals the bridge collects: one per set of identifying attributes."""

    #: Attributes identifying this stream's series (model, version, operation...).
    attributes: dict[str, str]

    def swap(self) -> Interval:
        """Return everything recorded since the last swap and start a new, empty interval."""

    def new_interval(self) -> Interval:
        """An empty interval of this stream's kind."""


class ExplicitHistogram:
    """An explicit-bucket histogram with OpenTelemetry's semantics: bucket ``i`` holds ``(bounds[i-1], bounds[i]]``.

    Keeps the last sampled exemplar (value, time, trace and span id) so a latency panel can link to a trace.
    """

    __slots__ = ("bounds", "count", "counts", "exemplar", "max", "min", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.exemplar: tuple[float, int, int, int] | None = None

    def record(self, value: float) -> None:
        """Add one value (the caller holds the stream's lock)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def record_many(self, values: np.ndarray) -> None:
        """Add a batch of values at once (the caller holds the stream's lock)."""
        if values.size == 0:
            return
        indexes = np.searchsorted(self._bounds_array, values, side="left")  # side="left" is bisect_left
        counts = np.bincount(indexes, minlength=len(self.counts))
        self.counts = [a + int(b) for a, b in zip(self.counts, counts)]
        self.count += int(values.size)
        self.sum += float(values.sum())
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))

    @property
    def _bounds_array(self) -> np.ndarray:
        return _bounds_array(tuple(self.bounds))

    def merge(self, other: ExplicitHistogram) -> None:
        """Add ``other`` (same bounds) into this histogram."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if other.exemplar is not None and (self.exemplar is None or other.exemplar[1] >= self.exemplar[1]):
            self.exemplar = other.exemplar


class CountInterval:
    """Monotonic counts by a label (e.g. fault kind)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def merge(self, other: CountInterval) -> None:
        for key, value in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + value

    def is_empty(self) -> bool:
        return not self.counts


class InferenceInterval:
    """Latency (per ``error.type``), batch sizes and predicted rows of one model entry point; for streaming calls
    the time to the first chunk and per later chunk; token usage by type where the calls report it."""

    __slots__ = ("batch_sizes", "chunk_times", "durations", "first_chunk", "predictions", "tokens")

    def __init__(self) -> None:
        #: ``error.type`` (None for success) -> latency histogram in seconds.
        self.durations: dict[str | None, ExplicitHistogram] = {}
        self.batch_sizes = ExplicitHistogram(conv.BATCH_SIZE_BUCKETS)
        self.predictions = 0
        # Chunk times use the duration bounds: they contain every bound the GenAI spec advises, and five more
        # below 10 ms, where a local model's chunks land.
        self.first_chunk = ExplicitHistogram(conv.DURATION_BUCKETS)
        self.chunk_times = ExplicitHistogram(conv.DURATION_BUCKETS)
        #: ``gen_ai.token.type`` -> tokens per call.
        self.tokens: dict[str, ExplicitHistogram] = {}

    def merge(self, other: InferenceInterval) -> None:
        for error_type, hist in other.durations.items():
            mine = self.durations.get(error_type)
            if mine is None:
                mine = self.durations[error_type] = ExplicitHistogram(conv.DURATION_BUCKETS)
            mine.merge(hist)
        self.batch_sizes.merge(other.batch_sizes)
        self.predictions += other.predictions
        self.first_chunk.merge(other.first_chunk)
        self.chunk_times.merge(other.chunk_times)
        for token_type, hist in other.tokens.items():
            mine = self.tokens.get(token_type)
            if mine is None:
                mine = self.tokens[token_type] = ExplicitHistogram(conv.GENAI_TOKEN_USAGE_BUCKETS)
            mine.merge(hist)

    def is_empty(self) -> bool:
        return not (self.durations or self.tokens or self.first_chunk.count or self.chunk_times.count)


class InferenceStream:
    """The hot-path recorder for one (model, version, operation): thread-safe, O(1) per call.

    A successful call only appends its duration and row count to two lists under a lock (well under a
    microsecond); every ``FOLD_AT`` calls, and at collection, the lists are folded into the histograms with numpy.
    Failed calls, rare by nature, go straight into their per-``error.type`` histogram.
    """

    #: Buffered calls that trigger a fold into the histograms (bounds the buffer's memory).
    FOLD_AT = 1024

    def __init__(self, attributes: dict[str, str]) -> None:
        self.attributes = attributes
        self._reset()

    def _reset(self) -> None:
        # Also called in a forked child: a lock held by another thread at fork time would never be released.
        self._lock = threading.Lock()
        self._interval = InferenceInterval()
        self._durations: list[float] = []
        self._rows: list[int] = []  # -1 where the batch size is unknown
        self._exemplar: tuple[float, int, int, int] | None = None
        self._chunk_times: list[float] = []  # streaming calls' per-chunk times, folded with the durations

    def record(
        self,
        duration_seconds: float,
        batch_size: int | None,
        error_type: str | None,
        span_ids: tuple[int, int] | None = None,
    ) -> None:
        """Record one finished call. ``span_ids`` (trace id, span id) of a sampled span become the exemplar."""
        with self._lock:
            if error_type is None:
                self._durations.append(duration_seconds)
                self._rows.append(-1 if batch_size is None else batch_size)
                if span_ids is not None:
                    self._exemplar = (duration_seconds, time.time_ns(), span_ids[0], span_ids[1])
                if len(self._durations) >= self.FOLD_AT:
                    self._fold()
                return
            interval = self._interval
            hist = interval.durations.get(error_type)
            if hist is None:
                hist = interval.durations[error_type] = ExplicitHistogram(conv.DURATION_BUCKETS)
            hist.record(duration_seconds)
            if span_ids is not None:
                hist.exemplar = (duration_seconds, time.time_ns(), span_ids[0], span_ids[1])
            if batch_size is not None:
                interval.batch_sizes.record(batch_size)

    def record_stream(self, first_chunk: float | None, chunk_times: Sequence[float]) -> None:
        """Record one streaming call's time to its first chunk (None: no chunk came) and its later chunks' times.

        The times are appended to a buffer folded with numpy like the durations: O(1) per chunk, amortised.
        """
        with self._lock:
            if first_chunk is not None:
                self._interval.first_chunk.record(first_chunk)
            if chunk_times:
                self._chunk_times.extend(chunk_times)
                if len(self._chunk_times) >= self.FOLD_AT:
                    self._fold()

    def record_tokens(self, input_tokens: int | None, output_tokens: int | None) -> None:
        """Record one call's token usage (either count may be unknown)."""
        with self._lock:
            tokens = self._interval.tokens
            for token_type, count in (
                (conv.TOKEN_TYPE_INPUT, input_tokens),
                (conv.TOKEN_TYPE_OUTPUT, output_tokens),
            ):
                if count is None:
                    continue
                hist = tokens.get(token_type)
                if hist is None:
                    hist = tokens[token_type] = ExplicitHistogram(conv.GENAI_TOKEN_USAGE_BUCKETS)
                hist.record(count)

    def _fold(self) -> None:
        """Move the buffered successful calls into the interval's histograms (caller holds the lock)."""
        if self._chunk_times:
            self._interval.chunk_times.record_many(np.asarray(self._chunk_times, dtype=np.float64))
            self._chunk_times = []
        if not self._durations:
            return
        interval = self._interval
        hist = interval.durations.get(None)
        if hist is None:
            hist = interval.durations[None] = ExplicitHistogram(conv.DURATION_BUCKETS)
        hist.record_many(np.asarray(self._durations, dtype=np.float64))
        if self._exemplar is not None:
            hist.exemplar, self._exemplar = self._exemplar, None
        rows = np.asarray(self._rows, dtype=np.int64)
        rows = rows[rows >= 0]
        if rows.size:
            interval.batch_sizes.record_many(rows)
            interval.predictions += int(rows.sum())
        self._durations = []
        self._rows = []

    def swap(self) -> InferenceInterval:
        with self._lock:
            self._fold()
            interval, self._interval = self._interval, InferenceInterval()
        return interval

    def new_interval(self) -> InferenceInterval:
        return InferenceInterval()
