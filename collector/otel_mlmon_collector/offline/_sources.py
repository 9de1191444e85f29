"""Turn what a user has offline (profiles, data files, DataFrames, in-process telemetry) into the engine's sketches.

Everything becomes a :class:`~otel_mlmon.summary.Summary` built by the SDK's own adapters and sketches, so a
column gets the same name, kind and sketch as in production. Files are read in batches (bounded memory) by the
reader of ``otel-mlmon profile build`` (:class:`otel_mlmon._tabular_files.TabularFile`): a CSV column's type is
decided once from its first rows (a few stray strings leave it numeric, ``06000`` is read as a number unless the
column is declared categorical, ISO dates become datetimes), so both commands type every column the same way, and
what a user may want to change is said (:attr:`Source.notes`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from otel_mlmon.profile import Profile
from otel_mlmon.summary import Summary, SummaryConfig

__all__ = [
    "ColumnOptions",
    "Source",
    "add_batch",
    "batches",
    "expand_paths",
    "is_profile_path",
    "new_summary",
    "read_source",
]

#: Suffixes read as data files; anything else ending in .json / .json.gz is tried as a profile.
DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


@dataclass(frozen=True)
class ColumnOptions:
    """How data columns are read, as for ``otel-mlmon profile build`` and ``@monitor``.

    Attributes:
        categorical: Columns to summarise as categories (numeric codes, or strings the kind rule would read as
            text or identifiers).
        exclude: Columns left out (labels, the event-time column).
        prediction: Columns holding the model's output (summarised as outputs, not features).
        feature_names: Names for inputs without their own (numpy arrays), as ``monitor(feature_names=...)``.
        batch_rows: Rows read at a time from files.
        text: String columns to summarise as free text (numeric descriptors).
        ids: Columns to summarise as identifiers (length and missing count only).
        vector_min_width: Unnamed numeric inputs this wide are one vector column (the SDK's default 64; None:
            never).
        numeric: Columns read from files as numbers (values that are not numbers count as missing).
        keep_index: Read the pandas index a file holds (``__index_level_0__``, a CSV's unnamed first column) as
            a column; by default it is skipped, as by ``profile build``.
    """

    categorical: Collection[str] = ()
    exclude: Collection[str] = ()
    prediction: Sequence[str] = ()
    feature_names: Sequence[str] | None = None
    batch_rows: int = 100_000
    text: Collection[str] = ()
    ids: Collection[str] = ()
    vector_min_width: int | None = 64
    numeric: Collection[str] = ()
    keep_index: bool = False

    def with_categorical(self, names: Collection[str]) -> ColumnOptions:
        """These options with ``names`` added to the categorical columns."""
        return replace(self, categorical=frozenset(self.categorical) | frozenset(names))

    def summary_config(self) -> SummaryConfig:
        """A sketch configuration for one side (it also remembers each column's decided kind).

        The SDK's sketch sizes and kind rule, without its bound on columns per input (which protects a metrics
        backend, not a file).
        """
        return SummaryConfig(
            max_columns=1 << 20,
            vector_min_width=self.vector_min_width,
            categorical=self.categorical,
            text=self.text,
            ids=self.ids,
        )


def new_summary(options: ColumnOptions | None = None) -> Summary:
    """An empty summary for one side, configured by ``options`` (default: the SDK's defaults, unbounded columns)."""
    return Summary((options or ColumnOptions()).summary_config())


@dataclass
class Source:
    """One side of a comparison: its sketches and where they came from.

    Attributes:
        summary: The per-column sketches.
        label: A short description for reports (a file name, ``DataFrame``, ``profile fraud v3``).
        model, version: The model identity when the source carries one (profiles, telemetry).
        files: The data files read, if any.
        notes: How the files' columns were read where a user may want to change it, one line per column and
            file (as ``profile build`` warns: a numeric column with stray strings, leading zeros, ISO dates...).
    """

    summary: Summary
    label: str
    model: str | None = None
    version: str | None = None
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_profile_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a profile file (``.json`` / ``.json.gz``) rather than a data file."""
    name = os.fspath(path).lower()
    return name.endswith((".json", ".json.gz"))


def expand_paths(patterns: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Paths and globs, expanded in order (each glob sorted).

    Raises:
        FileNotFoundError: naming a path or glob that matches no file.
    """
    out: list[str] = []
    for pattern in patterns:
        text = os.fspath(pattern)
        if glob.has_magic(text):
            found = sorted(glob.glob(text))
            if not found:
                raise FileNotFoundError(f"no file matches {text!r}")
            out.extend(found)
        elif not os.path.exists(text):
            raise FileNotFoundError(f"no such file: {text!r}")
        else:
            out.append(text)
    return out


def batches(path: str, options: ColumnOptions, notes: list[str] | None = None) -> Iterator[Any]:
    """Stream a CSV or Parquet file in batches of at most ``options.batch_rows`` rows, typed as ``profile build``
    types them (pyarrow or pandas batches); once the file is read, its notes are appended to ``notes``.

    The declared categorical, text and id columns are read as strings verbatim, ``options.numeric`` as numbers;
    declared columns the file lacks are ignored (the comparison lists them as unmatched).

    Raises:
        ValueError: for a file type that is not CSV or Parquet.
        ImportError: when pandas / pyarrow are missing (``pip install 'otel-mlmon[dataframes]'``).
    """
    from otel_mlmon._tabular_files import TabularFile

    if not path.lower().endswith((*DATA_SUFFIXES, ".txt", ".tsv", ".tsv.gz")):
        raise ValueError(
            f"{path}: not a data file (expected .csv, .csv.gz or .parquet) nor a profile (.json)"
        )
    data = TabularFile(
        path,
        options.batch_rows,
        strings=frozenset(options.categorical) | frozenset(options.text) | frozenset(options.ids),
        numeric=options.numeric,
        keep_index=options.keep_index,
        missing_ok=True,
    )
    yield from data.batches()
    if notes is not None:
        excluded = [f"column {c!r}:" for c in options.exclude]
        name = Path(path).name
        notes.extend(f"{name}: {n}" for n in data.notes() if not n.startswith(tuple(excluded)))


def column_names(batch: Any) -> list[str]:
    """The column names of a pyarrow or pandas batch."""
    return list(batch.column_names if _is_arrow(batch) else batch.columns)


def add_batch(summary: Summary, batch: Any, options: ColumnOptions, where: str) -> None:
    """Summarise one pyarrow / pandas batch into ``summary`` with the SDK's adapters.

    Raises:
        ValueError: when a named prediction column is absent (the message lists the columns).
    """
    from otel_mlmon.adapters import read_features, read_outputs

    columns = column_names(batch)
    missing = [c for c in options.prediction if c not in columns]
    if missing:
        raise ValueError(f"no column {', '.join(map(repr, missing))} in {where}; it has {columns}")
    skip = set(options.exclude) | set(options.prediction)
    # A pandas index saved into Parquet is no feature (production never sends it).
    keep = [c for c in columns if c not in skip and not str(c).startswith("__index_level_")]
    arrow = _is_arrow(batch)
    features = batch.select(keep) if arrow else batch[keep]
    table = read_features(features, categorical=options.categorical)
    summary.add_features(table)
    if options.prediction:
        predictions: Any = (
            batch.select(list(options.prediction)) if arrow else batch[list(options.prediction)]
        )
        if len(options.prediction) == 1:  # one output column: a 1-D array, as profile build reads it
            predictions = (predictions.column(0) if arrow else predictions.iloc[:, 0]).to_numpy()
        summary.add_outputs(read_outputs(predictions))


def read_source(obj: Any, options: ColumnOptions, *, model: str | None = None) -> Source:
    """Read one side of a comparison into sketches.

    Args:
        obj: A :class:`~otel_mlmon.profile.Profile`, a :class:`~otel_mlmon.summary.Summary`, a path (profile
            ``.json``/``.json.gz``, or a CSV / Parquet data file), a list of paths or globs, an
            :class:`~otel_mlmon.testing.InMemoryTelemetry` (or its ``collect()`` output) holding what a
            monitored model exported, or data any SDK adapter reads (DataFrame, numpy array, Arrow table...).
        options: How data columns are read.
        model: For telemetry holding several models, the one to take.

    Raises:
        ValueError: unreadable input; FileNotFoundError: a path or glob matching nothing.
    """
    if isinstance(obj, Profile):
        return Source(obj.summary, f"profile {_identity(obj.model, obj.version)}", obj.model, obj.version)
    if isinstance(obj, Summary):
        return Source(obj, "summary")
    if isinstance(obj, (str, os.PathLike)) or (
        isinstance(obj, (list, tuple)) and obj and all(isinstance(p, (str, os.PathLike)) for p in obj)
    ):
        paths = expand_paths([obj] if isinstance(obj, (str, os.PathLike)) else list(obj))
        if len(paths) == 1 and is_profile_path(paths[0]):
            profile = Profile.load(paths[0])
            source = read_source(profile, options)
            source.label = f"{Path(paths[0]).name} ({source.label})"
            source.files = paths
            return source
        summary = new_summary(options)
        notes: list[str] = []
        for path in paths:
            for batch in batches(path, options, notes):
                add_batch(summary, batch, options, path)
        summary.settle()  # as a profile does once its data is read
        label = Path(paths[0]).name if len(paths) == 1 else f"{len(paths)} files"
        return Source(summary, label, files=paths, notes=notes)
    if _is_telemetry(obj):
        return _from_telemetry(obj, model)
    from otel_mlmon.adapters import read_features

    summary = new_summary(options)
    if _is_dataframe_like(obj) and (options.exclude or options.prediction):
        add_batch(summary, obj, options, type(obj).__name__)
    else:
        summary.add_features(read_features(obj, names=options.feature_names, categorical=options.categorical))
    summary.settle()
    return Source(summary, type(obj).__name__)


def _identity(model: str | None, version: str | None) -> str:
    return f"{model} v{version}" if version else str(model)


def _is_arrow(batch: Any) -> bool:
    return type(batch).__module__.startswith("pyarrow")


def _is_dataframe_like(obj: Any) -> bool:
    module = type(obj).__module__
    return (module.startswith("pandas") and hasattr(obj, "columns")) or (
        module.startswith("pyarrow") and hasattr(obj, "column_names")
    )


def _is_telemetry(obj: Any) -> bool:
    return type(obj).__name__ in ("InMemoryTelemetry", "MetricsData") and (
        hasattr(obj, "metric_reader") or hasattr(obj, "resource_metrics")
    )


def _from_telemetry(obj: Any, model: str | None) -> Source:
    """The sketches a monitored model exported in-process, rebuilt as the collector rebuilds them.

    The metrics go through the OTLP encoding and the collector's :class:`WindowStore` (one window spanning
    everything), so the current side is exactly what the collector would see.
    """
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

    from .._windows import WindowConfig, WindowStore

    data = obj.collect() if hasattr(obj, "metric_reader") else obj
    if data is None:
        raise ValueError("the telemetry holds no metrics yet: call the monitored function first")
    # One window of ~30 years: every point of this process lands in it, cumulative series count in full.
    store = WindowStore(WindowConfig(window_seconds=1e9, evaluation_windows=2))
    store.ingest(encode_metrics(data))
    keys = [k for k in store.streams() if model is None or k.model == model]
    if not keys:
        raise ValueError(
            f"the telemetry holds no ml.* sketches{'' if model is None else f' of model {model!r}'}: "
            "was the function decorated with @monitor(..., **telemetry.providers)?"
        )
    summary = new_summary()
    for key in keys:
        view = store.view(key)
        if view is not None:
            summary.merge(view)
    first = keys[0]
    models = {k.model for k in keys}
    if len(models) > 1:
        raise ValueError(f"the telemetry holds several models {sorted(models)}: pass model=...")
    return Source(
        summary, f"telemetry of {_identity(first.model, first.version)}", first.model, first.version
    )
