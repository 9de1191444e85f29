"""The ``otel-mlmon`` command line: thin argument parsing over the public API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from otel_mlmon._version import __version__

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-mlmon", description="OpenTelemetry-native monitoring for ML inference."
    )
    parser.add_argument("--version", action="version", version=f"otel-mlmon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="print the version and the OpenTelemetry SDK version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``otel-mlmon`` console script; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "version":
        from importlib.metadata import version

        print(f"otel-mlmon {__version__} (opentelemetry-sdk {version('opentelemetry-sdk')})")
        return 0
    parser.print_help()
    return 0 if args.command is None else 2


if __name__ == "__main__":
    sys.exit(main())
