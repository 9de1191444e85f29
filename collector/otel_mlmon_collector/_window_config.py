"""The drift engine's window settings (:class:`WindowConfig`) and stream identity (:class:`StreamKey`).

Kept apart from :mod:`otel_mlmon_collector._windows` (the store itself) so the settings and their memory bound read
on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ._points import MAX_ATTRIBUTE_CHARS

__all__ = ["StreamKey", "WindowConfig"]


class StreamKey(NamedTuple):
    """One monitored entry point: ``ml.model.name``, ``ml.model.version`` (None when not set), ``ml.operation``."""

    model: str
    version: str | None
    operation: str


@dataclass(frozen=True)
class WindowConfig:
    """How points are grouped in time and how much state is kept.

    Attributes:
        window_seconds: Length of one window; windows are aligned to the clock (multiples since the epoch).
        evaluation_windows: The evaluation view merges the last this many windows (12 x 5 min = 1 h), the
            current, still open window included.
        stream_ttl_seconds: A stream (and a cumulative series) that received nothing for this long is dropped.
        max_streams: At most this many (model, version, operation) streams. A new stream beyond it takes the
            place of the least recently active stream without a reference profile (a stream with a reference
            is never evicted for another; a newcomer without one only takes the place of a stream quiet for a
            whole window); otherwise its points are dropped and counted.
        max_columns: Columns kept per section (features, outputs, confidence) of a stream.
        max_size: Buckets per sign of the rebuilt exponential histograms; points carrying more are downscaled.
        max_categories: K of the categorical sketches the windows merge into (top-K; a merged sketch keeps the
            larger K of the two, so a column keeps up to the categories its points carry).
        max_point_categories: Categories a point (the category counts of one column and time) may carry; a
            point listing more keeps its largest ones and counts the rest as other. The default is the SDK's
            ``category_capacity``, so what the SDK sends is kept whole.
        max_categories_total: Categories held in all, by every categorical sketch of every window and
            cumulative series; a categorical point that could take it past this is dropped and counted.
        max_series: Cumulative series remembered in all (one previous point each); new series beyond are
            dropped and counted.
        max_series_per_stream: Cumulative series remembered per stream.
        max_cells: Columns kept in all, over every window of every stream (one column of one window is a cell,
            bounded by ``max_size`` and ``max_categories``); points for new cells beyond are dropped and counted.
            Worst-case memory: docs/collector.md, "Limits and guarantees".
    """

    window_seconds: float = 300.0
    evaluation_windows: int = 12
    stream_ttl_seconds: float = 7200.0
    max_streams: int = 1000
    max_columns: int = 256
    max_size: int = 160
    max_categories: int = 64
    max_series: int = 16384
    max_series_per_stream: int = 4096
    max_cells: int = 50000
    max_point_categories: int = 2048
    max_categories_total: int = 250000

    def __post_init__(self) -> None:
        if not (isinstance(self.window_seconds, (int, float)) and self.window_seconds > 0):
            raise ValueError(f"window_seconds must be a number > 0, got {self.window_seconds!r}")
        for name, low in (
            ("evaluation_windows", 1),
            ("max_streams", 1),
            ("max_columns", 1),
            ("max_size", 2),
            ("max_categories", 1),
            ("max_series", 1),
            ("max_series_per_stream", 1),
            ("max_cells", 1),
            ("max_point_categories", 1),
            ("max_categories_total", 1),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not (isinstance(self.stream_ttl_seconds, (int, float)) and self.stream_ttl_seconds > 0):
            raise ValueError(f"stream_ttl_seconds must be a number > 0, got {self.stream_ttl_seconds!r}")

    def worst_case_bytes(self) -> int:
        """An upper bound of the memory one :class:`WindowStore` with this configuration holds, whatever it is
        sent (docs/collector.md, "Limits and guarantees"); requests in flight are not included.

        Per cell (a column of a window): a histogram of ``max_size`` int64 buckets per sign plus ~2.2 KB of objects
        and a name of at most 1 024 characters; per category held (windows and series together): ~1.2 KB with a
        name of at most 1 024 characters; per cumulative series: its previous histogram; per stream: its windows.
        """
        histogram = 16 * self.max_size
        return (
            self.max_cells * (histogram + 2200)
            + self.max_categories_total * 1200
            + self.max_series * (histogram + 1200)
            + self.max_streams * (self.evaluation_windows * 600 + 3 * MAX_ATTRIBUTE_CHARS + 1000)
        )

    @property
    def evaluation_seconds(self) -> float:
        """Length of the evaluation view in seconds."""
        return self.window_seconds * self.evaluation_windows
