"""Reference profiles: built like production summaries, saved and loaded safely."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon.profile import FORMAT_VERSION, Profile
from otel_mlmon.sketch import ExponentialHistogram


def test_profile_sketches_equal_what_the_sdk_exports_for_the_same_data(telemetry):
    """A profile of X has, per feature, exactly the sketch a monitored model exports after seeing X."""
    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        {
            "amount": rng.lognormal(size=500),
            "delta": rng.normal(size=500),
            "tier": rng.choice(["a", "b"], 500),
        }
    )

    @otel_mlmon.monitor(model="m", max_rows=None, **telemetry.providers)
    def predict(frame):
        return np.zeros(len(frame))

    predict(X)
    profile = Profile.from_data(X, model="m")
    for name in ("amount", "delta"):
        (point,) = telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION, {conv.ATTR_FEATURE_NAME: name})
        sketch = profile.summary.features[name].numeric
        assert (point.scale, point.count, point.positive.offset) == (
            sketch.scale,
            sketch.count,
            sketch.positive_offset,
        )
        assert list(point.positive.bucket_counts) == sketch.positive_counts.tolist()
        assert list(point.negative.bucket_counts) == sketch.negative_counts.tolist()
    assert profile.summary.features["tier"].categorical.top() == sorted(
        X["tier"].value_counts().items(), key=lambda kv: (-kv[1], kv[0])
    )


def test_save_load_round_trip_json_and_gzip(tmp_path):
    """A saved profile loads back equal, as JSON or gzip-compressed JSON."""
    X = np.random.default_rng(4).normal(size=(200, 3))
    profile = Profile.from_data(
        X,
        X[:, 0] > 0,
        model="fraud",
        version="3",
        feature_names=["a", "b", "c"],
        performance={"accuracy": 0.9},
    )
    for name in ("p.json", "p.json.gz"):
        loaded = Profile.load(profile.save(tmp_path / name))
        assert (loaded.model, loaded.version, loaded.performance) == ("fraud", "3", {"accuracy": 0.9})
        assert loaded.created_at == profile.created_at.astimezone(dt.timezone.utc)
        for col in "abc":
            assert loaded.summary.features[col].numeric == profile.summary.features[col].numeric
        assert (
            loaded.summary.outputs["prediction"].categorical.top()
            == profile.summary.outputs["prediction"].categorical.top()
        )
    assert gzip.decompress((tmp_path / "p.json.gz").read_bytes())[:1] == b"{"


def test_profile_file_is_small(tmp_path):
    """A 100 000-row, 20-feature profile stays in the tens of kilobytes."""
    X = np.random.default_rng(5).normal(size=(100_000, 20))
    path = Profile.from_data(X, model="m").save(tmp_path / "p.json.gz")
    assert path.stat().st_size < 50_000


def test_load_rejects_other_files_with_a_clear_error(tmp_path):
    """Loading something that is not a profile, or a newer format, names the file and the problem."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match=r"bad\.json.*not an otel-mlmon profile"):
        Profile.load(bad)
    newer = Profile.from_data(np.ones((2, 1)), model="m").to_dict()
    newer["format_version"] = FORMAT_VERSION + 1
    future = tmp_path / "future.json"
    future.write_text(json.dumps(newer))
    with pytest.raises(ValueError, match="not supported"):
        Profile.load(future)


def test_predictions_must_match_rows():
    """Predictions with another row count than the features are refused."""
    with pytest.raises(ValueError, match="one per row"):
        Profile.from_data(np.ones((3, 2)), np.ones(2), model="m")


