"""Scaling of distributed reference builds: rows/s of ``profile build`` in one process, on Dask and on Spark with
1 and 2 workers, in the same run.

Run: ``python bench/engines.py`` (``--rows N``, default 1 000 000; ``--quick`` for 200 000 rows; needs ``otel-mlmon[distributed]``
and a Java runtime for Spark). The table is the issue's mixed one (20 numeric columns with heavy tails and
integers, 5 string categorical columns up to 200 levels) in 8 Parquet files of 4 row groups each.

For each engine and worker count it prints two figures: ``warm``, the build on a cluster already started (what a
real cluster running elsewhere costs: the driver's kind decision on the first batch, the tasks, the merge), and
``cold``, the whole command with the start and stop of a local cluster (a JVM for Spark). Ratios are against
the one-process build measured in the same run. Wall-clock figures on a shared machine depend on its load; the
CPU seconds the tasks used, summed over the workers, much less: their ratio to the one-process build's CPU time
says what splitting the work costs, and ``wall ≈ fixed overhead + task CPU / workers`` extrapolates to more cores.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from otel_mlmon._partial_profile import (
    BuildSpec,
    config_params,
    decide_kinds,
    file_batches,
    file_parts,
    merge_parts,
    profile_file_part,
)
from otel_mlmon.cli import main
from otel_mlmon.engines import _run_dask, _run_spark
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


def timed(fn, repeat: int = 1) -> tuple[float, float, object]:
    """(wall seconds, this process's CPU seconds, result) of the fastest of ``repeat`` runs."""
    best: tuple[float, float, object] = (float("inf"), 0.0, None)
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        run = (time.perf_counter() - wall, time.process_time() - cpu, result)
        best = min(best, run, key=lambda r: r[0])
    return best


def build(spec: BuildSpec, files: list[str], run, part_rows: int) -> float:
    """The steps of otel_mlmon.engines._profile_files, keeping the tasks' results: the tasks' CPU seconds (thread time, summed)."""
    spec = spec.with_kinds(decide_kinds(spec, file_batches(spec, files)))
    results = run(functools.partial(profile_file_part, spec), file_parts(files, part_rows))
    merge_parts(spec, results)
    return sum(r["cpu_seconds"] for r in results)


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--engines", default="dask,spark")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per figure (the fastest is shown)")
    args = parser.parse_args()
    rows = 200_000 if args.quick else args.rows
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = make_table(rows, folder)
        part_rows = max(1, rows // (FILES * 4))  # one task per row group: 32 tasks
        spec = BuildSpec(model="bench", config=config_params(SummaryConfig()))
        out = str(folder / "profile.json")
        command = ["profile", "build", *files, "--model", "bench", "-o", out]
        one, one_cpu, _ = timed(lambda: main(command), args.repeat)
        print(
            f"{rows:,} rows, {FILES} Parquet files, {FILES * 4} tasks, {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f}; fastest of {args.repeat} (cold: once)"
        )
        print(f"  {'':18} {'rows/s':>10} {'wall s':>7} {'vs one':>6}  {'CPU s':>6} {'CPU vs one':>10}")
        print(f"  {'one process':18} {rows / one:>10,.0f} {one:7.2f} {1:6.2f}x  {one_cpu:6.2f} {1:9.2f}x")

        def line(label: str, seconds: float, cpu: float | None = None) -> None:
            tail = f"  {cpu:6.2f} {cpu / one_cpu:9.2f}x" if cpu is not None else ""
            print(f"  {label:18} {rows / seconds:>10,.0f} {seconds:7.2f} {one / seconds:6.2f}x{tail}")

        for engine in args.engines.split(","):
            for workers in (1, 2):
                with engine_cluster(engine, workers) as run:
                    wall, _, cpu = timed(lambda r=run: build(spec, files, r, part_rows), args.repeat)
                line(f"{engine} {workers} warm", wall, cpu)
                cold, _, _ = timed(
                    lambda c=[*command, "--engine", engine, "--workers", str(workers)]: main(c)
                )
                line(f"{engine} {workers} cold", cold)
        print(
            "  CPU s: one process: its own CPU time; engines: the tasks' CPU time summed over the workers (what "
            "N cores share)"
        )


@contextlib.contextmanager
def engine_cluster(engine: str, workers: int):
    """A started local cluster of ``workers`` (imports done): yields a runner of tasks on it."""
    if engine == "dask":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(lambda: __import__("otel_mlmon._partial_profile"))
            address = client.scheduler.address
            yield lambda task, parts: _run_dask(task, parts, address, None)
        return
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(f"local[{workers}]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    session.sparkContext.parallelize(range(workers), workers).map(
        lambda _: __import__("otel_mlmon._partial_profile") and 0
    ).collect()
    try:
        yield lambda task, parts: _run_spark(task, parts, None, None)
    finally:
        session.stop()


if __name__ == "__main__":
    main_bench()
