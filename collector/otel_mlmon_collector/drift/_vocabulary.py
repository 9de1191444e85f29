"""The vocabulary of a text column, and its drift test: hashed token counts, reference against current window.

The SDK and reference profiles summarise a text column's tokens with a
:class:`~otel_mlmon.sketch.vocabulary.VocabularySketch` (token counts in seeded hash buckets); over OTLP it
arrives as the categorical feature ``{column}.vocabulary`` whose categories are the bucket labels ``h000`` ...
:func:`vocabulary_columns` finds the vocabulary columns of a :class:`~otel_mlmon.summary.Summary` in either form.

:class:`Vocabulary` tests whether the two windows' tokens fall into the buckets in the same proportions: the
chi-square test of homogeneity on the 2 x buckets table (sparse buckets pooled by Cochran's rule), referred to the
distribution it has when tokens of one text are not independent (a text repeats its words and its topic's words,
in many buckets at once): Satterthwaite's approximation with the covariance of the bucket shares that a profile's
sketch carries (Rao & Scott's second-order correction, 1981). Calibration and power are in
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
from otel_mlmon.sketch.vocabulary import VocabularySketch, is_vocabulary
from otel_mlmon_collector.drift._base import DriftResult, decide, skipped_result
from otel_mlmon_collector.drift._categorical import ContingencyTable
from otel_mlmon_collector.drift._chi2 import homogeneity_statistic, merge_sparse

__all__ = ["Vocabulary", "VocabularyColumn", "vocabulary_columns", "vocabulary_series"]

_SUFFIX = conv.DESCRIPTOR_SEPARATOR + conv.VOCABULARY


@dataclass(frozen=True, eq=False)
class VocabularyColumn:
    """One side of a text column's vocabulary: tokens per hash bucket.

    Attributes:
        buckets: Bucket label (``h000`` ...) -> tokens, for the buckets with tokens.
        texts: Texts behind the counts, when known (a sketch's count, or the column's ``words`` descriptor).
        covariance: The sketch's :meth:`~otel_mlmon.sketch.vocabulary.VocabularySketch.share_covariance`
            (``buckets x buckets``, by bucket index), when known (profiles carry the moments it comes from; the
            OTLP form does not).
        cluster_size: Size-weighted mean tokens per text, ``sum L^2 / sum L``, when known (with the covariance:
            from it the other side's covariance is extrapolated to that side's text length).
    """

    buckets: Mapping[str, int]
    texts: int | None = None
    covariance: np.ndarray | None = None
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
        return cls(sketch.bucket_counts(), sketch.texts, sketch.share_covariance(), size)

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

    Pearson's ``X^2`` of the 2 x buckets table (sparse buckets pooled by Cochran's rule). Under no drift it is
    about ``sum_i l_i chi2(1)``, the ``l_i`` the eigenvalues of ``A W`` (``W`` the covariance of the two sides'
    share difference, ``A = diag(1 / p) / (1/N + 1/M)``, ``N``, ``M`` the tokens): all 1 for independent tokens
    (the plain chi-square test), larger when texts repeat words. ``X^2 / c`` is referred to chi-square with
    ``nu`` degrees of freedom, ``c = tr((AW)^2) / tr(AW)``, ``nu = tr(AW)^2 / tr((AW)^2)`` (Satterthwaite;
    Rao & Scott's second-order correction). Each side's share covariance is its sketch's (a profile); a side
    without one (the OTLP form) takes the other side's excess over the multinomial, scaled to its own mean text
    length as a cluster design effect ``1 + (m - 1) rho`` scales (texts twice as long repeat their words more);
    without one on either side, the multinomial. The score is the Jensen-Shannon distance (base 2, in [0, 1]) between the
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
        n_tokens, m_tokens = ref.sum(), cur.sum()
        score = _js_distance(ref / n_tokens, cur / m_tokens)
        merged = merge_sparse(ContingencyTable(tuple(labels), ref, cur), self.min_expected)
        k = merged.reference.size
        if k < 2:
            statistic, p_value, dof, scale = 0.0, 1.0, 0.0, 1.0
        else:
            index = {label: i for i, label in enumerate(labels)}
            kept = np.array([index[c] for c in merged.columns if c in index], dtype=np.int64)
            share = (ref + cur) / (n_tokens + m_tokens)
            spread = _difference_covariance(reference, current, labels, share, n_tokens, m_tokens)
            pooled_spread, pooled_share = _pool(spread, share, kept, k)
            weighted = pooled_spread / pooled_share[:, None] / (1 / n_tokens + 1 / m_tokens)
            first, second = float(np.trace(weighted)), float((weighted * weighted.T).sum())
            if first > 0 and second > 0:
                scale, dof = second / first, first**2 / second
            else:  # degenerate moments (cannot happen with a real sketch): independent tokens
                scale, dof = 1.0, float(k - 1)
            statistic = homogeneity_statistic(merged.reference, merged.current) / scale
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
                "design_effect": scale,
                "tokens_reference": reference.tokens,
                "tokens_current": current.tokens,
                "pooled": merged.columns != tuple(labels),
            },
        )


def _difference_covariance(
    reference: VocabularyColumn,
    current: VocabularyColumn,
    labels: list[str],
    share: np.ndarray,
    n_tokens: float,
    m_tokens: float,
) -> np.ndarray:
    """The covariance of ``p_reference - p_current`` over ``labels`` (sum of the two sides' share covariances)."""
    buckets = np.array([int(label[1:]) for label in labels])
    multinomial = np.diag(share) - np.outer(share, share)
    excess = {}  # per side: its covariance times its tokens, minus the multinomial (the texts' clustering)
    for side, tokens in ((reference, n_tokens), (current, m_tokens)):
        if side.covariance is not None and side.covariance.shape[0] > buckets.max():
            excess[id(side)] = side.covariance[np.ix_(buckets, buckets)] * tokens - multinomial
    total = np.zeros_like(multinomial)
    for own, other, tokens in ((reference, current, n_tokens), (current, reference, m_tokens)):
        if id(own) in excess:
            extra = excess[id(own)]
        elif id(other) in excess:
            extra = excess[id(other)] * _length_factor(other, own)
        else:
            extra = 0.0
        total += (multinomial + extra) / tokens
    return total


def _pool(spread: np.ndarray, share: np.ndarray, kept: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The covariance and shares of the merged table's ``k`` cells: the ``kept`` buckets one per cell, the rest
    (when ``kept`` has ``k - 1``) summed into the last. Indexing, not products with a pooling matrix: this is most
    of a comparison's cost, and a grid of simulated windows runs thousands."""
    inner = spread[np.ix_(kept, kept)]
    if kept.size == k:
        return inner, share[kept]
    rest = np.setdiff1d(np.arange(share.size), kept)
    out = np.empty((k, k))
    out[:-1, :-1] = inner
    out[:-1, -1] = spread[np.ix_(kept, rest)].sum(axis=1)
    out[-1, :-1] = spread[np.ix_(rest, kept)].sum(axis=0)
    out[-1, -1] = spread[np.ix_(rest, rest)].sum()
    return out, np.append(share[kept], share[rest].sum())


def _length_factor(known: VocabularyColumn, other: VocabularyColumn) -> float:
    """``(m' - 1) / (m - 1)``: how the known side's clustering excess scales to the other side's texts, ``m`` the
    known side's size-weighted mean length and ``m'`` that length times the ratio of the two mean lengths."""
    size, mine, theirs = known.cluster_size, other.mean_length, known.mean_length
    if size is None or size <= 1.0 or not mine or not theirs:
        return 1.0
    return max(size * mine / theirs - 1.0, 0.0) / (size - 1.0)


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2 (0 for equal distributions, 1 for disjoint ones)."""
    mix = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / mix), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / mix), 0.0).sum()
    return math.sqrt(max(float(kl_p + kl_q) / 2, 0.0))
