"""Each class's probability over the rows not predicted as it (``Summary.class_probability``): what is sketched, for
which outputs, how it merges, serialises and is exported as ``ml.prediction.class_probability``."""

from __future__ import annotations

import json

import numpy as np
import pytest

import otel_mlmon
from otel_mlmon import Profile
from otel_mlmon import conventions as conv
from otel_mlmon._summarize import SummaryStream
from otel_mlmon.adapters import read_outputs
from otel_mlmon.summary import Summary, SummaryConfig
from otel_mlmon.testing import InMemoryTelemetry

CLASSES = ["cat", "dog", "fox", "owl"]


def _proba(rng: np.random.Generator, n: int, k: int = 4) -> np.ndarray:
    return rng.dirichlet(np.full(k, 0.7), size=n)


def _expected(m: np.ndarray, classes: list) -> dict[tuple[str, str], np.ndarray]:
    """numpy's p_c over the complete rows whose argmax is not c, per class with such rows."""
    complete = np.isfinite(m).all(axis=1)
    m = m[complete]
    predicted = m.argmax(axis=1)
    out = {}
    for j, label in enumerate(classes):
        values = m[predicted != j, j]
        if values.size:
            out[("prediction", str(label))] = values
    return out


def _assert_sketches(summary: Summary, expected: dict[tuple[str, str], np.ndarray]) -> None:
    assert set(summary.class_probability) == set(expected)
    for key, values in expected.items():
        column = summary.class_probability[key]
        assert column.kind == "numeric" and column.missing == 0 and column.infinite == 0
        h = column.numeric
        assert h.count == values.size, key
        assert h.sum == pytest.approx(values.sum(), rel=1e-12, abs=1e-12), key
        assert (h.min, h.max) == (values.min(), values.max()), key


def test_each_class_is_sketched_over_the_rows_not_predicted_as_it() -> None:
    """p_c of every complete row whose argmax is not c, per class: count, sum, min and max as numpy's."""
    rng = np.random.default_rng(1)
    m = _proba(rng, 2000)
    m[:5] = np.nan  # incomplete rows: no class probability (the confidence counts them as missing)
    summary = Summary()
    summary.add_outputs(read_outputs(m, classes=CLASSES))
    _assert_sketches(summary, _expected(m, CLASSES))
    # The other classes' probabilities of a row add up to 1 - its confidence.
    total = sum(c.numeric.sum for c in summary.class_probability.values())
    complement = sum(c.numeric.sum for c in summary.confidence_complement.values())
    assert total == pytest.approx(complement, rel=1e-9)


def test_a_class_predicted_on_every_row_gets_no_column() -> None:
    """A class no row of the call is 'not predicted as' has nothing to sketch: no column is made for it."""
    m = np.tile([0.7, 0.2, 0.1], (50, 1))
    summary = Summary()
    summary.add_outputs(read_outputs(m, classes=[0, 1, 2]))
    assert set(summary.class_probability) == {("prediction", "1"), ("prediction", "2")}
    assert summary.class_probability[("prediction", "1")].numeric.count == 50


def test_binary_outputs_and_outputs_beyond_max_categories_get_none() -> None:
    """Two classes (p_other is 1 - confidence) and more than max_categories classes: no class_probability."""
    rng = np.random.default_rng(2)
    binary = Summary()
    binary.add_outputs(read_outputs(_proba(rng, 100, 2), classes=["no", "yes"]))
    assert binary.class_probability == {} and binary.confidence
    capped = Summary(SummaryConfig(max_categories=4))
    capped.add_outputs(read_outputs(_proba(rng, 100, 5)))
    assert capped.class_probability == {} and capped.confidence
    at_cap = Summary(SummaryConfig(max_categories=4))
    at_cap.add_outputs(read_outputs(_proba(rng, 100, 4)))
    assert len(at_cap.class_probability) == 4
    assert "class_probability" not in binary.to_dict()  # left out when empty


def test_merge_and_round_trip_keep_every_count() -> None:
    """Two summaries merged equal one of all rows; to_dict/from_dict keeps the section; old summaries load."""
    rng = np.random.default_rng(3)
    first, second = _proba(rng, 700), _proba(rng, 300)
    merged = Summary()
    for part in (first, second):
        one = Summary()
        one.add_outputs(read_outputs(part, classes=CLASSES))
        merged.merge(one)
    _assert_sketches(merged, _expected(np.concatenate([first, second]), CLASSES))
    data = merged.to_dict()
    assert {(e["output"], e["class"]) for e in data["class_probability"]} == set(merged.class_probability)
    again = Summary.from_dict(data)
    for key, column in merged.class_probability.items():
        assert again.class_probability[key].numeric.to_dict() == column.numeric.to_dict()
    del data["class_probability"]  # a summary written before the section existed still loads
    assert Summary.from_dict(data).class_probability == {}


