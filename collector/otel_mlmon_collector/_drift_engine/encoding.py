"""How drift findings leave the engine: ``ml.drift.*`` gauges per column and stream, ``ml.drift.changed`` events.

:class:`DriftFindings` keeps what the encoding needs across evaluations: the encoded attribute prefixes of each
column's gauge series (built once per stream, column and method, since encoding attributes dominates the cost of
a thousand columns) and each column's last drift state (an event is emitted only when it changes). A stream
whose columns, methods and p-values are those of its previous evaluation gets its result gauges written in bulk
(:class:`_StreamGauges`): per gauge one chunk of points, the values placed into a template by numpy.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from math import isfinite
from typing import Any

import numpy as np

from otel_mlmon import conventions as conv

from .._findings import Findings, attribute_block, point_prefix
from .._references import Reference
from .._windows import StreamKey
from ..drift import DriftResult
from .columns import display_name
from .records import ColumnDrift, ColumnName, UnmatchedColumns

__all__ = ["DriftFindings", "stream_attributes"]

_SAMPLE_SIZE_DESCRIPTION = "Values behind a drift score, per side."
_UNMATCHED_DESCRIPTION = (
    "Columns only one side has, so they are not compared: ml.drift.side=current counts live columns the "
    "reference lacks, reference counts reference columns absent from the evaluated traffic."
)


def stream_attributes(key: StreamKey) -> dict[str, Any]:
    """The attributes every gauge of one stream carries: model, version (when known) and operation."""
    base: dict[str, Any] = {conv.ATTR_MODEL_NAME: key.model}
    if key.version is not None:
        base[conv.ATTR_MODEL_VERSION] = key.version
    base[conv.ATTR_OPERATION] = key.operation
    return base


class DriftFindings:
    """Writes one evaluation's findings into a :class:`Findings` and remembers what the next evaluation needs."""

    def __init__(self) -> None:
        self._state: dict[tuple[StreamKey, str, ColumnName], bool] = {}
        # Per stream: the encoded gauge series of each (target, column, method), built on first use.
        self._series: dict[StreamKey, dict[tuple[str, ColumnName, str], tuple[bytes, bytes, bytes]]] = {}
        # The point adders of the result gauges, for the findings of the evaluation under way.
        self._adders_of: Findings | None = None
        self._adders: tuple[Callable[[bytes, float], None], ...] = ()
        # Once those gauges have their first points (their order in the request is then fixed): their points'
        # appends (see _fast_gauges), from the findings of the evaluation under way.
        self._appends: list[Callable[[bytes], None] | None] = []
        # Per stream: the layout of its result gauges, for writing them in bulk (see columns()).
        self._bulk: dict[StreamKey, _StreamGauges] = {}

    def reference(
        self, findings: Findings, base: Mapping[str, Any], reference: Reference | None, now: float
    ) -> None:
        """``ml.drift.reference.missing`` of the stream and, with a reference, ``ml.model.age``."""
        findings.gauge(
            conv.METRIC_DRIFT_REFERENCE_MISSING,
            0.0 if reference is not None else 1.0,
            base,
            description="1 while a monitored model has no reference profile to compare with.",
        )
        if reference is not None:
            findings.gauge(
                conv.METRIC_MODEL_AGE,
                reference.age_seconds(now),
                base,
                unit="s",
                description="Seconds since the reference profile was built.",
            )

    def unmatched(
        self, findings: Findings, window: Mapping[str, Any], unmatched: Collection[UnmatchedColumns]
    ) -> None:
        """``ml.drift.columns.unmatched`` per target and side (zeros included, so that a fix shows as a drop)."""
        for u in unmatched:
            for side, names in (("current", u.live_only), ("reference", u.reference_only)):
                attrs = {**window, conv.ATTR_DRIFT_TARGET: u.target, conv.ATTR_DRIFT_SIDE: side}
                findings.gauge(
                    conv.METRIC_DRIFT_COLUMNS_UNMATCHED,
                    float(len(names)),
                    attrs,
                    unit="{column}",
                    description=_UNMATCHED_DESCRIPTION,
                )

    def columns(
        self,
        findings: Findings,
        key: StreamKey,
        window: Mapping[str, Any],
        columns: Sequence[ColumnDrift],
        bounds: Callable[[], tuple[float, float]],
    ) -> int:
        """:meth:`column` of each of one stream's columns, in order: the same points and events; returns the events.

        When the five result gauges are placed in the request and the stream's columns, their results' methods
        and which results carry a p-value are those its layout was made from, with every value finite and no
        result skipped, the points go into each gauge as one chunk (:class:`_StreamGauges`). Otherwise column by
        column, and the layout is made again from what this evaluation wrote.
        """
        if self._adders_of is not findings:
            self._adders_for(findings)
        bulk = self._bulk.get(key)
        placed = self._appends[3] is not None and self._appends[4] is not None
        if bulk is not None and placed and bulk.write(findings, columns):
            return sum(self._track(key, c, window, findings, bounds) for c in columns)
        changes = sum(self.column(findings, key, window, c, bounds) for c in columns)
        if columns:
            self._bulk[key] = _StreamGauges(columns, self._series[key])
        else:
            self._bulk.pop(key, None)
        return changes

    def column(
        self,
        findings: Findings,
        key: StreamKey,
        window: Mapping[str, Any],
        column: ColumnDrift,
        bounds: Callable[[], tuple[float, float]],
    ) -> int:
        """The gauges of one column's results and, when its state changed, an event; returns the events (0/1).

        ``bounds`` gives the evaluation window's start and end (asked only for an event).
        """
        attrs: dict[str, Any] | None = None
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = {}
        adders = self._adders if self._adders_of is findings else self._adders_for(findings)
        appends = self._appends
        target, name = column.target, column.name
        for result in column.results.values():
            prefixes = series.get((target, name, result.method))
            if prefixes is None:
                attrs = attrs or _column_attributes(window, column)
                prefixes = series[(target, name, result.method)] = _series_prefixes(attrs, result.method)
            if appends[3] is None or (appends[4] is None and result.p_value is not None):
                _result_gauges(adders, prefixes, result)  # places the gauges it starts in the request
                appends = self._appends = _appends(findings)
            else:
                _fast_gauges(appends, findings.pack, prefixes, result)
        return self._track(key, column, window, findings, bounds, attrs)

    def _adders_for(self, findings: Findings) -> tuple[Callable[[bytes, float], None], ...]:
        """The point adders of the result gauges for this evaluation's findings (see _result_gauges)."""
        self._adders_of = findings
        self._appends = _appends(findings)
        self._adders = (
            findings.adder(conv.METRIC_DRIFT_SAMPLE_SIZE, "{row}", _SAMPLE_SIZE_DESCRIPTION),
            findings.adder(conv.METRIC_DRIFT_SCORE, "1", "Drift score of one method."),
            findings.adder(
                conv.METRIC_DRIFT_DETECTED,
                "1",
                "1 when the method detects drift (after the correction across columns).",
            ),
            findings.adder(conv.METRIC_DRIFT_THRESHOLD, "1", "Score threshold."),
            findings.adder(
                conv.METRIC_DRIFT_P_VALUE,
                "1",
                "p-value of the method's test, corrected across the model's columns.",
            ),
        )
        return self._adders

    def share(self, findings: Findings, window: Mapping[str, Any], share: float | None) -> None:
        """``ml.drift.share`` of the stream, when any feature could be checked."""
        if share is not None:
            findings.gauge(
                conv.METRIC_DRIFT_SHARE,
                share,
                window,
                description="Share of the model's checked features with drift detected.",
            )

    def forget(self, live: Collection[StreamKey]) -> None:
        """Drop the state and series of streams that were not evaluated (expired)."""
        for state_key in [k for k in self._state if k[0] not in live]:
            del self._state[state_key]
        for stream_key in [k for k in self._series if k not in live]:
            del self._series[stream_key]
        for stream_key in [k for k in self._bulk if k not in live]:
            del self._bulk[stream_key]

    def _track(
        self,
        key: StreamKey,
        column: ColumnDrift,
        window: Mapping[str, Any],
        findings: Findings,
        bounds: Callable[[], tuple[float, float]],
        attrs: Mapping[str, Any] | None = None,
    ) -> int:
        """Record the column's state; emit ``ml.drift.changed`` when it changed (first drift included).

        ``attrs`` are the column's attributes when already built (else built for an event only)."""
        if column.detected is None or column.decisive is None:
            return 0
        state_key = (key, column.target, column.name)
        previous = self._state.get(state_key)
        self._state[state_key] = column.detected
        if previous == column.detected or (previous is None and not column.detected):
            return 0
        attrs = attrs or _column_attributes(window, column)
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
        start, end = bounds()
        event[conv.ATTR_WINDOW_START] = _iso(start)
        event[conv.ATTR_WINDOW_END] = _iso(end)
        version = f" version {key.version}" if key.version is not None else ""
        verb = "detected" if column.detected else "no longer detected"
        body = (
            f"drift {verb} in {column.target} {display_name(column.name)} of model {key.model!r}{version}: "
            f"{_evidence(r)} ({r.n_current} current vs {r.n_reference} reference rows)"
        )
        findings.event(conv.EVENT_DRIFT_CHANGED, body, event, severity="WARN" if column.detected else "INFO")
        return 1


