"""The command line: default config printing, configuration errors, start-up lines, busy ports, a bare run."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from otel_mlmon_collector.__main__ import main
from otel_mlmon_collector._config import default_config_text

from otel_mlmon import Profile

SCRIPT = Path(sys.executable).with_name("otel-mlmon-collector")


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_EXPORTER_OTLP", "OTEL_MLMON_COLLECTOR"))
    }
    env.update(extra)
    return env


def test_print_default_config(capsys) -> None:  # type: ignore[no-untyped-def]
    """--print-default-config prints the embedded YAML, which parses, and exits 0."""
    assert main(["--print-default-config"]) == 0
    out = capsys.readouterr().out
    assert out == default_config_text()
    assert yaml.safe_load(out)["receivers"]["grpc"]["endpoint"] == "127.0.0.1:4317"


def test_configuration_error_exits_2_naming_the_key(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A bad file makes the CLI exit 2 with the offending key on stderr."""
    path = tmp_path / "c.yaml"
    path.write_text("queue:\n  max_request: 5\n")
    assert main(["--config", str(path)]) == 2
    assert "queue.max_request: unknown key" in capsys.readouterr().err


def test_validate_accepts_the_example(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """--validate checks a configuration and exits 0 without starting anything."""
    monkeypatch.setenv("OTEL_MLMON_TOKEN", "t")  # the example's receivers.auth reads it
    example = Path(__file__).resolve().parents[2] / "collector" / "otel-mlmon-collector.example.yaml"
    assert main(["--config", str(example), "--validate"]) == 0
    assert "configuration is valid" in capsys.readouterr().err


def test_no_configuration_prints_what_it_receives_and_stops_on_sigterm() -> None:
    """With no config the console script listens on loopback, prints received spans, and exits 0 on SIGTERM."""
    assert SCRIPT.exists(), f"console script missing: {SCRIPT}"
    env = _env(
        OTEL_MLMON_COLLECTOR_GRPC_ENDPOINT="127.0.0.1:0",
        OTEL_MLMON_COLLECTOR_HTTP_ENDPOINT="127.0.0.1:0",
        OTEL_MLMON_COLLECTOR_HEALTH_ENDPOINT="127.0.0.1:0",
    )
    process = subprocess.Popen(
        [str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        endpoint = None
        deadline = time.monotonic() + 20
        lines = []
        while endpoint is None and time.monotonic() < deadline:
            line = process.stderr.readline()  # type: ignore[union-attr]
            lines.append(line)
            match = re.search(r"OTLP/HTTP receiver listening on http://(\S+)", line)
            endpoint = match.group(1) if match else None
        assert endpoint, "".join(lines)
        provider = TracerProvider()
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://{endpoint}/v1/traces"))
        )
        with provider.get_tracer("cli-test").start_as_current_span(
            "predict", attributes={"ml.model.name": "m"}
        ):
            pass
        provider.shutdown()
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert process.returncode == 0, err
    assert "span 'predict' INTERNAL" in out
    assert "{ml.model.name='m'}" in out
    assert "received SIGTERM, shutting down" in err


@pytest.mark.parametrize(
    ("variable", "setting"),
    [
        ("OTEL_MLMON_COLLECTOR_GRPC_ENDPOINT", "receivers.grpc.endpoint"),
        ("OTEL_MLMON_COLLECTOR_HTTP_ENDPOINT", "receivers.http.endpoint"),
        ("OTEL_MLMON_COLLECTOR_HEALTH_ENDPOINT", "health.endpoint"),
    ],
)
def test_a_busy_port_is_one_line_naming_the_address(variable: str, setting: str) -> None:
    """A port already in use stops the collector with exit 2 and one line naming the address, no traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        endpoints = {
            "OTEL_MLMON_COLLECTOR_GRPC_ENDPOINT": "127.0.0.1:0",
            "OTEL_MLMON_COLLECTOR_HTTP_ENDPOINT": "127.0.0.1:0",
            "OTEL_MLMON_COLLECTOR_HEALTH_ENDPOINT": "127.0.0.1:0",
        }
        endpoints[variable] = address
        result = subprocess.run(
            [sys.executable, "-m", "otel_mlmon_collector"],
            env=_env(**endpoints),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert f"cannot listen on {address}" in result.stderr and "already in use" in result.stderr, result.stderr
    assert setting in result.stderr and variable in result.stderr


def _startup_log(tmp_path: Path, config: dict[str, object]) -> str:
    """Start the collector with ``config``, read its log until the ground-truth line, stop it, return the log."""
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_mlmon_collector", "--config", str(path)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("ground truth:" in line for line in lines):
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        process.wait(20)
        reader.join(5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    return "".join(lines)


def test_startup_says_what_drift_and_ground_truth_do(tmp_path: Path) -> None:
    """At start-up the log says drift is on, the references directory and the profiles found, ground truth off."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    Profile.from_data({"amount": np.arange(100.0)}, model="fraud", version="2").save(
        profiles / "fraud-2.json"
    )
    log = _startup_log(
        tmp_path,
        {
            "receivers": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}},
            "health": {"endpoint": "127.0.0.1:0"},
            "drift": {"references": {"directory": str(profiles)}},
        },
    )
    assert "INFO otel_mlmon_collector: drift: on, evaluated every 60 s" in log, log
    assert f"references from directory {profiles}: 1 profile(s) (fraud 2)" in log, log
    assert "ground truth: off" in log


def test_startup_warns_when_no_reference_profile_is_found(tmp_path: Path) -> None:
    """An empty references directory is a start-up WARNING saying how to make a profile; no drift: section, "off"."""
    log = _startup_log(
        tmp_path,
        {
            "receivers": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}},
            "health": {"endpoint": "127.0.0.1:0"},
            "drift": {"references": {"directory": str(tmp_path / "missing")}},
        },
    )
    assert "(it does not exist yet; polled for new profiles)" in log, log
    assert "WARNING otel_mlmon_collector: drift: no reference profile found yet" in log, log
    assert "otel-mlmon profile build" in log
    log = _startup_log(
        tmp_path, {"receivers": {"grpc": {"enabled": False}, "http": {"endpoint": "127.0.0.1:0"}}}
    )
    assert "drift: off (the configuration has no drift: section)" in log, log
