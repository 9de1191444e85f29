"""The drift engine: a pipeline processor that compares each model's recent traffic with its reference profile.

``process`` (receiver threads) only feeds metrics requests into :class:`~otel_mlmon_collector.windows.WindowStore`;
a background thread (every ``evaluation_interval_seconds``) or :meth:`DriftProcessor.evaluate_now` compares each
stream's evaluation view with its reference, column by column, with the default method for the column's type and
sample size (or a configured override), corrects p-values across one model's columns, and hands the findings to
``emit`` as OTLP gauges (``ml.drift.*``, ``ml.model.age``) and ``ml.drift.changed`` events. See docs/drift-engine.md.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_mlmon import conventions as conv
from otel_mlmon.summary import ColumnSummary, Summary

from .drift import (
    DEFAULT_ALPHA,
    Binned,
    DriftPolicy,
    DriftResult,
    MissingCounts,
    MissingRate,
    OutOfRange,
    UnseenCategories,
    align,
    build_method,
)
from .drift.multiple_testing import CORRECTIONS
from .findings import Findings, default_resource, series_prefix
from .otlp import OtlpRequest
from .pipeline import RateLimitedLog
from .references import (
    ChainedReferences,
    DirectoryReferenceStore,
    Reference,
    ReferenceProvider,
    TrailingReferenceConfig,
    TrailingWindowReference,
)
from .windows import StreamKey, WindowConfig, WindowStore

__all__ = [
    "CHECKS",
    "ColumnDrift",
    "DriftEngineConfig",
    "DriftProcessor",
    "Evaluation",
    "StreamDrift",
]

_log = logging.getLogger(__name__)

#: Checks a column can get: the distribution method, the missing-rate test, and the share outside the reference
#: (numeric: outside its ``[min, max]``, method ``out_of_range``; categorical: in categories it lacks, ``unseen``).
CHECKS: tuple[str, ...] = ("distribution", "missing_rate", "out_of_range")
_TARGETS = (("feature", "features", conv.ATTR_FEATURE_NAME), ("output", "outputs", conv.ATTR_OUTPUT_NAME))
_TARGETS += (("confidence", "confidence", conv.ATTR_OUTPUT_NAME),)
_OVERRIDE_PREFIX = {"feature": "", "output": "output:", "confidence": "confidence:"}


@dataclass(frozen=True)
class DriftEngineConfig:
    """Configuration of the drift engine (the ``drift:`` section of the collector's YAML, see the docs).

    Attributes:
        windows: Window length, evaluation length and memory bounds (:class:`WindowConfig`).
        evaluation_interval_seconds: How often the background thread evaluates (0: never; call ``evaluate_now``).
        references_directory: Directory of profile files; None for no file references.
        reference_poll_seconds: How often the directory is checked for new or changed files.
        pins: Model name -> profile version every version of that model is compared with.
        fallback_to_newest: Without a profile for a stream's version, use the model's newest profile.
        overrides: Model name (``"*"`` for every model) -> column -> method spec (a name, or a mapping with
            ``method``, ``threshold``, ``alpha``...; see ``DriftPolicy``). Outputs are keyed ``output:NAME``,
            confidence ``confidence:NAME``, features by their plain name. A model's own entry wins over ``"*"``.
        correction: Multiple-testing correction across one model's columns: ``benjamini-hochberg``,
            ``bonferroni`` or ``none``.
        min_rows: Columns with fewer current values (or missing-rate rows) are not compared.
        checks: Which checks run per column (names from :data:`CHECKS`).
        decisive_checks: Which checks decide a column's drift state (events, ``ml.drift.share``).
        missing_threshold: Smallest change of the missing share that counts (percentage points / 100).
        out_of_range_threshold: Share of current values outside the reference range (numeric) or in categories
            the reference lacks (categorical) that counts.
        resource: Resource attributes of the output (default ``service.name = otel-mlmon-collector``).
        trailing_reference: Also keep coarse windows of the production traffic and use an earlier span of it as
            the reference when no profile file matches (None: off).
    """

    windows: WindowConfig = field(default_factory=WindowConfig)
    evaluation_interval_seconds: float = 60.0
    references_directory: str | None = None
    #: An MLflow tracking server whose registered model versions carry profiles (docs/mlflow.md); asked after the
    #: directory.
    references_mlflow_tracking_uri: str | None = None
    reference_poll_seconds: float = 30.0
    pins: Mapping[str, str] = field(default_factory=dict)
    fallback_to_newest: bool = True
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    correction: str = "benjamini-hochberg"
    min_rows: int = 30
    checks: tuple[str, ...] = CHECKS
    decisive_checks: tuple[str, ...] = ("distribution", "missing_rate")
    missing_threshold: float = 0.01
    out_of_range_threshold: float = 0.05
    resource: Mapping[str, str] | None = None
    trailing_reference: TrailingReferenceConfig | None = None

    def __post_init__(self) -> None:
        for name in ("pins", "overrides"):  # an empty YAML section reads as None
            if getattr(self, name) is None:
                object.__setattr__(self, name, {})
        if self.evaluation_interval_seconds < 0:
            raise ValueError(
                f"evaluation_interval_seconds must be >= 0, got {self.evaluation_interval_seconds!r}"
            )
        if self.reference_poll_seconds < 0:
            raise ValueError(f"reference_poll_seconds must be >= 0, got {self.reference_poll_seconds!r}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {self.correction!r}")
        if not isinstance(self.min_rows, int) or self.min_rows < 1:
            raise ValueError(f"min_rows must be an int >= 1, got {self.min_rows!r}")
        for name in ("checks", "decisive_checks"):
            unknown = [c for c in getattr(self, name) if c not in CHECKS]
            if unknown:
                raise ValueError(f"{name} must be taken from {', '.join(CHECKS)}, got {unknown!r}")
        MissingRate(threshold=self.missing_threshold)  # validates the range
        OutOfRange(threshold=self.out_of_range_threshold)
        for model, columns in self.overrides.items():
            if not isinstance(columns, Mapping):
                raise ValueError(f"overrides.{model} must map column names to methods, got {columns!r}")
            for column, spec in columns.items():
                _check_override(f"overrides.{model}.{column}", spec)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DriftEngineConfig:
        """Build from a parsed YAML/JSON mapping (keys as in docs/drift-engine.md).

        Raises:
            ValueError: naming the key, for an unknown key or a bad value.
        """
        data = dict(data or {})
        window_keys = {
            "window_seconds",
            "evaluation_windows",
            "stream_ttl_seconds",
            "max_streams",
            "max_columns",
            "max_size",
            "max_categories",
        }
        refs = dict(data.pop("references", None) or {})
        windows = WindowConfig(**{k: data.pop(k) for k in list(data) if k in window_keys})
        kwargs: dict[str, Any] = {"windows": windows}
        trailing = data.pop("trailing_reference", None)
        if trailing is not None:
            if not isinstance(trailing, Mapping):
                raise ValueError(f"trailing_reference must be a mapping, got {trailing!r}")
            try:
                kwargs["trailing_reference"] = TrailingReferenceConfig(**trailing)
            except TypeError as exc:
                raise ValueError(f"trailing_reference: {exc}") from None
        for key, target in (
            ("directory", "references_directory"),
            ("mlflow_tracking_uri", "references_mlflow_tracking_uri"),
            ("poll_interval_seconds", "reference_poll_seconds"),
            ("pins", "pins"),
            ("fallback_to_newest", "fallback_to_newest"),
        ):
            if key in refs:
                kwargs[target] = refs.pop(key)
        if refs:
            raise ValueError(f"unknown key(s) in references: {', '.join(sorted(refs))}")
        known = {
            f
            for f in cls.__dataclass_fields__
            if f
            not in ("windows", "references_directory", "references_mlflow_tracking_uri", "trailing_reference")
        }
        known -= {"reference_poll_seconds", "pins", "fallback_to_newest"}
        for key in list(data):
            if key not in known:
                raise ValueError(
                    f"unknown drift key {key!r}; valid: {', '.join(sorted(known | window_keys))}"
                )
            value = data.pop(key)
            kwargs[key] = _as_tuple(value) if key in ("checks", "decisive_checks") else value
        return cls(**kwargs)


@dataclass(frozen=True)
class ColumnDrift:
    """The checks of one column of one stream in one evaluation.

    Attributes:
        target: ``feature``, ``output`` or ``confidence``.
        name: The column's name.
        kind: ``numeric`` or ``categorical``.
        results: Check name (``distribution``, ``missing_rate``, ``out_of_range``) -> result, after correction.
        detected: Whether a decisive check detected drift (None when no decisive check could be made).
        decisive: The result that decided (the first that detected, else the distribution result).
    """

    target: str
    name: str
    kind: str
    results: Mapping[str, DriftResult]
    detected: bool | None
    decisive: DriftResult | None


@dataclass(frozen=True)
class StreamDrift:
    """One stream's outcome: its reference (None when missing) and its columns."""

    key: StreamKey
    reference: Reference | None
    columns: tuple[ColumnDrift, ...] = ()
    rows: int = 0

    def drifted(self, target: str = "feature") -> list[str]:
        """Names of the columns of ``target`` with drift detected."""
        return [c.name for c in self.columns if c.target == target and c.detected]

    @property
    def share(self) -> float | None:
        """Share of the checked features with drift detected (None when no feature could be checked)."""
        checked = [c for c in self.columns if c.target == "feature" and c.detected is not None]
        if not checked:
            return None
        return sum(1 for c in checked if c.detected) / len(checked)


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation found, and how long it took.

    ``seconds`` is the whole evaluation; of it, ``window_seconds`` went to merging the windows into evaluation
    views and ``encoding_seconds`` to writing the OTLP requests; the rest is the statistics (alignment, methods,
    correction, decisions, gauge bookkeeping).
    """

    time: float
    streams: tuple[StreamDrift, ...]
    seconds: float
    changes: int
    window_seconds: float = 0.0
    encoding_seconds: float = 0.0

    def stream(self, model: str, version: str | None = None, operation: str | None = None) -> StreamDrift:
        """The stream of ``model`` (and version/operation when given).

        Raises:
            KeyError: when no evaluated stream matches.
        """
        for s in self.streams:
            if (
                s.key.model == model
                and version in (None, s.key.version)
                and operation in (None, s.key.operation)
            ):
                return s
        raise KeyError(
            f"no evaluated stream for model {model!r}, version {version!r}, operation {operation!r}"
        )


class _NoReferences:
    """The null reference provider: every lookup misses."""

    def refresh(self) -> bool:
        return False

    def lookup(self, model: str, version: str | None) -> Reference | None:
        return None


class DriftProcessor:
    """Pipeline processor computing data drift of every monitored model from its sketches.

    Args:
        config: The engine's configuration.
        emit: Called with each OTLP request the engine produces (metrics, then logs); the service routes it to
            the exporters (``Pipeline.emit``). Exceptions from it are logged, never raised.
        clock: Seconds since the epoch; window assignment, expiry, output timestamps and model age use it.
        references: A reference provider to use instead of the directory store the config describes.

    Usage::

        engine = DriftProcessor(DriftEngineConfig(references_directory="profiles"), pipeline.emit)
        pipeline.add_processor(engine)      # process() sees every request; evaluation runs in the background
        ...
        engine.shutdown()
    """

    name = "drift"

    def __init__(
        self,
        config: DriftEngineConfig,
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
            providers: list[ReferenceProvider] = []
            if config.references_directory is not None:
                providers.append(
                    DirectoryReferenceStore(
                        config.references_directory,
                        pins=config.pins,
                        fallback=config.fallback_to_newest,
                        poll_interval_seconds=config.reference_poll_seconds,
                    )
                )
            if config.references_mlflow_tracking_uri is not None:
                from .mlflow_references import MlflowReferenceStore

                providers.append(
                    MlflowReferenceStore(
                        config.references_mlflow_tracking_uri,
                        poll_interval_seconds=config.reference_poll_seconds,
                    )
                )
            if self.trailing_windows is not None:
                providers.append(TrailingWindowReference(self.trailing_windows, config.trailing_reference))  # type: ignore[arg-type]
            if not providers:
                references = _NoReferences()
            elif len(providers) == 1:
                references = providers[0]
            else:
                references = ChainedReferences(providers)
        self.references = references
        self._reset()

    def _reset(self) -> None:
        self.windows = WindowStore(self.config.windows, self.clock)
        self._resource = dict(self.config.resource or default_resource())
        self._policies: dict[str, DriftPolicy] = {}
        self._out_of_range = OutOfRange(threshold=self.config.out_of_range_threshold)
        self._unseen = UnseenCategories(threshold=self.config.out_of_range_threshold)
        self._missing_rate = MissingRate(alpha=DEFAULT_ALPHA, threshold=self.config.missing_threshold)
        self._state: dict[tuple[StreamKey, str, str], bool] = {}
        # Per stream: the encoded gauge series of each (target, column, method), built on first use (see _series).
        self._series: dict[StreamKey, dict[tuple[str, Any, str], tuple[bytes, bytes, bytes]]] = {}
        self._lock = threading.Lock()
        self._evaluating = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._logs = RateLimitedLog(_log, interval_seconds=300.0)
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
        with self._evaluating:
            started = time.perf_counter()
            now = self.clock()
            try:
                self.references.refresh()
            except Exception as exc:  # noqa: BLE001 - a broken provider means missing references, not a crash
                self._logs.log(
                    logging.ERROR, "refresh", "reference refresh failed: %s: %s", type(exc).__name__, exc
                )
            self.windows.expire()
            if self.trailing_windows is not None:
                self.trailing_windows.expire()
            findings = Findings(int(now * 1e9), self._resource)
            streams = []
            changes = 0
            live = set()
            window_seconds = 0.0
            for key in self.windows.streams():
                merging = time.perf_counter()
                view = self.windows.view(key)
                window_seconds += time.perf_counter() - merging
                if view is None:
                    continue
                live.add(key)
                stream, changed = self._evaluate_stream(key, view, now, findings)
                streams.append(stream)
                changes += changed
            for state_key in [k for k in self._state if k[0] not in live]:
                del self._state[state_key]
            for stream_key in [k for k in self._series if k not in live]:
                del self._series[stream_key]
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
        base: dict[str, Any] = {conv.ATTR_MODEL_NAME: key.model}
        if key.version is not None:
            base[conv.ATTR_MODEL_VERSION] = key.version
        base[conv.ATTR_OPERATION] = key.operation
        reference = self.references.lookup(key.model, key.version)
        findings.gauge(
            conv.METRIC_DRIFT_REFERENCE_MISSING,
            0.0 if reference is not None else 1.0,
            base,
            description="1 while a monitored model has no reference profile to compare with.",
        )
        if reference is None:
            self._logs.log(
                logging.WARNING,
                f"missing:{key}",
                "no reference profile for model %r version %r: drift not evaluated",
                key.model,
                key.version,
            )
            return StreamDrift(key, None, (), view.rows), 0
        findings.gauge(
            conv.METRIC_MODEL_AGE,
            reference.age_seconds(now),
            base,
            unit="s",
            description="Seconds since the reference profile was built.",
        )
        window = {**base, conv.ATTR_WINDOW_SECONDS: round(self.config.windows.evaluation_seconds)}
        policy = self._policy(key.model)
        pending: list[tuple[str, str, ColumnSummary, ColumnSummary]] = []
        for target, section, _ in _TARGETS:
            references: dict[str, ColumnSummary] = getattr(reference.summary, section)
            for name, current in getattr(view, section).items():
                ref = references.get(name)
                if ref is None:
                    self._logs.log(
                        logging.INFO,
                        f"column:{key.model}:{target}:{name}",
                        "model %r: %s %r is not in the reference profile %s: not compared",
                        key.model,
                        target,
                        name,
                        reference.source,
                    )
                    continue
                pending.append((target, name, ref, current))
        columns = self._compare_columns(key, policy, pending)
        # One family of hypotheses per model and evaluation: every tested column and check together.
        flat = [(i, check, r) for i, (_, _, _, results) in enumerate(columns) for check, r in results.items()]
        corrected = policy.correct([r for _, _, r in flat])
        for (i, check, _), result in zip(flat, corrected):
            columns[i][3][check] = result
        out: list[ColumnDrift] = []
        changes = 0
        for target, name, kind, results in columns:
            column = self._decide(target, name, kind, results)
            out.append(column)
            attrs = {**window, _label(target): name, conv.ATTR_DRIFT_TARGET: target}
            if isinstance(name, tuple):  # confidence of one predicted class: (output, class)
                attrs[_label(target)], attrs[conv.ATTR_PREDICTION_CLASS] = name
            series = self._series.setdefault(key, {})
            for result in results.values():
                prefixes = series.get((target, name, result.method))
                if prefixes is None:
                    prefixes = series[(target, name, result.method)] = _series_prefixes(attrs, result.method)
                self._result_gauges(findings, prefixes, result)
            changes += self._track(key, column, attrs, findings)
        stream = StreamDrift(key, reference, tuple(out), view.rows)
        if stream.share is not None:
            findings.gauge(
                conv.METRIC_DRIFT_SHARE,
                stream.share,
                window,
                description="Share of the model's checked features with drift detected.",
            )
        return stream, changes

    def _compare_columns(
        self,
        key: StreamKey,
        policy: DriftPolicy,
        pending: Sequence[tuple[str, str, ColumnSummary, ColumnSummary]],
    ) -> list[tuple[str, str, str, dict[str, DriftResult]]]:
        """Run the checks of one stream's columns: ``(target, name, kind, results)`` of each column with results.

        Numeric columns are aligned once for every check; the numeric distribution checks that share a method
        and the out-of-range checks then run in one vectorised pass each (``compare_many``), which gives the
        same results as comparing column by column. A column whose comparison fails is logged and left out.
        """
        checks = self.config.checks
        n = len(pending)
        distribution: list[DriftResult | None] = [None] * n
        outside: list[DriftResult | None] = [None] * n
        missing: list[DriftResult | None] = [None] * n
        failed: set[int] = set()
        batches: dict[Any, list[tuple[int, Binned]]] = {}  # distribution method -> its numeric columns
        in_range: list[tuple[int, Binned]] = []  # numeric columns for the out-of-range share
        for i, column in enumerate(pending):
            try:
                missing[i] = self._plan_column(
                    key, policy, i, column, distribution, outside, batches, in_range
                )
            except Exception as exc:  # noqa: BLE001 - one bad column (or override) must not stop the rest
                self._compare_failed(key, pending[i], exc)
                failed.add(i)
        runs = [(method, items, distribution) for method, items in batches.items()]
        runs.append((self._out_of_range, in_range, outside))
        for method, items, found in runs:
            if not items:
                continue
            try:
                results = method.compare_many([binned for _, binned in items])
            except Exception:  # noqa: BLE001 - find the column at fault: compare one by one
                results = []
                for i, binned in items:
                    try:
                        results.append(method.compare_binned(binned))
                    except Exception as exc:  # noqa: BLE001 - one bad column must not stop the rest
                        self._compare_failed(key, pending[i], exc)
                        failed.add(i)
                        results.append(None)
            for (i, _), result in zip(items, results):
                found[i] = result
        columns: list[tuple[str, str, str, dict[str, DriftResult]]] = []
        for i, (target, name, ref, _) in enumerate(pending):
            if i in failed:
                continue
            results = {}
            for check, result in (
                ("distribution", distribution[i]),
                ("out_of_range", outside[i]),
                ("missing_rate", missing[i]),
            ):
                if result is not None and check in checks:
                    results[check] = result
            if results:
                columns.append((target, name, ref.kind, results))
        return columns

    def _plan_column(
        self,
        key: StreamKey,
        policy: DriftPolicy,
        i: int,
        column: tuple[str, str, ColumnSummary, ColumnSummary],
        distribution: list[DriftResult | None],
        outside: list[DriftResult | None],
        batches: dict[Any, list[tuple[int, Binned]]],
        in_range: list[tuple[int, Binned]],
    ) -> DriftResult | None:
        """Compare column ``i`` now or queue its aligned bins for a batch; return its missing-rate result."""
        target, name, ref, current = column
        checks = self.config.checks
        n_cur = current.count
        if current.kind != ref.kind and n_cur > 0:
            self._logs.log(
                logging.WARNING,
                f"kind:{key.model}:{target}:{name}",
                "model %r: %s %r is %s in production but %s in the reference: not compared",
                key.model,
                target,
                name,
                current.kind,
                ref.kind,
            )
            return None
        if "distribution" in checks and n_cur >= self.config.min_rows and ref.count > 0:
            method = policy.method_for(_OVERRIDE_PREFIX[target] + name, ref.kind, ref.count, n_cur)  # type: ignore[arg-type]
            if ref.kind == "numeric":
                # Align the two histograms once for every numeric check that accepts aligned bins.
                binned = align(ref.numeric, current.numeric)
                if hasattr(method, "compare_many") and _hashable(method):
                    batches.setdefault(method, []).append((i, binned))
                elif hasattr(method, "compare_binned"):
                    distribution[i] = method.compare_binned(binned)
                else:
                    distribution[i] = method.compare(ref.numeric, current.numeric)
                if (
                    "out_of_range" in checks
                    and math.isfinite(ref.numeric.min)
                    and math.isfinite(ref.numeric.max)
                ):
                    in_range.append((i, binned))
            else:
                distribution[i] = method.compare(ref.categorical, current.categorical)
                if "out_of_range" in checks:  # for categories: the share of values unseen in the reference
                    outside[i] = self._unseen.compare(ref.categorical, current.categorical)
        total_cur = n_cur + current.missing + current.infinite
        total_ref = ref.count + ref.missing + ref.infinite
        if "missing_rate" in checks and total_cur >= self.config.min_rows and total_ref > 0:
            return self._missing_rate.compare(
                MissingCounts(total_ref, ref.missing, ref.infinite),
                MissingCounts(total_cur, current.missing, current.infinite),
            )
        return None

    def _compare_failed(
        self, key: StreamKey, column: tuple[str, str, ColumnSummary, ColumnSummary], exc: Exception
    ) -> None:
        target, name = column[0], column[1]
        self._logs.log(
            logging.ERROR,
            f"compare:{key.model}:{target}:{name}",
            "model %r: comparing %s %r failed: %s: %s",
            key.model,
            target,
            name,
            type(exc).__name__,
            exc,
        )

    def _decide(self, target: str, name: str, kind: str, results: Mapping[str, DriftResult]) -> ColumnDrift:
        made = [
            (check, r)
            for check, r in results.items()
            if check in self.config.decisive_checks and r.skipped is None
        ]
        detected: bool | None = None
        decisive = results.get("distribution")
        if made:
            hits = [r for _, r in made if r.detected]
            detected = bool(hits)
            if hits:
                decisive = hits[0]
            elif decisive is None:
                decisive = made[0][1]
        return ColumnDrift(target, name, kind, dict(results), detected, decisive)

    def _result_gauges(
        self, findings: Findings, prefixes: tuple[bytes, bytes, bytes], result: DriftResult
    ) -> None:
        """Every gauge of one result, through the series prefixes of its column and method (``_series_prefixes``)."""
        labelled, reference_side, current_side = prefixes
        findings.gauge_series(
            conv.METRIC_DRIFT_SAMPLE_SIZE,
            reference_side,
            float(result.n_reference),
            "{row}",
            _SAMPLE_SIZE_DESCRIPTION,
        )
        findings.gauge_series(
            conv.METRIC_DRIFT_SAMPLE_SIZE,
            current_side,
            float(result.n_current),
            "{row}",
            _SAMPLE_SIZE_DESCRIPTION,
        )
        if result.skipped is not None:
            return
        findings.gauge_series(
            conv.METRIC_DRIFT_SCORE, labelled, result.score, "1", "Drift score of one method."
        )
        findings.gauge_series(
            conv.METRIC_DRIFT_DETECTED,
            labelled,
            1.0 if result.detected else 0.0,
            "1",
            "1 when the method detects drift (after the correction across columns).",
        )
        findings.gauge_series(
            conv.METRIC_DRIFT_THRESHOLD, labelled, result.threshold, "1", "Score threshold."
        )
        if result.p_value is not None:
            findings.gauge_series(
                conv.METRIC_DRIFT_P_VALUE,
                labelled,
                result.p_value,
                "1",
                "p-value of the method's test, corrected across the model's columns.",
            )

    def _track(
        self, key: StreamKey, column: ColumnDrift, attrs: Mapping[str, Any], findings: Findings
    ) -> int:
        """Record the column's state; emit ``ml.drift.changed`` when it changed (first drift included)."""
        if column.detected is None or column.decisive is None:
            return 0
        state_key = (key, column.target, column.name)
        previous = self._state.get(state_key)
        self._state[state_key] = column.detected
        if previous == column.detected or (previous is None and not column.detected):
            return 0
        r = column.decisive
        event: dict[str, Any] = {
            **attrs,
            conv.ATTR_DRIFT_METHOD: r.method,
            conv.METRIC_DRIFT_DETECTED: column.detected,
            conv.METRIC_DRIFT_SCORE: float(r.score),
            conv.METRIC_DRIFT_THRESHOLD: float(r.threshold),
        }
        if r.p_value is not None:
            event[conv.METRIC_DRIFT_P_VALUE] = float(r.p_value)
        start, end = self.windows.window_bounds()
        event["ml.window.start"] = _iso(start)
        event["ml.window.end"] = _iso(end)
        version = f" version {key.version}" if key.version is not None else ""
        verb = "detected" if column.detected else "no longer detected"
        body = (
            f"drift {verb} in {column.target} {column.name!r} of model {key.model!r}{version}: "
            f"{r.method} {r.score:.4g} (threshold {r.threshold:.4g}"
            + (f", p {r.p_value:.3g}" if r.p_value is not None else "")
            + f", n {r.n_reference} vs {r.n_current})"
        )
        findings.event(conv.EVENT_DRIFT_CHANGED, body, event, severity="WARN" if column.detected else "INFO")
        return 1

    def _policy(self, model: str) -> DriftPolicy:
        policy = self._policies.get(model)
        if policy is None:
            overrides = {**self.config.overrides.get("*", {}), **self.config.overrides.get(model, {})}
            policy = self._policies[model] = DriftPolicy(overrides, correction=self.config.correction)  # type: ignore[arg-type]
        return policy


_SAMPLE_SIZE_DESCRIPTION = "Values behind a drift score, per side."


def _series_prefixes(attrs: Mapping[str, Any], method: str) -> tuple[bytes, bytes, bytes]:
    """Encoded attributes of one column's gauges for ``method``: without a side, reference side, current side."""
    labelled = {**attrs, conv.ATTR_DRIFT_METHOD: method}
    return (
        series_prefix(labelled),
        series_prefix({**labelled, conv.ATTR_DRIFT_SIDE: "reference"}),
        series_prefix({**labelled, conv.ATTR_DRIFT_SIDE: "current"}),
    )


def _hashable(method: Any) -> bool:
    try:
        hash(method)
    except TypeError:
        return False
    return True


def _label(target: str) -> str:
    return conv.ATTR_FEATURE_NAME if target == "feature" else conv.ATTR_OUTPUT_NAME


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _check_override(where: str, spec: Any) -> None:
    """Raise ValueError naming ``where`` unless ``spec`` names a method valid for numeric or categorical data."""
    if isinstance(spec, Mapping):
        name = spec.get("method")
        params = {k: v for k, v in spec.items() if k != "method"}
    elif isinstance(spec, str):
        name, params = spec, {}
    else:
        if hasattr(spec, "compare") and hasattr(spec, "kind"):
            return
        raise ValueError(f"{where} must be a method name or a mapping, got {spec!r}")
    if name is None:
        return  # a threshold/alpha change of the size-based default, checked when first used
    errors: list[str] = []
    for kind in ("numeric", "categorical"):
        try:
            build_method(kind, str(name), **params)  # type: ignore[arg-type]
            return
        except ValueError as exc:
            errors.append(str(exc))
    raise ValueError(f"{where}: {'; '.join(errors)}")


def _as_tuple(value: Sequence[str] | str) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