def _evidence(r: DriftResult) -> str:
    """Why a column is (not) drifted, in the terms its decision used.

    ``ks 0.1967, p 3.1e-12 < 0.05`` for a test decided by its p-value (the score gate is left out while it is
    0, its default: "threshold 0" reads like a bug), ``wasserstein 0.37 ≥ 0.1`` for a distance.
    """
    parts = [f"{r.method} {r.score:.4g}"]
    gated = r.p_value is None or r.alpha is None or r.threshold > 0
    if gated:
        parts[0] += f" {'≥' if r.score >= r.threshold else '<'} threshold {r.threshold:.4g}"
    if r.p_value is not None:
        test = f"p {r.p_value:.3g}"
        if r.alpha is not None:
            test += f" {'<' if r.p_value < r.alpha else '≥'} alpha {r.alpha:.3g}"
        parts.append(test)
    return ", ".join(parts)


def _result_gauges(
    adders: tuple[Callable[[bytes, float], None], ...],
    prefixes: tuple[bytes, bytes, bytes],
    result: DriftResult,
) -> None:
    """Every gauge of one result, through the series prefixes of its column and method (``_series_prefixes``).

    ``adders`` add points to the sample size, score, detected, threshold and p-value gauges, in that order; the
    gauges appear in the request in the order of their first point, as when each point was added by name.
    """
    sample_size, score, detected, threshold, p_value = adders
    labelled, reference_side, current_side = prefixes
    sample_size(reference_side, float(result.n_reference))
    sample_size(current_side, float(result.n_current))
    if result.details.get("skipped") is not None:
        return
    score(labelled, result.score)
    detected(labelled, 1.0 if result.detected else 0.0)
    threshold(labelled, result.threshold)
    if result.p_value is not None:
        p_value(labelled, result.p_value)


