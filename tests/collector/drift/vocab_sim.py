"""No-drift and drift simulations of text columns (a Zipf vocabulary) for the vocabulary drift test.

Texts are drawn from a vocabulary of :data:`VOCAB` words ``w0``, ``w1`` ... with Zipf frequencies (word of rank
``r`` has probability proportional to ``r ** -ZIPF``); a text has ``1 + Poisson(length - 1)`` tokens. Two
corpora: ``iid`` (every token drawn independently) and ``topical`` (each text has one of :data:`TOPICS` topics,
and :data:`TOPIC_SHARE` of its tokens come from that topic's own Zipf ranking of the words: texts repeat their
topic's words, as real texts do, so token counts vary more than independent draws would). The words are hashed
by the real hash (:func:`~otel_mlmon.sketch.vocabulary.token_buckets` on the word strings), so collisions are the
real ones.

A reference is a real :class:`~otel_mlmon.sketch.vocabulary.VocabularySketch` fed every token of every text
(``add_tokens``), as a profile is. A live window is what the collector gets over OTLP: bucket counts and the text
count, drawn exactly without the tokens (the tokens of the texts of one topic are independent draws from that
topic's mixture, so their bucket counts are one multinomial per topic): a 100 000-text window costs what
``TOPICS`` multinomials cost.

Run ``python -m tests.collector.drift.vocab_sim`` (repository root, in the venv) for the tables in
docs/drift.md; the tests import the same helpers with fewer windows.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from otel_mlmon_collector.drift import DriftMethod, Vocabulary, VocabularyColumn

from otel_mlmon.conventions import vocabulary_bucket
from otel_mlmon.sketch.vocabulary import DEFAULT_BUCKETS, VocabularySketch, token_buckets

__all__ = ["SCENARIOS", "Corpus", "alarm_rate", "alarm_rates", "corpus", "reference", "retained", "window"]

VOCAB = 20_000
ZIPF = 1.1
TOPICS = 20
TOPIC_SHARE = 0.5
#: Words of a topic's own ranking (a Zipf law over them): texts of a topic share and repeat these.
TOPIC_WORDS = 200
MEAN_LENGTH = 20.0
#: Live window sizes (texts) of the tables.
SIZES = [100, 1_000, 10_000, 100_000]
#: Word ids of the "different vocabulary": the same Zipf shape over other words (``w1000000`` ...).
FOREIGN = 1_000_000


@dataclass(frozen=True)
class Corpus:
    """How texts are drawn: word ranking, topics, foreign words, text length.

    Attributes:
        ranks: Word id of each Zipf rank (rank 0 is the most frequent).
        zipf: Exponent of the rank-frequency law.
        topical: Whether texts have topics (``TOPIC_SHARE`` of their tokens from their topic's ranking).
        foreign: Share of tokens drawn from the foreign vocabulary (same law, other words).
        length: Mean tokens per text.
    """

    ranks: np.ndarray
    zipf: float = ZIPF
    topical: bool = False
    foreign: float = 0.0
    length: float = MEAN_LENGTH
    seed: int = 0


def corpus(topical: bool) -> Corpus:
    return Corpus(np.arange(VOCAB), topical=topical)


@functools.lru_cache(maxsize=16)
def _word_buckets(offset: int, buckets: int) -> np.ndarray:
    """Bucket of each word ``w{offset + i}`` by the real hash."""
    bucket, _ = token_buckets([f"w{offset + i}" for i in range(VOCAB)], buckets)
    return bucket


@functools.lru_cache(maxsize=4)
def _topic_ranks(topics: int, seed: int = 77) -> np.ndarray:
    """Each topic's own ranking of the words (a permutation of the word ids per topic)."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(VOCAB) for _ in range(topics)])


def _law(zipf: float, words: int = VOCAB) -> np.ndarray:
    p = np.arange(1, words + 1, dtype=np.float64) ** -zipf
    return p / p.sum()


def _bucket_laws(c: Corpus, buckets: int) -> np.ndarray:
    """Per topic (one row when not topical), the bucket distribution of one token."""
    law = _law(c.zipf)
    own, foreign = _word_buckets(0, buckets), _word_buckets(FOREIGN, buckets)
    base = np.bincount(own[c.ranks], weights=law, minlength=buckets)
    other = np.bincount(foreign, weights=law, minlength=buckets)
    general = (1 - c.foreign) * base + c.foreign * other
    if not c.topical:
        return general[None, :]
    rows = []
    topic_law = _law(c.zipf, TOPIC_WORDS)
    for ranking in _topic_ranks(TOPICS):
        topic = np.bincount(own[ranking[:TOPIC_WORDS]], weights=topic_law, minlength=buckets)
        rows.append((1 - TOPIC_SHARE) * general + TOPIC_SHARE * ((1 - c.foreign) * topic + c.foreign * other))
    return np.array(rows)


def _lengths(rng: np.random.Generator, c: Corpus, n: int) -> np.ndarray:
    return 1 + rng.poisson(c.length - 1, size=n)


def window(rng: np.random.Generator, c: Corpus, n: int, buckets: int = DEFAULT_BUCKETS) -> VocabularyColumn:
    """A live window of ``n`` texts as the collector reads it from OTLP: bucket counts and the text count."""
    laws = _bucket_laws(c, buckets)
    lengths = _lengths(rng, c, n)
    topic = rng.integers(len(laws), size=n)
    tokens = np.bincount(topic, weights=lengths, minlength=len(laws)).astype(np.int64)
    counts = sum(rng.multinomial(t, law / law.sum()) for t, law in zip(tokens, laws, strict=True) if t)
    return VocabularyColumn({vocabulary_bucket(i): int(x) for i, x in enumerate(counts) if x}, n)


def reference(
    rng: np.random.Generator, c: Corpus, n: int, buckets: int = DEFAULT_BUCKETS
) -> VocabularyColumn:
    """A reference of ``n`` texts through a real sketch, token by token (so it carries its design effect)."""
    law = np.cumsum(_law(c.zipf))
    own, foreign = _word_buckets(0, buckets), _word_buckets(FOREIGN, buckets)
    lengths = _lengths(rng, c, n)
    text = np.repeat(np.arange(n), lengths)
    rank = np.minimum(np.searchsorted(law, rng.random(text.size)), VOCAB - 1)
    bucket = own[c.ranks[rank]]
    if c.topical:
        from_topic = rng.random(text.size) < TOPIC_SHARE
        topic = rng.integers(TOPICS, size=n)[text]
        topic_rank = np.searchsorted(np.cumsum(_law(c.zipf, TOPIC_WORDS)), rng.random(text.size))
        topic_rank = np.minimum(topic_rank, TOPIC_WORDS - 1)
        bucket = np.where(from_topic, own[_topic_ranks(TOPICS)[topic, topic_rank]], bucket)
    if c.foreign:
        bucket = np.where(rng.random(text.size) < c.foreign, foreign[rank], bucket)
    sketch = VocabularySketch(buckets)
    sketch.add_tokens(bucket, text, n)
    return VocabularyColumn.from_sketch(sketch)


def _reordered(c: Corpus, top: int, seed: int = 3) -> Corpus:
    ranks = c.ranks.copy()
    ranks[:top] = np.random.default_rng(seed).permutation(ranks[:top])
    return replace(c, ranks=ranks)


#: Scenario name -> the live corpus made from the reference corpus.
SCENARIOS = {
    "none": lambda c: c,
    "new vocabulary": lambda c: replace(c, foreign=1.0),
    "10 % new words": lambda c: replace(c, foreign=0.1),
    "flatter (Zipf 1.0)": lambda c: replace(c, zipf=1.0),
    "top 200 reordered": lambda c: _reordered(c, 200),
    "twice as long": lambda c: replace(c, length=2 * c.length),
}


def alarm_rates(
    method: DriftMethod,
    scenario: str,
    n_reference: int,
    sizes: list[int],
    windows: int,
    *,
    topical: bool = False,
    buckets: int = DEFAULT_BUCKETS,
    seed: int = 0,
    repeats: Sequence[int] | None = None,
) -> list[float]:
    """Per live window size, the share of windows in which ``method`` detects drift. ``windows`` fresh references
    (each shared by the sizes: each size's windows are still independent of each other), and against each
    reference ``repeats[i]`` live windows of ``sizes[i]`` (default 1): cheap extra windows where the live window,
    not the reference, is the noise (a small window against a large reference), as a reference build costs about
    25 comparisons."""
    counts = [1] * len(sizes) if repeats is None else list(repeats)
    if len(counts) != len(sizes) or min(counts) < 1:
        raise ValueError(f"repeats must give one count >= 1 per size, got {repeats}")
    rng = np.random.default_rng(seed)
    base = corpus(topical)
    live = SCENARIOS[scenario](base)
    hits = np.zeros(len(sizes))
    for _ in range(windows):
        ref = reference(rng, base, n_reference, buckets)
        hits += [
            sum(method.compare(ref, window(rng, live, n, buckets)).detected for _ in range(r))
            for n, r in zip(sizes, counts, strict=True)
        ]
    return (hits / (windows * np.array(counts))).tolist()


def alarm_rate(
    method: DriftMethod, scenario: str, n_reference: int, n: int, windows: int, **kwargs: Any
) -> float:
    """:func:`alarm_rates` for one window size."""
    return alarm_rates(method, scenario, n_reference, [n], windows, **kwargs)[0]


def retained(scenario: str, buckets: int, topical: bool = False) -> float:
    """Total-variation distance between the two corpora's bucket distributions over that between their word
    distributions: the share of a change that survives hashing (1: collisions hide nothing)."""
    base = corpus(topical)
    live = SCENARIOS[scenario](base)
    law = _law(base.zipf)
    words_ref = np.zeros(2 * VOCAB)
    words_ref[base.ranks] = law
    words_live = np.zeros(2 * VOCAB)
    live_law = _law(live.zipf)
    np.add.at(words_live, live.ranks, (1 - live.foreign) * live_law)
    words_live[VOCAB:] += live.foreign * live_law
    word_tv = 0.5 * np.abs(words_ref - words_live).sum()
    if word_tv == 0:
        return float("nan")
    p, q = (_bucket_laws(c, buckets).mean(axis=0) for c in (base, live))
    return float(0.5 * np.abs(p - q).sum() / word_tv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=400)
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=1, help="live windows of 100 texts per reference")
    parser.add_argument("--part", choices=["all", "calibration", "small", "power", "buckets"], default="all")
    args = parser.parse_args()
    parts = {"calibration", "small", "power", "buckets"} if args.part == "all" else {args.part}
    w, ref = args.windows, args.reference
    if "calibration" in parts:
        _calibration(w, ref, args.repeats)
    if "small" in parts:
        _small(max(w // 4, 25), ref)
    if "power" in parts:
        _power(max(w // 4, 50), ref)
    if "buckets" in parts:
        _buckets(max(w // 4, 50), ref)


def _calibration(w: int, ref: int, repeats: int = 1) -> None:
    counts = [repeats] + [1] * (len(SIZES) - 1)
    print(
        f"False alarms under no drift ({w} references of {ref:,} texts; against each {repeats} live window(s) of "
        f"{SIZES[0]} texts and one of each larger size; 256 buckets, alpha 0.05)"
    )
    print(f"| corpus | {' | '.join(f'n = {n:,}' for n in SIZES)} |")
    print(f"|---|{'---|' * len(SIZES)}")
    for topical in (False, True):
        rates = alarm_rates(Vocabulary(), "none", ref, SIZES, w, topical=topical, seed=1, repeats=counts)
        print(f"| {'topical' if topical else 'iid'} | {' | '.join(f'{r:.3f}' for r in rates)} |", flush=True)


def _small(w: int, ref: int, repeats: int = 8) -> None:
    sizes = [30, 100]
    print(
        f"\nFalse alarms on small windows ({w} references of {ref:,} texts, {repeats} windows per size on each)"
    )
    print(f"| corpus | {' | '.join(f'n = {n}' for n in sizes)} |")
    print(f"|---|{'---|' * len(sizes)}")
    for topical in (False, True):
        rates = alarm_rates(
            Vocabulary(), "none", ref, sizes, w, topical=topical, seed=5, repeats=[repeats] * 2
        )
        print(f"| {'topical' if topical else 'iid'} | {' | '.join(f'{r:.3f}' for r in rates)} |", flush=True)


def _power(pw: int, ref: int) -> None:
    print(f"\nDetection rate (topical corpus, {pw} windows per cell, 256 buckets)")
    print(f"| scenario | {' | '.join(f'n = {n:,}' for n in SIZES)} |")
    print(f"|---|{'---|' * len(SIZES)}")
    for s in [s for s in SCENARIOS if s != "none"]:
        rates = alarm_rates(Vocabulary(), s, ref, SIZES, pw, topical=True, seed=2)
        print(f"| {s} | {' | '.join(f'{r:.3f}' for r in rates)} |", flush=True)


def _buckets(pw: int, ref: int) -> None:
    counts = [64, 256, 1024]
    print(
        "\nBucket count (topical corpus): share of a change that hashing keeps (iid words), detection rate at "
    )
    print(f"n = 100 and 1,000 texts ({pw} windows per cell)")
    print(f"| scenario | {' | '.join(f'{b}: kept, n=100, n=1,000' for b in counts)} |")
    print(f"|---|{'---|' * len(counts)}")
    for s in ["10 % new words", "flatter (Zipf 1.0)", "top 200 reordered", "none"]:
        cells = []
        for b in counts:
            rates = alarm_rates(Vocabulary(), s, ref, [100, 1_000], pw, topical=True, buckets=b, seed=3)
            kept = retained(s, b) if s != "none" else float("nan")
            cells.append(f"{kept:.2f}, {rates[0]:.2f}, {rates[1]:.2f}")
        print(f"| {s} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