def test_a_decision_rule_sketches_the_rows_not_decided_as_each_class() -> None:
    """With a deployed decision, "not predicted c" means not decided c (the rows the confidence files elsewhere)."""
    rng = np.random.default_rng(4)
    m = _proba(rng, 400)
    telemetry = InMemoryTelemetry()
    predict = otel_mlmon.monitor(
        model="m",
        classes=CLASSES,
        decision=lambda p: np.zeros(len(p), dtype=np.int64),  # always the first class
        max_rows=None,
        trace=False,
        **telemetry.providers,
    )(lambda X: m)
    predict(np.zeros((400, 2)))
    points = telemetry.points(conv.METRIC_PREDICTION_CLASS_PROBABILITY, data=telemetry.collect())
    counts = {p.attributes[conv.ATTR_PREDICTION_CLASS]: p.count for p in points}
    assert counts == {"dog": 400, "fox": 400, "owl": 400}  # "cat" is decided on every row
    telemetry.shutdown()


def test_monitored_calls_export_one_series_per_class() -> None:
    """Several monitored calls (folded together) export ml.prediction.class_probability per output and class,
    with the counts and sums numpy gives over all their rows."""
    rng = np.random.default_rng(5)
    calls = [_proba(rng, n) for n in (1, 3, 40, 200, 1, 7)]
    calls[2][4] = np.nan
    telemetry = InMemoryTelemetry()
    outputs = iter(calls)
    predict = otel_mlmon.monitor(
        model="m", version="1", classes=CLASSES, max_rows=None, trace=False, **telemetry.providers
    )(lambda X: next(outputs))
    for m in calls:
        predict(np.zeros((len(m), 2)))
    data = telemetry.collect()
    points = telemetry.points(conv.METRIC_PREDICTION_CLASS_PROBABILITY, data=data)
    expected = _expected(np.concatenate(calls), CLASSES)
    got = {(p.attributes[conv.ATTR_OUTPUT_NAME], p.attributes[conv.ATTR_PREDICTION_CLASS]): p for p in points}
    assert set(got) == set(expected)
    for key, values in expected.items():
        assert got[key].attributes[conv.ATTR_MODEL_NAME] == "m"
        assert got[key].count == values.size
        assert got[key].sum == pytest.approx(values.sum(), rel=1e-12)
    telemetry.shutdown()


def test_profiles_carry_the_section_and_old_profiles_load(tmp_path) -> None:
    """Profile.from_data (with labels, chunked or not) builds the section; a profile saved without it loads."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(3000, 2))
    m = _proba(rng, 3000)
    y = np.array(CLASSES)[rng.integers(0, 4, size=3000)]
    profile = Profile.from_data(X, m, model="m", classes=CLASSES, labels=y)
    _assert_sketches(profile.summary, _expected(m, CLASSES))
    path = tmp_path / "m.json"
    profile.save(path)
    assert Profile.load(path).summary.class_probability.keys() == profile.summary.class_probability.keys()
    data = json.loads(path.read_text())
    del data["summary"]["class_probability"]
    path.write_text(json.dumps(data))
    assert Profile.load(path).summary.class_probability == {}


def test_outputs_of_a_mapping_and_sampled_rows_keep_their_classes() -> None:
    """A probability output under its key in a dict return value gets its own columns, and a call cut to max_rows
    sketches its kept rows only: each row counts once for every class but its predicted one."""
    rng = np.random.default_rng(7)
    summary = Summary()
    m = _proba(rng, 300, 3)
    summary.add_outputs(read_outputs({"species": m, "score": rng.normal(size=300)}, classes=[0, 1, 2]))
    assert {o for o, _ in summary.class_probability} == {"species"}
    assert sum(c.numeric.count for c in summary.class_probability.values()) == 2 * 300
    telemetry = InMemoryTelemetry()
    predict = otel_mlmon.monitor(model="m", classes=CLASSES, max_rows=25, trace=False, **telemetry.providers)(
        lambda X: _proba(rng, len(X))
    )
    predict(np.zeros((1000, 2)))
    data = telemetry.collect()
    points = telemetry.points(conv.METRIC_PREDICTION_CLASS_PROBABILITY, data=data)
    assert sum(p.count for p in points) == (len(CLASSES) - 1) * 25
    telemetry.shutdown()


def test_the_fold_keeps_only_the_matrices_it_sketches() -> None:
    """A binary or too wide probability output's matrix is dropped when the call is read, so held rows are not
    made heavier (nor concatenated) for nothing; a multiclass one within the cap is kept."""
    stream = SummaryStream({"ml.model.name": "m"}, SummaryConfig(max_categories=4), max_rows=None)
    rng = np.random.default_rng(8)
    X = np.zeros((10, 2))
    for k, kept in ((2, False), (3, True), (4, True), (5, False)):
        _, read = stream._read(X, _proba(rng, 10, k), None)
        assert ("prediction" in read.probabilities) is kept, k
        assert "prediction" in read.confidence
    stream.discard()