#: The result gauges, in the order of _result_gauges' adders.
_RESULT_GAUGES = (
    conv.METRIC_DRIFT_SAMPLE_SIZE,
    conv.METRIC_DRIFT_SCORE,
    conv.METRIC_DRIFT_DETECTED,
    conv.METRIC_DRIFT_THRESHOLD,
    conv.METRIC_DRIFT_P_VALUE,
)


def _appends(findings: Findings) -> list[Callable[[bytes], None] | None]:
    """Per result gauge, the append of its points once it has its first point (else None); index 3 is set only
    once the first four all are, so that ``appends[3] is not None`` says the four are placed."""
    appends = [findings.appender(name) for name in _RESULT_GAUGES]
    if None in appends[:4]:
        appends[3] = None
    return appends


def _fast_gauges(
    appends: list[Callable[[bytes], None] | None],
    pack: Callable[[float], bytes],
    prefixes: tuple[bytes, bytes, bytes],
    result: DriftResult,
) -> None:
    """:func:`_result_gauges` for a result whose gauges are all placed in the request: the same points, appended
    straight to their gauges (the order between gauges no longer depends on which comes first)."""
    sample_size, score, detected, threshold, p_value = appends
    labelled, reference_side, current_side = prefixes
    value = float(result.n_reference)
    if isfinite(value):
        sample_size(reference_side + pack(value))  # type: ignore[misc]
    value = float(result.n_current)
    if isfinite(value):
        sample_size(current_side + pack(value))  # type: ignore[misc]
    if result.details.get("skipped") is not None:
        return
    if isfinite(result.score):
        score(labelled + pack(result.score))  # type: ignore[misc]
    detected(labelled + pack(1.0 if result.detected else 0.0))  # type: ignore[misc]
    if isfinite(result.threshold):
        threshold(labelled + pack(result.threshold))  # type: ignore[misc]
    if result.p_value is not None and isfinite(result.p_value):
        p_value(labelled + pack(result.p_value))  # type: ignore[misc]


