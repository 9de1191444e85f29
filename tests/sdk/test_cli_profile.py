"""``otel-mlmon profile build`` / ``show`` as a new user meets them: column types kept or warned about, never
changed silently, and every kind of column shown."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon.cli import main
from otel_mlmon.profile import Profile

README = Path(__file__).resolve().parents[2] / "README.md"


def _build(capsys, data: Path, *options: str) -> tuple[Profile, list[str]]:
    """Run `profile build` in-process; the profile and its warning lines."""
    out = data.with_suffix(".profile.json")
    code = main(["profile", "build", str(data), "--model", "m", *options, "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return Profile.load(out), [line for line in captured.err.splitlines() if line.startswith("warning:")]


def _about(warnings: list[str], column: str) -> list[str]:
    return [w for w in warnings if w.startswith(f"warning: column {column!r}:")]


def _exported(telemetry, name: str):
    (point,) = telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION, {conv.ATTR_FEATURE_NAME: name})
    return point


def _same_sketch(point, sketch) -> bool:
    return (
        point.scale == sketch.scale
        and point.count == sketch.count
        and point.zero_count == sketch.zero_count
        and point.positive.offset == sketch.positive_offset
        and list(point.positive.bucket_counts) == sketch.positive_counts.tolist()
        and list(point.negative.bucket_counts) == sketch.negative_counts.tolist()
    )


def test_a_few_stray_strings_leave_a_csv_column_numeric_like_production(tmp_path, capsys, telemetry):
    """A numeric CSV column with a few stray strings (one in the decision sample, one far past it) is profiled
    as numeric with the strays missing and one warning naming the column and the option, and its sketch is the
    one the SDK exports when production sends those rows as numbers with the strays missing."""
    rng = np.random.default_rng(1)
    n = 12_000
    age = rng.integers(18, 90, n).astype(float)
    raw = age.astype(int).astype(object)
    for row in (5, 11_500):
        raw[row] = "unknown"
        age[row] = np.nan
    pd.DataFrame({"age": raw, "amount": rng.lognormal(size=n)}).to_csv(tmp_path / "t.csv", index=False)

    profile, warnings = _build(capsys, tmp_path / "t.csv", "--batch-rows", "1000")

    column = profile.summary.features["age"]
    assert (column.kind, column.count, column.missing) == ("numeric", n - 2, 2)
    (warning,) = _about(warnings, "age")
    assert "2 of 12,000 values are not numbers" in warning and "'unknown'" in warning
    assert "--categorical age" in warning
    assert _about(warnings, "amount") == []

    @otel_mlmon.monitor(model="m", max_rows=None, **telemetry.providers)
    def predict(frame):
        return np.zeros(len(frame))

    predict(pd.DataFrame({"age": age}))
    assert _same_sketch(_exported(telemetry, "age"), column.numeric)


def test_a_mostly_string_column_stays_strings_and_numeric_reads_it_as_numbers(tmp_path, capsys):
    """A CSV column whose values are mostly but not nearly all numbers stays strings with a warning pointing to
    --numeric, which reads it (or a Parquet string column) as numbers with the rest missing."""
    values = [str(v % 10) for v in range(70)] + ["unknown"] * 30
    pd.DataFrame({"age": values}).to_csv(tmp_path / "t.csv", index=False)

    profile, warnings = _build(capsys, tmp_path / "t.csv")
    assert profile.summary.features["age"].kind == "categorical"
    (warning,) = _about(warnings, "age")
    assert "70 of 100 sampled values are numbers" in warning and "--numeric age" in warning

    profile, warnings = _build(capsys, tmp_path / "t.csv", "--numeric", "age")
    column = profile.summary.features["age"]
    assert (column.kind, column.count, column.missing) == ("numeric", 70, 30)
    assert column.numeric.max == 9

    pd.DataFrame({"age": values}).to_parquet(tmp_path / "t.parquet")  # a typed string column: --numeric too
    parquet, warnings = _build(capsys, tmp_path / "t.parquet", "--numeric", "age")
    assert parquet.summary.features["age"].numeric == column.numeric
    assert "30 of 100 values are not numbers" in _about(warnings, "age")[0]


def test_declared_categorical_zip_codes_keep_their_leading_zeros(tmp_path, capsys):
    """--categorical zip reads the CSV column verbatim (06000 stays 06000); undeclared, it is read as numbers with a
    warning naming the column and --categorical."""
    zips = ["06000", "75001", "06000", "13008"] * 10
    pd.DataFrame({"zip": zips, "x": range(40)}).to_csv(tmp_path / "t.csv", index=False)

    profile, warnings = _build(capsys, tmp_path / "t.csv", "--categorical", "zip")
    assert profile.summary.features["zip"].categorical.top() == [("06000", 20), ("13008", 10), ("75001", 10)]
    assert _about(warnings, "zip") == []

    profile, warnings = _build(capsys, tmp_path / "t.csv")
    assert profile.summary.features["zip"].kind == "numeric"
    (warning,) = _about(warnings, "zip")
    assert "leading zeros" in warning and "'06000'" in warning and "--categorical zip" in warning


def test_iso_date_strings_are_profiled_as_the_datetimes_production_sends(tmp_path, capsys, telemetry):
    """ISO date strings in a CSV become a datetime column with the sketch the SDK exports for the same datetimes,
    with a warning naming the column; --ids keeps them as strings."""
    stamps = pd.date_range("2024-01-01", periods=500, freq="37min")
    pd.DataFrame({"signup": stamps.strftime("%Y-%m-%d %H:%M:%S")}).to_csv(tmp_path / "t.csv", index=False)

    profile, warnings = _build(capsys, tmp_path / "t.csv")
    column = profile.summary.features["signup"]
    assert (column.kind, column.count) == ("numeric", 500)
    (warning,) = _about(warnings, "signup")
    assert "ISO dates" in warning and "--categorical signup" in warning

    @otel_mlmon.monitor(model="m", max_rows=None, **telemetry.providers)
    def predict(frame):
        return np.zeros(len(frame))

    predict(pd.DataFrame({"signup": stamps}))
    assert _same_sketch(_exported(telemetry, "signup"), column.numeric)

    profile, warnings = _build(capsys, tmp_path / "t.csv", "--ids", "signup")
    assert "signup" not in profile.summary.features and profile.summary.features["signup.chars"].count == 500
    assert _about(warnings, "signup") == []


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_the_pandas_index_a_file_holds_is_skipped_with_a_warning(tmp_path, capsys, suffix):
    """The index pandas writes into a file (__index_level_0__ in Parquet, an unnamed first CSV column) is not
    profiled as a feature unless --keep-index, and the warning says so."""
    frame = pd.DataFrame({"amount": np.arange(100.0)})
    frame = frame[frame["amount"] % 3 > 0]  # not a RangeIndex any more: pandas stores it as a column
    data = tmp_path / f"t{suffix}"
    frame.to_parquet(data) if suffix == ".parquet" else frame.to_csv(data)
    index = "__index_level_0__" if suffix == ".parquet" else "Unnamed: 0"

    profile, warnings = _build(capsys, data)
    assert list(profile.summary.features) == ["amount"]
    (warning,) = _about(warnings, index)
    assert "pandas index" in warning and "--keep-index" in warning

    profile, warnings = _build(capsys, data, "--keep-index")
    assert set(profile.summary.features) == {"amount", index}
    assert _about(warnings, index) == []


@pytest.mark.parametrize("suffix", [".tsv", ".pq"])
def test_tab_separated_and_pq_files_are_read_like_csv_and_parquet(tmp_path, capsys, suffix):
    """A .tsv file is read as tab-separated CSV (with the same type decisions) and a .pq file as Parquet."""
    frame = pd.DataFrame({"zip": ["06000", "75001"] * 5, "amount": np.arange(10.0)})
    data = tmp_path / f"t{suffix}"
    frame.to_csv(data, sep="\t", index=False) if suffix == ".tsv" else frame.to_parquet(data)
    profile, _ = _build(capsys, data, "--categorical", "zip")
    assert profile.summary.features["zip"].categorical.top() == [("06000", 5), ("75001", 5)]
    assert profile.summary.features["amount"].numeric.max == 9


def test_a_label_column_left_in_is_warned_about(tmp_path, capsys):
    """A column named like the label that is profiled as a feature gets a warning pointing to --exclude."""
    pd.DataFrame({"x": [1.0, 2.0], "Label": [0, 1]}).to_csv(tmp_path / "t.csv", index=False)
    _, warnings = _build(capsys, tmp_path / "t.csv")
    (warning,) = _about(warnings, "Label")
    assert "--exclude Label" in warning
    _, warnings = _build(capsys, tmp_path / "t.csv", "--exclude", "Label")
    assert warnings == []


def test_unknown_column_names_are_refused(tmp_path, capsys):
    """A declared, numeric or excluded column the file does not have is an error naming it (a typo never passes
    silently)."""
    pd.DataFrame({"x": [1.0]}).to_csv(tmp_path / "t.csv", index=False)
    for option in ("--categorical", "--numeric", "--exclude", "--ids"):
        code = main(["profile", "build", str(tmp_path / "t.csv"), "--model", "m", option, "zipp", "-o", "x"])
        assert code == 2 and "no column 'zipp'" in capsys.readouterr().err


def test_the_readme_profile_build_command_works_as_written(tmp_path):
    """The README's `profile build` command, run on a training file with a label, writes a profile of the
    features only, with no warning."""
    (line,) = [
        line for line in README.read_text().splitlines() if line.startswith("otel-mlmon profile build")
    ]
    args = shlex.split(line.split("#")[0])
    assert "--exclude" in args
    rng = np.random.default_rng(2)
    train = pd.DataFrame(
        {
            "amount": rng.lognormal(size=300),
            "country": rng.choice(["FR", "DE"], 300),
            "label": rng.integers(0, 2, 300),
        }
    )
    train.to_parquet(tmp_path / args[3])
    result = subprocess.run(
        [sys.executable, "-m", "otel_mlmon.cli", *args[1:]], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    written = re.search(r"wrote (\S+):", result.stdout).group(1)
    assert set(Profile.load(tmp_path / written).summary.features) == {"amount", "country"}


def test_show_names_every_column_kind_and_the_confidence_histograms(tmp_path, capsys):
    """`profile show` lists text, identifier and vector columns by their own names with the descriptor columns
    they are compared by under them, and each class's confidence histogram under its output."""
    rng = np.random.default_rng(3)
    n = 200
    words = np.array(["late", "parcel", "great", "support", "refund"])
    texts = pd.DataFrame(
        {
            "review": [" ".join(rng.choice(words, 6)) for _ in range(n)],
            "email": [f"user{i}@example.com" for i in range(n)],
            "country": rng.choice(["FR", "DE"], n),
        }
    )
    proba = rng.dirichlet([1, 1], n)
    profile = Profile.from_data(texts, proba, model="m", classes=["no", "yes"])
    profile.update(rng.normal(size=(n, 64)))  # a wide unnamed input: one vector column
    path = profile.save(tmp_path / "p.json")

    assert main(["profile", "show", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()

    def row(name: str) -> list[str]:
        (found,) = [
            line.split() for line in lines if line.split()[:2][-1:] == [name] or line.split()[:1] == [name]
        ]
        return found

    assert row("review")[:3] == ["feature", "review", "text"] and "7 descriptors" in " ".join(row("review"))
    assert row("review.words")[1] == "numeric"
    assert row("email")[:3] == ["feature", "email", "identifier"]
    assert row("vector")[:3] == ["feature", "vector", "vector"]
    assert row("vector.norm")[1] == "numeric"
    assert row("country")[2] == "categorical"
    assert not any(line.split()[1:2] == ["email.chars"] for line in lines)
    confidence = [line for line in lines if "confidence when" in line]
    assert {line.split()[2] for line in confidence} == {"no", "yes"}
    assert all("p50=" in line for line in confidence)


def test_show_prints_an_embedding_output_as_one_vector_output(tmp_path, capsys):
    """An embedding output is one line (its width and projections) with its norm under it, not 768 outputs."""
    rng = np.random.default_rng(4)
    embeddings = rng.normal(size=(300, 768)).astype(np.float32)
    path = Profile.from_data(rng.normal(size=(300, 2)), embeddings, model="m").save(tmp_path / "p.json")
    assert main(["profile", "show", str(path)]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    (vector,) = [line for line in lines if line[:2] == ["output", "prediction"]]
    assert vector[2] == "vector" and "768 dims -> 64 projections" in " ".join(vector)
    assert [line[0] for line in lines if line[:1] == ["prediction.norm"]] == ["prediction.norm"]
    assert not any("prediction_0" in " ".join(line) for line in lines)


def test_target_fits_the_estimation_model_of_a_classifier_and_a_regressor(tmp_path, capsys):
    """`--target` fits what the collector estimates with: the calibration of probability columns named by
    `--classes`, the expected-error model of a numeric prediction; the target itself is not a feature."""
    from otel_mlmon.estimation import ClassifierCalibration, RegressionErrorModel

    rng = np.random.default_rng(3)
    n = 3000
    x = rng.normal(size=n)
    p = 1 / (1 + np.exp(-3 * x))  # over-confident scores of a label that follows 1 / (1 + exp(-x))
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-x)), "yes", "no")
    classifier = tmp_path / "classifier.csv"
    pd.DataFrame({"x": x, "p_no": 1 - p, "p_yes": p, "label": label}).to_csv(classifier, index=False)
    profile, _ = _build(
        capsys,
        classifier,
        "--prediction",
        "p_no",
        "--prediction",
        "p_yes",
        "--classes",
        "no,yes",
        "--target",
        "label",
    )
    assert list(profile.summary.features) == ["x"]
    calibration = profile.estimation.outputs["prediction"]
    assert isinstance(calibration, ClassifierCalibration) and calibration.classes == ("no", "yes")
    # Scores of 0.95 are right far less often than 95 % of the time: the calibration says so.
    assert calibration.p_correct("yes", np.array([0.95]))[0] < 0.85

    regressor = tmp_path / "regressor.csv"
    pd.DataFrame({"x": x, "price": 10 + x, "y": 10 + x + rng.normal(size=n) * 2}).to_csv(
        regressor, index=False
    )
    profile, _ = _build(capsys, regressor, "--prediction", "price", "--target", "y")
    model = profile.estimation.outputs["prediction"]
    assert isinstance(model, RegressionErrorModel)
    assert np.sqrt(model.mean_sq) == pytest.approx(2, rel=0.05)

    code = main(
        ["profile", "build", str(regressor), "--model", "m", "--target", "y", "-o", str(tmp_path / "x.json")]
    )
    assert code == 2 and "--target needs --prediction" in capsys.readouterr().err
