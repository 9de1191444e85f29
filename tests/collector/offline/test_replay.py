"""replay(): evaluation per event-time window, found in the right windows, and the OTLP back-fill."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from otel_mlmon_collector.offline import compare, replay
from otel_mlmon_collector.offline._emit import emit_reports
from otel_mlmon_collector.offline._replay import parse_duration

from otel_mlmon import conventions as conv

from ._data import frame

DAY = 86400.0
START = pd.Timestamp("2026-11-01", tz="UTC")


def _timestamped(rng: np.random.Generator, days: int, drift_from: int, per_day: int = 600) -> pd.DataFrame:
    """``days`` days of rows with an ISO-8601 ``timestamp``; amount drifts from day ``drift_from`` on (noon)."""
    parts = []
    for day in range(days):
        part = frame(rng, per_day)
        seconds = rng.uniform(0, DAY, per_day)
        stamp = START + pd.Timedelta(days=day) + pd.to_timedelta(seconds, unit="s")
        drifted = (day > drift_from) | ((day == drift_from) & (seconds >= DAY / 2))
        part.loc[drifted, "amount"] *= 1.8
        part.insert(0, "timestamp", stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        parts.append(part)
    return pd.concat(parts, ignore_index=True).sample(
        frac=1.0, random_state=1
    )  # event order is not file order


def test_drift_starting_midway_is_found_in_the_right_windows(tmp_path) -> None:
    """A drift that starts on day 6 of 10 is reported from the window of day 6 on, and never before."""
    rng = np.random.default_rng(21)
    _timestamped(rng, days=10, drift_from=6).to_csv(tmp_path / "events.csv", index=False)
    result = replay(frame(rng, 5000), tmp_path / "events.csv", by="timestamp", every="1d", batch_rows=1000)
    assert len(result.reports) == 10
    starts = [pd.Timestamp(r.window[0], unit="s", tz="UTC") for r in result.reports]
    assert starts == [START + pd.Timedelta(days=d) for d in range(10)]
    assert [r.current.summary.rows for r in result.reports] == [600] * 10
    assert [r.drifted_columns for r in result.reports] == [[]] * 6 + [["amount"]] * 4
    assert "timestamp" not in {c.name for r in result.reports for c in r.columns}
    assert result.drifted_windows()[0] == ("2026-11-07T00:00:00Z", ["amount"])
    assert "4 of 10 windows drifted (first 2026-11-07T00:00:00Z)" in result.to_text()


def test_a_window_evaluates_as_compare_on_its_rows(tmp_path) -> None:
    """Each replay window's findings equal compare() on that window's rows alone (same engine, one family)."""
    rng = np.random.default_rng(22)
    events = _timestamped(rng, days=3, drift_from=1)
    reference = frame(rng, 3000)
    result = replay(reference, events, by="timestamp", every="1d")
    day = events[pd.to_datetime(events["timestamp"]).dt.day == 2].drop(columns=["timestamp"])
    alone = compare(reference, day)
    window = result.reports[1]
    assert [(c.name, c.method, c.score, c.p_value, c.drifted) for c in window.columns] == [
        (c.name, c.method, c.score, c.p_value, c.drifted) for c in alone.columns
    ]


def test_parquet_datetimes_view_and_rows_without_time(tmp_path) -> None:
    """Datetime columns in Parquet are read, --view merges windows, and rows without a timestamp are counted."""
    rng = np.random.default_rng(23)
    events = frame(rng, 1200)
    events["at"] = START + pd.to_timedelta(np.arange(1200) * 216.0, unit="s")  # 400 rows per day, 3 days
    events.loc[:9, "at"] = pd.NaT
    events.to_parquet(tmp_path / "events.parquet")
    result = replay(frame(rng, 2000), tmp_path / "events.parquet", by="at", every="1d", view=2)
    assert result.skipped_rows == 10
    assert [r.current.summary.rows for r in result.reports] == [390, 790, 800]
    assert result.reports[1].window == (START.timestamp(), START.timestamp() + 2 * DAY)
    with pytest.raises(ValueError, match="no event-time column 'when'"):
        replay(frame(rng, 100), tmp_path / "events.parquet", by="when", every="1d")


def test_durations() -> None:
    """Durations read as seconds with s/m/h/d/w units; nonsense and zero are refused with the accepted forms."""
    assert [parse_duration(t) for t in ("45", "90s", "15m", "6h", "1d", "2w")] == [
        45.0,
        90.0,
        900.0,
        21600.0,
        86400.0,
        1209600.0,
    ]
    for bad in ("1 day", "0h", "-1d", ""):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


class _Sink(BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append((self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_backfill_sends_the_collectors_gauges_at_the_window_ends(tmp_path) -> None:
    """Each window's ml.drift.* gauges reach an OTLP/HTTP endpoint timestamped at the window's end, with events."""
    rng = np.random.default_rng(24)
    result = replay(frame(rng, 4000), _timestamped(rng, days=4, drift_from=2), by="timestamp", every="1d")
    _Sink.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sent = emit_reports(result.reports, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert (sent.sent, sent.failed) == (len(_Sink.bodies), 0)
    metrics = [body for path, body in _Sink.bodies if path == "/v1/metrics"]
    assert len(metrics) == 4 and any(path == "/v1/logs" for path, _ in _Sink.bodies)
    method = result.reports[0]["amount"].method  # the distribution check's method
    detected: dict[int, float] = {}
    for body in metrics:
        message = ExportMetricsServiceRequest.FromString(body)
        for metric in message.resource_metrics[0].scope_metrics[0].metrics:
            if metric.name != conv.METRIC_DRIFT_DETECTED:
                continue
            for point in metric.gauge.data_points:
                attrs = {kv.key: kv.value.string_value for kv in point.attributes}
                if attrs.get(conv.ATTR_FEATURE_NAME) == "amount" and attrs[conv.ATTR_DRIFT_METHOD] == method:
                    detected[point.time_unix_nano] = point.as_double
    ends = [int((START + pd.Timedelta(days=d + 1)).timestamp() * 1e9) for d in range(4)]
    assert detected == dict(zip(ends, [0.0, 0.0, 1.0, 1.0]))
