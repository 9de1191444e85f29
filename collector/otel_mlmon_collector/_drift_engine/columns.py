"""One stream's columns: pair live columns with the reference's, plan their checks, run them through the policy.

Numeric columns are aligned once for every check; :meth:`DriftPolicy.compare` then runs the checks that share a
method in one vectorised pass (``compare_many``), which gives the same results as comparing column by column.
The p-values of every check of every column of one model are corrected together (one family per evaluation), and
each column's drift state is decided from its decisive checks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from otel_mlmon.summary import ColumnSummary, Summary

from ..drift import (
    DEFAULT_ALPHA,
    DriftMethod,
    DriftPolicy,
    DriftResult,
    MissingRate,
    OutOfRange,
    UnseenCategories,
    VectorColumn,
    VocabularyColumn,
    align,
    vector_columns,
    vocabulary_columns,
)
from ..drift._align import AlignmentCache
from ..drift._base import is_batch_method
from ..drift._binning import align_many
from ..drift._categorical import CategoricalMethod, CategoricalSides
from ..drift._missing import missing_counts
from ..drift._vectors import vector_series
from .config import DriftConfig
from .records import ColumnDrift, ColumnName, UnmatchedColumns, column_drift

__all__ = ["TARGETS", "ColumnChecks", "PendingColumn", "display_name", "match_columns", "override_key"]

#: Column targets and the :class:`Summary` section that holds them.
TARGETS: tuple[tuple[str, str], ...] = (
    ("feature", "features"),
    ("output", "outputs"),
    ("confidence", "confidence"),
)
_OVERRIDE_PREFIX = {"feature": "", "output": "output:", "confidence": "confidence:"}
#: Order of a column's results (and of its p-values in the correction).
_CHECK_ORDER = ("distribution", "out_of_range", "missing_rate")


@dataclass(frozen=True)
class PendingColumn:
    """A live column and its reference counterpart, to be compared."""

    target: str
    name: ColumnName
    reference: ColumnSummary | VectorColumn | VocabularyColumn
    current: ColumnSummary | VectorColumn | VocabularyColumn


def override_key(target: str, name: ColumnName) -> str:
    """The key of a column in ``overrides``: ``NAME``, ``output:NAME``, or ``confidence:OUTPUT`` for every class.

    >>> override_key("confidence", ("prediction", "0")), override_key("output", "prediction")
    ('confidence:prediction', 'output:prediction')
    """
    if isinstance(name, tuple):  # confidence of one predicted class: (output, class)
        name = name[0]
    return _OVERRIDE_PREFIX[target] + name


def display_name(name: ColumnName) -> str:
    """A column's name for log lines and event bodies: confidence columns as ``OUTPUT[class]``.

    >>> display_name("age"), display_name(("prediction", "0"))
    ("'age'", "'prediction[0]'")
    """
    if isinstance(name, tuple):
        return repr(f"{name[0]}[{name[1]}]")
    return repr(name)


def match_columns(
    reference: Summary, view: Summary
) -> tuple[list[PendingColumn], tuple[UnmatchedColumns, ...]]:
    """Pair every live column with the reference column of the same target and name.

    Returns:
        The pairs, in the view's order, and per target the columns only one side has.
    """
    pending: list[PendingColumn] = []
    unmatched: list[UnmatchedColumns] = []
    new = object.__new__
    for target, section in TARGETS:
        references: dict[Any, Any] = getattr(reference, section)
        live: dict[Any, Any] = getattr(view, section)
        if target == "feature":
            references, live = _with_vectors(reference, references), _with_vectors(view, live)
        elif target == "output":
            references, live = _with_output_vectors(reference), _with_output_vectors(view)
        live_only = []
        for name, current in live.items():
            ref = references.get(name)
            if ref is None:
                live_only.append(name)
            else:
                column = new(PendingColumn)  # PendingColumn(...) without the frozen __init__: one per column
                column.__dict__.update(target=target, name=name, reference=ref, current=current)
                pending.append(column)
        reference_only = tuple(name for name in references if name not in live)
        unmatched.append(UnmatchedColumns(target, tuple(live_only), reference_only))
    return pending, tuple(unmatched)


def _with_vectors(summary: Summary, features: dict[str, Any]) -> dict[str, Any]:
    """Features with each vector column as one :class:`VectorColumn` in place of its series (``vector.p00`` ...),
    so a vector column is compared as a whole (docs/drift.md, "Vector columns")."""
    vectors, vocabularies = vector_columns(summary), vocabulary_columns(summary)
    if not vectors and not vocabularies:
        return features
    series = {name for names in vector_series(features).values() for name in names}
    out: dict[str, Any] = {name: c for name, c in features.items() if name not in series}
    out.update(vectors)
    out.update(vocabularies)  # a text column's vocabulary: one VocabularyColumn in place of its bucket counts
    return out


@dataclass(frozen=True)
class _OutputSide:
    """A summary's outputs seen as the features :func:`vector_columns` reads (series and sketches alike)."""

    features: Mapping[str, Any]
    vectors: Mapping[str, Any]


