"""The ``otel-mlmon`` command line: thin argument parsing over the public API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from otel_mlmon import conventions as conv
from otel_mlmon._label_rows import LabelRows, apply_labels, sample_rate, target_of
from otel_mlmon._tabular_files import STRAY_SHARE
from otel_mlmon._version import __version__
from otel_mlmon.summary import Summary, SummaryConfig

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-mlmon", description="OpenTelemetry-native monitoring for ML inference."
    )
    parser.add_argument("--version", action="version", version=f"otel-mlmon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="print the version and the OpenTelemetry SDK version")

    profile = sub.add_parser("profile", help="build or inspect reference profiles").add_subparsers(
        dest="profile_command", metavar="ACTION", required=True
    )
    build = profile.add_parser("build", help="build a reference profile from CSV or Parquet files")
    build.add_argument(
        "data",
        nargs="+",
        help="training/reference data: .csv, .csv.gz, .tsv or .parquet files (one row per example), glob "
        "patterns ('data/*.parquet', quoted) or directories (every such file under them), read in order",
    )
    build.add_argument("--model", required=True, help=f"{conv.ATTR_MODEL_NAME}, as given to @monitor")
    build.add_argument(
        "--version", dest="model_version", help=f"{conv.ATTR_MODEL_VERSION}, as given to @monitor"
    )
    build.add_argument(
        "--prediction",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a column holding the model's output (summarised as an output, not a feature)",
    )
    build.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a column to leave out: the label, and anything else the model does not read; repeatable",
    )
    build.add_argument(
        "--numeric",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a column to read as numbers, values that are not numbers counting as missing (a CSV column with "
        f"at most {STRAY_SHARE * 100:g}%% of them is read so anyway, with a warning); repeatable",
    )
    build.add_argument(
        "--categorical",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a column to summarise as categories: numeric codes (read from a CSV file verbatim, so 06000 stays "
        "06000), or strings the kind rule would read as text or identifiers (their values are then kept in the "
        "profile); repeatable",
    )
    build.add_argument(
        "--text",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a string column to summarise as free text (numeric descriptors and hashed token counts, never its "
        "words); repeatable",
    )
    build.add_argument(
        "--ids",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a column to summarise as an identifier (length and missing count only); repeatable",
    )
    build.add_argument(
        "--vector-min-width",
        type=int,
        default=64,
        metavar="N",
        help="unnamed numeric inputs this wide are one vector column (default 64; same as the SDK's "
        "SummaryConfig; 0: never)",
    )
    build.add_argument(
        "--keep-index",
        action="store_true",
        help="profile the pandas index a file holds (__index_level_0__ in Parquet, the unnamed first column "
        "df.to_csv() writes) as a feature; skipped by default",
    )
    build.add_argument(
        "--target",
        metavar="COLUMN",
        help="the column of true labels or values (left out of the features); needs --prediction: fits what the "
        "collector needs to estimate performance before labels (calibration, expected-error model) and, with one "
        "prediction output, stores the model's performance on this data and its spread over chunks, which the "
        "collector's ground-truth alerts compare each window with",
    )
    build.add_argument(
        "--chunk-rows",
        type=int,
        metavar="N",
        help="rows per chunk for the performance spread (default: ten chunks of at least 100 rows)",
    )
    build.add_argument(
        "--classes",
        metavar="A,B,...",
        help="the --prediction columns are the probabilities of these classes, in order: summarised as one "
        "classifier output, as the SDK summarises a probability matrix",
    )
    build.add_argument(
        "--target-rows",
        type=int,
        default=1_000_000,
        metavar="N",
        help="rows kept in memory to fit the estimation model with --target (a uniform sample beyond; default "
        "1000000)",
    )
    build.add_argument("-o", "--output", required=True, help="profile file to write (.json, or .json.gz)")
    build.add_argument(
        "--batch-rows",
        type=int,
        default=100_000,
        metavar="N",
        help="rows read at a time (memory stays bounded whatever the file size; default 100000)",
    )
    _add_engine_options(build)
    show = profile.add_parser("show", help="print a profile's columns")
    show.add_argument("path", help="a profile file")
    _add_plugins(sub)
    return parser


def _add_engine_options(build: argparse.ArgumentParser) -> None:
    engine = build.add_argument_group("distributed build (pip install 'otel-mlmon[distributed]')")
    engine.add_argument(
        "--engine",
        choices=("dask", "spark"),
        help="sketch the files' parts in parallel on Dask or Spark and merge the partial profiles (the same "
        "profile as without it); the workers read the files at the same paths; with --target, the rows' "
        "predictions and labels (and the estimation sample's features) are fitted here",
    )
    engine.add_argument(
        "--scheduler", metavar="ADDRESS", help="--engine dask: this scheduler (default: a local cluster)"
    )
    engine.add_argument("--master", metavar="URL", help="--engine spark: this master (default: local[*])")
    engine.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="the local cluster's worker processes (Dask) or local[N] (Spark); default: one per core",
    )


def _add_plugins(sub: Any) -> None:
    """Commands other packages register under the entry point group ``otel_mlmon.cli`` (the collector's
    ``demo``), so the SDK never imports them itself."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="otel_mlmon.cli"):
        try:
            entry.load()(sub)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the other commands
            sub.add_parser(entry.name, help=f"unavailable: {exc} (pip install 'otel-mlmon[collector]')")


