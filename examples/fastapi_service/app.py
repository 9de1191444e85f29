"""A FastAPI service serving a scikit-learn classifier, monitored with otel-mlmon.

Run from this directory (see README.md): ``gunicorn -c gunicorn.conf.py app:app`` or
``uvicorn app:app --workers 2``. Telemetry goes where the ``OTEL_*`` variables say (OTLP to
``OTEL_EXPORTER_OTLP_ENDPOINT``, default ``http://localhost:4318``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import otel_mlmon

MODEL_NAME = "breast-cancer"
MODEL_VERSION = os.environ.get("MODEL_VERSION", "1")


def train() -> tuple[object, np.ndarray, list[str], list[str]]:
    """Train the classifier on the dataset that ships with scikit-learn (no download); return it with its X_train."""
    data = load_breast_cancer()
    X_train, _, y_train, _ = train_test_split(data.data, data.target, test_size=0.25, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)
    return (
        model,
        X_train,
        [str(name) for name in data.feature_names],
        [str(name) for name in data.target_names],
    )


# Trained and instrumented at import time: with gunicorn's preload_app the master does this once and the workers
# share it. Instrumenting before fork is safe (otel-mlmon resets its aggregates in each child); the exporters are
# created per worker in the lifespan below.
model, X_train, FEATURES, CLASSES = train()
if os.environ.get("REFERENCE_DIR"):
    # The reference the collector's drift section compares live traffic with (saved before instrumenting, so
    # scoring the training set is not counted as traffic). Written atomically: a watching collector never reads
    # half a file.
    otel_mlmon.Profile.from_data(
        X_train,
        model.predict_proba(X_train),
        model=MODEL_NAME,
        version=MODEL_VERSION,
        feature_names=FEATURES,
        classes=CLASSES,
    ).save(Path(os.environ["REFERENCE_DIR"]) / f"{MODEL_NAME}-{MODEL_VERSION}.json.gz")
otel_mlmon.instrument(
    model,
    model=MODEL_NAME,
    version=MODEL_VERSION,
    methods=["predict_proba"],
    feature_names=FEATURES,
    classes=CLASSES,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Set up OpenTelemetry in the worker process itself, and flush it when the worker stops.

    Under gunicorn each worker is forked from the master; under ``uvicorn --workers`` each is a fresh process. The
    lifespan runs in the worker in both cases, so every worker gets its own exporter threads and its own resource
    (``service.instance.id``): its cumulative series never collide with another worker's.
    """
    os.environ.setdefault("OTEL_SERVICE_NAME", "cancer-screening")
    telemetry = otel_mlmon.configure()
    try:
        yield
    finally:
        telemetry.shutdown()  # sends the last spans and metrics of this worker


app = FastAPI(title="cancer screening", lifespan=lifespan)


class PredictRequest(BaseModel):
    """Rows to score, each with the model's features in the order ``GET /model`` lists."""

    rows: list[list[float]] = Field(min_length=1)


class PredictResponse(BaseModel):
    """One predicted class and its probability per row."""

    predictions: list[str]
    probabilities: list[float]


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the model is loaded at import, so answering means ready."""
    return {"status": "ok"}


@app.get("/model")
def describe() -> dict[str, object]:
    """The model's identity and the feature order ``/predict`` expects."""
    return {"model": MODEL_NAME, "version": MODEL_VERSION, "features": FEATURES, "classes": CLASSES}


@app.post("/predict", response_model=PredictResponse)
def predict(request: PredictRequest) -> PredictResponse:
    """Score a batch of rows (a plain ``def``: FastAPI runs it in a thread, off the event loop)."""
    X = np.asarray(request.rows, dtype=float)
    try:
        proba = model.predict_proba(X)  # monitored: span, latency, rows, feature and confidence sketches
    except ValueError as exc:  # e.g. wrong number of features: recorded as error.type=ValueError, then a 422
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    best = proba.argmax(axis=1)
    return PredictResponse(
        predictions=[CLASSES[i] for i in best],
        probabilities=[float(p) for p in proba[np.arange(len(best)), best]],
    )
