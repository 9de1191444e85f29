"""compare(): the public offline API on profiles, files, DataFrames and arrays, and its result views."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from otel_mlmon_collector._config_reader import ConfigError
from otel_mlmon_collector.offline import DriftReport, compare

from otel_mlmon.profile import Profile

from ._data import frame


def test_shifted_columns_are_found_and_stationary_ones_are_not() -> None:
    """Only the columns whose distribution changed are reported drifted, with the verdict naming them."""
    rng = np.random.default_rng(1)
    report = compare(frame(rng, 4000), frame(rng, 1500, shift=0.4, swap=True))
    assert isinstance(report, DriftReport)
    assert report.drifted
    assert sorted(report.drifted_columns) == ["amount", "country"]
    assert report["age"].drifted is False and report["tenure"].drifted is False
    assert report["country"].kind == "categorical"
    assert "2 of 4 columns drifted" in report.verdict()


def test_no_drift_between_two_samples_of_one_population() -> None:
    """Two samples of one population give no drift and a 'no drift' verdict."""
    rng = np.random.default_rng(2)
    report = compare(frame(rng, 3000), frame(rng, 3000))
    assert not report.drifted
    assert report.verdict().startswith("no drift: 0 of 4")


def test_profile_file_and_data_files_with_globs(tmp_path) -> None:
    """A saved profile compares with several CSV / Parquet files given as a glob, merged into one current side."""
    rng = np.random.default_rng(3)
    Profile.from_data(frame(rng, 3000), model="fraud", version="7").save(tmp_path / "fraud.json.gz")
    for day in range(3):
        frame(rng, 400, shift=0.5).assign(label=1).to_csv(tmp_path / f"day{day}.csv", index=False)
    report = compare(tmp_path / "fraud.json.gz", [str(tmp_path / "day*.csv")], exclude=["label"])
    assert (report.model, report.version) == ("fraud", "7")
    assert report.current.summary.rows == 1200 and len(report.current.files) == 3
    assert report.drifted_columns == ["amount"]
    with pytest.raises(FileNotFoundError, match="no file matches"):
        compare(tmp_path / "fraud.json.gz", str(tmp_path / "nothing*.csv"))


def test_integer_codes_follow_the_profiles_categorical_columns(tmp_path) -> None:
    """A column the profile holds as categorical is read as categories from the current file too (not numbers),
    and a pandas index stored in Parquet is not compared."""
    rng = np.random.default_rng(4)
    codes = pd.DataFrame({"segment": rng.integers(0, 4, 3000), "x": rng.normal(size=3000)})
    Profile.from_data(codes, model="m", categorical=["segment"]).save(tmp_path / "m.json")
    current = pd.DataFrame({"segment": rng.integers(0, 4, 600), "x": rng.normal(size=600)})
    current.index = rng.permutation(600)  # not a RangeIndex: pandas stores it as the column __index_level_0__
    current.to_parquet(tmp_path / "now.parquet")
    report = compare(tmp_path / "m.json", tmp_path / "now.parquet")
    assert "__index_level_0__" not in {c.name for c in report.columns}
    assert report["segment"].kind == "categorical"
    assert report.unmatched == () or not any(u.live_only or u.reference_only for u in report.unmatched)


def test_config_mapping_sets_methods_thresholds_and_is_validated() -> None:
    """The collector's drift: keys choose methods and thresholds per column; a misspelt key names its path."""
    rng = np.random.default_rng(5)
    config = {"overrides": {"*": {"amount": {"method": "psi", "threshold": 0.05}}, "m": {"age": "none"}}}
    report = compare(frame(rng, 3000), frame(rng, 800, shift=0.3), model="m", config=config)
    assert report["amount"].method == "psi" and report["amount"].threshold == 0.05
    assert report["amount"].drifted
    assert report["age"].method in ("none", "missing_rate")
    with pytest.raises(ConfigError, match=r"drift\.windw_seconds"):
        compare(frame(rng, 100), frame(rng, 100), config={"windw_seconds": 3})


def test_unmatched_columns_are_listed_not_compared() -> None:
    """Columns only one side has are listed as unmatched in the report and its JSON."""
    rng = np.random.default_rng(6)
    reference = frame(rng, 1000)
    current = frame(rng, 500).drop(columns=["tenure"]).assign(extra=1.0)
    report = compare(reference, current)
    features = next(u for u in report.unmatched if u.target == "feature")
    assert features.live_only == ("extra",) and features.reference_only == ("tenure",)
    assert report.to_dict()["unmatched"]["feature"] == {"current": ["extra"], "reference": ["tenure"]}


def test_views_json_frame_text() -> None:
    """The report serialises to strict JSON with every promised key, a DataFrame and a text table."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(2000, 3))
    X[:, 2] = 1.0  # constant column: comparisons that cannot be made stay finite in JSON (null)
    Y = rng.normal([0.0, 1.0, 0.0], size=(500, 3))
    Y[:, 2] = 1.0
    report = compare(X, Y)
    data = json.loads(report.to_json())
    assert {"model", "engine_version", "columns", "drifted", "reference", "current"} <= set(data)
    keys = {"name", "kind", "method", "score", "threshold", "p_value", "n_reference", "n_current", "drifted"}
    assert all(keys <= set(c) for c in data["columns"])
    assert [c["name"] for c in data["columns"] if c["drifted"]] == ["f1"]
    table = report.to_frame()
    assert list(table["name"]) == ["f0", "f1", "f2"] and table["drifted"].tolist()[1] is True
    text = report.to_text()
    assert text.splitlines()[0].split()[:3] == ["column", "kind", "method"] and "DRIFT" in text
    assert all(math.isfinite(c.n_reference) for c in report.columns)


def test_prediction_columns_are_compared_as_outputs() -> None:
    """A single prediction column is compared as the model's output named 'prediction' (the SDK's name for it)."""
    rng = np.random.default_rng(8)
    reference = frame(rng, 2000).assign(score=rng.uniform(size=2000))
    current = frame(rng, 800).assign(score=rng.uniform(size=800) ** 3)
    report = compare(reference, current, prediction=["score"])
    output = report["prediction"]
    assert output.target == "output" and output.drifted
    assert not [c for c in report.columns if c.target == "feature" and c.drifted]


def test_text_and_identifier_columns_are_compared_by_their_descriptors() -> None:
    """Declared text columns are compared through their numeric descriptors, identifiers by length only."""
    rng = np.random.default_rng(9)
    words = np.array(["good", "bad", "service", "refund", "late", "thanks"])

    def rows(n: int, longest: int) -> pd.DataFrame:
        messages = [" ".join(rng.choice(words, size=rng.integers(3, longest))) for _ in range(n)]
        return pd.DataFrame({"msg": messages, "user": [f"u{rng.integers(10**9)}" for _ in range(n)]})

    report = compare(rows(2000, 8), rows(500, 30), text=["msg"], ids=["user"])
    names = {c.name for c in report.columns}
    assert {"msg.chars", "msg.words", "user.chars"} <= names and "msg" not in names and "user" not in names
    assert {"msg.chars", "msg.words"} <= set(report.drifted_columns)
    assert "user.chars" not in report.drifted_columns
