"""What one drift evaluation found, as plain records: per column, per stream, and the evaluation as a whole."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .._references import Reference
from .._windows import StreamKey
from ..drift import DriftResult
from ..drift._base import unfrozen_twin

__all__ = ["ColumnDrift", "ColumnName", "Evaluation", "StreamDrift", "UnmatchedColumns", "column_drift"]

#: A column's name: a feature or output name, or ``(output, predicted class)`` for a confidence column.
ColumnName = str | tuple[str, str]


# Slots: one per column is kept from one evaluation to the next (see DriftResult).
@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The checks of one column of one stream in one evaluation.

    Attributes:
        target: ``feature``, ``output`` or ``confidence``.
        name: The column's name; for confidence ``(output, predicted class)``.
        kind: ``numeric`` or ``categorical``.
        results: Check name (``distribution``, ``missing_rate``, ``out_of_range``) -> result, after correction.
        detected: Whether a decisive check detected drift (None when no decisive check could be made).
        decisive: The result that decided (the first that detected, else the distribution result).
    """

    target: str
    name: ColumnName
    kind: str
    results: Mapping[str, DriftResult]
    detected: bool | None
    decisive: DriftResult | None


_MutableColumnDrift = unfrozen_twin(ColumnDrift)


def column_drift(
    target: str,
    name: ColumnName,
    kind: str,
    results: Mapping[str, DriftResult],
    detected: bool | None,
    decisive: DriftResult | None,
) -> ColumnDrift:
    """``ColumnDrift(...)`` made without the frozen dataclass ``__init__`` (one ``object.__setattr__`` per field):
    the engine makes one per column and evaluation. Its :func:`~otel_mlmon_collector.drift._base.unfrozen_twin` sets
    the fields, then becomes a :class:`ColumnDrift`."""
    column = _MutableColumnDrift(target, name, kind, results, detected, decisive)
    column.__class__ = ColumnDrift  # type: ignore[assignment]
    return column  # type: ignore[return-value]


@dataclass(frozen=True)
class UnmatchedColumns:
    """Columns of one target that only one side has, so they cannot be compared.

    Attributes:
        target: ``feature``, ``output`` or ``confidence``.
        live_only: Columns in the production traffic that the reference profile lacks.
        reference_only: Columns of the reference profile absent from the evaluated traffic.
    """

    target: str
    live_only: tuple[ColumnName, ...] = ()
    reference_only: tuple[ColumnName, ...] = ()


@dataclass(frozen=True)
class StreamDrift:
    """One stream's outcome: its reference (None when missing), its columns and the columns left unmatched."""

    key: StreamKey
    reference: Reference | None
    columns: tuple[ColumnDrift, ...] = ()
    rows: int = 0
    unmatched: tuple[UnmatchedColumns, ...] = field(default=())

    def drifted(self, target: str = "feature") -> list[ColumnName]:
        """Names of the columns of ``target`` with drift detected."""
        return [c.name for c in self.columns if c.target == target and c.detected]

    @property
    def share(self) -> float | None:
        """Share of the checked features with drift detected (None when no feature could be checked)."""
        checked = [c for c in self.columns if c.target == "feature" and c.detected is not None]
        if not checked:
            return None
        return sum(1 for c in checked if c.detected) / len(checked)

    def unmatched_for(self, target: str) -> UnmatchedColumns:
        """The unmatched columns of ``target`` (empty when every column found its counterpart)."""
        for u in self.unmatched:
            if u.target == target:
                return u
        return UnmatchedColumns(target)


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
