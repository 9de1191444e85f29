"""What ``otel-mlmon demo`` shows: a table that updates in place on a terminal, a few lines when piped.

On a terminal the status line and the drift table redraw in place (rich's ``Live``), so a 40 s run leaves one
table on the screen, not forty. Piped into a file or CI log, the demo writes one line per thing that happened
(start, drift injected, drift found in a column) and the final table once. The closing text names what a user
looks for in their own backend: the span, the metrics and the event this run produced, and the next commands.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from otel_mlmon import conventions as conv

__all__ = ["DemoView", "drift_table", "next_steps", "telemetry_names"]


def drift_table(evaluation: Any, model: str, version: str) -> Table | None:
    """The per-column table of an evaluation, or None before the first summaries arrived.

    The p-value column appears only when a method of this evaluation has one (distances such as Wasserstein have
    none, and an always-empty column only puzzles); the threshold each score is held against always does.
    """
    try:
        stream = evaluation.stream(model, version)
    except (KeyError, AttributeError):
        return None
    rows = [c for c in stream.columns if c.decisive is not None]
    with_p = any(c.decisive.p_value is not None for c in rows)
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("column")
    table.add_column("method")
    table.add_column("score", justify="right")
    table.add_column("threshold", justify="right")
    if with_p:
        table.add_column("p-value", justify="right")
    table.add_column("rows", justify="right")
    table.add_column("state")
    for column in rows:
        d = column.decisive
        # Text, not str: rich would read "prediction[ok]" as a markup tag and drop it
        cells = [Text(column_label(column)), d.method, f"{d.score:.4f}", f"{d.threshold:.4g}"]
        if with_p:
            cells.append("" if d.p_value is None else ("<1e-300" if d.p_value == 0 else f"{d.p_value:.3g}"))
        state = Text("DRIFT", style="bold red") if column.detected else Text("ok", style="green")
        table.add_row(*cells, str(d.n_current), state)
    return table


def column_label(column: Any) -> str:
    """``amount`` for a feature; ``output prediction`` or ``confidence prediction[fraud]`` for the rest."""
    name = column.name
    if isinstance(name, tuple):
        name = f"{name[0]}[{name[1]}]"
    return name if column.target == "feature" else f"{column.target} {name}"


class DemoView:
    """The running display: ``live`` (in place, a terminal), ``lines`` (piped: one line per event) or ``quiet``.

    Args:
        console: Where to write.
        mode: ``live``, ``lines`` or ``quiet``.
        model, version: The stream the table shows.
    """

    def __init__(self, console: Console, mode: str, model: str, version: str) -> None:
        if mode not in ("live", "lines", "quiet"):
            raise ValueError(f"mode must be live, lines or quiet, got {mode!r}")
        self.console = console
        self.mode = mode
        self.model, self.version = model, version
        self._live: Live | None = None
        self._said_drifting = False
        self._found: set[str] = set()
        self._last: Any = None

    def __enter__(self) -> DemoView:
        if self.mode == "live":
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def say(self, line: str) -> None:
        """A line above the live display (or in the log when piped); nothing when quiet."""
        if self.mode != "quiet":
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def update(self, stats: Any, evaluation: Any, elapsed: float, drifting: bool) -> None:
        """Show the traffic counters and the latest evaluation."""
        self._last = evaluation
        if self.mode == "live" and self._live is not None:
            self._live.update(self._frame(stats, evaluation, elapsed, drifting), refresh=True)
        elif self.mode == "lines":
            if drifting and not self._said_drifting:
                self._said_drifting = True
                self.say(f"[{elapsed:5.1f}s] {status_line(stats, elapsed)}; drift injected from now on")
            for label, column in self._newly_drifted(evaluation):
                d = column.decisive
                self.say(
                    f"[{elapsed:5.1f}s] drift found in {label}: {d.method} {d.score:.3g} "
                    f"(threshold {d.threshold:.3g}, {d.n_current} rows)"
                )

    def final(self, stats: Any, evaluation: Any, elapsed: float) -> None:
        """The last table: the live display's last frame stays; piped, the table is printed this once."""
        if self.mode == "live" and self._live is not None:
            self._live.update(self._frame(stats, evaluation, elapsed, True), refresh=True)
        elif self.mode == "lines":
            table = drift_table(evaluation, self.model, self.version)
            self.say(f"[{elapsed:5.1f}s] {status_line(stats, elapsed)}; the last evaluation:")
            if table is not None:
                # A log has no screen edge: print at the table's natural width so that no cell wraps (a console
                # that is not a terminal reports 80 columns, and rich would split "confidence prediction[ok]").
                natural = Measurement.get(
                    self.console, self.console.options.update_width(1_000), table
                ).maximum
                width, self.console.width = self.console.width, max(self.console.width, natural)
                try:
                    self.console.print(table)
                finally:
                    self.console.width = width

    def _frame(self, stats: Any, evaluation: Any, elapsed: float, drifting: bool) -> Group:
        head = Text(
            f"[{elapsed:5.1f}s] ", no_wrap=True, overflow="ellipsis"
        )  # one line: the frame keeps its height
        if drifting:
            head.append("drift injected ", style="bold yellow")
        head.append(status_line(stats, elapsed))
        table = drift_table(evaluation, self.model, self.version)
        body: Any = (
            table if table is not None else Text("(waiting for the first summaries to reach the collector)")
        )
        return Group(head, body)

    def _newly_drifted(self, evaluation: Any) -> Iterable[tuple[str, Any]]:
        try:
            stream = evaluation.stream(self.model, self.version)
        except (KeyError, AttributeError):
            return []
        found = []
        for column in stream.columns:
            label = column_label(column)
            if column.detected and label not in self._found:
                self._found.add(label)
                found.append((label, column))
        return found


