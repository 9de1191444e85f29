"""Embedding outputs: what a predict function returns → the series that leave the process (one vector column)."""

from __future__ import annotations

import numpy as np
import pytest

import otel_mlmon
from otel_mlmon import Profile
from otel_mlmon import conventions as conv
from otel_mlmon.adapters import read_outputs
from otel_mlmon.sketch.vector import DEFAULT_PROJECTIONS
from otel_mlmon.summary import Summary, SummaryConfig
from tests.sdk.profile_equality import assert_same_summary


def _vector_series(name: str) -> set[str]:
    return {conv.descriptor_name(name, d) for d in conv.vector_sketch_descriptors(DEFAULT_PROJECTIONS)}


def _embeddings(n: int, d: int = 768, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def _output_names(telemetry, data) -> set[str]:
    return {
        p.attributes[conv.ATTR_OUTPUT_NAME]
        for metric in (conv.METRIC_PREDICTION_DISTRIBUTION, conv.METRIC_PREDICTION_MISSING)
        for p in telemetry.points(metric, data=data)
    }


def _series(data) -> int:
    return sum(
        len(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    )


def _torch_rows(n: int):
    torch = pytest.importorskip("torch")
    return torch.from_numpy(_embeddings(n))


# What a user returns (for a batch of ``n`` rows) and the output name its embedding gets.
RETURNS = {
    "float32 array": (lambda n: _embeddings(n), "prediction"),
    "float64 array": (lambda n: _embeddings(n).astype(np.float64), "prediction"),
    "list of lists": (lambda n: _embeddings(n).tolist(), "prediction"),
    "list of 1-D arrays": (lambda n: list(_embeddings(n)), "prediction"),
    "torch tensor": (_torch_rows, "prediction"),
    "list of 1-D tensors": (lambda n: list(_torch_rows(n)), "prediction"),
    "dict": (lambda n: {"embedding": _embeddings(n)}, "embedding"),
}


# The torch forms need PyTorch, which only CI's heavy step installs (.ci/test-heavy runs this file with -m heavy);
# elsewhere they skip.
_TORCH_KINDS = {"torch tensor", "list of 1-D tensors"}


@pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=pytest.mark.heavy) if k in _TORCH_KINDS else k for k in RETURNS]
)
def test_an_embedding_output_is_one_vector_column_within_100_series(telemetry, kind):
    """Every usual form of an (n, 768) embedding leaves as ``{output}.p00`` … ``.p63`` and ``.norm`` outputs,
    every row counted, and the model costs at most 100 series in all."""
    make, name = RETURNS[kind]

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def embed(X):
        return make(len(X))

    embed(np.ones((64, 3)))
    embed(np.ones((1, 3)))
    data = telemetry.collect()
    assert _output_names(telemetry, data) == _vector_series(name)
    assert _series(data) <= 100
    (norm,) = telemetry.points(
        conv.METRIC_PREDICTION_DISTRIBUTION, {conv.ATTR_OUTPUT_NAME: f"{name}.norm"}, data
    )
    assert norm.count == 65
    first = np.linalg.norm(_embeddings(64).astype(np.float64), axis=1)
    assert norm.max == pytest.approx(max(first.max(), np.linalg.norm(_embeddings(1)[0])), rel=1e-5)
    (missing,) = telemetry.points(
        conv.METRIC_PREDICTION_MISSING, {conv.ATTR_OUTPUT_NAME: f"{name}.norm"}, data
    )
    assert missing.value == 0


