"""Reference profiles built on a real local Dask cluster (2 worker processes) and a real local Spark (``local[2]``)
equal the one-process build, sketch for sketch (tests/sdk/profile_equality.py says what equal means).

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
from tests.sdk.test_partial_profile import _write_parts, reference_table

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

ROWS = 12_000
OPTIONS = ["--prediction", "p_no", "--prediction", "p_yes", "--classes", "no,yes", "--batch-rows", "2500"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Three Parquet files (row groups of 1500 rows) and three CSV files of the same table, and the one-process
    profile of each set, built by ``profile build`` without an engine."""
    root = tmp_path_factory.mktemp("engines")
    frame = reference_table(ROWS, seed=7)
    out: dict[str, Path] = {}
    for kind in ("parquet", "csv"):
        (root / kind).mkdir()
        out[kind] = _write_parts(root / kind, frame, 3, kind)
        out[f"{kind}-one"] = _build(root / f"{kind}-one.json", str(out[kind]))
    return out


def _build(out: Path, *args: str) -> Path:
    assert main(["profile", "build", *args, "--model", "m", *OPTIONS, "-o", str(out)]) == 0
    return out


def _summary(path: Path) -> dict:
    return json.loads(path.read_text())["summary"]


def _reference(frame) -> Profile:
    """The one-process build of a frame, as the engines' docstrings promise to equal."""
    features = frame.drop(columns=["p_no", "p_yes"])
    return Profile.from_data(features, frame[["p_no", "p_yes"]].to_numpy(), model="m", classes=["no", "yes"])


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
