"""The models of the embeddings-and-text example: a text generator, an embedding model and a topic classifier.

Nothing is downloaded. The corpus is synthetic: support questions about four topics (billing, shipping, account,
product) put together from small vocabularies, and a ``shifted`` generator that writes about another topic
(insurance claims) in texts about twice as long. The classifier is scikit-learn's TF-IDF + logistic regression
trained on that corpus.

The embedding model is a **deterministic stand-in**, not a pretrained network (no weights can be fetched where this
example runs): character 3- to 5-grams hashed into 8 192 buckets, projected on 384 seeded Gaussian directions and
L2-normalised, like the 384-dimensional sentence embeddings of small sentence-transformer models. Texts sharing
words land close together, so a change of topic moves the embeddings as a real model's would. Swap in a real
model by replacing :meth:`HashingEmbedder.embed` (any function from texts to an ``(n, d)`` float array).
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

__all__ = ["FAQ", "TOPICS", "HashingEmbedder", "nearest", "texts", "train_classifier"]

#: The classifier's classes, sorted (the order of ``predict_proba``'s columns).
TOPICS = ("account", "billing", "product", "shipping")


def _phrases(text: str) -> tuple[str, ...]:
    """The phrases of ``text``, separated by ``|``."""
    return tuple(text.split("|"))


# Per topic: nouns, and the problems they may have.
_VOCABULARY = {
    "billing": (
        _phrases("invoice|charge|refund|payment|receipt|subscription|card|bill|price|discount"),
        _phrases(
            "was charged twice|has the wrong amount|did not go through|shows an old price|was refused by my bank|"
            "has not been refunded"
        ),
    ),
    "shipping": (
        _phrases("parcel|delivery|courier|package|order|tracking|address|shipment|box|label"),
        _phrases(
            "has not arrived|went to the wrong address|is stuck in transit|arrived damaged|shows no tracking update|"
            "was returned to sender"
        ),
    ),
    "account": (
        _phrases("password|login|email|profile|account|username|settings|phone|security|code"),
        _phrases(
            "cannot be reset|is locked|does not accept my code|was changed without me|keeps logging me out|"
            "shows someone else's name"
        ),
    ),
    "product": (
        _phrases("blender|kettle|lamp|charger|speaker|headphones|toaster|battery|screen|cable"),
        _phrases(
            "stopped working|makes a strange noise|does not turn on|overheats after a minute|is missing a part|"
            "broke after a week"
        ),
    ),
}
#: The shifted traffic's topic: nothing the models were trained on.
_SHIFTED = (
    _phrases("claim|policy|premium|deductible|adjuster|coverage|accident|insurer|beneficiary|underwriting"),
    _phrases(
        "was denied without explanation|needs a medical report|is pending review for weeks|excludes water damage|"
        "was assessed below the repair cost|requires a police statement"
    ),
)
_OPENERS = _phrases("hello|hi|good morning|hey|dear support|excuse me")
_CLOSERS = _phrases("please help|thanks|what should I do|can you check|any update|thank you")

#: The FAQ entries the search step returns: two per topic, as (id, text).
FAQ: tuple[tuple[str, str], ...] = (
    ("billing-refund", "how do I get a refund for a payment or a charge on my card"),
    ("billing-invoice", "where can I find my invoice receipt and subscription price"),
    ("shipping-tracking", "my parcel or package has no tracking update from the courier"),
    ("shipping-address", "how do I change the delivery address of an order shipment"),
    ("account-password", "how do I reset my password or login code"),
    ("account-locked", "my account is locked and my email or phone was changed"),
    ("product-broken", "my device stopped working or does not turn on"),
    ("product-return", "how do I return a product that is missing a part or broke"),
)


def texts(rng: np.random.Generator, n: int, shifted: float = 0.0) -> tuple[list[str], list[str]]:
    """``n`` support questions and the topic of each.

    Args:
        shifted: Share of the questions that are about insurance claims instead (a topic the models never saw),
            in texts about twice as long; their topic is ``"insurance"``.
    """
    out, topics = [], []
    for _ in range(n):
        new = rng.random() < shifted
        topic = "insurance" if new else TOPICS[rng.integers(0, len(TOPICS))]
        nouns, problems = _SHIFTED if new else _VOCABULARY[topic]
        sentences = [
            f"{rng.choice(_OPENERS)}, my {rng.choice(nouns)} {rng.choice(problems)}",
            *(
                f"the {rng.choice(nouns)} {rng.choice(problems)} and the {rng.choice(nouns)} {rng.choice(problems)}"
                for _ in range(2 if new else 0)
            ),
            f"{rng.choice(_CLOSERS)}",
        ]
        if rng.random() < 0.5:  # half the questions mention a second item of the same topic
            sentences.insert(1, f"also the {rng.choice(nouns)} {rng.choice(problems)}")
        out.append(". ".join(sentences).capitalize() + ("?" if rng.random() < 0.5 else "."))
        topics.append(topic)
    return out, topics


def train_classifier(train_texts: list[str], train_topics: list[str]) -> Pipeline:
    """TF-IDF (words and word pairs) + logistic regression; ``classes_`` is :data:`TOPICS`."""
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=1000)
    ).fit(train_texts, train_topics)


class HashingEmbedder:
    """A deterministic stand-in for a sentence-embedding model: texts -> ``(n, dim)`` unit vectors (float32).

    Args:
        dim: Embedding width (384, as small sentence-transformer models).
        buckets: Hashed character n-gram buckets before the projection.
        seed: Seed of the projection (the same seed, the same embeddings in every process).
    """

    def __init__(self, dim: int = 384, buckets: int = 8192, seed: int = 12) -> None:
        self.dim = dim
        # MurmurHash3 (stable across processes, unlike Python's hash()) of character 3- to 5-grams.
        self._hasher = HashingVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), n_features=buckets, alternate_sign=False, norm="l2"
        )
        self._projection = np.random.default_rng(seed).standard_normal((buckets, dim)).astype(
            np.float32
        ) / np.sqrt(dim)

    def embed(self, batch: list[str]) -> np.ndarray:
        """The embeddings of ``batch``, one unit-norm row per text."""
        vectors = np.asarray(self._hasher.transform(batch) @ self._projection, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def nearest(queries: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Row index in ``index`` of each query's nearest entry by cosine similarity (unit vectors: dot product)."""
    return np.argmax(queries @ index.T, axis=1)
