"""The vocabulary sketch: a fixed seeded hash, bounded buckets, exact merges, no words kept or exported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from otel_mlmon.adapters import read_features
from otel_mlmon.sketch.vocabulary import DEFAULT_BUCKETS, VocabularySketch, token_buckets
from otel_mlmon.summary import Summary, SummaryConfig

WORDS = np.array([f"word{i}" for i in range(500)])


def _texts(seed: int, n: int, none_share: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = None if rng.random() < none_share else " ".join(rng.choice(WORDS, rng.integers(0, 15)))
    return out


def _state(sketch: VocabularySketch) -> dict:
    """The sketch's fields, its moments as the dense matrix (to_dict packs them)."""
    state = sketch.to_dict()
    del state["moments"]
    state["products"] = None if sketch.products is None else sketch.products.ravel().tolist()
    return state


def test_tokens_are_lower_cased_letter_and_digit_runs_that_never_cross_texts() -> None:
    bucket, text = token_buckets(["Hello, WORLD!", "hello-world", "ab", "cd", "Élan 42", "  "])
    assert text.tolist() == [0, 0, 1, 1, 2, 3, 4, 4]
    assert bucket[0] == bucket[2] and bucket[1] == bucket[3]  # case and punctuation do not matter
    (abcd,), _ = token_buckets(["abcd"])
    assert abcd not in (bucket[4], bucket[5]) or bucket[4] != bucket[5]  # "ab" + "cd" are two tokens
    assert ((bucket >= 0) & (bucket < DEFAULT_BUCKETS)).all()


def test_the_hash_is_pinned_and_the_same_in_every_process() -> None:
    """A seeded integer hash, not Python's salted hash(): other processes (other PYTHONHASHSEED) agree, and the
    recipe is pinned (a change would make old profiles incomparable: bump HASH_VERSION instead)."""
    words = ["the", "cat", "sat", "on", "mat", "naïve", "東京", "x1"]
    here = token_buckets([" ".join(words)])[0].tolist()
    code = (
        "import json; from otel_mlmon.sketch.vocabulary import token_buckets; "
        f"print(json.dumps(token_buckets([{' '.join(words)!r}])[0].tolist()))"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout) == here
    assert here == PINNED
    other_seed = token_buckets([" ".join(words)], seed=1)[0].tolist()
    assert other_seed != here


#: Buckets of "the cat sat on mat naïve 東京 x1" under the default hash (version 1, seed 20261203, 256 buckets).
PINNED = [166, 227, 148, 125, 3, 153, 37, 248]


def test_buckets_are_spread_evenly() -> None:
    """20 000 distinct words over 256 buckets: bucket loads look multinomial (chi-square within 4 sigma)."""
    bucket, _ = token_buckets([f"w{i}" for i in range(20_000)])
    counts = np.bincount(bucket, minlength=256)
    expected = 20_000 / 256
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert abs(chi2 - 255) < 4 * np.sqrt(2 * 255)


def test_merge_is_associative_commutative_and_equals_one_pass() -> None:
    parts = [_texts(seed, 200, none_share=0.1) for seed in (1, 2, 3)]
    sketches = []
    for texts in parts:
        s = VocabularySketch()
        s.update(texts)
        sketches.append(s)
    whole = VocabularySketch()
    whole.update(np.concatenate(parts))

    def merged(order: list[int]) -> VocabularySketch:
        out = VocabularySketch.from_dict(sketches[order[0]].to_dict())
        for i in order[1:]:
            out.merge(sketches[i])
        return out

    left = merged([0, 1, 2])
    right = VocabularySketch.from_dict(sketches[1].to_dict())
    right.merge(sketches[2])
    grouped = VocabularySketch.from_dict(sketches[0].to_dict())
    grouped.merge(right)
    for other in (grouped, merged([2, 0, 1]), whole):
        a, b = _state(left), _state(other)
        for key in ("counts", "products", "cross"):
            np.testing.assert_allclose(a.pop(key), b.pop(key), rtol=1e-12)
        assert a == b
    assert left.texts + left.missing == 600 and left.tokens == int(left.counts.sum())


def test_chunked_update_and_add_tokens_match() -> None:
    texts = _texts(4, 9000)  # more than one internal chunk of 4096 texts
    one = VocabularySketch()
    one.update(texts)
    bucket, text = token_buckets(list(texts))
    two = VocabularySketch()
    two.add_tokens(bucket, text, len(texts))
    assert _state(one) == _state(two)


