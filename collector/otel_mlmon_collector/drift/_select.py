"""Pick the method for each feature: the size-dependent default, or a per-feature override of method or threshold."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_mlmon_collector.drift._base import DriftMethod, DriftResult, Kind, is_batch_method
from otel_mlmon_collector.drift._categorical import CategoricalCounts, CategoricalSides
from otel_mlmon_collector.drift._centroid import Centroid
from otel_mlmon_collector.drift._chi2 import ChiSquare
from otel_mlmon_collector.drift._defaults import DEFAULT_CORRECTION, default_method
from otel_mlmon_collector.drift._hellinger import Hellinger, HellingerCategorical
from otel_mlmon_collector.drift._jensen_shannon import JensenShannon, JensenShannonCategorical
from otel_mlmon_collector.drift._ks import KolmogorovSmirnov
from otel_mlmon_collector.drift._linf import LInfinity
from otel_mlmon_collector.drift._mean_distance import MeanDistance
from otel_mlmon_collector.drift._missing import MissingRate
from otel_mlmon_collector.drift._multiple_testing import CORRECTIONS, Correction, correct
from otel_mlmon_collector.drift._null import NullMethod
from otel_mlmon_collector.drift._out_of_range import OutOfRange
from otel_mlmon_collector.drift._projections import Projections
from otel_mlmon_collector.drift._psi import PSI
from otel_mlmon_collector.drift._sliced_ks import SlicedKS
from otel_mlmon_collector.drift._unseen import UnseenCategories
from otel_mlmon_collector.drift._vocabulary import Vocabulary
from otel_mlmon_collector.drift._wasserstein import Wasserstein

__all__ = ["METHODS", "DriftPolicy", "build_method"]

#: Method classes by kind and name, as written in configuration files.
METHODS: Mapping[str, Mapping[str, type]] = {
    "numeric": {
        "ks": KolmogorovSmirnov,
        "psi": PSI,
        "wasserstein": Wasserstein,
        "jensen_shannon": JensenShannon,
        "hellinger": Hellinger,
        "out_of_range": OutOfRange,
    },
    "categorical": {
        "chi2": ChiSquare,
        "jensen_shannon": JensenShannonCategorical,
        "hellinger": HellingerCategorical,
        "linf": LInfinity,
        "unseen": UnseenCategories,
    },
    "missing": {"missing_rate": MissingRate},
    # Vector columns (embeddings), compared from their projection sketches (docs/drift.md, "Vector columns").
    "vector": {
        "projections": Projections,
        "centroid": Centroid,
        "mean_distance": MeanDistance,
        "sliced_ks": SlicedKS,
    },
    # Text columns' hashed token counts (docs/drift.md, "Text columns").
    "vocabulary": {"vocabulary": Vocabulary},
}


def build_method(kind: Kind, name: str, **params: Any) -> DriftMethod:
    """Create the method ``name`` for data of ``kind`` (``"none"`` gives the null method) with ``params``.

    Raises:
        ValueError: for an unknown kind or name (the message lists the valid ones) or a bad parameter.
    """
    if kind not in METHODS:
        raise ValueError(f"kind must be one of {', '.join(METHODS)}, got {kind!r}")
    if name == "none":
        return NullMethod(kind=kind)
    try:
        cls = METHODS[kind][name]
    except KeyError:
        valid = ", ".join([*METHODS[kind], "none"])
        raise ValueError(f"method for {kind} data must be one of {valid}, got {name!r}") from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for {kind} method {name!r}: {exc}") from None


class DriftPolicy:
    """Which method checks each feature, with what threshold, and how p-values are corrected across features.

    Args:
        overrides: Per-feature settings, keyed by feature name. A value is a :class:`DriftMethod` instance, a
            method name (``"psi"``), or a mapping such as ``{"method": "psi", "threshold": 0.2}`` or just
            ``{"threshold": 0.2}`` (which changes the threshold of whatever default the sample size selects).
            Other keys of the mapping (``alpha``, ``n_bins``, ``base``...) go to the method's constructor.
        correction: ``"benjamini-hochberg"`` (default), ``"bonferroni"`` or ``"none"``.

    Example:
        >>> policy = DriftPolicy({"age": {"method": "psi", "threshold": 0.2}, "id": "none"})
        >>> policy.method_for("age", "numeric", 10_000, 10_000)
        PSI(threshold=0.2, alpha=0.05, n_bins=10, epsilon=0.0001)
        >>> policy.method_for("income", "numeric", 100, 100).name
        'ks'
    """

    def __init__(
        self,
        overrides: Mapping[str, DriftMethod | str | Mapping[str, Any]] | None = None,
        correction: Correction = DEFAULT_CORRECTION,  # type: ignore[assignment]
    ) -> None:
        if correction not in CORRECTIONS:
            raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
        self.overrides = dict(overrides or {})
        self.correction = correction
        for feature, spec in self.overrides.items():
            if not isinstance(spec, (str, Mapping)) and not isinstance(spec, DriftMethod):
                raise ValueError(
                    f"override for {feature!r} must be a method, a name or a mapping, got {spec!r}"
                )

    def method_for(self, feature: str, kind: Kind, n_reference: float, n_current: float) -> DriftMethod:
        """The method that checks ``feature`` (of ``kind``) for windows of these sizes."""
        spec = self.overrides.get(feature)
        if spec is None:
            return default_method(kind, n_reference, n_current)
        if isinstance(spec, str):
            return build_method(kind, spec)
        if isinstance(spec, Mapping):
            params = dict(spec)
            name = params.pop("method", None)
            if name is not None:
                return build_method(kind, str(name), **params)
            method = default_method(kind, n_reference, n_current)
            try:
                return dataclasses.replace(method, **params)  # type: ignore[type-var]
            except TypeError as exc:
                raise ValueError(f"bad override for {feature!r}: {exc}") from None
        if spec.kind != kind:
            raise ValueError(f"override for {feature!r} is a {spec.kind} method, the feature is {kind}")
        return spec

    def correct(self, results: Sequence[DriftResult]) -> list[DriftResult]:
        """Apply the configured correction to one model's results of one window."""
        return correct(results, self.correction)

    def evaluate(self, features: Mapping[str, tuple[Kind, Any, Any]]) -> dict[str, DriftResult]:
        """Check every feature of one model for one window, then correct across them.

        Args:
            features: Feature name to ``(kind, reference, current)``: two exponential histograms or a
                :class:`~otel_mlmon_collector.drift._binning.Binned` (with ``current=None``) for ``"numeric"``,
                two category sketches or :class:`CategoricalCounts` (or a
                :class:`~otel_mlmon_collector.drift._categorical.CategoricalSides` with ``current=None``) for
                ``"categorical"``, two
                :class:`MissingCounts` for ``"missing"``.

        Returns:
            Feature name to its (corrected) result, in the input order.

        Example:
            >>> from otel_mlmon_collector.drift import CategoricalCounts, MissingCounts
            >>> results = DriftPolicy().evaluate({
            ...     "colour": ("categorical", CategoricalCounts({"red": 60, "blue": 40}),
            ...                CategoricalCounts({"red": 20, "blue": 80})),
            ...     "age.missing": ("missing", MissingCounts(100, missing=1), MissingCounts(100, missing=2)),
            ... })
            >>> {name: (r.method, r.detected) for name, r in results.items()}
            {'colour': ('chi2', True), 'age.missing': ('missing_rate', False)}
        """
        names = list(features)
        comparisons = []
        for name in names:
            kind, reference, current = features[name]
            method = self.method_for(name, kind, *_sizes(reference, current))
            comparisons.append((method, reference, current))
        return dict(zip(names, self.correct(self.compare(comparisons))))  # type: ignore[arg-type]

    def compare(
        self,
        comparisons: Sequence[tuple[DriftMethod, Any, Any]],
        on_error: Callable[[int, Exception], None] | None = None,
    ) -> list[DriftResult | None]:
        """Run each ``(method, reference, current)`` comparison (uncorrected), in the input order.

        A numeric side given as a :class:`~otel_mlmon_collector.drift._binning.Binned` alone (``current=None``)
        goes to the method's ``compare_binned``, a categorical column's
        :class:`~otel_mlmon_collector.drift._categorical.CategoricalSides` alone to its ``compare_sides`` (a
        method without one gets the two sides' counts); comparisons whose method is a :class:`BatchMethod` (and
        hashable) are grouped by method and run with one ``compare_many`` per method, which gives the same results
        as one by one; everything else calls ``compare(reference, current)``.

        Args:
            comparisons: The methods (from :meth:`method_for`, or fixed checks) and their two sides.
            on_error: Without it the first exception propagates. With it, a comparison that raises is reported
                as ``on_error(index, exception)`` and its result is None while the others still run (a batch
                that raises is retried one by one to find the comparisons at fault).
        """
        results: list[DriftResult | None] = [None] * len(comparisons)
        # Grouped by method object first (hashing a dataclass per comparison costs more than the lookup), then
        # equal methods' groups joined, indices ascending.
        by_object: dict[int, tuple[Any, list[int]]] = {}
        for i, (method, reference, current) in enumerate(comparisons):
            group = by_object.get(id(method))
            if group is not None:
                group[1].append(i)
            elif _batchable(method):
                by_object[id(method)] = (method, [i])
            else:
                results[i] = _guarded(on_error, i, _compare_one, method, reference, current)
        batches: dict[Any, list[int]] = {}
        for method, indices in by_object.values():
            joined = batches.get(method)
            if joined is None:
                batches[method] = indices
            else:
                joined.extend(indices)
                joined.sort()
        for method, indices in batches.items():
            items = [_pair(comparisons[i]) for i in indices]
            try:
                batch = method.compare_many(items)
            except Exception:  # re-raised unless the caller isolates failures
                if on_error is None:
                    raise
                batch = [
                    _guarded(on_error, i, _compare_one, *comparisons[i]) for i in indices
                ]  # find the comparisons at fault
            for i, result in zip(indices, batch):
                results[i] = result
        return results