class _Progress:
    """A one-line progress report on stderr (redrawn in place on a terminal, a final line otherwise)."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.rows = 0
        self.tty = sys.stderr.isatty()

    def advance(self, rows: int) -> None:
        self.rows += rows
        if self.tty:
            print(f"\r{self._text()}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        print(f"\r{self._text()}" if self.tty else self._text(), file=sys.stderr)

    def _text(self) -> str:
        if self.total:
            return f"profiled {self.rows:,}/{self.total:,} rows ({100 * self.rows / self.total:.0f}%)"
        return f"profiled {self.rows:,} rows"


#: Column names that say "this is the label": profiled as a feature unless excluded, so worth a warning.
_LABEL_NAMES = frozenset({"label", "labels", "target", "y", "class", "outcome", "ground_truth", "truth"})


def _profile_build(args: argparse.Namespace) -> int:
    from otel_mlmon._partial_profile import expand_paths
    from otel_mlmon._tabular_files import MissingColumns, TabularFile

    declared = [*args.categorical, *args.text, *args.ids]
    both = sorted(set(args.numeric) & set(declared))
    if both:
        print(f"error: {both} named both --numeric and --categorical/--text/--ids", file=sys.stderr)
        return 2
    files = expand_paths(args.data)

    def open_file(path: str) -> TabularFile:
        return TabularFile(
            path,
            args.batch_rows,
            strings=declared,
            numeric=args.numeric,
            skip=args.exclude,
            keep_index=args.keep_index,
        )

    try:
        data = open_file(files[0])
    except ImportError as exc:
        print(
            f"error: reading {files[0]} needs pandas/pyarrow: pip install 'otel-mlmon[dataframes]' ({exc})",
            file=sys.stderr,
        )
        return 2
    except MissingColumns as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.target is not None and not args.prediction:
        print("error: --target needs --prediction (the model's output on these rows)", file=sys.stderr)
        return 2
    classes = args.classes.split(",") if args.classes else None
    if classes is not None and len(classes) != len(args.prediction):
        print(
            f"error: --classes names {len(classes)} classes for {len(args.prediction)} --prediction columns",
            file=sys.stderr,
        )
        return 2
    missing = [
        c for c in [*args.prediction, *([args.target] if args.target else [])] if c not in data.columns
    ]
    if missing:
        print(
            f"error: no column {', '.join(map(repr, missing))} in {files[0]}; it has {data.columns}",
            file=sys.stderr,
        )
        return 2
    config = SummaryConfig(
        vector_min_width=args.vector_min_width or None,
        categorical=args.categorical,
        text=args.text,
        ids=args.ids,
        vocabulary_moments=True,  # text columns: what calibrates the collector's vocabulary test
    )
    metadata = {"source": " ".join(os.path.basename(p) for p in args.data)}
    keep = [c for c in data.columns if c not in args.prediction and c != args.target]
    if args.engine:
        from otel_mlmon.engines import _cli_build

        profile, notes, labels = _cli_build(args, files, config, classes, metadata)
        if labels is not None:
            _apply_target(profile, labels, args, classes)
    else:
        profile, notes = _build_here(args, files, data, open_file, config, classes, metadata)
    path = profile.save(args.output)  # decides the string columns still waiting for values
    for note in [*notes, *_label_notes(keep), *_kind_notes(profile)]:
        print(f"warning: {note}", file=sys.stderr)
    print(
        f"wrote {path}: {profile.summary.rows} rows, {len(profile.summary.features)} features, "
        f"{len(profile.summary.outputs)} outputs"
    )
    return 0


def _build_here(
    args: argparse.Namespace,
    files: Sequence[str],
    data: Any,
    open_file: Any,
    config: SummaryConfig,
    classes: list[str] | None,
    metadata: dict[str, Any],
) -> tuple[Any, list[str]]:
    """The one-process build: every file's batches in order."""
    from otel_mlmon._partial_profile import split_batch
    from otel_mlmon.profile import Profile

    profile = Profile(args.model, args.model_version, Summary(config), metadata=metadata)
    total = _total_rows(data, files)
    progress = _Progress(total)
    labels = LabelRows(args.target_rows, sample_rate(args.target_rows, total)) if args.target else None
    notes: list[str] = []
    for i, path in enumerate(files):
        data = data if i == 0 else open_file(path)
        keep = [c for c in data.columns if c not in args.prediction and c != args.target]
        for batch in data.batches():
            features, predictions, arrow = split_batch(batch, keep, args.prediction, classes)
            profile.update(features, predictions, categorical=args.categorical, classes=classes)
            if labels is not None:
                target, values = target_of(batch, args.target, arrow)
                labels.add(features.to_pandas() if arrow else features, predictions, target, values)
            progress.advance(batch.num_rows if arrow else len(batch))
        notes += [f"{path}: {n}" if len(files) > 1 else n for n in data.notes()]
    progress.done()
    if labels is not None:
        _apply_target(profile, labels, args, classes)
    return profile, notes


