"""Partial profiles merged equal the one-process build (the functions Dask and Spark workers run, run here in
one process; tests/e2e/test_engines.py runs them on real clusters), and ``profile build`` reads several files."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from otel_mlmon._kinds import KindRule
from otel_mlmon._label_rows import apply_labels, sample_rate
from otel_mlmon._partial_profile import (
    BuildSpec,
    config_params,
    decide_kinds,
    expand_paths,
    file_batches,
    file_parts,
    merge_labels,
    merge_parts,
    profile_file_part,
    profile_frames,
)
from otel_mlmon.cli import main
from otel_mlmon.engines import _spec
from otel_mlmon.profile import Profile
from otel_mlmon.summary import SummaryConfig
from tests.sdk.profile_equality import assert_same_summary


def reference_table(n: int, seed: int = 0) -> pd.DataFrame:
    """Numbers with heavy tails, NaN and inf; categories; free text; identifiers; a column whose first values
    are short categories but whose later rows are text (a partition alone would decide it is text); a mostly
    missing string column; a score and two class probabilities."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 2, n)
    amount[rng.random(n) < 0.05] = np.nan
    amount[rng.random(n) < 0.001] = np.inf
    comment = np.where(
        np.arange(n) < n // 3,
        rng.choice(["ok", "late", "lost"], n),
        [" ".join(["word"] * int(k)) for k in rng.integers(4, 9, n)],
    )
    rare = np.full(n, None, dtype=object)
    rare[rng.choice(n, 10, replace=False)] = "x"
    p = rng.random(n)
    return pd.DataFrame(
        {
            "amount": amount,
            "age": rng.integers(18, 90, n).astype(float),
            "delta": rng.normal(0, 1e3, n),
            "city": rng.choice([f"c{i}" for i in range(40)], n),
            "note": [" ".join(["w"] * int(k)) for k in rng.integers(1, 12, n)],
            "uid": [f"user-{i:09d}" for i in range(n)],
            "comment": comment,
            "rare": rare,
            "p_no": 1 - p,
            "p_yes": p,
        }
    )


def _chunks(frame: pd.DataFrame, k: int) -> list[pd.DataFrame]:
    edges = np.linspace(0, len(frame), k + 1).astype(int)
    return [frame.iloc[a:b] for a, b in itertools.pairwise(edges)]


def labelled_table(n: int, seed: int = 0) -> pd.DataFrame:
    """:func:`reference_table` with a ``label`` column: ``yes`` with probability ``p_yes`` (a calibrated score)."""
    frame = reference_table(n, seed)
    frame["label"] = np.where(np.random.default_rng(seed + 1).random(n) < frame["p_yes"], "yes", "no")
    return frame


def _write_parts(tmp_path: Path, frame: pd.DataFrame, files: int, kind: str = "parquet") -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for i, chunk in enumerate(_chunks(frame, files)):
        if kind == "parquet":
            chunk.to_parquet(folder / f"part-{i:02d}.parquet", row_group_size=1500, index=False)
        else:
            chunk.to_csv(folder / f"part-{i:02d}.csv", index=False)
    return folder


