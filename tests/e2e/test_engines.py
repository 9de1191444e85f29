"""Reference profiles built on a real local Dask cluster (2 worker processes) and a real local Spark (``local[2]``)
equal the one-process build, sketch for sketch (tests/sdk/profile_equality.py says what equal means), and with
``--target`` / ``target=`` the same reference performance, spread and estimation model, exactly.

Dask, PySpark and a Java runtime are installed by CI's heavy step (.ci/test-heavy: the ``distributed`` extra and
.ci/install-spark), which runs these tests; elsewhere they skip when a piece is missing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from otel_mlmon.cli import main
from otel_mlmon.profile import Profile
from tests.sdk.profile_equality import assert_same_summary
from tests.sdk.test_partial_profile import _write_parts, labelled_table, reference_table

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

ROWS = 12_000
OPTIONS = ["--prediction", "p_no", "--prediction", "p_yes", "--classes", "no,yes", "--batch-rows", "2500"]


# --target: the label column; an estimation sample of 5000 of the 12000 rows (Parquet: a uniform sample, its draws
# made by the workers for their rows; CSV, whose row count is unknown up front: the first 5000 rows).
TARGET = ["--target", "label", "--target-rows", "5000", "--chunk-rows", "1000"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Three Parquet files (row groups of 1500 rows) and three CSV files of the same table, and the one-process
    profile of each set, built by ``profile build`` without an engine."""
    return _write_and_build(tmp_path_factory.mktemp("engines"), reference_table(ROWS, seed=7))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> dict[str, Path]:
    """The files of ``files`` with a label column, and their one-process profiles built with --target."""
    return _write_and_build(tmp_path_factory.mktemp("labelled"), labelled_table(ROWS, seed=11), *TARGET)


