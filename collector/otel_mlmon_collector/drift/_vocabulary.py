"""The vocabulary of a text column, and its drift test: hashed token counts, reference against current window.

The SDK and reference profiles summarise a text column's tokens with a
:class:`~otel_mlmon.sketch.vocabulary.VocabularySketch` (token counts in seeded hash buckets); over OTLP it
arrives as the categorical feature ``{column}.vocabulary`` whose categories are the bucket labels ``h000`` ...
:func:`vocabulary_columns` finds the vocabulary columns of a :class:`~otel_mlmon.summary.Summary` in either form.

:class:`Vocabulary` tests whether the two windows' tokens fall into the buckets in the same proportions: the
chi-square test of homogeneity on the 2 x buckets table, with the counts divided by the reference's design effect
(tokens of one text are not independent: a text repeats its words, which inflates the chi-square of token counts;
Rao & Scott's second-order correction, 1981, with per-bucket design effects from a profile's sketch) and sparse
buckets pooled by Cochran's rule. Calibration and power are in
docs/drift.md, "Text columns".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import special

from otel_mlmon import conventions as conv
from otel_mlmon.conventions import vocabulary_bucket
from otel_mlmon.sketch.vocabulary import VocabularySketch, is_vocabulary
from otel_mlmon_collector.drift._base import DriftResult, decide, skipped_result
from otel_mlmon_collector.drift._categorical import ContingencyTable
from otel_mlmon_collector.drift._chi2 import homogeneity_statistic, merge_sparse

__all__ = ["Vocabulary", "VocabularyColumn", "vocabulary_columns", "vocabulary_series"]

_SUFFIX = conv.DESCRIPTOR_SEPARATOR + conv.VOCABULARY
#: Floor of a bucket's design effect (a noisy estimate near 0 must not blow its cell up).
_MIN_EFFECT = 0.1


@dataclass(frozen=True, eq=False)
class VocabularyColumn:
    """One side of a text column's vocabulary: tokens per hash bucket.

    Attributes:
        buckets: Bucket label (``h000`` ...) -> tokens, for the buckets with tokens.
        texts: Texts behind the counts, when known (a sketch's count, or the column's ``words`` descriptor).
        effects: Per bucket label, the sketch's
            :meth:`~otel_mlmon.sketch.vocabulary.VocabularySketch.design_effects`, when known (profiles carry the
            moments they come from; the OTLP form does not).
        cluster_size: Size-weighted mean tokens per text, ``sum L^2 / sum L``, when known (with the design
            effect: the side's cluster size, from which the other side's design effect is extrapolated).
    """

    buckets: Mapping[str, int]
    texts: int | None = None
    effects: Mapping[str, float] | None = None
    cluster_size: float | None = None

    kind: ClassVar[str] = "vocabulary"
    #: Missing texts are counted on the column's descriptors, not here.
    missing: ClassVar[int] = 0
    infinite: ClassVar[int] = 0

    @property
    def tokens(self) -> int:
        return int(sum(self.buckets.values()))

    @property
    def mean_length(self) -> float | None:
        """Tokens per text, when the texts are known."""
        return self.tokens / self.texts if self.texts else None

    @property
    def count(self) -> int:
        """Texts when known, else tokens: what ``min_rows`` and the sample-size metric see."""
        return self.texts if self.texts is not None else self.tokens

    @classmethod
    def from_sketch(cls, sketch: VocabularySketch) -> VocabularyColumn:
        size = sketch.length_squares / sketch.tokens if sketch.tokens else None
        effects = sketch.design_effects()
        known = None
        if effects is not None:
            known = {
                vocabulary_bucket(int(i)): float(effects[i]) for i in np.flatnonzero(np.isfinite(effects))
            }
        return cls(sketch.bucket_counts(), sketch.texts, known, size)

    @classmethod
    def from_texts(cls, texts: Any, buckets: int | None = None) -> VocabularyColumn:
        """Sketch a list of texts with the default hash (or ``buckets`` buckets).

        Example:
            >>> VocabularyColumn.from_texts(["a b", "b c d"]).tokens
            5
        """
        sketch = VocabularySketch() if buckets is None else VocabularySketch(buckets)
        sketch.update(np.asarray(list(texts), dtype=object))
        return cls.from_sketch(sketch)


def vocabulary_series(names: Any) -> list[str]:
    """The features among ``names`` that are vocabulary columns by name (``{column}.vocabulary``)."""
    return sorted(name for name in names if isinstance(name, str) and name.endswith(_SUFFIX))


def vocabulary_columns(summary: Any) -> dict[str, VocabularyColumn]:
    """The vocabulary columns of a Summary, keyed ``{column}.vocabulary``: its sketches (SDK, profiles) and the
    categorical features of that name whose categories are all bucket labels (a Summary rebuilt from OTLP points
    by the collector; the texts then come from ``{column}.words``). Sketches win when a column is in both forms.
    """
    features: Mapping[str, Any] = summary.features
    out = {}
    for name in vocabulary_series(features):
        column = features[name]
        sketch = getattr(column, "categorical", None)
        if sketch is None or sketch.count == 0:
            continue
        counts = dict(sketch.top())
        if not is_vocabulary(name, counts) or sketch.count != sum(counts.values()):
            continue  # not a vocabulary sketch (a user's own column of that name): compared as categorical
        words = features.get(conv.descriptor_name(name[: -len(_SUFFIX)], "words"))
        texts = int(words.count) if words is not None and words.numeric is not None else None
        out[name] = VocabularyColumn(counts, texts)
    for column, vocabulary in getattr(summary, "vocabularies", {}).items():
        out[conv.descriptor_name(column, conv.VOCABULARY)] = VocabularyColumn.from_sketch(vocabulary)
    return out


@dataclass(frozen=True)
class Vocabulary:
    """Chi-square homogeneity test of two vocabularies' bucket shares, corrected for texts as clusters.

    Pearson's ``X^2`` of the 2 x buckets table (sparse buckets pooled by Cochran's rule), corrected to second
    order for texts as clusters (Rao & Scott 1981): with ``l_b`` the design effect of bucket ``b``'s share
    difference (both sides' effects weighted by the other side's size), ``d`` their mean and ``a^2`` their
    squared coefficient of variation (weights ``1 - p_b``), ``X^2 / (d (1 + a^2))`` is referred to chi-square
    with ``(k - 1) / (1 + a^2)`` degrees of freedom. A side without design effects of its own (the OTLP form)
    takes the other side's, extrapolated to its mean text length as a cluster design effect ``1 + (m - 1) rho``
    is (texts twice as long repeat their words more); without them on either side, 1 (independent tokens: the
    plain chi-square test). The score is the Jensen-Shannon distance (base 2, in [0, 1]) between the
    two bucket distributions: an effect size to gate on with ``threshold`` when windows are so large that the
    test flags changes too small to matter.

    Parameters:
        alpha: Significance level.
        threshold: Minimum Jensen-Shannon distance for drift (0: the p-value decides alone).
        min_expected: Cochran's expected count per cell.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(3)
        >>> words = np.array([f"w{i}" for i in range(2000)])
        >>> p = 1.0 / np.arange(1, 2001)
        >>> def texts(n, p):
        ...     return [" ".join(rng.choice(words, 12, p=p / p.sum())) for _ in range(n)]
        >>> ref = VocabularyColumn.from_texts(texts(2000, p))
        >>> same, moved = VocabularyColumn.from_texts(texts(500, p)), VocabularyColumn.from_texts(texts(500, p[::-1]))
        >>> Vocabulary().compare(ref, same).detected, Vocabulary().compare(ref, moved).detected
        (False, True)
    """

    name: ClassVar[str] = "vocabulary"
    kind: ClassVar[str] = "vocabulary"
    alpha: float | None = 0.05
    threshold: float = 0.0
    min_expected: float = 5.0

    def __post_init__(self) -> None:
        if self.alpha is not None and not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1) or None, got {self.alpha}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if not self.min_expected >= 0:
            raise ValueError(f"min_expected must be >= 0, got {self.min_expected}")

    def compare(self, reference: VocabularyColumn, current: VocabularyColumn) -> DriftResult:
        n, m = reference.count, current.count
        if reference.tokens == 0 or current.tokens == 0:
            reason = "empty reference" if reference.tokens == 0 else "empty window"
            return skipped_result(self.name, self.threshold, n, m, reason, self.alpha)
        labels = sorted(set(reference.buckets) | set(current.buckets))
        ref = np.array([reference.buckets.get(k, 0) for k in labels], dtype=np.float64)
        cur = np.array([current.buckets.get(k, 0) for k in labels], dtype=np.float64)
        d_ref, d_cur = (
            _bucket_effects(own, other, labels) for own, other in ((reference, current), (current, reference))
        )
        n_tokens, m_tokens = ref.sum(), cur.sum()
        score = _js_distance(ref / n_tokens, cur / m_tokens)
        effect = (d_ref * m_tokens + d_cur * n_tokens) / (n_tokens + m_tokens)
        merged = merge_sparse(ContingencyTable(tuple(labels), ref, cur), self.min_expected)
        k = merged.reference.size
        if k < 2:
            statistic, p_value, dof, mean, cv2 = 0.0, 1.0, 0.0, 1.0, 0.0
        else:
            index = {label: i for i, label in enumerate(labels)}
            kept = [index[c] for c in merged.columns if c in index]
            effects = effect[kept]
            if len(kept) < k:  # the pooled cell: its buckets' effects weighted by their tokens
                rest = np.setdiff1d(np.arange(len(labels)), kept)
                weight = ref[rest] + cur[rest]
                effects = np.append(effects, (effect[rest] * weight).sum() / max(weight.sum(), 1.0))
            share = (merged.reference + merged.current) / (n_tokens + m_tokens)
            weights = 1 - share
            mean = float((weights * effects).sum() / weights.sum())
            cv2 = float((weights * (effects - mean) ** 2).sum() / weights.sum() / mean**2)
            pearson = homogeneity_statistic(merged.reference, merged.current)
            statistic = pearson / (mean * (1 + cv2))
            dof = (k - 1) / (1 + cv2)
            p_value = float(special.chdtrc(dof, statistic))
        return DriftResult(
            method=self.name,
            score=score,
            threshold=self.threshold,
            detected=decide(score, self.threshold, p_value, self.alpha),
            p_value=p_value,
            n_reference=n,
            n_current=m,
            alpha=self.alpha,
            details={
                "statistic": statistic,
                "degrees_of_freedom": dof,
                "design_effect": mean,
                "design_effect_cv2": cv2,
                "tokens_reference": reference.tokens,
                "tokens_current": current.tokens,
                "pooled": merged.columns != tuple(labels),
            },
        )


def _bucket_effects(own: VocabularyColumn, other: VocabularyColumn, labels: list[str]) -> np.ndarray:
    """One side's design effect per bucket: its own, else the other side's extrapolated to this side's mean text
    length, else 1; at least :data:`_MIN_EFFECT`."""
    if own.effects is not None:
        effects = np.array([own.effects.get(label, 1.0) for label in labels])
    elif other.effects is not None:
        effects = np.array([other.effects.get(label, 1.0) for label in labels])
        effects = _extrapolated(effects, other, own)
    else:
        return np.ones(len(labels))
    return np.maximum(effects, _MIN_EFFECT)


def _extrapolated(effects: np.ndarray, known: VocabularyColumn, other: VocabularyColumn) -> np.ndarray:
    """``1 + (m' - 1) rho`` with ``rho = (d - 1) / (m - 1)`` from the known side (``m`` its size-weighted mean
    length) and ``m'`` that length scaled by the ratio of the two sides' mean lengths (same shape of lengths)."""
    size, mine, theirs = known.cluster_size, other.mean_length, known.mean_length
    if size is None or size <= 1.0 or not mine or not theirs:
        return effects
    return 1.0 + (size * mine / theirs - 1.0) * (effects - 1.0) / (size - 1.0)


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2 (0 for equal distributions, 1 for disjoint ones)."""
    mix = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / mix), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / mix), 0.0).sum()
    return math.sqrt(max(float(kl_p + kl_q) / 2, 0.0))