def test_products_are_the_texts_count_vectors_outer_products_and_only_profiles_keep_them() -> None:
    texts = list(_texts(9, 40))
    sketch = VocabularySketch()
    sketch.update(np.array(texts, dtype=object))
    bucket, text = token_buckets(texts)
    dense = np.zeros((40, DEFAULT_BUCKETS))
    np.add.at(dense, (text, bucket), 1.0)
    np.testing.assert_allclose(sketch.products, dense.T @ dense)
    lengths = dense.sum(axis=1)
    np.testing.assert_allclose(sketch.cross, dense.T @ lengths)
    light = VocabularySketch(moments=False)
    light.update(np.array(texts, dtype=object))
    assert light.products is None and light.share_covariance() is None
    np.testing.assert_array_equal(light.counts, sketch.counts)
    sketch.merge(light)  # moments of part of the texts are no moments
    assert sketch.products is None and VocabularySketch.from_dict(sketch.to_dict()).products is None
    sdk = Summary(SummaryConfig(text=["review"]))
    sdk.add_features(read_features([{"review": t} for t in texts]))
    assert sdk.vocabularies["review"].products is None
    from otel_mlmon import Profile

    profile = Profile.from_data([{"review": t} for t in texts], model="m", text=["review"])
    assert profile.summary.vocabularies["review"].share_covariance() is not None


def test_bounds_and_validation() -> None:
    for bad in (15, 1025, 256.0, True):
        with pytest.raises(ValueError):
            VocabularySketch(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        VocabularySketch(seed=-1)
    a, b = VocabularySketch(64), VocabularySketch(128)
    with pytest.raises(ValueError):
        a.merge(b)
    sketch = VocabularySketch(64)
    sketch.update(np.array([" ".join(f"w{i}" for i in range(5000))], dtype=object))
    assert len(sketch.bucket_counts()) <= 64 and sketch.tokens == 5000


def test_round_trip_and_malformed_input() -> None:
    sketch = VocabularySketch()
    sketch.update(_texts(5, 300, none_share=0.2))
    again = VocabularySketch.from_dict(json.loads(json.dumps(sketch.to_dict())))
    assert _state(again) == _state(sketch)
    broken = sketch.to_dict()
    broken["counts"] = broken["counts"][:-1]
    with pytest.raises(ValueError):
        VocabularySketch.from_dict(broken)
    with pytest.raises(ValueError):
        VocabularySketch.from_dict({**sketch.to_dict(), "version": 99})
    with pytest.raises(ValueError):
        VocabularySketch.from_dict({**sketch.to_dict(), "tokens": sketch.tokens + 1})


def test_design_effect_is_one_for_independent_tokens_and_grows_when_texts_repeat_words() -> None:
    rng = np.random.default_rng(6)
    independent = VocabularySketch()
    independent.update(np.array([" ".join(rng.choice(WORDS, 20)) for _ in range(3000)], dtype=object))
    repeating = VocabularySketch()  # each text repeats 4 words five times each
    repeating.update(np.array([" ".join(list(rng.choice(WORDS, 4)) * 5) for _ in range(3000)], dtype=object))
    assert abs(independent.design_effect() - 1.0) < 0.1
    assert repeating.design_effect() > 3.0


def test_a_summary_keeps_and_exports_bucket_counts_never_words() -> None:
    texts = ["the secretword appears here", "another secretword", None]
    summary = Summary(SummaryConfig(text=["review"]))
    summary.add_features(read_features([{"review": t, "n": 1.0} for t in texts]))
    sketch = summary.vocabularies["review"]
    assert (sketch.texts, sketch.missing, sketch.tokens) == (2, 1, 6)
    ((name, column),) = summary.vocabulary_columns()
    assert name == "review.vocabulary" and column.kind == "categorical" and column.count == 6
    assert all(label.startswith("h") and label[1:].isdigit() for label, _ in column.categorical.top())
    data = json.dumps(summary.to_dict())
    assert "secretword" not in data and "review" in data
    again = Summary.from_dict(json.loads(data))
    assert _state(again.vocabularies["review"]) == _state(sketch)
    merged = Summary(SummaryConfig(text=["review"]))
    merged.merge(summary)
    merged.merge(again)
    assert merged.vocabularies["review"].tokens == 12


def test_vocabulary_buckets_none_turns_the_sketch_off() -> None:
    summary = Summary(SummaryConfig(text=["review"], vocabulary_buckets=None))
    summary.add_features(read_features([{"review": "a b c"}]))
    assert summary.vocabularies == {} and "review.chars" in summary.features
    with pytest.raises(ValueError):
        SummaryConfig(vocabulary_buckets=8)
