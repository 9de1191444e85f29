"""Partial reference profiles: what each partition of a distributed build computes, and their merge.

A profile is a set of mergeable sketches, so a build can run where the data live: each partition (a file, a
group of a Parquet file's row groups, a Dask or Spark partition) sketches its rows into a partial summary, and
the driver merges them (:meth:`otel_mlmon.summary.Summary.merge`). Everything here is engine-agnostic and
picklable: the engines (:mod:`otel_mlmon.engines`) only schedule these functions.

With labels (``--target``), each partition also keeps the rows the label-dependent parts are fitted on (the
reference performance and the estimation model do not merge as sketches): :mod:`otel_mlmon._label_rows`.

One thing cannot be decided per partition: the kind of a string column (categorical, text or identifier) is
decided from its first 32 values (:mod:`otel_mlmon._kinds`), which only the first rows of the data hold. The
driver reads the first rows exactly as the one-process build does, decides, and every partition latches the
same kinds (:meth:`otel_mlmon._kinds.KindRule.latch`).
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_mlmon._label_rows import LabelRows, target_of
from otel_mlmon.profile import Profile
from otel_mlmon.summary import Summary, SummaryConfig

__all__ = [
    "DATA_SUFFIXES",
    "BuildSpec",
    "FilePart",
    "config_params",
    "decide_kinds",
    "expand_paths",
    "file_parts",
    "merge_labels",
    "merge_parts",
    "profile_file_part",
    "profile_frames",
    "split_batch",
]

#: The files a directory given to ``profile build`` contributes (the suffixes TabularFile reads).
DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz", ".tsv", ".tsv.gz")


def config_params(config: SummaryConfig | None) -> dict[str, Any]:
    """A SummaryConfig's constructor arguments (the config itself holds a lock and is not picklable)."""
    config = config or SummaryConfig()
    return {
        "max_size": config.max_size,
        "max_categories": config.max_categories,
        "max_columns": config.max_columns,
        "max_length": config.max_length,
        "hash_salt": config.hash_salt,
        "vector_min_width": config.vector_min_width,
        "category_capacity": config.category_capacity,
        "export_categories": config.export_categories,
        "categorical": sorted(config.categorical),
        "text": sorted(config.text),
        "ids": sorted(config.ids),
        "vocabulary_buckets": config.vocabulary_buckets,
        "vocabulary_moments": config.vocabulary_moments,
    }


