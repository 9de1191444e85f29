"""The drift processor: a pipeline processor that compares each model's recent traffic with its reference profile.

``process`` (receiver threads) only feeds metrics requests into :class:`~otel_mlmon_collector._windows.WindowStore`;
a background thread (every ``evaluation_interval_seconds``) or :meth:`DriftProcessor.evaluate_now` takes each
stream's evaluation view, looks up its reference, pairs the columns (``columns.py``), checks them through the
model's :class:`~otel_mlmon_collector.drift.DriftPolicy` and hands the findings (``encoding.py``) to ``emit`` as
OTLP requests. See docs/drift-engine.md.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from otel_mlmon import conventions as conv
from otel_mlmon._ratelimit import RateLimitedLog
from otel_mlmon.summary import Summary

from .._findings import Findings, default_resource
from .._otlp import OtlpRequest
from .._references import ReferenceProvider
from .._windows import StreamKey, WindowStore
from ..drift import DriftPolicy
from .columns import ColumnChecks, match_columns
from .config import DriftConfig
from .encoding import DriftFindings, stream_attributes
from .records import Evaluation, StreamDrift, UnmatchedColumns
from .sources import reference_provider

__all__ = ["DriftProcessor"]

#: One logger for the whole engine (its modules are an implementation detail).
_log = logging.getLogger("otel_mlmon_collector._drift_engine")
#: Failure series kept per model at most; further models' failures share one series without a model name.
_MAX_FAILURE_SERIES = 1000


class DriftProcessor:
    """Pipeline processor computing data drift of every monitored model from its sketches.

    Args:
        config: The engine's configuration.
        emit: Called with each OTLP request the engine produces (metrics, then logs); the service routes it to
            the exporters (``Pipeline.emit``). Exceptions from it are logged, never raised.
        clock: Seconds since the epoch; window assignment, expiry, output timestamps and model age use it.
        references: A reference provider to use instead of the directory store the config describes.

    Usage::

        engine = DriftProcessor(DriftConfig(references_directory="profiles"), pipeline.emit)
        pipeline.add_processor(engine)      # process() sees every request; evaluation runs in the background
        ...
        engine.shutdown()
    """

    name = "drift"

    def __init__(
        self,
        config: DriftConfig,
        emit: Callable[[OtlpRequest], object],
        clock: Callable[[], float] = time.time,
        references: ReferenceProvider | None = None,
    ) -> None:
        self.config = config
        self.emit = emit
        self.clock = clock
        self.trailing_windows: WindowStore | None = None
        if config.trailing_reference is not None:
            self.trailing_windows = WindowStore(
                config.trailing_reference.window_config(config.windows), clock
            )
        if references is None:
            references = reference_provider(config, self.trailing_windows)
        self.references = references
        self._reset()

    def _reset(self) -> None:
        self.windows = WindowStore(self.config.windows, self.clock, referenced=self._has_reference)
        #: Streams whose evaluation failed, by (model, version, stage): ``view``, ``evaluate`` or ``estimate``.
        self.stream_failures: Counter[tuple[str, str, str]] = Counter()
        self._resource = dict(self.config.resource or default_resource())
        self._policies: dict[str, DriftPolicy] = {}
        self._logs = RateLimitedLog(_log, interval_seconds=300.0)
        self._checks = ColumnChecks(self.config, self._logs.log)
        self._findings = DriftFindings()
        self._lock = threading.Lock()
        self._evaluating = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_evaluation: Evaluation | None = None

    # ------------------------------------------------------------------ Processor protocol
    def process(self, request: OtlpRequest) -> None:
        """Feed a metrics request's ``ml.*`` points into the windows (cheap; statistics run elsewhere)."""
        if request.signal != "metrics":
            return
        message = request.decoded()
        self.windows.ingest(message)
        if self.trailing_windows is not None:
            self.trailing_windows.ingest(message)
        if self._thread is None and self.config.evaluation_interval_seconds > 0:
            self.start()

    def shutdown(self) -> None:
        """Stop the background evaluation."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10.0)

    # ------------------------------------------------------------------ background evaluation
    def start(self) -> None:
        """Start the background evaluation (idempotent; also started by the first ``process`` call)."""
        with self._lock:
            if (
                self._thread is not None
                or self.config.evaluation_interval_seconds <= 0
                or self._stop.is_set()
            ):
                return
            self._thread = threading.Thread(target=self._run, name="drift-evaluation", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.config.evaluation_interval_seconds):
            try:
                self.evaluate_now()
            except Exception as exc:  # noqa: BLE001 - the evaluation thread must survive any bug
                self._logs.log(
                    logging.ERROR, "evaluation", "drift evaluation failed: %s: %s", type(exc).__name__, exc
                )

    def evaluate_now(self) -> Evaluation:
        """Evaluate every stream now, emit the findings and return them."""
        with self._evaluating, _collector_paused():
            started = time.perf_counter()
            now = self.clock()
            try:
                self.references.refresh()
            except Exception as exc:  # noqa: BLE001 - a broken provider means missing references, not a crash
                self._logs.log(
                    logging.ERROR, "refresh", "reference refresh failed: %s: %s", type(exc).__name__, exc
                )
            self.windows.expire()
            self._checks.begin_evaluation()
            if self.trailing_windows is not None:
                self.trailing_windows.expire()
            findings = Findings(int(now * 1e9), self._resource)
            streams = []
            changes = 0
            live = set()
            window_seconds = 0.0
            for key in self.windows.streams():
                # Each stream under its own guard: one that cannot be merged or evaluated is counted and
                # logged with its model, and every other stream is evaluated as usual.
                merging = time.perf_counter()
                view = self.guarded(key, "view", self.windows.view, key, None, 0, now)
                window_seconds += time.perf_counter() - merging
                if view is None:
                    continue
                live.add(key)
                done = self.guarded(key, "evaluate", self._evaluate_stream, key, view, now, findings)
                if done is None:
                    continue
                stream, changed = done
                streams.append(stream)
                changes += changed
            self._findings.forget(live)
            encoding = time.perf_counter()
            requests = (findings.metrics_request(), findings.logs_request())
            encoding_seconds = time.perf_counter() - encoding
            self._send(requests)
            evaluation = Evaluation(
                now,
                tuple(streams),
                time.perf_counter() - started,
                changes,
                window_seconds,
                encoding_seconds,
            )
            self.last_evaluation = evaluation
            return evaluation

    def guarded(self, key: StreamKey, stage: str, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)`` for one stream, or None when it raised: counted per stream and logged with the model."""
        try:
            return call(*args)
        except Exception as exc:  # noqa: BLE001 - one stream's failure must not stop the others
            failure = (key.model, key.version or "", stage)
            if failure not in self.stream_failures and len(self.stream_failures) >= _MAX_FAILURE_SERIES:
                failure = ("", "", stage)  # the overflow series: counted, not per model
            self.stream_failures[failure] += 1
            self._logs.log(
                logging.ERROR,
                f"{stage}:{key}",
                "model %r version %r operation %r: %s failed, the stream is skipped this time: %s: %s",
                key.model,
                key.version,
                key.operation,
                stage,
                type(exc).__name__,
                exc,
            )
            return None

    def _has_reference(self, key: StreamKey) -> bool:
        return self.references.lookup(key.model, key.version) is not None

    def _send(self, requests: Sequence[OtlpRequest | None]) -> None:
        for request in requests:
            if request is None:
                continue
            try:
                accepted = self.emit(request)
            except Exception as exc:  # noqa: BLE001 - emitting must not break the evaluation loop
                self._logs.log(
                    logging.ERROR,
                    "emit",
                    "emitting drift %s failed: %s: %s",
                    request.signal,
                    type(exc).__name__,
                    exc,
                )
                continue
            if accepted is False:  # Pipeline.emit answers False when an exporter queue is full
                self._logs.log(
                    logging.WARNING,
                    "emit-full",
                    "drift %s dropped: the exporter queues are full",
                    request.signal,
                )

    # ------------------------------------------------------------------ one stream
    def _evaluate_stream(
        self, key: StreamKey, view: Summary, now: float, findings: Findings
    ) -> tuple[StreamDrift, int]:
        base = stream_attributes(key)
        reference = self.references.lookup(key.model, key.version)
        self.windows.mark_referenced(key, reference is not None)
        self._findings.reference(findings, base, reference, now)
        if reference is None:
            self._logs.log(
                logging.WARNING,
                f"missing:{key}",
                "no reference profile for model %r version %r: drift not evaluated",
                key.model,
                key.version,
            )
            return StreamDrift(key, None, (), view.rows), 0
        window: dict[str, Any] = {
            **base,
            conv.ATTR_WINDOW_SECONDS: round(self.config.windows.evaluation_seconds),
        }
        pending, unmatched = match_columns(reference.summary, view)
        self._findings.unmatched(findings, window, unmatched)
        self._hint_unmatched(key, reference.source, unmatched, matched=len(pending))
        columns = self._checks.compare(key.model, self._policy(key.model), pending)

        def bounds() -> tuple[float, float]:  # asked only for an event
            # The newest window is still open: the data evaluated ends now, not at the window's future end.
            return _until(self.windows.window_bounds(), now)

        changes = self._findings.columns(findings, key, window, columns, bounds)
        stream = StreamDrift(key, reference, tuple(columns), view.rows, unmatched)
        self._findings.share(findings, window, stream.share)
        return stream, changes

    def _hint_unmatched(
        self, key: StreamKey, source: str, unmatched: Sequence[UnmatchedColumns], matched: int
    ) -> None:
        """One rate-limited line per model when live features have no reference column (they are not compared).

        Only features: outputs and confidence columns without a counterpart (a class never predicted in the
        window, a profile built without predictions) are counted by the gauge but are no naming mistake.
        """
        features = next((u for u in unmatched if u.target == "feature"), None)
        if features is None or not features.live_only:
            return
        self._logs.log(
            logging.WARNING if matched == 0 else logging.INFO,
            f"unmatched:{key.model}",
            "model %r: %d live feature(s) have no column in the reference profile %s (%s) and %d reference "
            "feature(s) are absent from the traffic (%s); %d column(s) matched. Unmatched columns are not "
            "compared (ml.drift.columns.unmatched). If production passes arrays (names f0, f1, ...) while the "
            "profile was built from a DataFrame, give monitor(feature_names=[...]) the profile's column names.",
            key.model,
            len(features.live_only),
            source,
            _examples(features.live_only),
            len(features.reference_only),
            _examples(features.reference_only),
            matched,
        )

    def _policy(self, model: str) -> DriftPolicy:
        policy = self._policies.get(model)
        if policy is None:
            overrides = {**self.config.overrides.get("*", {}), **self.config.overrides.get(model, {})}
            policy = self._policies[model] = DriftPolicy(overrides, correction=self.config.correction)  # type: ignore[arg-type]
        return policy


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while one evaluation runs (as it was before, afterwards).

    An evaluation makes ≈ 10 000 container objects per 1 000 columns (results, records, lists) and no reference
    cycles (tested): reference counting frees all it drops. Left on, the collector would run ≈ 20 young and 2
    middle collections per such evaluation and a full one every few, scanning everything the process holds and
    finding nothing: a quarter of the evaluation's CPU time. Paused, the objects the evaluation keeps are counted
    as usual and seen by the next young collection, after it. The switch is process-wide: other threads' garbage
    cycles wait for the evaluation's end.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _examples(names: Sequence[Any], limit: int = 5) -> str:
    """The first few names, then how many more."""
    shown = ", ".join(f"{n[0]}[{n[1]}]" if isinstance(n, tuple) else str(n) for n in names[:limit])
    more = len(names) - limit
    return shown + (f", ... {more} more" if more > 0 else "") if names else "none"


def _until(bounds: tuple[float, float], now: float) -> tuple[float, float]:
    """``(start, end)`` of the evaluated data: the open window's end is capped at the evaluation time."""
    start, end = bounds
    return start, min(end, now)
