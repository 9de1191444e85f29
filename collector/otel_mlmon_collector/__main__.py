"""Command line of otel-mlmon-collector: load the configuration, run until SIGTERM/SIGINT, flush, exit."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from . import __version__
from ._config import ENV_CONFIG, ConfigError, default_config_text, load_config
from ._service import Collector

__all__ = ["main"]

_log = logging.getLogger("otel_mlmon_collector")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the collector; returns the process exit code (0 clean, 1 flush incomplete, 2 bad configuration)."""
    parser = argparse.ArgumentParser(
        prog="otel-mlmon-collector",
        description="OTLP hop for ML telemetry: receives OTLP (gRPC and HTTP) and forwards it unchanged.",
    )
    parser.add_argument(
        "--config", metavar="FILE", help=f"YAML configuration (default: ${ENV_CONFIG} or built-in)"
    )
    parser.add_argument(
        "--print-default-config", action="store_true", help="print the built-in configuration and exit"
    )
    parser.add_argument("--validate", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)

    if args.print_default_config:
        sys.stdout.write(default_config_text())
        return 0
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"otel-mlmon-collector: configuration error: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.service.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.validate:
        print("configuration is valid", file=sys.stderr)
        return 0

    try:
        collector = Collector(config)
    except ConfigError as e:  # found while building: a ground-truth store that cannot be opened, say
        print(f"otel-mlmon-collector: configuration error: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        _log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        collector.start()
    except OSError as e:
        _log.error("cannot start: %s", e)
        return 2
    targets = ", ".join(f"{lane.name} ({'/'.join(lane.signals)})" for lane in collector.pipeline.lanes)
    _log.info("otel-mlmon-collector %s serving; forwarding to %s", __version__, targets)
    for level, line in collector.describe():
        _log.log(level, "%s", line)
    while not stop.wait(0.5):
        pass
    flushed = collector.shutdown()
    _log.info("stopped%s", "" if flushed else " (some queued requests were dropped at the deadline)")
    return 0 if flushed else 1


if __name__ == "__main__":
    sys.exit(main())