@dataclass(frozen=True)
class BuildSpec:
    """What every partition needs to sketch its rows as the one-process build would (picklable).

    Attributes:
        model, version: The profile's model identity.
        config: :func:`config_params` of the summary configuration (declared kinds included).
        prediction: Columns holding the model's outputs; ``classes`` as ``--classes`` (probability columns).
        exclude, numeric, keep_index, batch_rows: How files are read (:class:`~otel_mlmon._tabular_files.TabularFile`).
        kinds: ``(group, column, kind)`` decided on the driver from the first rows, latched in every partition.
        metadata: The profile's metadata.
        target: The label column (left out of the features): each partition keeps its :class:`LabelRows`.
        target_rows, sample_rate: The estimation sample's size at most and its rate (``--target-rows``).
    """

    model: str
    version: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    prediction: tuple[str, ...] = ()
    classes: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    keep_index: bool = False
    batch_rows: int = 100_000
    kinds: tuple[tuple[str, str, str], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    target_rows: int = 1_000_000
    sample_rate: float = 1.0

    @property
    def categorical(self) -> list[str]:
        return list(self.config.get("categorical", ()))

    def new_profile(self) -> Profile:
        """An empty profile with this spec's configuration and the driver's kind decisions latched."""
        config = SummaryConfig(**self.config)
        config.kinds.latch({(group, name): kind for group, name, kind in self.kinds})
        return Profile(self.model, self.version, Summary(config), metadata=self.metadata)

    def with_kinds(self, kinds: dict[tuple[str, str], str]) -> BuildSpec:
        decided = tuple(sorted((g, n, k) for (g, n), k in kinds.items()))
        return BuildSpec(**{**self.__dict__, "kinds": decided})


def split_batch(
    batch: Any, keep: Sequence[str], prediction: Sequence[str], classes: Sequence[str] | None
) -> Any:
    """``(features, predictions, arrow)`` of one batch (a pandas DataFrame or a pyarrow RecordBatch), the
    predictions as ``profile build`` gives them to :meth:`Profile.update`: one column as a 1-D array, the
    ``classes`` columns as a probability matrix, several other columns as a table."""
    arrow = type(batch).__module__.startswith("pyarrow")
    if arrow:  # a pyarrow RecordBatch: the adapters read it as it is
        features = batch.select(list(keep))
        predictions = batch.select(list(prediction)) if prediction else None
    else:
        features = batch[list(keep)]
        predictions = batch[list(prediction)] if prediction else None
    if predictions is not None and (len(prediction) == 1 or classes is not None):
        frame = predictions.to_pandas() if arrow else predictions
        predictions = frame.iloc[:, 0].to_numpy() if classes is None else frame.to_numpy(dtype="float64")
    return features, predictions, arrow


def _update(profile: Profile, spec: BuildSpec, batch: Any, labels: LabelRows | None = None) -> int:
    names = batch.schema.names if type(batch).__module__.startswith("pyarrow") else list(batch.columns)
    keep = [c for c in names if c not in spec.prediction and c != spec.target]
    features, predictions, arrow = split_batch(batch, keep, spec.prediction, spec.classes)
    profile.update(features, predictions, categorical=spec.categorical, classes=spec.classes)
    if labels is not None and spec.target is not None:
        target, values = target_of(batch, spec.target, arrow)
        labels.add(features.to_pandas() if arrow else features, predictions, target, values)
    return len(batch)


def _labels(spec: BuildSpec, first_row: int | None) -> LabelRows | None:
    """The label rows a part keeps (None without a target)."""
    if spec.target is None:
        return None
    return LabelRows(spec.target_rows, spec.sample_rate, first_row or 0)


# -- files ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilePart:
    """A file, or some of a Parquet file's row groups: one task of a distributed build."""

    path: str
    row_groups: tuple[int, ...] | None = None
    rows: int | None = None
    #: Rows of the parts before this one when all of them are known (Parquet), else None.
    first_row: int | None = 0


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files, glob patterns (``data/*.parquet``, ``**`` recursive) and directories (every data file under them,
    :data:`DATA_SUFFIXES`), in the order given, each pattern's and directory's files sorted by name.

    Raises:
        FileNotFoundError: a pattern or directory that names no data file, or a file that does not exist.
    """
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(path)
                for name in names
                if name.lower().endswith(DATA_SUFFIXES) and not name.startswith((".", "_"))
            )
        elif glob.has_magic(path):
            found = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
        elif os.path.isfile(path):
            found = [path]
        else:
            raise FileNotFoundError(f"no such file: {path}")
        if not found:
            raise FileNotFoundError(f"no data file ({', '.join(DATA_SUFFIXES)}) in {path}")
        files += [f for f in found if f not in files]
    return files


def file_parts(files: Sequence[str], part_rows: int) -> list[FilePart]:
    """One task per CSV file; a Parquet file split into runs of whole row groups of about ``part_rows`` rows
    (so one large file spreads over the workers)."""
    parts = _file_parts(files, part_rows)
    first: int | None = 0
    for i, part in enumerate(parts):
        parts[i] = FilePart(part.path, part.row_groups, part.rows, first)
        first = None if first is None or part.rows is None else first + part.rows
    return parts


def _file_parts(files: Sequence[str], part_rows: int) -> list[FilePart]:
    parts = []
    for path in files:
        if not path.lower().endswith((".parquet", ".pq")):
            parts.append(FilePart(path))
            continue
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        if meta.num_row_groups <= 1:
            parts.append(FilePart(path, None, meta.num_rows))
            continue
        group: list[int] = []
        rows = 0
        for i in range(meta.num_row_groups):
            group.append(i)
            rows += meta.row_group(i).num_rows
            if rows >= part_rows:
                parts.append(FilePart(path, tuple(group), rows))
                group, rows = [], 0
        if group:
            parts.append(FilePart(path, tuple(group), rows))
    return parts


def _open(spec: BuildSpec, path: str, row_groups: Sequence[int] | None = None) -> Any:
    from otel_mlmon._tabular_files import TabularFile

    return TabularFile(
        path,
        spec.batch_rows,
        strings=[
            *spec.config.get("categorical", ()),
            *spec.config.get("text", ()),
            *spec.config.get("ids", ()),
        ],
        numeric=spec.numeric,
        skip=spec.exclude,
        keep_index=spec.keep_index,
        row_groups=row_groups,
    )


def profile_file_part(spec: BuildSpec, part: FilePart) -> dict[str, Any]:
    """Sketch one file part (runs on a worker): ``{"summary": Summary.to_dict(), "notes": [...], "rows": n,
    "cpu_seconds": the task's CPU time, "labels": its LabelRows or None}``."""
    start = time.thread_time()
    profile = spec.new_profile()
    labels = _labels(spec, part.first_row)
    data = _open(spec, part.path, part.row_groups)
    rows = sum(_update(profile, spec, batch, labels) for batch in data.batches())
    summary = _summary(profile)
    return {
        "summary": summary,
        "notes": data.notes(),
        "rows": rows,
        "cpu_seconds": time.thread_time() - start,
        "labels": labels,
    }


def decide_kinds(spec: BuildSpec, batches: Iterable[Any]) -> dict[tuple[str, str], str]:
    """The kinds of the string features, decided from ``batches`` read in order as the one-process build reads
    them (read only until no column waits for values, usually the first batch)."""
    profile = spec.new_profile()
    kinds = profile.summary.config.kinds
    for batch in batches:
        _update(profile, spec, batch)
        if not kinds.undecided():
            break
    profile.summary.settle()
    return {key: kind for key, kind in kinds.decided().items() if key[0] == "features"}


def file_batches(spec: BuildSpec, files: Sequence[str]) -> Iterator[Any]:
    """Every file's batches in order, as the one-process ``profile build`` reads them."""
    for path in files:
        yield from _open(spec, path).batches()


# -- data frames ----------------------------------------------------------------------------------------------


def profile_frames(spec: BuildSpec, frames: Iterable[Any], first_row: int = 0) -> dict[str, Any]:
    """Sketch one partition given as pandas DataFrames (runs on a worker), ``first_row`` its position in the
    whole frame; the same result as :func:`profile_file_part`."""
    start = time.thread_time()
    profile = spec.new_profile()
    labels = _labels(spec, first_row)
    rows = sum(_update(profile, spec, frame, labels) for frame in frames)
    summary = _summary(profile)
    return {
        "summary": summary,
        "notes": [],
        "rows": rows,
        "cpu_seconds": time.thread_time() - start,
        "labels": labels,
    }


def _summary(profile: Profile) -> dict[str, Any]:
    profile.summary.settle()  # columns first seen in this part (not in the driver's first rows) decide here
    return profile.summary.to_dict()


def merge_parts(spec: BuildSpec, parts: Iterable[dict[str, Any]]) -> Profile:
    """The profile of every part, merged in order (column order: first seen)."""
    profile = spec.new_profile()
    for part in parts:
        profile.summary.merge(Summary.from_dict(part["summary"]), consume=True)
    profile.summary.settle()
    return profile


def merge_labels(spec: BuildSpec, parts: Iterable[dict[str, Any]]) -> LabelRows | None:
    """The label rows of every part, in order (None without a target)."""
    labels = _labels(spec, 0)
    return None if labels is None else labels.extend(part["labels"] for part in parts)
