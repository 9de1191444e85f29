"""The assembled collector: wiring from configuration, self-metrics routing, start-up failures."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from otel_mlmon_collector import Collector
from otel_mlmon_collector._exporters.console import ConsoleExporter
from otel_mlmon_collector._exporters.otlp import OtlpGrpcExporter, OtlpHttpExporter

from .conftest import collector_config, free_port, wait_until


def test_self_metrics_skip_console_and_reach_otlp_exporters(make_collector: Callable[..., Collector]) -> None:
    """Self-metrics are not printed by console exporters but are queued for OTLP metrics exporters."""
    console_only = make_collector(collector_config())
    assert console_only.emit_self_metrics() is False
    config = collector_config(
        exporters=[
            {"name": "screen", "type": "console"},
            {"name": "metrics", "signals": ["metrics"], "endpoint": "http://127.0.0.1:9"},
        ],
        queue={"workers": 1},
    )
    both = Collector(config)  # not started: queues only fill
    assert both.emit_self_metrics() is True
    sizes = {lane.name: len(lane.queue) for lane in both.pipeline.lanes}
    assert sizes == {"screen": 0, "metrics": 1}


def test_exporters_are_built_from_the_configuration() -> None:
    """Each configured exporter gets its own lane with its signals; no exporters means one console lane."""
    config = collector_config(
        exporters=[
            {"name": "t", "signals": ["traces"], "endpoint": "http://127.0.0.1:9"},
            {
                "name": "m",
                "protocol": "grpc",
                "signals": ["metrics", "logs"],
                "endpoint": "http://127.0.0.1:9",
            },
        ]
    )
    lanes = {lane.name: lane for lane in Collector(config).pipeline.lanes}
    assert isinstance(lanes["t"].exporter, OtlpHttpExporter) and lanes["t"].signals == ("traces",)
    assert isinstance(lanes["m"].exporter, OtlpGrpcExporter) and lanes["m"].signals == ("metrics", "logs")
    (console,) = Collector(collector_config()).pipeline.lanes
    assert isinstance(console.exporter, ConsoleExporter) and console.signals == ("traces", "metrics", "logs")


def test_start_fails_cleanly_when_the_port_is_taken() -> None:
    """A receiver that cannot bind raises OSError and nothing is left listening."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        collector = Collector(collector_config(receivers={"http": {"endpoint": f"127.0.0.1:{port}"}}))
        with pytest.raises(OSError):
            collector.start()
    grpc_port = int(collector.receivers[0].endpoint.rsplit(":", 1)[1])  # started first, then stopped
    assert grpc_port != 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", grpc_port), timeout=2).close()
    assert collector.pipeline.closing


def test_an_unreachable_downstream_is_one_warning_naming_it(
    make_collector: Callable[..., Collector], caplog: pytest.LogCaptureFixture
) -> None:
    """Requests for a downstream that refuses connections give a WARNING naming it and why, rate-limited."""
    import logging

    from otel_mlmon_collector._otlp import OtlpRequest

    port = free_port()
    collector = make_collector(
        collector_config(
            exporters=[
                {
                    "name": "backend",
                    "protocol": "http/protobuf",
                    "endpoint": f"http://127.0.0.1:{port}",
                    "retry": {"initial_interval_seconds": 0.05, "max_interval_seconds": 0.05},
                }
            ]
        )
    )
    with caplog.at_level(logging.WARNING, logger="otel_mlmon_collector"):
        for _ in range(5):
            collector.pipeline.accept(OtlpRequest("logs", b""), "http")
        wait_until(lambda: [r for r in caplog.records if "backend" in r.getMessage()], 10, what="a warning")
        time.sleep(0.5)  # several retries of five requests happen meanwhile
    lines = [r for r in caplog.records if "exporter backend" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelno == logging.WARNING
    message = lines[0].getMessage()
    assert f"127.0.0.1:{port}" in message and "cannot connect (connection refused" in message, message


def test_describe_names_every_reference_source_and_the_ground_truth_state(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The start-up description lists the references directory, the trailing reference and ground truth's settings."""
    import logging

    config = collector_config(
        drift={"references": {"directory": str(tmp_path / "profiles")}, "trailing_reference": {}},
        ground_truth={"path": str(tmp_path / "labels.db")},
    )
    collector = Collector(config)
    lines = collector.describe()
    collector.shutdown(1.0)
    text = "\n".join(line for _, line in lines)
    assert f"directory {tmp_path / 'profiles'} (it does not exist yet" in text, text
    assert "earlier production traffic (trailing_reference)" in text
    assert (
        f"ground truth: on, labels joined to predictions for 168 h, performance every 60 s, state in {tmp_path}"
        in text
    )
    # a trailing reference stands in for profiles, so an empty directory is no warning here
    assert all(level == logging.INFO for level, _ in lines), lines