def _cli_build(tmp_path: Path, name: str, *args: str) -> dict:
    out = tmp_path / f"{name}.json"
    assert main(["profile", "build", *args, "--model", "m", "-o", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_label_rows_of_file_parts_give_the_one_process_target_fits(tmp_path, kind):
    """``--target``: parts keep their label rows (Parquet: the estimation sample drawn by each part for its own
    rows), the driver joins them in order and fits the reference performance and the estimation model exactly as
    one process does."""
    frame = labelled_table(6000, seed=3)
    folder = _write_parts(tmp_path, frame, 3, kind)
    options = ["--prediction", "p_no", "--prediction", "p_yes", "--classes", "no,yes", "--batch-rows", "1000"]
    target = ["--target", "label", "--target-rows", "2500", "--chunk-rows", "500"]
    one = _cli_build(tmp_path, "one", str(folder), *options, *target)

    spec = BuildSpec(
        model="m",
        config=config_params(SummaryConfig(vocabulary_moments=True)),
        prediction=("p_no", "p_yes"),
        classes=("no", "yes"),
        batch_rows=1000,
        target="label",
        target_rows=2500,
    )
    files = expand_paths([str(folder)])
    spec = spec.with_kinds(decide_kinds(spec, file_batches(spec, files)))
    parts = file_parts(files, part_rows=1500)
    total = None if kind == "csv" else len(frame)
    assert [p.first_row for p in parts][-1] == (None if kind == "csv" else 6000 - parts[-1].rows)
    spec = BuildSpec(**{**spec.__dict__, "sample_rate": sample_rate(2500, total)})
    results = [profile_file_part(spec, part) for part in parts]
    merged = merge_parts(spec, results)
    labels = merge_labels(spec, results)
    assert labels is not None and labels.sampled == 2500 and len(labels.targets) == 6000
    apply_labels(
        merged,
        labels,
        one_output=True,
        categorical=[],
        classes=["no", "yes"],
        chunk_rows=500,
        probabilities=lambda p: (p, ["no", "yes"]),
    )
    got = json.loads(json.dumps(merged.to_dict()))
    assert one["performance"]["accuracy"] > 0.5 and len(one["performance_spread"]) > 0
    for field in ("performance", "performance_spread", "estimation"):
        assert json.dumps(got[field], sort_keys=True) == json.dumps(one[field], sort_keys=True), field


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_merged_file_parts_equal_the_one_process_build(tmp_path, kind, capsys):
    frame = reference_table(9000)
    folder = _write_parts(tmp_path, frame, 3, kind)
    options = ["--prediction", "p_no", "--prediction", "p_yes", "--classes", "no,yes", "--batch-rows", "2000"]
    one = _cli_build(tmp_path, "one", str(folder), *options)

    spec = BuildSpec(
        model="m",
        config=config_params(SummaryConfig(vocabulary_moments=True)),  # as profile build
        prediction=("p_no", "p_yes"),
        classes=("no", "yes"),
        batch_rows=2000,
    )
    files = expand_paths([str(folder)])
    spec = spec.with_kinds(decide_kinds(spec, file_batches(spec, files)))
    parts = file_parts(files, part_rows=1500)
    assert len(parts) == (6 if kind == "parquet" else 3)  # Parquet files split by row groups
    merged = merge_parts(spec, [profile_file_part(spec, part) for part in reversed(parts)])

    assert_same_summary(one["summary"], merged.to_dict()["summary"])
    features = one["summary"]["features"]
    assert features["comment"]["kind"] == "categorical"  # decided on the first rows, as in one process
    assert "note.words" in features and "uid.chars" in features and "uid" not in features
    assert features["rare"]["kind"] == "categorical" and features["rare"]["missing"] == 9000 - 10
    assert merged.summary.config.kinds.decided()[("features", "uid")] == "identifier"


def test_one_partition_alone_would_decide_another_kind(tmp_path):
    """Why the driver decides: the last third of `comment` alone looks like text."""
    frame = reference_table(3000)
    spec = _spec("m", None, (), None, (), (), (), None, None)
    alone = profile_frames(spec, [frame.iloc[2000:].reset_index(drop=True)])
    assert "comment.words" in alone["summary"]["features"]
    decided = spec.with_kinds(decide_kinds(spec, [frame]))
    latched = profile_frames(decided, [frame.iloc[2000:].reset_index(drop=True)])
    assert latched["summary"]["features"]["comment"]["kind"] == "categorical"
    assert latched["summary"]["features"]["comment"]["sketch"]["counts"] == [["__other__", 1000]]


def test_frames_merge_equals_from_data_within_capacity_exactly(tmp_path):
    frame = reference_table(6000, seed=3)
    features, scores = frame.drop(columns=["p_no", "p_yes"]), frame["p_yes"]
    one = Profile.from_data(features, scores.to_numpy(), model="m")
    spec = _spec("m", None, ["p_yes"], None, (), (), (), None, None)
    spec = spec.with_kinds(decide_kinds(spec, [frame.drop(columns="p_no")]))
    chunks = _chunks(frame.drop(columns="p_no"), 5)
    merged = merge_parts(spec, [profile_frames(spec, [c]) for c in chunks])
    assert_same_summary(one.to_dict()["summary"], merged.to_dict()["summary"])


def test_categories_past_capacity_merge_within_their_bounds():
    """Past ``category_capacity`` a sketch is approximate and the merged one need not equal the one-process one:
    what holds is the same total, the same distinct-count sketch, and bounds around every true count."""
    rng = np.random.default_rng(5)
    values = rng.zipf(1.3, 20_000) % 300
    frame = pd.DataFrame({"code": [f"k{v}" for v in values]})
    config = SummaryConfig(category_capacity=16)
    one = Profile.from_data(frame, model="m", config=config, categorical=["code"]).summary.features["code"]
    spec = _spec("m", None, (), None, ["code"], (), (), config, None)
    merged = merge_parts(spec, [profile_frames(spec, [c]) for c in _chunks(frame, 7)])
    sketch = merged.summary.features["code"].categorical
    assert sketch.count == one.categorical.count == 20_000
    assert sketch.to_dict()["distinct"] == one.categorical.to_dict()["distinct"]
    assert not sketch.exact and sketch.error_bound <= 20_000 / 17
    truth = frame["code"].value_counts()
    listed = {key: (lower, upper) for key, lower, upper in sketch.bounds()}
    for key, count in truth.items():
        lower, upper = listed.get(key, (0, sketch.error_bound))
        assert lower <= count <= upper, key


def test_kinds_latch_and_undecided():
    rule = KindRule()
    assert rule.offer("features", "c", np.array(["a", None], dtype=object)) is None
    assert rule.undecided() == [("features", "c")]
    rule.latch({("features", "c"): "text", ("features", "d"): "identifier"})
    assert rule.offer("features", "d", np.array(["a"], dtype=object))[0] == "identifier"
    with pytest.raises(ValueError, match="unknown column kind"):
        rule.latch({("features", "e"): "number"})


def test_paths_files_globs_and_directories(tmp_path):
    folder = _write_parts(tmp_path, reference_table(300), 3)
    (folder / "_SUCCESS").write_text("")
    (folder / "notes.txt").write_text("")
    names = [Path(p).name for p in expand_paths([str(folder)])]
    assert names == ["part-00.parquet", "part-01.parquet", "part-02.parquet"]
    first = str(folder / "part-00.parquet")
    assert expand_paths([first, str(folder / "part-0[01].parquet")]) == [
        first,
        str(folder / "part-01.parquet"),
    ]
    with pytest.raises(FileNotFoundError, match="no data file"):
        expand_paths([str(tmp_path / "*.csv")])
    with pytest.raises(FileNotFoundError, match="no such file"):
        expand_paths([str(tmp_path / "absent.parquet")])


def test_several_files_build_one_profile_with_notes_per_file(tmp_path, capsys):
    frame = reference_table(3000)
    frame["zip"] = ["06000"] * 3000
    folder = _write_parts(tmp_path, frame, 2, "csv")
    files = sorted(str(p) for p in folder.iterdir())
    one = _cli_build(tmp_path, "both", *files, "--prediction", "p_yes")
    err = capsys.readouterr().err
    assert one["summary"]["rows"] == 3000 and one["metadata"]["source"] == "part-00.csv part-01.csv"
    assert f"warning: {files[0]}: column 'zip'" in err and f"warning: {files[1]}: column 'zip'" in err


def test_engines_import_neither_dask_nor_spark():
    """otel_mlmon.engines imports Dask and PySpark only when a build runs on them."""
    code = (
        "import sys, otel_mlmon, otel_mlmon.engines, otel_mlmon.cli; "
        "print(sorted(m for m in ('dask', 'distributed', 'pyspark') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--engine", "dask", "--master", "local[2]"], "--master is not an option of --engine dask"),
        (["--engine", "spark", "--scheduler", "tcp://h:1"], "--scheduler is not an option of --engine spark"),
        (["--engine", "dask", "--workers", "0"], "--workers N"),
    ],
)
def test_engine_options_that_do_not_fit(tmp_path, capsys, options, message):
    folder = _write_parts(tmp_path, reference_table(300), 1)
    assert (
        main(["profile", "build", str(folder), "--model", "m", *options, "-o", str(tmp_path / "p.json")]) == 1
    )
    assert message in capsys.readouterr().err