def _apply_target(
    profile: Any, labels: LabelRows, args: argparse.Namespace, classes: list[str] | None
) -> None:
    """``--target``: the reference performance (one prediction output) and the estimation model, from the label
    rows of every file (read here, or gathered from an engine's partitions)."""
    apply_labels(
        profile,
        labels,
        one_output=len(args.prediction) == 1 or classes is not None,
        categorical=args.categorical,
        classes=classes,
        chunk_rows=args.chunk_rows,
        probabilities=lambda predictions: (predictions, list(classes)) if classes is not None else None,
    )


def _total_rows(first: Any, files: Sequence[str]) -> int | None:
    """Rows in all files when their metadata say so (Parquet), else None."""
    if len(files) == 1 or first.total_rows is None:
        return first.total_rows
    import pyarrow.parquet as pq

    if not all(f.lower().endswith((".parquet", ".pq")) for f in files):
        return None
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _label_notes(features: Sequence[str]) -> Iterator[str]:
    """A feature named like the label: the model never reads its label, so it is most likely a mistake."""
    for name in features:
        if name.lower() in _LABEL_NAMES:
            yield (
                f"column {name!r}: named like the label, profiled as a feature; pass --exclude {name} if the "
                "model does not read it"
            )


def _kind_notes(profile: Any) -> Iterator[str]:
    """String columns the column-kind rule made text or identifiers: their values are not in the profile."""
    for (group, name), kind in profile.summary.config.kinds.decided().items():
        if group != "features" or kind == "categorical":
            continue
        what = (
            f"free text: summarised by numeric descriptors ({name}.chars, {name}.words, ...) and hashed token "
            f"counts ({name}.vocabulary), never its words"
            if kind == "text"
            else f"identifiers: only their length is kept ({name}.chars)"
        )
        yield (
            f"column {name!r}: the column-kind rule decided these strings are {what}; pass --categorical {name} "
            "to keep its values as categories"
        )


def _profile_show(args: argparse.Namespace) -> int:
    from otel_mlmon.profile import Profile

    profile = Profile.load(args.path)
    print(profile)
    if profile.metadata:
        print(f"  metadata: {json.dumps(profile.metadata, sort_keys=True)}")
    if profile.performance:
        print(f"  performance: {', '.join(f'{k}={v:.4g}' for k, v in profile.performance.items())}")
    for line in _summary_lines(profile.summary):
        print(line)
    return 0


def _summary_lines(summary: Summary) -> Iterator[str]:
    """One line per column as the user named it: text, identifier and vector columns with the descriptor columns
    they are compared by under them, outputs with their per-class confidence histograms under them."""
    features = summary.features
    groups = _descriptor_groups(features)
    owner = {member: base for base, (_, members) in groups.items() for member in members}
    for name, column in features.items():
        base = owner.get(name)
        if base is None:
            yield _line("feature", name, column.kind, column, _detail(column))
            continue
        kind, members = groups[base]
        if name != members[0]:
            continue  # shown under its column
        if kind == "identifier":
            yield _line("feature", base, kind, column, f"length {_detail(column)}")
            continue
        yield _line("feature", base, kind, column, f"{len(members)} descriptors, each compared on its own:")
        for member in members:
            yield _line("", f"  {member}", "numeric", features[member], _detail(features[member]))
        if base in summary.vocabularies:
            yield _vocabulary_line(base, summary.vocabularies[base])
    yield from _vector_lines(summary)
    outputs = list(summary.outputs)
    outputs += sorted({o for o, _ in summary.confidence} - set(outputs))
    for name in outputs:
        column = summary.outputs.get(name)
        if column is not None:
            yield _line("output", name, column.kind, column, _detail(column))
        for (output, label), confidence in summary.confidence.items():
            if output == name:
                yield _line("", f"  confidence when {label}", "numeric", confidence, _detail(confidence))
    yield from _vector_lines(summary, outputs=True)


