"""Reference profiles built on Dask or Spark: partial profiles per partition, merged on the driver.

A profile is a set of mergeable sketches, so it can be built where the data live. Each partition sketches its
rows (:mod:`otel_mlmon._partial_profile`), the driver merges the partial summaries. The result equals the
one-process build sketch for sketch: same columns and kinds, same histogram buckets and counts, same category
counts while a column has at most ``category_capacity`` categories (past it the counts stay within the
sketch's documented error bounds); only floating-point sums differ, in the last digits, because they are added
in another order. The kind of each string column is decided on the driver from the first rows, as one process
decides it, and latched in every partition.

With a target (label) column, what the labels give (reference performance, its spread, the estimation model) is
not a mergeable sketch: each partition keeps its rows' predictions and labels and its share of the estimation
sample (:mod:`otel_mlmon._label_rows`), and the driver fits them once, in row order, as one process does.

Dask and PySpark are imported only when these functions run (``pip install 'otel-mlmon[distributed]'``; Spark
also needs a Java runtime, e.g. Debian's ``default-jre-headless``).

Example (Dask)::

    import dask.dataframe as dd
    from otel_mlmon.engines import profile_from_dask

    ddf = dd.read_parquet("s3://bucket/training/")  # any Dask DataFrame
    profile = profile_from_dask(ddf.drop(columns=["label"]), model="churn", version="3", prediction=["score"])
    profile.save("churn-3.json.gz")
    # with the reference performance and the estimation model fitted from the labels:
    profile = profile_from_dask(ddf, model="churn", version="3", prediction=["score"], target="label")
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import pickle
import sys
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from otel_mlmon._kinds import DECIDE_AT
from otel_mlmon._label_rows import LabelRows, apply_labels, sample_rate
from otel_mlmon._partial_profile import (
    BuildSpec,
    config_params,
    decide_kinds,
    file_batches,
    file_parts,
    merge_labels,
    merge_parts,
    profile_file_part,
    profile_frames,
)
from otel_mlmon.profile import Profile, _probability_matrix
from otel_mlmon.summary import SummaryConfig

__all__ = ["ENGINES", "profile_from_dask", "profile_from_spark"]

#: The engines ``otel-mlmon profile build --engine`` accepts.
ENGINES = ("dask", "spark")
#: Rows the driver reads first to decide the string columns' kinds (more while a column has fewer values).
_HEAD_ROWS = 10_000


def profile_from_dask(
    ddf: Any,
    *,
    model: str,
    version: str | None = None,
    prediction: Sequence[str] = (),
    classes: Sequence[str] | None = None,
    categorical: Collection[str] = (),
    text: Collection[str] = (),
    ids: Collection[str] = (),
    config: SummaryConfig | None = None,
    metadata: dict[str, Any] | None = None,
    target: str | None = None,
    chunk_rows: int | None = None,
) -> Profile:
    """Profile a Dask DataFrame, one partial profile per partition, on the current Dask scheduler (a
    ``distributed.Client`` when one is active).

    Equals ``Profile.from_data(features, predictions, ...)`` on the computed frame, where ``features`` are the
    columns other than ``prediction`` and ``predictions`` the ``prediction`` column as an array (or the
    ``classes`` columns as a probability matrix, or several columns as a table), sketch for sketch (see the
    module's docstring for what "equal" means).

    Args:
        ddf: The reference data: feature columns, the ``prediction`` columns if any, and the ``target`` column
            if any (drop any other label column first).
        model, version: The model identity, as given to ``@monitor``.
        prediction: Columns holding the model's outputs.
        classes: The ``prediction`` columns are the probabilities of these classes, in order.
        categorical, text, ids, config, metadata: As for :meth:`Profile.from_data`.
        target: The column of true labels or values (one prediction output): the profile also gets the reference
            performance, its spread over ``chunk_rows`` chunks and the estimation model, equal to
            ``Profile.from_data(..., labels=<that column>)``. These are not mergeable sketches (ROC AUC and the
            calibration are fitted on all rows), so every partition sends the driver its rows' predictions, labels
            and features, in order, and the driver fits them once: the driver holds what ``from_data`` holds.
        chunk_rows: Rows per chunk for the performance spread (default: ten chunks of at least 100 rows).
    """
    import dask

    spec = _spec(model, version, prediction, classes, categorical, text, ids, config, metadata, target)
    spec = spec.with_kinds(decide_kinds(spec, [_dask_head(ddf)]))
    parts = [dask.delayed(_dask_part)(spec, part) for part in ddf.to_delayed()]
    return _merged(spec, dask.compute(*parts), chunk_rows)


def profile_from_spark(
    sdf: Any,
    *,
    model: str,
    version: str | None = None,
    prediction: Sequence[str] = (),
    classes: Sequence[str] | None = None,
    categorical: Collection[str] = (),
    text: Collection[str] = (),
    ids: Collection[str] = (),
    config: SummaryConfig | None = None,
    metadata: dict[str, Any] | None = None,
    target: str | None = None,
    chunk_rows: int | None = None,
) -> Profile:
    """Profile a Spark DataFrame, one partial profile per partition (``mapInPandas``), merged on the driver.

    Equals ``Profile.from_data`` on ``sdf.toPandas()`` as :func:`profile_from_dask` does on a Dask frame.
    Arguments as for :func:`profile_from_dask`.
    """
    spec = _spec(model, version, prediction, classes, categorical, text, ids, config, metadata, target)
    spec = spec.with_kinds(decide_kinds(spec, [_spark_head(sdf)]))
    schema = "summary string, labels binary"  # the partial profile as JSON; the label rows pickled
    rows = sdf.mapInPandas(functools.partial(_spark_part, spec), schema=schema).collect()
    parts = [
        {
            **json.loads(row["summary"]),
            "labels": pickle.loads(row["labels"]) if row["labels"] else None,
        }
        for row in rows
    ]
    return _merged(spec, parts, chunk_rows)


def _profile_files(
    spec: BuildSpec,
    files: Sequence[str],
    engine: str,
    *,
    address: str | None = None,
    workers: int | None = None,
    part_rows: int = 1_000_000,
) -> tuple[Profile, list[str], LabelRows | None]:
    """Profile data files on an engine (``otel-mlmon profile build --engine``): one task per CSV file or per run
    of a Parquet file's row groups (about ``part_rows`` rows), each read by the workers with the same reader as
    the one-process build, so the workers must see the files at the same paths.

    Args:
        spec: What to build (the kinds are decided here, from the first file's first batches).
        files: The data files, in order.
        engine: ``dask`` (a local cluster of ``workers`` processes, or the scheduler at ``address``) or
            ``spark`` (``local[workers]``, ``local[*]`` by default, or the master at ``address``).

    Returns:
        The profile, the reading notes (one line each, duplicates removed) and, with ``spec.target``, the label
        rows of every part in order (else None).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    spec = spec.with_kinds(decide_kinds(spec, file_batches(spec, files)))
    parts = file_parts(files, part_rows)
    if spec.target is not None:  # the sample's rate, as one process sets it from the files' metadata
        known = [part.rows for part in parts]
        total = None if None in known else sum(known)  # type: ignore[arg-type]
        spec = dataclasses.replace(spec, sample_rate=sample_rate(spec.target_rows, total))
    task = functools.partial(profile_file_part, spec)
    run = _run_dask if engine == "dask" else _run_spark
    results = run(task, parts, address, workers)
    profile = merge_parts(spec, results)
    labels = merge_labels(spec, results)
    notes = list(
        dict.fromkeys(
            f"{part.path}: {note}" if len(files) > 1 else note
            for part, result in zip(parts, results)
            for note in result["notes"]
        )
    )
    return profile, notes, labels


def _cli_build(
    args: Any,
    files: Sequence[str],
    config: SummaryConfig,
    classes: list[str] | None,
    metadata: dict[str, Any],
) -> tuple[Any, list[str], LabelRows | None]:
    """``profile build --engine``: the same profile, sketched in parallel (and with ``--target`` the label rows,
    which the command fits as without an engine)."""
    wrong = "--master" if args.engine == "dask" else "--scheduler"
    if (args.master if args.engine == "dask" else args.scheduler) is not None:
        raise ValueError(f"{wrong} is not an option of --engine {args.engine}")
    if args.workers is not None and (args.workers < 1 or (args.scheduler or args.master)):
        raise ValueError("--workers N (N >= 1) sizes a local cluster: not with --scheduler or --master")
    spec = BuildSpec(
        model=args.model,
        version=args.model_version,
        config=config_params(config),
        prediction=tuple(args.prediction),
        classes=tuple(classes) if classes is not None else None,
        exclude=tuple(args.exclude),
        numeric=tuple(args.numeric),
        keep_index=args.keep_index,
        batch_rows=args.batch_rows,
        metadata=metadata,
        target=args.target,
        target_rows=args.target_rows,
    )
    address = args.scheduler if args.engine == "dask" else args.master
    try:
        profile, notes, labels = _profile_files(
            spec, files, args.engine, address=address, workers=args.workers
        )
    except ImportError as exc:
        raise ValueError(
            f"--engine {args.engine} needs pip install 'otel-mlmon[distributed]' ({exc})"
        ) from exc
    print(f"profiled {profile.summary.rows:,} rows on {args.engine}", file=sys.stderr)
    return profile, notes, labels


# -- Dask -------------------------------------------------------------------------------------------------------


def _dask_part(spec: BuildSpec, frame: Any) -> dict[str, Any]:
    return profile_frames(spec, [frame])


def _dask_head(ddf: Any) -> Any:
    """The first partitions, concatenated, until every string column has DECIDE_AT values (or all were read)."""
    import pandas as pd

    frames = []
    for i in range(ddf.npartitions):
        frames.append(ddf.get_partition(i).compute())
        head = pd.concat(frames) if len(frames) > 1 else frames[0]
        if _enough(head):
            break
    return head


def _run_dask(task: Any, parts: list[Any], address: str | None, workers: int | None) -> list[dict[str, Any]]:
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if address is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(address))
        futures = client.map(task, parts, pure=False)
        return list(client.gather(futures))


# -- Spark ------------------------------------------------------------------------------------------------------


def _spark_part(spec: BuildSpec, frames: Iterator[Any]) -> Iterator[Any]:
    import pandas as pd

    part = profile_frames(spec, frames)
    labels = part.pop("labels")
    yield pd.DataFrame(
        {"summary": [json.dumps(part)], "labels": [pickle.dumps(labels) if labels is not None else None]}
    )


def _spark_head(sdf: Any) -> Any:
    """The first rows, as many as every string column needs for DECIDE_AT values (or all rows)."""
    n = _HEAD_ROWS
    while True:
        head = sdf.limit(n).toPandas()
        if len(head) < n or _enough(head):
            return head
        n *= 10


def _run_spark(task: Any, parts: list[Any], address: str | None, workers: int | None) -> list[dict[str, Any]]:
    from pyspark.sql import SparkSession

    # The workers run this interpreter (and so find otel_mlmon) unless the user chose one.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    master = address or f"local[{workers or '*'}]"
    mine = SparkSession.getActiveSession() is None  # a session the caller started is left running
    try:
        spark = (
            SparkSession.builder.master(master)
            .appName("otel-mlmon profile build")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
    except Exception as exc:  # pyspark's gateway errors have no common public type
        raise RuntimeError(
            f"could not start Spark ({exc}); Spark needs a Java runtime (Debian: apt-get install "
            "default-jre-headless) and JAVA_HOME or java on the PATH"
        ) from exc
    try:
        return spark.sparkContext.parallelize(parts, len(parts)).map(task).collect()
    finally:
        if mine:
            spark.stop()


# -- shared -----------------------------------------------------------------------------------------------------


def _merged(spec: BuildSpec, parts: Sequence[dict[str, Any]], chunk_rows: int | None) -> Profile:
    """The partitions' profiles merged, with what the target gives fitted on all their label rows, as
    ``Profile.from_data(..., labels=...)`` fits them."""
    profile = merge_parts(spec, parts)
    labels = merge_labels(spec, parts)
    if labels is not None:
        classes = spec.classes
        apply_labels(
            profile,
            labels,
            one_output=True,
            categorical=spec.categorical,
            classes=classes,
            chunk_rows=chunk_rows,
            probabilities=lambda predictions: _probability_matrix(predictions, classes),
        )
    return profile


def _enough(head: Any) -> bool:
    """Whether every non-numeric column of ``head`` has DECIDE_AT values: then the kinds decided from it are
    those the whole frame would give."""
    strings = head.select_dtypes(exclude=["number", "bool", "datetime", "datetimetz", "timedelta"])
    return bool((strings.notna().sum() >= DECIDE_AT).all())


def _spec(
    model: str,
    version: str | None,
    prediction: Sequence[str],
    classes: Sequence[str] | None,
    categorical: Collection[str],
    text: Collection[str],
    ids: Collection[str],
    config: SummaryConfig | None,
    metadata: dict[str, Any] | None,
    target: str | None = None,
) -> BuildSpec:
    if isinstance(prediction, str):
        raise ValueError(f"prediction= must be a sequence of column names, got {prediction!r}")
    if classes is not None and len(classes) != len(prediction):
        raise ValueError(f"classes= names {len(classes)} classes for {len(prediction)} prediction columns")
    if target is not None and not (len(prediction) == 1 or (prediction and classes is not None)):
        raise ValueError(
            "target= needs one prediction output: one prediction= column, or the classes= probability columns"
        )
    config = (config or SummaryConfig()).with_kinds(categorical=categorical, text=text, ids=ids)
    config.vocabulary_moments = True  # as Profile.from_data: a reference calibrates the vocabulary test
    return BuildSpec(
        model=model,
        version=version,
        config=config_params(config),
        prediction=tuple(prediction),
        classes=tuple(classes) if classes is not None else None,
        metadata=dict(metadata or {}),
        target=target,
        target_rows=sys.maxsize,  # every row, as Profile.from_data fits on every row
    )
