"""Zero-code instrumentation of Hugging Face transformers pipelines, on a tiny model built here (nothing is
downloaded: a randomly initialised one-layer BERT and a tokenizer over a twelve-word vocabulary)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_mlmon import conventions as conv

from ._helpers import predictions_by_model, span_names

pytestmark = pytest.mark.heavy
pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = ["good", "bad", "great", "awful", "movie", "film", "the", "a", "was", "is", "very", "not"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A text-classification model and its tokenizer saved to a directory, as a trained one would be."""
    import torch

    directory = tmp_path_factory.mktemp("tiny-bert")
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab))
    config = transformers.BertConfig(
        vocab_size=len(WORDS) + 5,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture
def offline(monkeypatch):
    """No model hub: the hub client's offline switch is on (read at import, so set on its module too), so any
    download attempt fails the test instead of reaching the network."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert huggingface_hub.constants.is_offline_mode()


def test_pipeline_call_is_one_span_and_its_model_is_not_counted_again(
    telemetry, instrumented, model_dir, offline
):
    """A text-classification pipeline's call is one span ``predict TextClassificationPipeline`` counting the
    texts; the torch modules of its model run inside it uncounted; its outputs are summarised (labels as classes,
    scores as a distribution)."""
    instrumented()
    classify = transformers.pipeline("text-classification", model=str(model_dir), tokenizer=str(model_dir))
    assert telemetry.spans() == []  # loading (and the model's eval-mode setup) is not inference
    out = classify(["the movie was good", "a very awful film", "not great"])
    assert len(out) == 3 and {o["label"] for o in out} <= {"negative", "positive"}
    classify("great")
    assert span_names(telemetry) == ["predict TextClassificationPipeline"] * 2
    assert [s.attributes[conv.ATTR_BATCH_SIZE] for s in telemetry.spans()] == [3, 1]
    assert predictions_by_model(telemetry) == {"TextClassificationPipeline": 4}
    (rows,) = telemetry.points(conv.METRIC_SUMMARY_ROWS)
    assert rows.value == 4
    labels = telemetry.points(conv.METRIC_PREDICTION_CLASS_COUNT, {conv.ATTR_OUTPUT_NAME: "label"})
    assert sum(p.value for p in labels) == 4
    assert telemetry.points(conv.METRIC_PREDICTION_DISTRIBUTION, {conv.ATTR_OUTPUT_NAME: "score"})


def test_named_pipeline(telemetry, instrumented, model_dir, offline):
    """model_names maps the pipeline class; an ml_model_name on the pipeline wins over it."""
    instrumented(model_names={"TextClassificationPipeline": "sentiment"})
    classify = transformers.pipeline("text-classification", model=str(model_dir), tokenizer=str(model_dir))
    classify("good")
    classify.ml_model_name, classify.ml_model_version = "reviews", "2"
    classify("bad")
    assert span_names(telemetry) == ["predict sentiment", "predict reviews"]
    assert telemetry.spans()[1].attributes[conv.ATTR_MODEL_VERSION] == "2"
