"""Scaling of distributed reference builds: rows/s of ``profile build`` in one process, on Dask and on Spark with
1 and 2 workers, in the same run.

Run: ``python bench/engines.py`` (``--rows N``, default 1 000 000; ``--quick`` for 200 000 rows; needs ``otel-mlmon[distributed]``
and a Java runtime for Spark). The table is the issue's mixed one (20 numeric columns with heavy tails and
integers, 5 string categorical columns up to 200 levels) in 8 Parquet files of 4 row groups each.

For each engine and worker count it prints two figures: ``warm``, the build on a cluster already started (what a
real cluster running elsewhere costs: the driver's kind decision on the first batch, the tasks, the merge), and
``cold``, the whole command with the start and stop of a local cluster (a JVM for Spark). Ratios are against
the one-process build measured in the same run. Absolute figures on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from otel_mlmon._partial_profile import BuildSpec, config_params
from otel_mlmon.cli import main
from otel_mlmon.engines import profile_files
from otel_mlmon.summary import SummaryConfig

FILES = 8


def make_table(rows: int, folder: Path) -> list[str]:
    rng = np.random.default_rng(0)
    columns: dict[str, np.ndarray] = {}
    for i in range(20):
        if i % 4 == 0:
            columns[f"n{i}"] = rng.integers(0, 1000, rows).astype(float)
        else:
            columns[f"n{i}"] = rng.standard_t(3, rows) * 10 ** (i % 5)
    for i, levels in enumerate((5, 20, 50, 100, 200)):
        names = np.array([f"level-{j}" for j in range(levels)], dtype=object)
        columns[f"c{i}"] = names[rng.zipf(1.5, rows) % levels]
    frame = pd.DataFrame(columns)
    paths = []
    edges = np.linspace(0, rows, FILES + 1).astype(int)
    for k in range(FILES):
        path = folder / f"part-{k}.parquet"
        chunk = frame.iloc[edges[k] : edges[k + 1]]
        chunk.to_parquet(path, row_group_size=max(1, len(chunk) // 4), index=False)
        paths.append(str(path))
    return paths


def timed(fn, repeat: int = 1) -> float:
    """The best of ``repeat`` runs (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--engines", default="dask,spark")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per figure (the best is shown)")
    args = parser.parse_args()
    rows = 200_000 if args.quick else args.rows
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = make_table(rows, folder)
        part_rows = max(1, rows // (FILES * 4))  # one task per row group: 32 tasks
        spec = BuildSpec(model="bench", config=config_params(SummaryConfig()))
        out = str(folder / "profile.json")
        one = timed(lambda: main(["profile", "build", *files, "--model", "bench", "-o", out]), args.repeat)
        print(
            f"{rows:,} rows, {FILES} Parquet files, {FILES * 4} tasks, {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f}; best of {args.repeat} (cold: once)"
        )
        print(f"  one process          {rows / one:>12,.0f} rows/s  {one:7.2f} s   1.00x")

        def line(label: str, seconds: float) -> None:
            print(f"  {label:20} {rows / seconds:>12,.0f} rows/s  {seconds:7.2f} s  {one / seconds:5.2f}x")

        for engine in args.engines.split(","):
            for workers in (1, 2):
                if engine == "dask":
                    from distributed import Client, LocalCluster

                    with (
                        LocalCluster(
                            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                        ) as cluster,
                        Client(cluster) as client,
                    ):
                        address = client.scheduler.address
                        client.run(lambda: __import__("otel_mlmon.engines"))  # workers import once
                        warm = timed(
                            lambda a=address: profile_files(
                                spec, files, "dask", address=a, part_rows=part_rows
                            ),
                            args.repeat,
                        )
                else:
                    from pyspark.sql import SparkSession

                    session = (
                        SparkSession.builder.master(f"local[{workers}]")
                        .config("spark.ui.enabled", "false")
                        .config("spark.ui.showConsoleProgress", "false")
                        .getOrCreate()
                    )
                    session.sparkContext.setLogLevel("ERROR")
                    session.sparkContext.parallelize(range(workers), workers).map(lambda x: x).collect()
                    warm = timed(
                        lambda: profile_files(spec, files, "spark", part_rows=part_rows), args.repeat
                    )
                    session.stop()
                line(f"{engine} {workers} warm", warm)
                command = ["profile", "build", *files, "--model", "bench", "-o", out]
                cold = timed(lambda c=[*command, "--engine", engine, "--workers", str(workers)]: main(c))
                line(f"{engine} {workers} cold", cold)


if __name__ == "__main__":
    main_bench()
