"""The monitored service: a support assistant that routes questions by topic and finds the closest FAQ entry.

Three monitored entry points, one per model, each a span, latency/row metrics and sketches sent over OTLP:

* ``topic-classifier`` takes free text: the questions become the text descriptors ``query.chars``,
  ``query.words``, ... (numbers only, never words), its output the predicted topic and its confidence.
* ``embedder`` takes the same text (the same descriptors) and returns 384-dimensional embeddings: an embedding
  output is one vector output column, ``prediction`` (64 seeded projections and the norm, like a vector input).
* ``faq-search`` takes those embeddings: a wide unnamed float matrix is one vector column, ``vector``, summarised
  by 64 seeded projections and the norm (66 series whatever the width); its output is the FAQ entry found.

The embeddings are watched twice: as the embedder's output (``prediction``) and where they enter the next model
(``vector``); both are compared with their reference as a whole by the collector.
"""

from __future__ import annotations

import numpy as np
from models import FAQ, TOPICS, HashingEmbedder, nearest

import otel_mlmon

__all__ = ["VERSION", "FaqAssistant"]

VERSION = "1"


class FaqAssistant:
    """Answers batches of support questions: the topic of each and the nearest FAQ entry."""

    def __init__(self, classifier: object, embedder: HashingEmbedder) -> None:
        self.classifier = classifier
        self.embedder = embedder
        self.faq_ids = np.array([faq_id for faq_id, _ in FAQ])
        self.faq_vectors = embedder.embed([text for _, text in FAQ])

    @otel_mlmon.monitor(
        model="topic-classifier", version=VERSION, feature_names=["query"], text=["query"], classes=TOPICS
    )
    def classify(self, queries: list[str]) -> np.ndarray:
        """Probability of each topic (columns in :data:`TOPICS` order)."""
        return self.classifier.predict_proba(queries)

    @otel_mlmon.monitor(model="embedder", version=VERSION, feature_names=["query"], text=["query"])
    def embed(self, queries: list[str]) -> np.ndarray:
        """One 384-dimensional unit vector per question."""
        return self.embedder.embed(queries)

    @otel_mlmon.monitor(model="faq-search", version=VERSION)
    def search(self, query_vectors: np.ndarray) -> np.ndarray:
        """The id of the FAQ entry nearest to each query vector."""
        return self.faq_ids[nearest(query_vectors, self.faq_vectors)]

    def answer(self, queries: list[str]) -> list[tuple[str, str]]:
        """(topic, FAQ id) per question: three monitored calls."""
        topics = np.asarray(TOPICS)[np.argmax(self.classify(queries), axis=1)]
        return list(zip(topics, self.search(self.embed(queries))))