def _compare_one(method: DriftMethod, reference: Any, current: Any) -> DriftResult:
    if current is None:
        if is_batch_method(method):
            return method.compare_binned(reference)  # type: ignore[attr-defined]
        if isinstance(reference, CategoricalSides):
            compare_sides = getattr(method, "compare_sides", None)
            if compare_sides is not None:
                return compare_sides(reference)  # type: ignore[no-any-return]
            return method.compare(reference.reference, reference.current)
    return method.compare(reference, current)


def _guarded(
    on_error: Callable[[int, Exception], None] | None, i: int, run: Callable[..., DriftResult], *args: Any
) -> DriftResult | None:
    if on_error is None:
        return run(*args)
    try:
        return run(*args)
    except Exception as exc:  # noqa: BLE001 - one bad comparison must not stop the rest
        on_error(i, exc)
        return None


def _batchable(method: Any) -> bool:
    """Columns that share this method can go through one ``compare_many`` (a BatchMethod, or any method with a
    ``compare_many`` of ``(reference, current)`` pairs such as :class:`MissingRate`; usable as a dict key)."""
    return (is_batch_method(method) or hasattr(method, "compare_many")) and _hashable(method)


def _hashable(method: Any) -> bool:
    try:
        hash(method)
    except TypeError:
        return False
    return True


def _pair(comparison: tuple[Any, Any, Any]) -> Any:
    _, reference, current = comparison
    return reference if current is None else (reference, current)


def _sizes(reference: Any, current: Any) -> tuple[int, int]:
    """Row counts of the two sides of any supported input, for choosing the size-dependent default."""
    if current is None and hasattr(reference, "n_current"):
        return int(reference.n_reference), int(reference.n_current)
    return _size(reference), _size(current)


def _size(side: Any) -> int:
    if isinstance(side, CategoricalCounts):
        return side.total
    if isinstance(side, Mapping):
        return int(sum(side.values()))
    for attr in ("total", "count"):
        value = getattr(side, attr, None)
        if value is not None and not callable(value):
            return int(value)
    raise TypeError(f"cannot tell the size of a {type(side).__name__}")
