"""``otel-mlmon drift``: compare data files with a reference, or replay them by event time, from the command line.

Registered on the ``otel-mlmon`` command line through the entry point group ``otel_mlmon.cli`` (as ``demo``), so
the SDK never imports the collector; also runnable as ``python -m otel_mlmon_collector.offline``.
Exit codes: 0 done (no drift, or drift without ``--fail-on-drift``), 1 drift with ``--fail-on-drift``, 2 bad
arguments or unreadable input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["add_parser", "main", "run"]

_EPILOG = """\
examples:
  otel-mlmon drift train.parquet today.parquet --fail-on-drift
  otel-mlmon drift fraud.json 'logs/2026-11-*.csv' --exclude label --html report.html
  otel-mlmon drift train.csv events.csv --by timestamp --every 1d --json drift.json

exit status: 0 done, 1 drift found with --fail-on-drift, 2 bad arguments or unreadable input.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``drift`` on the ``otel-mlmon`` command line (entry point group ``otel_mlmon.cli``)."""
    parser = subparsers.add_parser(
        "drift",
        help="compare data files with a reference (profile or data) through the collector's drift engine",
        description=(
            "Compare CURRENT data with a REFERENCE through the collector's drift engine (same sketches, methods, "
            "thresholds and multiple-testing correction) and print one row per column and a verdict."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _arguments(parser)
    parser.set_defaults(handler=run)
    return parser


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "reference", help="a profile (.json, .json.gz) or a data file (.csv, .csv.gz, .parquet)"
    )
    parser.add_argument("current", nargs="+", help="data files or globs (quote globs) to compare with it")
    parser.add_argument("--json", metavar="FILE", help="write the findings as JSON")
    parser.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    parser.add_argument(
        "--fail-on-drift", action="store_true", help="exit with status 1 when any column drifted (CI gates)"
    )
    parser.add_argument(
        "--model", help="model name (default: the profile's); overrides are looked up under it"
    )
    parser.add_argument("--version", dest="model_version", help="model version (default: the profile's)")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="a collector YAML file: its drift: section sets methods, thresholds, checks and correction",
    )
    for name, helptext in (
        ("--categorical", "a column to compare as categories (numeric codes, or strings); repeatable"),
        ("--text", "a string column to summarise as free text (numeric descriptors); repeatable"),
        ("--ids", "a column to summarise as an identifier (length and missing count only); repeatable"),
        ("--exclude", "a column to leave out (the label, an id); repeatable"),
        ("--prediction", "a column holding the model's output (compared as an output); repeatable"),
        (
            "--numeric",
            "a column to read from data files as numbers, values that are not numbers counting as missing "
            "(as profile build --numeric); repeatable",
        ),
    ):
        parser.add_argument(name, action="append", default=[], metavar="COLUMN", help=helptext)
    parser.add_argument(
        "--keep-index",
        action="store_true",
        help="read the pandas index a data file holds as a column (skipped by default, as by profile build)",
    )
    parser.add_argument(
        "--vector-min-width",
        type=int,
        default=64,
        metavar="N",
        help="unnamed numeric inputs this wide are one vector column (default 64, as the SDK; 0: never)",
    )
    replay = parser.add_argument_group("replay by event time")
    replay.add_argument("--by", metavar="COLUMN", help="event-time column: evaluate each window of the data")
    replay.add_argument(
        "--every", metavar="DURATION", help="window length with --by: 90s, 15m, 6h, 1d, 1w (aligned to UTC)"
    )
    replay.add_argument(
        "--view",
        type=int,
        default=1,
        metavar="N",
        help="windows merged per evaluation (default 1: no overlap)",
    )
    replay.add_argument(
        "--endpoint",
        metavar="URL",
        help="with --by: send each window's ml.drift.* gauges and events, timestamped at the window's end, "
        "to this OTLP/HTTP base URL (e.g. http://localhost:4318)",
    )
    replay.add_argument(
        "--metrics-only",
        action="store_true",
        help="with --endpoint: send the gauges only, not the ml.drift.changed events (a metrics-only backend "
        "such as VictoriaMetrics or Prometheus)",
    )
    parser.add_argument(
        "--rows", type=int, default=50, metavar="N", help="columns printed (drifted first; default 50)"
    )
    parser.add_argument(
        "--batch-rows", type=int, default=100_000, metavar="N", help="rows read at a time (default 100000)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the command for parsed arguments; returns the exit status."""
    from .._config_reader import ConfigError

    if (args.by is None) != (args.every is None):
        return _error("--by and --every go together (e.g. --by timestamp --every 1d)")
    if args.endpoint and args.by is None:
        return _error("--endpoint needs --by and --every (it back-fills one point per window)")
    if args.view < 1 or args.rows < 0 or args.batch_rows < 1:
        return _error("--view and --batch-rows must be >= 1, --rows >= 0")
    both = sorted(set(args.numeric) & {*args.categorical, *args.text, *args.ids})
    if both:
        return _error(f"{both} named both --numeric and --categorical/--text/--ids")
    try:
        config = _config(args.config)
        if args.by is None:
            result: Any = _compare(args, config)
        else:
            result = _replay(args, config)
    except (OSError, ValueError, ConfigError, ImportError) as exc:
        return _error(str(exc))
    for note in result.notes:  # the same warnings `profile build` gives for the same file
        print(f"warning: {note}", file=sys.stderr)
    if args.json:
        result.to_json(args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.html:
        result.to_html(args.html)
        print(f"wrote {args.html}", file=sys.stderr)
    if args.endpoint:
        from ._emit import emit_reports

        signals = ("metrics",) if args.metrics_only else ("metrics", "logs")
        sent = emit_reports(result.reports, args.endpoint, signals=signals)
        message = f"sent {sent.sent} OTLP requests to {args.endpoint}"
        if sent.failed:
            print(f"{message}; {sent.failed} failed: {sent.error}", file=sys.stderr)
            return 2
        print(message, file=sys.stderr)
    return 1 if args.fail_on_drift and result.drifted else 0


def _compare(args: argparse.Namespace, config: Any) -> Any:
    from ._compare import compare
    from ._report_text import render_table

    report = compare(
        args.reference,
        args.current,
        model=args.model,
        version=args.model_version,
        config=config,
        categorical=args.categorical,
        exclude=args.exclude,
        prediction=args.prediction,
        text=args.text,
        ids=args.ids,
        vector_min_width=args.vector_min_width or None,
        numeric=args.numeric,
        keep_index=args.keep_index,
    )
    print(render_table(report, max_rows=args.rows))
    return report


def _replay(args: argparse.Namespace, config: Any) -> Any:
    from ._replay import replay

    result = replay(
        args.reference,
        args.current,
        by=args.by,
        every=args.every,
        view=args.view,
        model=args.model,
        version=args.model_version,
        config=config,
        categorical=args.categorical,
        exclude=args.exclude,
        prediction=args.prediction,
        text=args.text,
        ids=args.ids,
        vector_min_width=args.vector_min_width or None,
        batch_rows=args.batch_rows,
        numeric=args.numeric,
        keep_index=args.keep_index,
    )
    print(result.to_text())
    return result


def _config(path: str | None) -> Any:
    """The engine configuration from a collector YAML file (its ``drift:`` section), else the defaults."""
    from .._drift_engine import DriftConfig

    if path is None:
        return DriftConfig()
    from .._config import load_config

    loaded = load_config(path)  # as the collector reads it (${env:NAME} substitution included)
    return loaded.drift or DriftConfig()


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m otel_mlmon_collector.offline``: the ``drift`` command on its own."""
    parser = argparse.ArgumentParser(
        prog="otel-mlmon drift",
        description="Compare data files with a reference through the collector's drift engine.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _arguments(parser)
    return run(parser.parse_args(argv))
