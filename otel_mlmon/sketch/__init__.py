"""Mergeable, bounded-memory sketches of feature and prediction distributions (pure numpy)."""

from __future__ import annotations

from otel_mlmon.sketch.categorical import CategoricalSketch
from otel_mlmon.sketch.exponential import ExponentialHistogram, aligned_buckets

__all__ = ["CategoricalSketch", "ExponentialHistogram", "aligned_buckets"]