def _with_output_vectors(summary: Summary) -> dict[str, Any]:
    """Outputs with each vector output (an embedding a model returns) as one :class:`VectorColumn` in place of
    its series (``prediction.p00`` ... ``prediction.norm``), compared like a vector feature."""
    outputs: dict[str, Any] = summary.outputs
    vectors = vector_columns(_OutputSide(outputs, getattr(summary, "output_vectors", {})))
    if not vectors:
        return outputs
    series = {name for names in vector_series(outputs).values() for name in names}
    out: dict[str, Any] = {name: c for name, c in outputs.items() if name not in series}
    out.update(vectors)
    return out


class ColumnChecks:
    """Runs the configured checks of one stream's columns through its :class:`DriftPolicy` and decides them.

    Args:
        config: The engine's configuration (checks, minimum rows, thresholds, decisive checks).
        log: ``log(level, key, message, *args)``, rate-limited by key (``RateLimitedLog.log``).
    """

    def __init__(self, config: DriftConfig, log: Callable[..., None]) -> None:
        self.config = config
        self.log = log
        self.out_of_range = OutOfRange(threshold=config.out_of_range_threshold)
        # Categories: a calibrated test of new categories (see drift/unseen.py), not the numeric share threshold.
        self.unseen = UnseenCategories()
        self.missing_rate = MissingRate(alpha=DEFAULT_ALPHA, threshold=config.missing_threshold)
        # The reference sides of the numeric columns, converted once (a reference changes only on reload).
        self._alignment = AlignmentCache()

    def begin_evaluation(self) -> None:
        """Start an evaluation round: reference sides not used in the previous round leave the cache."""
        self._alignment.begin()

    def compare(self, model: str, policy: DriftPolicy, pending: Sequence[PendingColumn]) -> list[ColumnDrift]:
        """Every column with at least one result: its corrected results and decision, in ``pending`` order.

        A column whose planning or comparison fails is logged (rate-limited) and left out; the others go on.
        """
        comparisons: list[tuple[DriftMethod, Any, Any]] = []
        owners: list[tuple[int, str]] = []  # (column index, check) of each comparison
        failed: set[int] = set()

        def fail(i: int, exc: Exception) -> None:
            failed.add(i)
            column = pending[i]
            self.log(
                logging.ERROR,
                f"compare:{model}:{column.target}:{column.name}",
                "model %r: comparing %s %s failed: %s: %s",
                model,
                column.target,
                display_name(column.name),
                type(exc).__name__,
                exc,
            )

        aligned = self._align(model, pending)
        for i, column in enumerate(pending):
            try:
                planned = self._plan(model, policy, column, aligned.get(i))
            except Exception as exc:  # noqa: BLE001 - one bad column (or override) must not stop the rest
                fail(i, exc)
                continue
            for check, comparison in planned:
                comparisons.append(comparison)
                owners.append((i, check))
        found = policy.compare(comparisons, on_error=lambda k, exc: fail(owners[k][0], exc))
        # One family of hypotheses per model and evaluation: every tested column and check together, in column
        # order and, within a column, in _CHECK_ORDER (the order _plan appends them in).
        kept: list[tuple[int, str]] = []
        flat: list[DriftResult] = []
        for owner, result in zip(owners, found):
            if result is not None and owner[0] not in failed:
                kept.append(owner)
                flat.append(result)
        corrected = policy.correct(flat)
        columns: list[ColumnDrift] = []
        last, results = -1, {}
        for (i, check), result in zip(kept, corrected):
            if i != last:
                if last >= 0:
                    columns.append(self._decide(pending[last], results))
                last, results = i, {}
            results[check] = result
        if last >= 0:
            columns.append(self._decide(pending[last], results))
        return columns

    def _aligns(self, column: PendingColumn) -> bool:
        """Whether :meth:`_plan` takes aligned bins of this column (its conditions, in the same order)."""
        checks, ref, current = self.config.checks, column.reference, column.current
        n_cur = current.count
        if current.kind != ref.kind:
            return False  # not compared, or (no current rows) left to _plan, which fails as align() would
        return (
            ("distribution" in checks or "out_of_range" in checks)
            and n_cur >= self.config.min_rows
            and ref.count > 0
            and ref.kind == "numeric"
        )

    def _align(self, model: str, pending: Sequence[PendingColumn]) -> dict[int, Any]:
        """The aligned bins of every numeric column of one model, in one pass (see drift/_align.py).

        Any failure leaves the columns to :meth:`_plan`, which aligns them one by one and attributes the error.
        """
        wanted = [i for i, column in enumerate(pending) if self._aligns(column)]
        if not wanted:
            return {}
        try:
            binneds = align_many(
                [(pending[i].reference.numeric, pending[i].current.numeric) for i in wanted],  # type: ignore[union-attr]
                self._alignment,
            )
        except Exception:  # noqa: BLE001 - one bad column: _plan finds it and the others go on
            return {}
        return dict(zip(wanted, binneds))

    def _plan(
        self, model: str, policy: DriftPolicy, column: PendingColumn, binned: Any = None
    ) -> list[tuple[str, tuple[DriftMethod, Any, Any]]]:
        """The comparisons of one column as ``(check, (method, reference, current))``."""
        checks, min_rows = self.config.checks, self.config.min_rows
        ref, current = column.reference, column.current
        n_cur = current.count
        if current.kind != ref.kind and n_cur > 0:
            self.log(
                logging.WARNING,
                f"kind:{model}:{column.target}:{column.name}",
                "model %r: %s %s is %s in production but %s in the reference: not compared",
                model,
                column.target,
                display_name(column.name),
                current.kind,
                ref.kind,
            )
            return []
        planned: list[tuple[str, tuple[DriftMethod, Any, Any]]] = []
        distribution = "distribution" in checks
        out_of_range = "out_of_range" in checks
        if (distribution or out_of_range) and n_cur >= min_rows and ref.count > 0:
            method = None
            if distribution:
                key = override_key(column.target, column.name)
                method = policy.method_for(key, ref.kind, ref.count, n_cur)  # type: ignore[arg-type]
            if ref.kind in ("vector", "vocabulary"):
                if method is not None:
                    planned.append(("distribution", (method, ref, current)))
            elif ref.kind == "numeric":
                if binned is None:  # once, for every check that takes aligned bins
                    binned = align(ref.numeric, current.numeric)
                if method is not None:
                    if is_batch_method(method):
                        planned.append(("distribution", (method, binned, None)))
                    else:
                        planned.append(("distribution", (method, ref.numeric, current.numeric)))
                if out_of_range and math.isfinite(ref.numeric.min) and math.isfinite(ref.numeric.max):
                    planned.append(("out_of_range", (self.out_of_range, binned, None)))
            else:
                categorical = isinstance(method, CategoricalMethod)
                shared = None
                if out_of_range or categorical:
                    # The column's sketches read once and its table built once, for both checks: each takes
                    # them through compare_sides (policy.compare hands a CategoricalSides given alone to it).
                    shared = CategoricalSides(ref.categorical, current.categorical)
                if method is not None:
                    if categorical:
                        planned.append(("distribution", (method, shared, None)))
                    else:  # a method of the user's own: the sketches, as compare() takes them
                        planned.append(("distribution", (method, ref.categorical, current.categorical)))
                if out_of_range:  # for categories: values in categories the reference lacks
                    planned.append(("out_of_range", (self.unseen, shared, None)))
        total_cur = n_cur + current.missing + current.infinite
        total_ref = ref.count + ref.missing + ref.infinite
        if "missing_rate" in checks and total_cur >= min_rows and total_ref > 0 and ref.kind != "vocabulary":
            sides = (
                missing_counts(total_ref, ref.missing, ref.infinite),
                missing_counts(total_cur, current.missing, current.infinite),
            )
            planned.append(("missing_rate", (self.missing_rate, *sides)))
        return planned

    def _decide(self, column: PendingColumn, results: dict[str, DriftResult]) -> ColumnDrift:
        """Drift when a decisive check that could be made detected it; the deciding result with it.

        ``results`` (made for this column) becomes the record's own mapping.
        """
        decisive_checks = self.config.decisive_checks
        detected: bool | None = None
        decisive = results.get("distribution")
        first_made = None
        for check, r in results.items():
            if check in decisive_checks and r.details.get("skipped") is None:
                if r.detected:
                    detected, decisive = True, r
                    break
                if first_made is None:
                    first_made = r
        else:
            if first_made is not None:
                detected = False
                if decisive is None:
                    decisive = first_made
        return column_drift(column.target, column.name, column.reference.kind, results, detected, decisive)
