"""The sketch package exports exactly its promised names."""

from __future__ import annotations

import otel_mlmon.sketch as sketch


def test_public_names_are_exported_and_sorted() -> None:
    """__all__ is sorted and every listed name is importable from otel_mlmon.sketch."""
    assert sketch.__all__ == sorted(sketch.__all__)
    assert set(sketch.__all__) == {
        "CategoricalSketch",
        "ExponentialHistogram",
        "aligned_buckets",
        "bucket_lower_bounds",
        "common_grid",
        "downscale_buckets",
        "map_to_index",
        "scale_change",
    }
    for name in sketch.__all__:
        assert getattr(sketch, name) is not None


def test_histogram_public_attributes_exist() -> None:
    """The attribute names the export bridge and the drift engine rely on are present."""
    hist = sketch.ExponentialHistogram()
    for name in (
        "max_size",
        "max_scale",
        "scale",
        "zero_count",
        "positive_offset",
        "positive_counts",
        "negative_offset",
        "negative_counts",
        "count",
        "sum",
        "min",
        "max",
    ):
        assert hasattr(hist, name), name
