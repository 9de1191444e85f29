"""The ``otel-mlmon`` command line: thin argument parsing over the public API."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

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
    build = profile.add_parser("build", help="build a reference profile from a CSV or Parquet file")
    build.add_argument(
        "data", help="training/reference data: .csv, .csv.gz or .parquet (one row per example)"
    )
    build.add_argument("--model", required=True, help="ml.model.name, as given to @monitor")
    build.add_argument("--version", dest="model_version", help="ml.model.version, as given to @monitor")
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
        help="a column to leave out (e.g. the label or an id); repeatable",
    )
    build.add_argument(
        "--categorical",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a column to summarise as categories: numeric codes, or strings the kind rule would read as text "
        "or identifiers (their values are then kept in the profile); repeatable",
    )
    build.add_argument(
        "--text",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a string column to summarise as free text (numeric descriptors only); repeatable",
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
    build.add_argument("-o", "--output", required=True, help="profile file to write (.json, or .json.gz)")
    build.add_argument(
        "--batch-rows",
        type=int,
        default=100_000,
        metavar="N",
        help="rows read at a time (memory stays bounded whatever the file size; default 100000)",
    )
    show = profile.add_parser("show", help="print a profile's columns")
    show.add_argument("path", help="a profile file")
    _add_plugins(sub)
    return parser


def _add_plugins(sub: Any) -> None:
    """Commands other packages register under the entry point group ``otel_mlmon.cli`` (the collector's
    ``demo``), so the SDK never imports them itself."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="otel_mlmon.cli"):
        try:
            entry.load()(sub)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the other commands
            sub.add_parser(entry.name, help=f"unavailable: {exc} (pip install 'otel-mlmon[collector]')")


def _batches(path: str, batch_rows: int) -> tuple[Iterator[Any], int | None]:
    """Stream a CSV or Parquet file in batches of at most ``batch_rows`` rows (bounded memory); total if known."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        return (b for b in parquet.iter_batches(batch_size=batch_rows)), parquet.metadata.num_rows
    import pandas as pd

    return iter(pd.read_csv(path, chunksize=batch_rows)), None


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


def _profile_build(args: argparse.Namespace) -> int:
    from otel_mlmon.profile import Profile

    try:
        batches, total = _batches(args.data, args.batch_rows)
    except ImportError as exc:
        print(
            f"error: reading {args.data} needs pandas/pyarrow: pip install 'otel-mlmon[dataframes]' ({exc})",
            file=sys.stderr,
        )
        return 2
    config = SummaryConfig(
        vector_min_width=args.vector_min_width or None,
        categorical=args.categorical,
        text=args.text,
        ids=args.ids,
    )
    profile = Profile(
        args.model, args.model_version, Summary(config), metadata={"source": os.path.basename(args.data)}
    )
    progress = _Progress(total)
    for batch in batches:
        arrow = type(batch).__module__.startswith("pyarrow")
        columns = list(batch.column_names if arrow else batch.columns)
        missing = [c for c in [*args.prediction, *args.exclude] if c not in columns]
        if missing:
            print(
                f"error: no column {', '.join(map(repr, missing))} in {args.data}; it has {columns}",
                file=sys.stderr,
            )
            return 2
        keep = [c for c in columns if c not in args.prediction and c not in args.exclude]
        if arrow:  # a pyarrow RecordBatch: the adapters read it as it is
            features = batch.select(keep)
            predictions = batch.select(args.prediction) if args.prediction else None
        else:
            features = batch[keep]
            predictions = batch[args.prediction] if args.prediction else None
        if predictions is not None and len(args.prediction) == 1:
            predictions = predictions.column(0) if arrow else predictions.iloc[:, 0]
            predictions = predictions.to_numpy()
        profile.update(features, predictions, categorical=args.categorical)
        progress.advance(batch.num_rows if arrow else len(batch))
    progress.done()
    path = profile.save(args.output)
    print(
        f"wrote {path}: {profile.summary.rows} rows, {len(profile.summary.features)} features, "
        f"{len(profile.summary.outputs)} outputs"
    )
    return 0


def _profile_show(args: argparse.Namespace) -> int:
    from otel_mlmon.profile import Profile

    profile = Profile.load(args.path)
    print(profile)
    for group, columns in (("feature", profile.summary.features), ("output", profile.summary.outputs)):
        for name, column in columns.items():
            if column.numeric is not None:
                q = column.numeric.quantile([0.05, 0.5, 0.95]) if column.count else [float("nan")] * 3
                detail = f"p5={q[0]:.4g} p50={q[1]:.4g} p95={q[2]:.4g}"
            else:
                detail = ", ".join(f"{k}={v}" for k, v in column.categorical.top(5))
            total = column.count + column.missing + column.infinite
            missing = f"missing={column.missing} ({100 * column.missing / total if total else 0:.1f}%)"
            print(f"  {group:7} {name:24} {column.kind:11} n={column.count:<9} {missing:22} {detail}")
    return 0


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