def test_a_label_beside_an_embedding_keeps_its_own_output(telemetry):
    """A tuple (labels, embeddings): the labels stay a categorical output, the embedding is a vector column; rows
    with a NaN component are counted once as missing, on the norm."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        emb = _embeddings(len(X))
        emb[0, 5] = np.nan
        return np.array(["a", "b"] * (len(X) // 2)), emb

    predict(np.ones((10, 3)))
    data = telemetry.collect()
    names = _output_names(telemetry, data)
    assert names == _vector_series("output_1") | {"output_0"}
    classes = {
        p.attributes[conv.ATTR_PREDICTION_CLASS]
        for p in telemetry.points(conv.METRIC_PREDICTION_CLASS_COUNT, data=data)
    }
    assert classes == {"a", "b"}
    (missing,) = telemetry.points(
        conv.METRIC_PREDICTION_MISSING, {conv.ATTR_OUTPUT_NAME: "output_1.norm"}, data
    )
    (norm,) = telemetry.points(
        conv.METRIC_PREDICTION_DISTRIBUTION, {conv.ATTR_OUTPUT_NAME: "output_1.norm"}, data
    )
    assert (missing.value, norm.count) == (1, 9)


@pytest.mark.parametrize("k", [2, 10, 100])
def test_class_probabilities_stay_a_class_and_a_confidence(k):
    """Softmax outputs, however many classes, are probabilities: the predicted class and its confidence."""
    p = np.random.default_rng(1).dirichlet(np.ones(k), size=50)
    outputs = read_outputs(p)
    assert [(c.name, c.kind) for c in outputs.table.columns] == [("prediction", "categorical")]
    assert set(outputs.confidence) == {"prediction"}


def test_narrow_or_integer_matrices_stay_one_output_per_column():
    """Multi-output regression (3 columns), an integer matrix (labels) and a 63-wide float matrix are read as
    before: one output per column."""
    for matrix in (
        np.random.default_rng(2).normal(size=(5, 3)),
        np.ones((5, 80), dtype=np.int64),
        np.ones((5, 63)),
    ):
        outputs = read_outputs(matrix)
        assert [c.name for c in outputs.table.columns] == [f"output_{j}" for j in range(matrix.shape[1])]
        assert {c.kind for c in outputs.table.columns} != {"vector"}


def test_vector_min_width_applies_to_outputs_too():
    """``vector_min_width=None`` (or wider than the embedding) summarises the output dimension by dimension."""
    outputs = read_outputs(_embeddings(4, d=96))
    off, wide, default = (
        Summary(SummaryConfig(vector_min_width=None)),
        Summary(SummaryConfig(vector_min_width=128)),
        Summary(),
    )
    for summary in (off, wide, default):
        summary.add_outputs(outputs)
    assert set(off.outputs) == set(wide.outputs) == {f"prediction_{j}" for j in range(96)}
    assert not off.output_vectors and not wide.output_vectors
    assert not default.outputs and set(default.output_vectors) == {"prediction"}
    assert set(dict(default.vector_columns(outputs=True))) == _vector_series("prediction")


def test_embedding_values_never_become_prediction_records(telemetry):
    """Prediction records carry the label beside an embedding, never one record per dimension."""

    @otel_mlmon.monitor(model="m", record_predictions=1.0, **telemetry.providers)
    def predict(X):
        return {"label": np.array(["x"] * len(X)), "embedding": _embeddings(len(X))}

    predict(np.ones((4, 3)))
    records = telemetry.records(conv.EVENT_PREDICTION)
    assert len(records) == 4
    assert {r.attributes[conv.ATTR_OUTPUT_NAME] for r in records} == {"label"}


def test_a_profile_of_the_same_embeddings_matches_the_sdk_summary(telemetry):
    """Profile.from_data(X, embeddings) sketches the outputs exactly as the decorator does, and the profile keeps
    them through save and load (with the covariance that calibrates the collector's test)."""
    X, emb = np.ones((200, 3)), _embeddings(200)
    profile = Profile.from_data(X, emb, model="m")
    summary = Summary()
    summary.add_features(otel_mlmon.adapters.read_features(X))
    summary.add_outputs(read_outputs(emb))
    assert_same_summary(summary.to_dict(), profile.summary.to_dict())
    again = Profile.from_dict(profile.to_dict())
    sketch = again.summary.output_vectors["prediction"]
    assert sketch.count == 200 and sketch.covariance().shape == (64, 64)
    merged = Summary()
    merged.merge(again.summary)
    merged.merge(summary)
    assert merged.output_vectors["prediction"].count == 400


def test_embeddings_of_another_width_under_one_name_lose_no_row(telemetry):
    """A model swapped for one with another embedding width (768 then 384) between calls: the column keeps its
    first width and the other rows are counted as missing (held reads of different widths used to be stacked into
    one table, which failed and lost every held row)."""
    widths = iter([768, 384, 768])

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def embed(X):
        return _embeddings(len(X), d=next(widths))

    for n in (5, 7, 11):
        embed(np.ones((n, 3)))
    data = telemetry.collect()
    (norm,) = telemetry.points(
        conv.METRIC_PREDICTION_DISTRIBUTION, {conv.ATTR_OUTPUT_NAME: "prediction.norm"}, data
    )
    (missing,) = telemetry.points(
        conv.METRIC_PREDICTION_MISSING, {conv.ATTR_OUTPUT_NAME: "prediction.norm"}, data
    )
    assert (norm.count, missing.value) == (16, 7)
