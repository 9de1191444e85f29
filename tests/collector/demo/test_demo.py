"""otel-mlmon demo: the end-to-end run finds exactly the drift it injects, and reads well on a terminal or in a log."""

from __future__ import annotations

import io
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

#: What the release check greps the demo's whole output for.
FORBIDDEN = ("ERROR", "Error", "Traceback", "Exception", "failed:")


def _clean(text: str) -> list[str]:
    return [word for word in FORBIDDEN if word in text]


@pytest.mark.e2e
def test_demo_detects_exactly_the_injected_features():
    """A fast demo run (model → SDK → OTLP → collector → drift engine) names the injected features, no others."""
    result = subprocess.run(
        [sys.executable, "-m", "otel_mlmon.cli", "demo", "--fast", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Drift injected into: amount, country" in result.stdout
    assert "Drift detected in:   amount, country\n" in result.stdout
    assert "The collector found exactly the injected drift." in result.stdout
    assert "Outputs compared:    output prediction, confidence prediction[" in result.stdout
    assert _clean(result.stdout + result.stderr) == []


@pytest.mark.e2e
def test_piped_fast_demo_is_compact_and_says_what_to_look_for():
    """Piped, ``demo --fast`` writes a few lines and one table (not one per tick), names the span, metrics and
    event to query, ends with the next commands, and contains none of the words a release check greps for."""
    result = subprocess.run(
        [sys.executable, "-m", "otel_mlmon.cli", "demo", "--fast"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert len(out.encode()) < 4_000, out
    assert len(re.findall(r"^column +method +score +threshold", out, re.M)) == 1, out
    # every table row is whole on its line: the longest label does not wrap at a pipe's 80 columns
    assert re.search(r"^confidence prediction\[ok\] +wasserstein +[0-9.]+ ", out, re.M), out
    assert "drift found in amount" in out and "drift found in country" in out
    assert "Drift detected in:   amount, country\n" in out
    assert "spans:   'predict fraud' (" in out
    assert "metrics: ml.drift.detected, ml.drift.score" in out and "ml.drift.changed (" in out
    assert "Next, with your own model:" in out and "otel-mlmon profile build" in out
    assert _clean(out + result.stderr) == []


def test_demo_population_drifts_only_the_injected_features():
    """The demo's traffic generator changes amount and country after drift and leaves the rest alone."""
    import numpy as np
    from otel_mlmon_collector._demo import DRIFTED, population

    rng = np.random.default_rng(0)
    before, after = population(rng, 20_000), population(rng, 20_000, drifted=True)
    assert np.median(after["amount"]) / np.median(before["amount"]) == pytest.approx(1.6, rel=0.05)
    assert (after["country"] == "US").mean() > 0.5 > (before["country"] == "US").mean()
    for name in ("age", "transactions_24h", "hour"):
        assert abs(after[name].mean() - before[name].mean()) < 0.05 * before[name].std()
    assert set(DRIFTED) == {"amount", "country"}


def test_demo_compares_confidence_without_errors(caplog: pytest.LogCaptureFixture) -> None:
    """A short in-process run logs no ERROR, compares output and per-class confidence, and its table has no
    empty column: each row shows the threshold, and a p-value column only when a method gives p-values."""
    import logging

    from otel_mlmon_collector._demo import run_demo
    from otel_mlmon_collector._demo_view import drift_table
    from rich.console import Console

    with caplog.at_level(logging.INFO):
        result = run_demo(duration=4.0, live=False)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert "output prediction" in [o.removesuffix(" (drift)") for o in result.outputs]
    assert any(o.startswith("confidence prediction[") for o in result.outputs), result.outputs
    console = Console(file=io.StringIO(), width=120)
    console.print(drift_table(result.evaluation, "fraud", "1"))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    header, *rows = text.strip().splitlines()
    assert header.split()[:4] == ["column", "method", "score", "threshold"], header
    columns = result.evaluation.stream("fraud", "1").columns
    with_p = any(c.decisive is not None and c.decisive.p_value is not None for c in columns)
    assert ("p-value" in header) == with_p
    assert len(rows) == len([c for c in columns if c.decisive is not None]) >= 8
    assert all(len(row.split()) >= 6 for row in rows), text
    assert any(row.startswith("confidence prediction[") for row in rows), text


def test_live_display_redraws_in_place_on_a_terminal() -> None:
    """On a terminal each update moves the cursor back over the previous frame instead of printing below it."""
    from otel_mlmon_collector._demo import DemoResult
    from otel_mlmon_collector._demo_view import DemoView
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=160)
    stats = DemoResult(drifted=[], calls=10, errors=0, rows=500, latencies_ms=[0.3] * 10)
    with DemoView(console, "live", "fraud", "1") as view:
        for second in range(1, 6):
            view.update(stats, None, float(second), second > 3)
    raw = console.file.getvalue()  # type: ignore[attr-defined]
    assert len(re.findall(r"\x1b\[1A", raw)) >= 4, repr(raw[:300])
    assert "waiting for the first summaries" in raw and "drift injected" in raw


def test_demo_help_is_plain_text_and_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    """``demo --help`` reads as plain text (no reStructuredText markup) and every option has a help line."""
    from otel_mlmon.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out and ":class:" not in out
    options = out[out.index("options:") :]
    for option in ("--duration", "--fast", "--endpoint", "--seed", "--quiet"):
        assert re.search(rf"^  {option}( [A-Z]+)? +\S", options, re.M), (option, options)
    assert re.search(r"--seed SEED +random seed", options), options
    assert "amount, country" in out


@pytest.mark.parametrize("duration", ["0", "-5", "nan", "soon"])
def test_demo_refuses_a_duration_that_is_not_positive(duration: str, capsys: pytest.CaptureFixture) -> None:
    """``--duration 0`` or ``-5`` is a usage error (exit 2) that says what is expected, before anything starts."""
    from otel_mlmon.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["demo", f"--duration={duration}"])
    assert exit_.value.code == 2
    assert "--duration" in capsys.readouterr().err


def test_ctrl_c_stops_the_demo_cleanly() -> None:
    """Ctrl-C during the run shuts everything down and exits 130 with one line, no traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_mlmon.cli", "demo", "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Sending" in line for line in lines):
            time.sleep(0.1)
        time.sleep(1.5)  # inside the traffic loop
        process.send_signal(signal.SIGINT)
        err = process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    reader.join(5)
    assert process.returncode == 130, err
    assert "Stopped (Ctrl-C)" in err
    assert _clean("".join(lines) + err) == [], err


def test_an_unreachable_endpoint_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    """With ``--endpoint`` where nothing listens, the demo still runs and ends saying so in words and what to do."""
    from otel_mlmon.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    assert main(["demo", "--duration", "3", "--quiet", "--endpoint", endpoint]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert f"Nothing answered at {endpoint} (connection refused on 127.0.0.1:{port})" in out, out
    assert "were not delivered there" in out and "without --endpoint" in out
    assert "queued requests dropped" not in out + captured.err
    assert _clean(out + captured.err) == []


def test_a_reachable_endpoint_receives_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    """With ``--endpoint`` at a real OTLP/HTTP receiver, the spans and drift metrics arrive and the run says so."""
    from otel_mlmon_collector import Collector
    from otel_mlmon_collector._config import parse_config
    from otel_mlmon_collector._demo_view import telemetry_names
    from otel_mlmon_collector._exporters.in_memory import InMemoryExporter

    from otel_mlmon.cli import main

    backend_sink = InMemoryExporter("backend")
    backend = Collector(
        parse_config(
            {
                "receivers": {"grpc": {"enabled": False}, "http": {"endpoint": "127.0.0.1:0"}},
                "health": {"enabled": False},
                "self_metrics": {"enabled": False},
            },
            env={},
        ),
        exporters={"console": backend_sink},
    )
    backend.start()
    try:
        endpoint = f"http://{backend.http_endpoint}"
        assert main(["demo", "--duration", "3", "--quiet", "--endpoint", endpoint]) == 0
    finally:
        backend.shutdown(5.0)
    out = capsys.readouterr().out
    assert f"Everything was forwarded to {endpoint}." in out, out
    assert f"Telemetry of this run, sent to {endpoint}:" in out
    names = telemetry_names(backend_sink.requests())
    assert "predict fraud" in names["spans"] and "ml.drift.score" in names["metrics"], names
