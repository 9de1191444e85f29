"""The ``otel-mlmon`` command line: thin argument parsing over the public API."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from otel_mlmon._version import __version__

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
        help="a numeric column to summarise as categories (integer codes); repeatable",
    )
    build.add_argument("-o", "--output", required=True, help="profile file to write (.json, or .json.gz)")
    show = profile.add_parser("show", help="print a profile's columns")
    show.add_argument("path", help="a profile file")
    return parser


def _read_table(path: str) -> Any:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "otel-mlmon profile build reads files with pandas: pip install 'otel-mlmon[dataframes]'"
        ) from exc
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _profile_build(args: argparse.Namespace) -> int:
    from otel_mlmon.profile import Profile

    frame = _read_table(args.data)
    missing = [c for c in [*args.prediction, *args.exclude] if c not in frame.columns]
    if missing:
        print(
            f"error: no column {', '.join(map(repr, missing))} in {args.data}; it has {list(frame.columns)}",
            file=sys.stderr,
        )
        return 2
    features = frame.drop(columns=[*args.prediction, *args.exclude])
    predictions = frame[args.prediction] if args.prediction else None
    if predictions is not None and len(args.prediction) == 1:
        predictions = predictions[args.prediction[0]].to_numpy()
    profile = Profile.from_data(
        features,
        predictions,
        model=args.model,
        version=args.model_version,
        categorical=args.categorical,
        metadata={"source": os.path.basename(args.data)},
    )
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
            print(
                f"  {group:7} {name:24} {column.kind:11} n={column.count:<9} missing={column.missing:<7} {detail}"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``otel-mlmon`` console script; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
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
    parser.print_help()
    return 0 if args.command is None else 2


if __name__ == "__main__":
    sys.exit(main())
