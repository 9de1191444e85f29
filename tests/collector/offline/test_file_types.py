"""``otel-mlmon drift`` types a CSV file's columns as ``otel-mlmon profile build`` does (one reader for both)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from otel_mlmon_collector.offline import compare
from otel_mlmon_collector.offline._cli import main as drift_main

from otel_mlmon.cli import main as otel_mlmon_main
from otel_mlmon.profile import Profile


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    """Zip codes with leading zeros, ages with stray strings (one in the first batch, one far past the type
    sample), mostly-numeric codes with many strings, ISO dates: every case where pandas alone guesses per chunk."""
    rng = np.random.default_rng(3)
    n = 12_000
    age = rng.integers(18, 90, n).astype(object)
    age[5] = age[11_500] = "unknown"
    code = rng.integers(0, 9, n).astype(object)
    code[rng.random(n) < 0.3] = "other"
    path = tmp_path / "t.csv"
    pd.DataFrame(
        {
            "zip": rng.choice(["06000", "75001", "13008", "01000"], n),
            "age": age,
            "code": code,
            "signup": pd.date_range("2024-01-01", periods=n, freq="7min").strftime("%Y-%m-%d %H:%M:%S"),
            "amount": rng.lognormal(size=n),
        }
    ).to_csv(path, index=False)
    return path


def _profile(capsys, data: Path, *options: str) -> tuple[Profile, list[str]]:
    out = data.with_suffix(".profile.json")
    code = otel_mlmon_main(["profile", "build", str(data), "--model", "m", *options, "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return Profile.load(out), _warnings(captured.err)


def _sketch(column) -> tuple:
    """What a column's summary holds: kind, counts and its sketch's content."""
    categorical = column.categorical.bounds() if column.categorical is not None else None
    return column.kind, column.count, column.missing, column.numeric, categorical


def _warnings(err: str) -> list[str]:
    """Warning lines without the file name the drift command puts before each."""
    return sorted(
        line.replace("warning: t.csv: ", "warning: ") for line in err.splitlines() if "warning:" in line
    )


@pytest.mark.parametrize("options", [(), ("--categorical", "zip", "--numeric", "code")])
def test_drift_reads_a_csv_with_the_column_types_of_profile_build(csv, capsys, options) -> None:
    """Same kinds, same sketches and the same warnings from both commands; the file against itself: no drift."""
    profile, built = _profile(capsys, csv, *options)
    report = compare(
        str(csv),
        str(csv),
        categorical=[options[1]] if options else [],
        numeric=[options[3]] if options else [],
    )
    for side in (report.reference, report.current):
        assert {n: c.kind for n, c in side.summary.features.items()} == {
            n: c.kind for n, c in profile.summary.features.items()
        }
        for name, column in profile.summary.features.items():
            assert _sketch(side.summary.features[name]) == _sketch(column), name

    kinds = {n: c.kind for n, c in profile.summary.features.items()}
    assert kinds["age"] == "numeric" and profile.summary.features["age"].missing == 2
    assert kinds["signup"] == "numeric"  # ISO dates: seconds since the epoch, as production sends datetimes
    if options:
        assert kinds["zip"] == "categorical" and kinds["code"] == "numeric"
        assert {k for k, _ in profile.summary.features["zip"].categorical.top()} == {
            "06000",
            "75001",
            "13008",
            "01000",
        }
    else:
        assert kinds["zip"] == "numeric" and kinds["code"] == "categorical"

    out_json = csv.with_suffix(".drift.json")
    assert drift_main([str(csv), str(csv), "--json", str(out_json), *options]) == 0
    err = capsys.readouterr().err
    # The lines `profile build` printed for the file, each once (the file is both sides here).
    assert _warnings(err) == built
    findings = json.loads(out_json.read_text())
    assert findings["drifted_columns"] == [] and findings["unmatched"] == {}
    assert {c["name"]: c["kind"] for c in findings["columns"]} == {
        n: "categorical" if k == "categorical" else "numeric" for n, k in kinds.items()
    }


def test_a_profile_and_its_csv_compare_column_for_column(csv, capsys) -> None:
    """A profile built from the CSV, compared with the same CSV by `drift`: every column matched, none drifted."""
    profile, _ = _profile(capsys, csv, "--categorical", "zip")
    report = compare(csv.with_suffix(".profile.json"), str(csv), categorical=["zip"])
    assert all(not u.live_only and not u.reference_only for u in report.unmatched)
    assert sorted(c.name for c in report.columns) == sorted(profile.summary.features)
    assert report.drifted_columns == []