def _vector_lines(summary: Summary, outputs: bool = False) -> Iterator[str]:
    """A vector column (or, with ``outputs``, a vector output): its width and projection set, its norm, and how
    far its projected centroid sits from 0."""
    import numpy as np

    from otel_mlmon.conventions import VECTOR_NORM, descriptor_name

    columns = dict(summary.vector_columns(outputs=outputs))
    for name, sketch in (summary.output_vectors if outputs else summary.vectors).items():
        p = sketch.projection
        norm = columns[descriptor_name(name, VECTOR_NORM)]
        detail = f"{p.dim} dims -> {p.k} projections (seed {p.seed}, version {p.version}) + norm"
        yield _line("output" if outputs else "feature", name, "vector", norm, detail)
        yield _line("", f"  {descriptor_name(name, VECTOR_NORM)}", "numeric", norm, _detail(norm))
        if sketch.count:
            spread = np.sqrt(
                np.maximum(sketch.squares[:-1] / sketch.count - (sketch.sums[:-1] / sketch.count) ** 2, 0)
            )
            centroid = float(np.linalg.norm(sketch.sums[:-1] / sketch.count))
            yield (
                f"  {'':7} {'  projections':28} {'numeric':11} {'':32} centroid |mean|={centroid:.4g}, "
                f"std per projection {spread.min():.4g}..{spread.max():.4g}"
            )


def _vocabulary_line(name: str, sketch: Any) -> str:
    """A text column's vocabulary sketch: its hash, tokens and texts, how many buckets they fill, the largest
    bucket's share and the design effect (the words themselves are not in the profile)."""
    from otel_mlmon.conventions import VOCABULARY, descriptor_name

    used = int((sketch.counts > 0).sum())
    top = float(sketch.counts.max() / sketch.tokens) if sketch.tokens else 0.0
    effect = sketch.design_effect()
    detail = (
        f"{sketch.buckets} hash buckets (seed {sketch.seed}): {sketch.tokens} tokens, {used} buckets used, "
        f"largest {100 * top:.1f}%, design effect {'-' if effect is None else f'{effect:.3g}'}; no words kept"
    )
    label = f"  {descriptor_name(name, VOCABULARY)}"
    return f"  {'':7} {label:28} {'vocabulary':11} n={sketch.texts:<9} {'':22} {detail}"


def _descriptor_groups(names: Collection[str]) -> dict[str, tuple[str, list[str]]]:
    """Text and identifier columns found from their descriptor columns' names (``review.chars``, ...):
    column -> (kind, descriptor columns)."""
    from otel_mlmon._text import TEXT_DESCRIPTORS
    from otel_mlmon.conventions import descriptor_name

    groups: dict[str, tuple[str, list[str]]] = {}
    for name in names:
        for kind, descriptors in (("text", TEXT_DESCRIPTORS),):
            suffix = descriptor_name("", descriptors[0])
            if not name.endswith(suffix) or name == suffix:
                continue
            base = name[: -len(suffix)]
            members = [descriptor_name(base, d) for d in descriptors]
            if all(m in names for m in members):
                groups[base] = (kind, members)
            elif kind == "text" and descriptor_name(base, descriptors[1]) not in names and base not in names:
                groups[base] = ("identifier", [name])  # an identifier keeps only its length
    return groups


def _line(group: str, name: str, kind: str, column: Any, detail: str) -> str:
    total = column.count + column.missing + column.infinite
    missing = f"missing={column.missing} ({100 * column.missing / total if total else 0:.1f}%)"
    if column.infinite:
        missing += f" inf={column.infinite}"
    return f"  {group:7} {name:28} {kind:11} n={column.count:<9} {missing:22} {detail}"


def _detail(column: Any) -> str:
    if column.numeric is not None:
        if not column.count:
            return "(no values)"
        q = column.numeric.quantile([0.05, 0.5, 0.95])
        return f"p5={q[0]:.4g} p50={q[1]:.4g} p95={q[2]:.4g}"
    sketch = column.categorical
    top = sketch.top(5)
    detail = ", ".join(f"{k}={v}" for k, v in top)
    distinct = round(sketch.distinct_estimate())
    if distinct > len(top):
        detail += f", ... ({'' if sketch.exact else '~'}{distinct:,} categories)"
    return detail


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``otel-mlmon`` console script; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is not None:
        return int(args.handler(args))
    if args.command == "profile":
        try:
            return _profile_build(args) if args.profile_command == "build" else _profile_show(args)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if args.command == "version":
        from importlib.metadata import version

        print(f"otel-mlmon {__version__} (opentelemetry-sdk {version('opentelemetry-sdk')})")
        return 0
    parser.print_help(sys.stderr)
    return 2  # no command (or an incomplete one) is a usage error, as argparse's own


if __name__ == "__main__":
    sys.exit(main())
