"""The label join: the ground-truth pieces (parsing, join store, performance windows, concept drift) wired together.

It is not a pipeline processor: the collector's
:class:`~otel_mlmon_collector._performance.PerformanceProcessor` drives it (hands it the logs requests, calls
:meth:`LabelJoin.evaluate` periodically and emits the report); it can equally be used on its own.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_mlmon import conventions as conv
from otel_mlmon_collector._ground_truth._concept_drift import ConceptDriftChange, ConceptDriftMonitor
from otel_mlmon_collector._ground_truth._detectors import ChangeDetector
from otel_mlmon_collector._ground_truth._metrics import MetricPoint, WindowKey, WindowPerformance
from otel_mlmon_collector._ground_truth._performance_windows import PerformanceWindows
from otel_mlmon_collector._ground_truth._records import parse_otlp_request
from otel_mlmon_collector._ground_truth._reference_check import PerformanceCheck
from otel_mlmon_collector._ground_truth._store import DEFAULT_MAX_PENDING, DEFAULT_TTL_SECONDS, JoinStore
from otel_mlmon_collector._otlp import OtlpRequest

__all__ = ["LabelJoin", "LabelJoinReport"]


@dataclass(frozen=True)
class LabelJoinReport:
    """What one :meth:`LabelJoin.evaluate` produced.

    Attributes:
        windows: Windows whose metrics changed since the last evaluation (new joined rows), by key.
        changes: Concept-drift state changes (detector and reference sources).
        drift_state: Concept-drift state per (model, version, output) after this evaluation (the
            ``ml.concept_drift.detected`` gauge: 1 when ``True``).
        counts: The join store's counters and sizes plus the join's own (``malformed_<reason>``).
        time_unix_nano: When the evaluation ran.
        reference_checks: Per series, the start of its newest window compared with the reference and the
            checks (reference value, band, state per metric); series without a reference are absent.
    """

    windows: Mapping[WindowKey, WindowPerformance]
    changes: list[ConceptDriftChange]
    drift_state: Mapping[tuple[str, str, str], bool]
    counts: Mapping[str, int]
    time_unix_nano: int
    reference_checks: Mapping[tuple[str, str, str], tuple[int, list[PerformanceCheck]]] = field(
        default_factory=dict
    )

    def points(self) -> list[MetricPoint]:
        """Every gauge point: each changed window's ``ml.performance.*`` (with ``ml.model.name``,
        ``ml.model.version``, ``ml.output.name``, and ``ml.window.start`` / ``ml.window.end`` in Unix ns as
        attributes) and ``ml.concept_drift.detected`` per series."""
        out = []
        for (model, version, output, start), window in self.windows.items():
            series = {
                conv.ATTR_MODEL_NAME: model,
                conv.ATTR_MODEL_VERSION: version,
                conv.ATTR_OUTPUT_NAME: output,
                conv.ATTR_WINDOW_START: str(start),
                conv.ATTR_WINDOW_END: str(start + int(window.window_seconds * 1e9)),
            }
            out += [MetricPoint(p.name, p.value, {**series, **p.attributes}) for p in window.points()]
        for (model, version, output), detected in self.drift_state.items():
            attrs = {
                conv.ATTR_MODEL_NAME: model,
                conv.ATTR_MODEL_VERSION: version,
                conv.ATTR_OUTPUT_NAME: output,
            }
            out.append(MetricPoint(conv.METRIC_CONCEPT_DRIFT_DETECTED, 1.0 if detected else 0.0, attrs))
        return out


class LabelJoin:
    """Joins ``ml.prediction`` / ``ml.ground_truth`` log records as they pass and turns them, on
    :meth:`evaluate`, into windowed performance and concept-drift state.

    :meth:`process` (called on the receiver thread) only parses and stores; the periodic :meth:`evaluate` (e.g.
    once per export interval) expires, pops the joined rows, updates the windows, runs the concept-drift monitor
    and forgets windows no label can reach any more (their end + the TTL + one window width of slack has passed).

    Args:
        path: SQLite file for the join store and the windows (``":memory:"``: nothing survives a restart).
        window_seconds: Width of the prediction-time windows.
        ttl_seconds: How long a prediction waits for its label (and a label for its prediction).
        max_pending: Bound of the join store.
        detector: Change detector name or factory for the concept-drift monitor.
        references: Reference performance by ``(model, version)`` (``(model, "")``: every version).
        reference_source: ``f(model, version) -> (performance, spread) | None`` for models without an explicit
            reference (the collector's profile store).
        clock_ns: Time source (injectable for tests).
        **monitor_options: Further :class:`ConceptDriftMonitor` options (``tolerance``, ``min_samples``...).

    Example:
        >>> from otel_mlmon_collector._ground_truth import LabelJoin
        >>> join = LabelJoin(":memory:", window_seconds=60)
        >>> report = join.evaluate()
        >>> report.windows, report.changes, report.counts["joined"]
        ({}, [], 0)
        >>> join.shutdown()
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        window_seconds: float = 60.0,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_pending: int = DEFAULT_MAX_PENDING,
        detector: str | Callable[[], ChangeDetector] = "adwin",
        references: Mapping[tuple[str, str], Mapping[str, float]] | None = None,
        reference_source: Callable[[str, str], Any] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        **monitor_options: Any,
    ) -> None:
        self.clock_ns = clock_ns
        self.store = JoinStore(path, ttl_seconds=ttl_seconds, max_pending=max_pending, clock_ns=clock_ns)
        self.windows = PerformanceWindows(window_seconds, path)
        self.monitor = ConceptDriftMonitor(
            detector, references=references, reference_source=reference_source, **monitor_options
        )
        self._malformed: Counter[str] = Counter()
        self._evaluate_lock = threading.Lock()

    def process(self, request: OtlpRequest) -> None:
        """Parse one request's ml records and add them to the join (other signals are ignored)."""
        if request.signal != "logs":
            return
        parsed = parse_otlp_request(request, self.clock_ns())
        if parsed.malformed:
            with self._evaluate_lock:
                self._malformed.update(parsed.malformed)
        if parsed.predictions:
            self.windows.observe_predictions(parsed.predictions)
            self.store.add_predictions(parsed.predictions)
        if parsed.labels:
            self.store.add_labels(parsed.labels)

    def evaluate(self, now_unix_nano: int | None = None) -> LabelJoinReport:
        """Expire, join, update the windows and the concept-drift monitor; report what changed."""
        now = self.clock_ns() if now_unix_nano is None else int(now_unix_nano)
        with self._evaluate_lock:
            self.store.expire(now)
            rows = self.store.pop_joined()
            changed = self.windows.add(rows)
            changes = self.monitor.update(rows)
            results = self.windows.results(changed)
            changes += self.monitor.check_windows(results.values(), now)
            reach_ns = int((self.store.ttl_seconds + self.windows.window_seconds) * 1e9)
            self.windows.drop_before(now - reach_ns)
            counts = self.store.counts()
            counts.update({f"malformed_{reason}": n for reason, n in self._malformed.items()})
            return LabelJoinReport(
                results, changes, self.monitor.state(), counts, now, self.monitor.last_checks()
            )

    def set_reference(
        self,
        model: str,
        version: str,
        performance: Mapping[str, float],
        spread: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        """Set a model version's reference performance (``version=""``: every version) and optionally its
        spread over reference chunks (``Profile.performance_spread``), which sets the alert thresholds."""
        self.monitor.set_reference(model, version, performance, spread)

    def shutdown(self) -> None:
        """Close the SQLite files; everything joined so far stays on disk."""
        self.store.close()
        self.windows.close()