class _StreamGauges:
    """The result gauges of one stream's columns as templates: per gauge, its points' series prefixes in the
    order :func:`_result_gauges` adds them, each followed by room for the 18 bytes of time and value.

    Made from a stream's columns once their series prefixes exist; :meth:`write` fills the templates with the
    values of an evaluation whose columns have the same layout (the same columns in order, the same methods, the
    same results with a p-value) and writes each gauge's points as one chunk.
    """

    def __init__(
        self,
        columns: Sequence[ColumnDrift],
        series: Mapping[tuple[str, ColumnName, str], tuple[bytes, bytes, bytes]],
    ) -> None:
        self.columns = [(c.target, c.name) for c in columns]
        results = [r for c in columns for r in c.results.values()]
        self.methods = [r.method for r in results]
        self.tested = [r.p_value is not None for r in results]
        prefixes = [series[(c.target, c.name, r.method)] for c in columns for r in c.results.values()]
        sides = [prefix for labelled, reference, current in prefixes for prefix in (reference, current)]
        labelled = [p[0] for p in prefixes]
        with_p = [p[0] for p, tested in zip(prefixes, self.tested) if tested]
        # In the order of _RESULT_GAUGES.
        self.gauges = [_Template(sides), _Template(labelled), _Template(labelled), _Template(labelled)]
        self.gauges.append(_Template(with_p))

    def write(self, findings: Findings, columns: Sequence[ColumnDrift]) -> bool:
        """The points of ``columns``' results into ``findings``, one chunk per gauge; False (nothing written)
        when the columns do not have this layout, a result was skipped or a value is not finite."""
        if [(c.target, c.name) for c in columns] != self.columns:
            return False
        results = [r for c in columns for r in c.results.values()]
        if [r.method for r in results] != self.methods:
            return False
        p_values = [r.p_value for r in results]
        if [p is not None for p in p_values] != self.tested:
            return False
        if any(r.details.get("skipped") is not None for r in results):
            return False
        sides = np.array([n for r in results for n in (r.n_reference, r.n_current)], dtype=np.float64)
        scores = np.array([r.score for r in results], dtype=np.float64)
        detected = np.array([r.detected for r in results], dtype=np.float64)
        thresholds = np.array([r.threshold for r in results], dtype=np.float64)
        tested = np.array([p for p in p_values if p is not None], dtype=np.float64)
        values = (sides, scores, detected, thresholds, tested)
        if not all(np.isfinite(v).all() for v in values):
            return False
        time_bytes = _TIME.pack(findings.time_unix_nano)
        for name, template, v in zip(_RESULT_GAUGES, self.gauges, values):
            if v.size:
                findings.extend(name, template.fill(time_bytes, v), v.size)
        return True


#: A point's time after its 0x19 tag (fixed64, little-endian).
_TIME = struct.Struct("<Q")


class _Template:
    """The points of one gauge with their tails left blank: ``fill`` writes the time and values in one pass."""

    __slots__ = ("buffer", "time_at", "value_at")

    def __init__(self, prefixes: Sequence[bytes]) -> None:
        blank = b"\x19" + bytes(8) + b"\x21" + bytes(8)  # _POINT_TAIL with time and value 0
        self.buffer = np.frombuffer(b"".join([p + blank for p in prefixes]), dtype=np.uint8)
        ends = np.cumsum([len(p) + len(blank) for p in prefixes], dtype=np.int64)
        offsets = np.arange(8, dtype=np.int64)
        self.time_at = (ends[:, None] - 17 + offsets).ravel()
        self.value_at = (ends[:, None] - 8 + offsets).ravel()

    def fill(self, time_bytes: bytes, values: np.ndarray) -> bytes:
        """The points with this time and these values (float64, one per point, in order)."""
        out = self.buffer.copy()
        out[self.time_at] = np.tile(np.frombuffer(time_bytes, dtype=np.uint8), values.size)
        out[self.value_at] = values.astype("<f8", copy=False).view(np.uint8)
        return out.tobytes()


def _column_attributes(window: Mapping[str, Any], column: ColumnDrift) -> dict[str, Any]:
    """The attributes of a column's gauges and events: the stream's and window's, the column's name and target."""
    label = conv.ATTR_FEATURE_NAME if column.target == "feature" else conv.ATTR_OUTPUT_NAME
    attrs = {**window, label: column.name, conv.ATTR_DRIFT_TARGET: column.target}
    if isinstance(column.name, tuple):  # confidence of one predicted class: (output, class)
        attrs[label], attrs[conv.ATTR_PREDICTION_CLASS] = column.name
    return attrs


def _series_prefixes(attrs: Mapping[str, Any], method: str) -> tuple[bytes, bytes, bytes]:
    """Encoded attributes of one column's gauges for ``method``: without a side, reference side, current side.

    The same bytes as :func:`series_prefix` of ``{**attrs, method}`` and of that with the side appended: the
    attributes are encoded once and the side's entry appended to them (attributes are written in order).
    """
    block = attribute_block({**attrs, conv.ATTR_DRIFT_METHOD: method})
    reference_side, current_side = _SIDES
    return point_prefix(block), point_prefix(block + reference_side), point_prefix(block + current_side)


#: The encoded ``ml.drift.side`` entries of the sample size gauge's two series.
_SIDES = (
    attribute_block({conv.ATTR_DRIFT_SIDE: "reference"}),
    attribute_block({conv.ATTR_DRIFT_SIDE: "current"}),
)


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