def test_update_in_chunks_equals_one_pass():
    """Building a profile chunk by chunk gives the same sketches as one pass over all rows."""
    X = np.random.default_rng(6).normal(size=(1000, 2))
    whole = Profile.from_data(X, model="m")
    chunked = Profile.from_data(X[:300], model="m")
    chunked.update(X[300:])
    for name in whole.summary.features:
        a, b = whole.summary.features[name].numeric, chunked.summary.features[name].numeric
        reference = ExponentialHistogram()
        reference.update(X[:, int(name[1:])])
        assert a == reference
        assert (a.scale, a.count, a.positive_counts.sum()) == (b.scale, b.count, b.positive_counts.sum())


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_streams_a_file_larger_than_a_batch(tmp_path, suffix):
    """profile build reads CSV and Parquet in batches (prediction and excluded columns apart) and show prints it."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "amount": rng.lognormal(size=2500),
            "country": rng.choice(["FR", "DE"], 2500),
            "label": rng.integers(0, 2, 2500),
            "pred": rng.integers(0, 2, 2500),
        }
    )
    data = tmp_path / f"train{suffix}"
    if suffix == ".csv":
        frame.to_csv(data, index=False)
    else:
        frame.to_parquet(data)
    out = tmp_path / "ref.json.gz"
    base = [sys.executable, "-m", "otel_mlmon.cli", "profile", "build", str(data), "--model", "fraud"]
    cmd = [
        *base,
        "--version",
        "3",
        "--prediction",
        "pred",
        "--exclude",
        "label",
        "--batch-rows",
        "1000",
        "-o",
        str(out),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "2500 rows, 2 features, 1 outputs" in result.stdout
    assert "profiled 2,500" in result.stderr
    profile = Profile.load(out)
    whole = Profile.from_data(
        frame[["amount", "country"]], frame["pred"].to_numpy(), model="fraud", version="3"
    )
    assert profile.summary.features["amount"].numeric == whole.summary.features["amount"].numeric
    assert (
        profile.summary.features["country"].categorical.top()
        == whole.summary.features["country"].categorical.top()
    )
    assert (
        profile.summary.outputs["prediction"].categorical.top()
        == whole.summary.outputs["prediction"].categorical.top()
    )
    shown = subprocess.run(
        [sys.executable, "-m", "otel_mlmon.cli", "profile", "show", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "amount" in shown and "country" in shown and "prediction" in shown and "(0.0%)" in shown
    bad = subprocess.run([*base, "--prediction", "nope", "-o", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2 and "no column 'nope'" in bad.stderr


def test_merge_of_shards_equals_one_profile():
    """Profiles built on two shards and merged equal, column by column, the profile of all rows."""
    X = np.random.default_rng(8).normal(size=(2000, 2))
    a = Profile.from_data(X[:700], model="m", version="1")
    b = Profile.from_data(X[700:], model="m", version="1")
    a.merge(b)
    whole = Profile.from_data(X, model="m", version="1")
    for name in whole.summary.features:
        mine, ref = a.summary.features[name].numeric, whole.summary.features[name].numeric
        assert (mine.scale, mine.count, mine.positive_counts.tolist()) == (
            ref.scale,
            ref.count,
            ref.positive_counts.tolist(),
        )
    assert a.summary.rows == 2000
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(Profile.from_data(X, model="other"))


def test_corrupt_and_truncated_files_name_the_problem(tmp_path):
    """A truncated gzip, broken JSON or a missing field gives a ValueError naming the file, never a crash."""
    good = Profile.from_data(np.ones((3, 1)), model="m").save(tmp_path / "good.json.gz")
    truncated = tmp_path / "truncated.json.gz"
    truncated.write_bytes(good.read_bytes()[:20])
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "otel-mlmon.profile", ')
    no_model = tmp_path / "no_model.json"
    data = Profile.from_data(np.ones((3, 1)), model="m").to_dict()
    del data["model"]
    no_model.write_text(json.dumps(data))
    for path, message in (
        (truncated, "corrupt or truncated"),
        (broken, "corrupt or truncated"),
        (no_model, "model"),
    ):
        with pytest.raises(ValueError, match=message) as info:
            Profile.load(path)
        assert path.name in str(info.value)


def _texts_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array(["late", "parcel", "great", "support", "Refund", "broken", "ok", "42", "été", "!!"])
    return pd.DataFrame(
        {
            "review": [" ".join(rng.choice(words, rng.integers(0, 12))) for _ in range(n)],
            "email": [f"user{i}@example.com" for i in range(n)],
            "country": rng.choice(["FR", "DE", "IT"], n),
            "amount": rng.lognormal(size=n),
        }
    )


def test_profile_of_texts_equals_what_the_sdk_exports_for_the_same_texts(telemetry):
    """Text and identifier columns get the same kind and, descriptor by descriptor, the same sketch in a profile
    as in the SDK's export, so the collector compares them like numeric features."""
    X = _texts_frame(400, 11)

    @otel_mlmon.monitor(model="m", max_rows=None, **telemetry.providers)
    def predict(frame):
        return np.zeros(len(frame))

    predict(X)
    profile = Profile.from_data(X, model="m")
    data = telemetry.collect()
    exported = {
        p.attributes[conv.ATTR_FEATURE_NAME]: p
        for p in telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION, data=data)
    }
    numeric = {name for name, c in profile.summary.features.items() if c.numeric is not None}
    assert numeric == set(exported)
    assert {"review.chars", "review.words", "review.non_ascii", "review.blank", "email.chars"} <= numeric
    assert "email.words" not in numeric and "review" not in profile.summary.features
    for name in numeric:
        point, sketch = exported[name], profile.summary.features[name].numeric
        assert (point.scale, point.count, point.zero_count) == (sketch.scale, sketch.count, sketch.zero_count)
        assert list(point.positive.bucket_counts) == sketch.positive_counts.tolist(), name
    assert profile.summary.features["country"].categorical is not None


def test_profile_applies_declared_kinds_and_the_cli_takes_them(tmp_path):
    """text=/ids= on Profile.from_data and --text/--ids on `profile build` declare kinds like @monitor does."""
    X = _texts_frame(300, 12)
    profile = Profile.from_data(X, model="m", text=["country"], ids=["review"])
    assert {"country.chars", "country.words", "review.chars"} <= set(profile.summary.features)
    assert "review.words" not in profile.summary.features
    data = tmp_path / "train.csv"
    X.to_csv(data, index=False)
    out = tmp_path / "ref.json"
    cmd = [sys.executable, "-m", "otel_mlmon.cli", "profile", "build", str(data), "--model", "m"]
    subprocess.run(
        [*cmd, "--text", "country", "--ids", "review", "-o", str(out)], check=True, capture_output=True
    )
    built = Profile.load(out)
    assert set(built.summary.features) == set(profile.summary.features)
    assert (
        built.summary.features["country.chars"].numeric == profile.summary.features["country.chars"].numeric
    )


def test_a_small_profile_decides_its_string_columns_when_saved(tmp_path):
    """A profile with fewer values than the rule's sample still decides and keeps every string column."""
    profile = Profile(model="m", version=None, summary=otel_mlmon.summary.Summary())
    profile.update(pd.DataFrame({"note": ["a short note with several words"] * 3, "tier": ["a", "b", "a"]}))
    path = profile.save(tmp_path / "p.json")
    loaded = Profile.load(path)
    assert loaded.summary.features["note.chars"].count == 3
    assert loaded.summary.features["tier"].categorical.top() == [("a", 2), ("b", 1)]
