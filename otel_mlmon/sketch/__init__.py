"""Mergeable, bounded-memory sketches of feature and prediction distributions (pure numpy)."""

from __future__ import annotations

from otel_mlmon.sketch._aligned import aligned_buckets
from otel_mlmon.sketch._buckets import common_grid, downscale_buckets
from otel_mlmon.sketch._mapping import bucket_lower_bounds, map_to_index, scale_change
from otel_mlmon.sketch.categorical import CategoricalSketch
from otel_mlmon.sketch.exponential import ExponentialHistogram

__all__ = [
    "CategoricalSketch",
    "ExponentialHistogram",
    "aligned_buckets",
    "bucket_lower_bounds",
    "common_grid",
    "downscale_buckets",
    "map_to_index",
    "scale_change",
]