def _write_and_build(root: Path, frame, *options: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for kind in ("parquet", "csv"):
        (root / kind).mkdir()
        out[kind] = _write_parts(root / kind, frame, 3, kind)
        out[f"{kind}-one"] = _build(root / f"{kind}-one.json", str(out[kind]), *options)
    return out


def _build(out: Path, *args: str) -> Path:
    assert main(["profile", "build", *args, "--model", "m", *OPTIONS, "-o", str(out)]) == 0
    return out


def _assert_same_profile(one: dict, other: dict) -> None:
    """The same sketches, and exactly the same label-dependent parts."""
    assert_same_summary(one["summary"], other["summary"])
    assert one["performance"] and one["performance_spread"] and one["estimation"]["outputs"]
    for field in ("performance", "performance_spread", "estimation"):  # as JSON: NaN equals NaN
        assert json.dumps(other[field], sort_keys=True) == json.dumps(one[field], sort_keys=True), field


def _summary(path: Path) -> dict:
    return json.loads(path.read_text())["summary"]


def _reference(frame, **labels) -> Profile:
    """The one-process build of a frame, as the engines' docstrings promise to equal (``labels=``, ``chunk_rows=``
    given: with the label column's values as labels)."""
    features = frame.drop(columns=["p_no", "p_yes", "label"], errors="ignore")
    return Profile.from_data(
        features, frame[["p_no", "p_yes"]].to_numpy(), model="m", classes=["no", "yes"], **labels
    )


# -- Dask -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_profile_build_on_dask_equals_one_process(files, dask_client, kind, tmp_path):
    """``--engine dask --scheduler`` on a real local cluster of 2 worker processes."""
    address = dask_client.scheduler.address
    out = _build(tmp_path / "dask.json", str(files[kind]), "--engine", "dask", "--scheduler", address)
    assert_same_summary(_summary(files[f"{kind}-one"]), _summary(out))
    assert len(dask_client.run(lambda: 1)) == 2


def test_profile_from_dask_equals_from_data(dask_client):
    import dask.dataframe as dd

    frame = reference_table(ROWS, seed=8)
    ddf = dd.from_pandas(frame, npartitions=4)
    from otel_mlmon.engines import profile_from_dask

    profile = profile_from_dask(ddf, model="m", prediction=["p_no", "p_yes"], classes=["no", "yes"])
    assert_same_summary(_reference(frame).to_dict()["summary"], profile.to_dict()["summary"])
    assert profile.summary.features["comment"].kind == "categorical"


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_profile_build_with_a_target_on_dask_equals_one_process(labelled, dask_client, kind, tmp_path):
    """``--target`` on a real local cluster: the performance, its spread and the estimation model are fitted on
    the driver from the partitions' label rows, as one process fits them."""
    address = dask_client.scheduler.address
    out = _build(
        tmp_path / "dask.json", str(labelled[kind]), *TARGET, "--engine", "dask", "--scheduler", address
    )
    _assert_same_profile(json.loads(labelled[f"{kind}-one"].read_text()), json.loads(out.read_text()))


def test_profile_from_dask_with_a_target_equals_from_data(dask_client):
    import dask.dataframe as dd

    from otel_mlmon.engines import profile_from_dask

    frame = labelled_table(ROWS, seed=12)
    ddf = dd.from_pandas(frame, npartitions=4)
    profile = profile_from_dask(
        ddf, model="m", prediction=["p_no", "p_yes"], classes=["no", "yes"], target="label", chunk_rows=1000
    )
    reference = _reference(frame, labels=frame["label"], chunk_rows=1000)
    _assert_same_profile(reference.to_dict(), profile.to_dict())


def test_profile_build_on_a_local_dask_cluster(files, tmp_path):
    """Without --scheduler: a local cluster of --workers processes, started and stopped by the command."""
    pytest.importorskip("distributed")
    out = _build(tmp_path / "dask.json", str(files["parquet"]), "--engine", "dask", "--workers", "2")
    assert_same_summary(_summary(files["parquet-one"]), _summary(out))


# -- Spark ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark():
    pyspark_sql = pytest.importorskip("pyspark.sql")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime (.ci/install-spark)")
    import os
    import sys

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("otel-mlmon tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_profile_build_on_spark_equals_one_process(files, spark, kind, tmp_path):
    """``--engine spark`` on local[2] (the session of this test process: the command leaves it running)."""
    out = _build(tmp_path / "spark.json", str(files[kind]), "--engine", "spark", "--master", "local[2]")
    assert_same_summary(_summary(files[f"{kind}-one"]), _summary(out))
    assert not spark.sparkContext._jsc.sc().isStopped()


def test_profile_from_spark_equals_from_data(spark):
    from otel_mlmon.engines import profile_from_spark

    sdf = spark.createDataFrame(reference_table(ROWS, seed=9)).repartition(3)
    frame = sdf.toPandas()  # the reference: the same rows in the same order as the partitions hold them
    profile = profile_from_spark(sdf, model="m", prediction=["p_no", "p_yes"], classes=["no", "yes"])
    assert sdf.rdd.getNumPartitions() == 3
    assert_same_summary(_reference(frame).to_dict()["summary"], profile.to_dict()["summary"])


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_profile_build_with_a_target_on_spark_equals_one_process(labelled, spark, kind, tmp_path):
    out = _build(
        tmp_path / "spark.json", str(labelled[kind]), *TARGET, "--engine", "spark", "--master", "local[2]"
    )
    _assert_same_profile(json.loads(labelled[f"{kind}-one"].read_text()), json.loads(out.read_text()))


def test_profile_from_spark_with_a_target_equals_from_data(spark):
    from otel_mlmon.engines import profile_from_spark

    sdf = spark.createDataFrame(labelled_table(ROWS, seed=13)).repartition(3)
    frame = sdf.toPandas()
    profile = profile_from_spark(
        sdf, model="m", prediction=["p_no", "p_yes"], classes=["no", "yes"], target="label", chunk_rows=1000
    )
    reference = _reference(frame, labels=frame["label"], chunk_rows=1000)
    _assert_same_profile(reference.to_dict(), profile.to_dict())