def status_line(stats: Any, elapsed: float) -> str:
    """Calls, rows, failed calls, throughput and latency percentiles of the recent calls."""
    recent = stats.latencies_ms[-500:] or [math.nan]
    p50, p95 = np.percentile(recent, [50, 95])
    return (
        f"{stats.calls} calls ({stats.calls / max(elapsed, 1e-9):.0f}/s), {stats.rows} rows, "
        f"{stats.errors} bad requests, latency p50 {p50:.2f} ms p95 {p95:.2f} ms"
    )


def telemetry_names(requests: Iterable[Any]) -> dict[str, dict[str, int]]:
    """Span, metric and event names in OTLP requests, with how many of each: what a backend will hold."""
    names: dict[str, dict[str, int]] = {"spans": {}, "metrics": {}, "events": {}}
    for request in requests:
        message = request.decoded()
        if request.signal == "traces":
            for rs in message.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        names["spans"][span.name] = names["spans"].get(span.name, 0) + 1
        elif request.signal == "metrics":
            for rm in message.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        names["metrics"][metric.name] = names["metrics"].get(metric.name, 0) + 1
        elif request.signal == "logs":
            for rl in message.resource_logs:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        if record.event_name:
                            names["events"][record.event_name] = names["events"].get(record.event_name, 0) + 1
    return names


#: The metrics to look at first, in this order, when the run produced them.
_FIRST_METRICS = (
    conv.METRIC_DRIFT_DETECTED,
    conv.METRIC_DRIFT_SCORE,
    conv.METRIC_DRIFT_SHARE,
    conv.METRIC_DURATION,
    conv.METRIC_PREDICTIONS,
    conv.METRIC_FEATURE_DISTRIBUTION,
)


def next_steps(names: dict[str, dict[str, int]], model: str, endpoint: str | None) -> list[str]:
    """The closing text: what this run sent, how to find it in a backend, and the commands for a real model."""
    spans = ", ".join(f"'{n}' ({c})" for n, c in sorted(names["spans"].items())) or "none"
    first = [m for m in _FIRST_METRICS if m in names["metrics"]]
    others = len([m for m in names["metrics"] if m.startswith(conv.NAMESPACE)]) - len(first)
    events = ", ".join(f"{n} ({c})" for n, c in sorted(names["events"].items())) or "none"
    where = (
        f"sent to {endpoint}" if endpoint else "what a backend would receive (add --endpoint URL to send it)"
    )
    lines = [
        "",
        f"Telemetry of this run, {where}:",
        f"  spans:   {spans}",
        f"  metrics: {', '.join(first)}" + (f", and {others} more ml.* metrics" if others > 0 else ""),
        f"  events:  {events} (log records)",
        "  In Prometheus-style backends dots become underscores, e.g.",
        f'    ml_drift_detected{{ml_model_name="{model}"}} == 1',
        "",
        "Next, with your own model:",
        '  1. decorate it:           @otel_mlmon.monitor(model="NAME", version="1")',
        "  2. build its reference:   otel-mlmon profile build train.csv --model NAME --version 1 "
        "--exclude LABEL -o profiles/NAME-1.json.gz",
        "  3. run the collector:     otel-mlmon-collector --config collector.yaml   "
        "(drift: references: directory: profiles)",
        "  4. point the SDK at it:   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318",
        "  Step by step: docs/getting-started.md",
    ]
    return lines
