"""Wide inputs: an unnamed embedding is one vector column with a bounded series cost; nothing is cut silently."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon._faults import faults
from otel_mlmon.sketch.vector import DEFAULT_PROJECTIONS
from otel_mlmon.summary import SummaryConfig

VECTOR_SERIES = {
    conv.descriptor_name(conv.VECTOR_COLUMN, d) for d in conv.vector_sketch_descriptors(DEFAULT_PROJECTIONS)
}


def _series(telemetry, data=None) -> int:
    data = telemetry.collect() if data is None else data
    return sum(
        len(metric.data.data_points)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    )


def _feature_names(telemetry, data=None) -> set[str]:
    data = telemetry.collect() if data is None else data
    return {
        p.attributes[conv.ATTR_FEATURE_NAME]
        for metric in (conv.METRIC_FEATURE_MISSING, conv.METRIC_FEATURE_DISTRIBUTION)
        for p in telemetry.points(metric, data=data)
    }


def test_an_embedding_batch_is_one_vector_column_within_100_series(telemetry):
    """A 64×768 float32 batch costs at most 100 series for the model, counting every metric, and is summarised
    by its vector sketch (projections and norm), every row counted."""

    @otel_mlmon.monitor(model="m", record_predictions=1.0, **telemetry.providers)
    def predict(X):
        return X[:, 0] > 0

    X = np.random.default_rng(0).normal(size=(64, 768)).astype(np.float32)
    predict(X)
    predict(X[:1])
    data = telemetry.collect()
    assert _series(telemetry, data) <= 100
    assert _feature_names(telemetry, data) == VECTOR_SERIES
    (norm,) = telemetry.points(
        conv.METRIC_FEATURE_DISTRIBUTION, {conv.ATTR_FEATURE_NAME: "vector.norm"}, data
    )
    assert norm.count == 65
    # The norm is computed in float32, as the projections are.
    assert norm.min == pytest.approx(np.linalg.norm(X.astype(np.float64), axis=1).min(), rel=1e-6)
    (p00,) = telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION, {conv.ATTR_FEATURE_NAME: "vector.p00"}, data)
    assert p00.count == 65 and p00.scale == 3


def test_lists_of_wide_rows_are_vectors_too_and_narrow_inputs_keep_their_columns(telemetry):
    """Rows given as lists are read like arrays; an input narrower than vector_min_width keeps f0..fk."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        return 0

    predict([[0.5] * 128, [0.0] * 128])
    predict(np.ones((3, 8)))
    names = _feature_names(telemetry)
    assert "vector.norm" in names and {f"f{i}" for i in range(8)} <= names and "f8" not in names


def test_columns_beyond_max_columns_are_counted_and_logged_once(telemetry, caplog):
    """With vectors off, a 300-column input keeps max_columns columns; the rest are counted as faults and logged
    once, not silently cut."""
    caplog.set_level(logging.WARNING, logger="otel_mlmon")
    before = faults.counts().get("columns_dropped", 0)

    @otel_mlmon.monitor(model="m", summary_config=SummaryConfig(vector_min_width=None), **telemetry.providers)
    def predict(X):
        return 0

    predict(np.zeros((2, 300)))
    predict(np.zeros((2, 300)))
    assert len(_feature_names(telemetry)) == 256
    assert faults.counts().get("columns_dropped", 0) - before >= 44
    warnings = [r for r in caplog.records if "max_columns=256" in r.getMessage()]
    assert len(warnings) == 1 and "44 left out" in warnings[0].getMessage()


def test_named_wide_inputs_are_not_vectors():
    """Columns with names of their own stay features; the width rule only applies to unnamed inputs."""
    from otel_mlmon.adapters import read_features
    from otel_mlmon.summary import Summary

    summary = Summary()
    names = [f"pixel_{i}" for i in range(100)]
    summary.add_features(read_features(np.zeros((2, 100)), names=names))
    assert set(summary.features) == set(names)


def test_a_dataframe_without_column_labels_is_a_vector_too():
    """pandas' default integer column labels are positions, not names: a wide such frame is one vector column."""
    import pandas as pd

    from otel_mlmon.adapters import read_features
    from otel_mlmon.summary import Summary

    summary = Summary()
    summary.add_features(read_features(pd.DataFrame(np.ones((3, 96)))))
    assert not summary.features and set(summary.vectors) == {"vector"}
    columns = dict(summary.vector_columns())
    assert set(columns) == VECTOR_SERIES
    assert columns["vector.norm"].numeric.max == pytest.approx(np.sqrt(96))
