"""The one seam every drift method sits behind: its result record, its protocols and the decision rule."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, make_dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from otel_mlmon_collector.drift._binning import Binned

__all__ = [
    "KINDS",
    "BatchMethod",
    "DriftMethod",
    "DriftResult",
    "Kind",
    "decide",
    "is_batch_method",
    "make_result",
    "skipped_result",
]

Kind = Literal["numeric", "categorical", "missing", "vector", "vocabulary"]
KINDS: tuple[str, ...] = ("numeric", "categorical", "missing", "vector", "vocabulary")


# Slots: the engine keeps ≈ 3 results per column from one evaluation to the next, and without a __dict__ each is
# one object the garbage collector tracks instead of two (its full collections grow with what evaluations keep).
@dataclass(frozen=True, slots=True)
class DriftResult:
    """The outcome of comparing one feature's current window with its reference.

    Attributes:
        method: Name of the method that produced it (``"ks"``, ``"psi"``, ...).
        score: The method's statistic or distance (``nan`` when the comparison was skipped).
        threshold: Effect-size gate: drift needs ``score >= threshold``.
        detected: Whether drift was detected (always ``False`` when skipped).
        p_value: The test's p-value, or ``None`` for pure distances.
        n_reference: Rows behind the reference side (present values for distribution methods).
        n_current: Rows behind the current side.
        alpha: Significance level: when set and a p-value exists, drift also needs ``p_value < alpha``.
        details: Method-specific extras (bounds, degrees of freedom, effective sizes, ``skipped`` reason).
    """

    method: str
    score: float
    threshold: float
    detected: bool
    p_value: float | None
    n_reference: int
    n_current: int
    alpha: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> str | None:
        """Why no comparison was made (empty window, constant data, ...), or ``None`` when it was made."""
        reason = self.details.get("skipped")
        return None if reason is None else str(reason)


def unfrozen_twin(cls: type) -> type:
    """A plain slotted dataclass with the fields of the frozen slotted dataclass ``cls``, in the same order.

    Same slots, same layout: an instance built by the twin's plain ``__init__`` can become a ``cls`` by assigning
    its ``__class__`` (Python refuses the switch if the layouts ever differ), a third of the frozen ``__init__``'s
    cost, for the batched paths that make thousands of results.
    """
    return make_dataclass(f"_Unfrozen{cls.__name__}", [(f.name, f.type) for f in fields(cls)], slots=True)


_MutableResult = unfrozen_twin(DriftResult)


def make_result(
    method: str,
    score: float,
    threshold: float,
    detected: bool,
    p_value: float | None,
    n_reference: int,
    n_current: int,
    alpha: float | None,
    details: Mapping[str, Any],
) -> DriftResult:
    """``DriftResult(...)`` with every field given, positionally: the same object, made without the frozen
    dataclass ``__init__`` (one ``object.__setattr__`` per field), for the batched paths that make thousands.

    The fields are set by the class's :func:`unfrozen_twin`, whose instance then becomes a :class:`DriftResult`. A ``__post_init__`` added to
    :class:`DriftResult` would have to be mirrored here.
    """
    result = _MutableResult(
        method, score, threshold, detected, p_value, n_reference, n_current, alpha, details
    )
    result.__class__ = DriftResult  # type: ignore[assignment]
    return result  # type: ignore[return-value]


@runtime_checkable
class DriftMethod(Protocol):
    """What the drift engine needs from a method: a name, the kind of data it reads and one comparison.

    ``compare(reference, current)`` takes the two sides in the form of the method's kind: for ``"numeric"``
    a :class:`~otel_mlmon_collector.drift._binning.Binned` (or two exponential histograms), for
    ``"categorical"`` two :class:`~otel_mlmon_collector.drift._categorical.CategoricalCounts` (or sketches), for
    ``"missing"`` two :class:`~otel_mlmon_collector.drift._missing.MissingCounts`, for ``"vector"`` two
    :class:`~otel_mlmon_collector.drift._vectors.VectorColumn`, for ``"vocabulary"`` two
    :class:`~otel_mlmon_collector.drift._vocabulary.VocabularyColumn`.
    """

    name: str
    kind: Kind
    threshold: float

    def compare(self, reference: Any, current: Any) -> DriftResult: ...


@runtime_checkable
class BatchMethod(DriftMethod, Protocol):
    """A numeric method that also compares ready-aligned bins, and many columns in one vectorised pass.

    :class:`~otel_mlmon_collector.drift._select.DriftPolicy` (and through it the drift engine) aligns a numeric
    column's two histograms once and hands the :class:`~otel_mlmon_collector.drift._binning.Binned` to every check
    that implements this protocol; columns that share one (hashable) method are compared with one ``compare_many``
    call. Both must give exactly what ``compare`` gives column by column. Every numeric method of this package
    implements it (``NumericMethod``); a method without it is called through ``compare`` with the two histograms.
    """

    def compare_binned(self, binned: Binned) -> DriftResult: ...

    def compare_many(self, pairs: Sequence[Any]) -> list[DriftResult]:
        """Compare each item (a ``Binned``, or a ``(reference, current)`` pair), in order."""
        ...


#: Per method class: whether it implements BatchMethod (an isinstance on a runtime protocol costs ~20 µs, which
#: adds up over a thousand columns per evaluation).
_BATCH_TYPES: dict[type, bool] = {}


def is_batch_method(method: Any) -> bool:
    """``isinstance(method, BatchMethod)``, decided once per method class."""
    known = _BATCH_TYPES.get(type(method))
    if known is None:
        known = _BATCH_TYPES[type(method)] = isinstance(method, BatchMethod)
    return known


def decide(score: float, threshold: float, p_value: float | None, alpha: float | None) -> bool:
    """The shared decision rule: ``score >= threshold`` and, when both exist, ``p_value < alpha``."""
    if not math.isfinite(score) and not math.isinf(score):
        return False
    if score < threshold:
        return False
    if alpha is not None and p_value is not None:
        return p_value < alpha
    return True


def skipped_result(
    method: str,
    threshold: float,
    n_reference: int,
    n_current: int,
    reason: str,
    alpha: float | None = None,
    **details: Any,
) -> DriftResult:
    """A result for a comparison that could not be made: ``nan`` score, never detected, reason in details."""
    return DriftResult(
        method=method,
        score=math.nan,
        threshold=threshold,
        detected=False,
        p_value=None,
        n_reference=int(n_reference),
        n_current=int(n_current),
        alpha=alpha,
        details={"skipped": reason, **details},
    )
