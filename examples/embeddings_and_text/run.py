"""Embeddings and free text through the collector: normal traffic, then shifted traffic, and the drift it finds.

Run (from the repository root, after ``pip install -e '.[collector,examples]'``; 15-30 s):
    python examples/embeddings_and_text/run.py
    python examples/embeddings_and_text/run.py --json findings.json --profiles profiles

A support assistant (assistant.py) serves three monitored models: a TF-IDF topic classifier and an embedding model
(a deterministic stand-in, models.py) on the questions' text, and a FAQ search on the embeddings. The run trains
them on a synthetic corpus, saves the reference profiles of the training questions, starts an otel-mlmon collector
with a drift section (collector.yaml) on a free loopback port, sends it the SDK's telemetry over OTLP/HTTP, and
asks it for drift twice: after normal traffic (questions like the training ones) and after shifted traffic
(another topic, texts about twice as long). It prints what the collector compared and found.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import otel_mlmon_collector as mlc
from assistant import VERSION, FaqAssistant
from models import TOPICS, HashingEmbedder, nearest, texts, train_classifier

import otel_mlmon

HERE = Path(__file__).resolve().parent
MODELS = ("topic-classifier", "embedder", "faq-search")


class Tally:
    """The collector's downstream in this run: counts the OTLP requests it would forward. A deployment names its
    backends under ``exporters:`` in the YAML instead."""

    name = "tally"

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}

    def export(self, request: mlc.OtlpRequest) -> mlc.ExportResult:
        self.requests[request.signal] = self.requests.get(request.signal, 0) + 1
        return mlc.ExportResult.success()

    def shutdown(self) -> None:
        pass


def save_profiles(directory: Path, assistant: FaqAssistant, questions: list[str]) -> None:
    """The reference of each model: its inputs (and outputs) on the training questions, declared as in
    assistant.py so that every column has the same kind on both sides."""
    vectors = assistant.embedder.embed(questions)
    text = {"feature_names": ["query"], "text": ["query"], "version": VERSION}
    profiles = [
        otel_mlmon.Profile.from_data(
            questions,
            assistant.classifier.predict_proba(questions),
            model="topic-classifier",
            classes=TOPICS,
            **text,
        ),
        otel_mlmon.Profile.from_data(questions, vectors, model="embedder", **text),
        otel_mlmon.Profile.from_data(
            vectors,
            assistant.faq_ids[nearest(vectors, assistant.faq_vectors)],
            model="faq-search",
            version=VERSION,
        ),
    ]
    for profile in profiles:
        profile.save(directory / f"{profile.model}-{VERSION}.json.gz")


def send(assistant: FaqAssistant, rng: np.random.Generator, rows: int, batch: int, shifted: float) -> int:
    """``rows`` questions in batches of ``batch`` (a ``shifted`` share about a new topic): three monitored calls
    per batch. Returns the calls made."""
    calls = 0
    for start in range(0, rows, batch):
        questions, _ = texts(rng, min(batch, rows - start), shifted=shifted)
        assistant.answer(questions)
        calls += 3
    return calls


def findings(evaluation: Any) -> dict[str, Any]:
    """What one evaluation found per model: every compared column with its decisive check."""
    out: dict[str, Any] = {}
    for model in MODELS:
        try:
            stream = evaluation.stream(model, VERSION)
        except KeyError:
            out[model] = {"rows": 0, "columns": []}
            continue
        columns = []
        for column in stream.columns:
            result = column.decisive
            name = column.name if isinstance(column.name, str) else f"{column.name[0]}[{column.name[1]}]"
            columns.append(
                {
                    "target": column.target,
                    "name": name,
                    "kind": column.kind,
                    "detected": bool(column.detected),
                    "method": result.method if result else None,
                    # For the vector method, which of its two tests decided (centroid or sliced KS).
                    "decided_by": result.details.get("decided_by") if result else None,
                    "score": _number(result.score) if result else None,
                    "p_value": _number(result.p_value) if result else None,
                    "n_reference": result.n_reference if result else 0,
                    "n_current": result.n_current if result else 0,
                }
            )
        out[model] = {"rows": stream.rows, "columns": columns}
    return out


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def show(phase: str, found: dict[str, Any]) -> None:
    """Print one phase's findings: per model the columns compared and those with drift."""
    print(f"\n== {phase} traffic ==")
    for model, stream in found.items():
        drifted = [c for c in stream["columns"] if c["detected"]]
        print(
            f"{model}: {stream['rows']} rows, {len(stream['columns'])} columns compared, "
            f"drift in {len(drifted) or 'none'}"
        )
        for c in drifted:
            p = c["p_value"]
            tested = "" if p is None else ("  p<1e-300" if p == 0 else f"  p={p:.2g}")
            method = c["method"] + (f" ({c['decided_by']})" if c["decided_by"] else "")
            print(
                f"  DRIFT {c['target']:<10} {c['name']:<22} {method:<22} score={c['score']:<8.3g}{tested}"
                f"  ({c['n_current']} rows vs {c['n_reference']} in the reference)"
            )


def wait_for_new_view(window_seconds: float, windows: int) -> None:
    """Sleep until the evaluation view (the last ``windows`` windows, aligned to the clock) holds nothing sent so
    far: a point goes to the window of the middle of the interval it covers, at most one window back."""
    now = time.time()
    fresh = (math.floor(now / window_seconds) + windows) * window_seconds
    time.sleep(max(0.0, fresh - now))


def check_rows(found: dict[str, Any], rows: int, phase: str) -> None:
    """Say so when an evaluation did not see every row of its phase (points outside the evaluation view)."""
    for model, stream in found.items():
        if stream["rows"] != rows:
            print(
                f"note: the {phase} evaluation of {model} saw {stream['rows']} of {rows} rows: its points fell "
                "outside the evaluation view (a very busy machine); raise evaluation_windows in collector.yaml"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="questions per phase (default 1000)")
    parser.add_argument("--batch-size", type=int, default=50, help="questions per call (default 50)")
    parser.add_argument("--train-rows", type=int, default=3000, help="training questions (default 3000)")
    parser.add_argument(
        "--shift",
        type=float,
        default=0.3,
        help="share of the shifted phase's questions about a new topic, twice as long (default 0.3)",
    )
    parser.add_argument(
        "--seed", type=int, default=12, help="seed of the corpus and the traffic (default 12)"
    )
    parser.add_argument(
        "--profiles", type=Path, help="keep the reference profiles here (default: a temp dir)"
    )
    parser.add_argument("--json", type=Path, help="also write the findings of both phases to this file")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    questions, topics = texts(rng, args.train_rows)
    assistant = FaqAssistant(train_classifier(questions, topics), HashingEmbedder())
    with tempfile.TemporaryDirectory(prefix="otel-mlmon-example-") as tmp:
        profiles = args.profiles or Path(tmp)
        profiles.mkdir(parents=True, exist_ok=True)
        save_profiles(profiles, assistant, questions)
        config = mlc.load_config(
            HERE / "collector.yaml",
            env={"OTEL_MLMON_HTTP_ENDPOINT": "127.0.0.1:0", "OTEL_MLMON_PROFILES": str(profiles)},
        )
        downstream = Tally()
        collector = mlc.Collector(config, exporters={"tally": downstream})
        collector.start()
        print(f"collector on http://{collector.http_endpoint}; reference profiles in {profiles}")
        # The SDK sends spans, metrics and logs there over OTLP/HTTP (explicit endpoint: wins over OTEL_*).
        telemetry = otel_mlmon.configure(
            service_name="faq-assistant", endpoint=f"http://{collector.http_endpoint}"
        )
        found: dict[str, Any] = {}
        try:
            windows = config.drift.windows
            for phase, shifted in (("normal", 0.0), ("shifted", args.shift)):
                if shifted:
                    wait_for_new_view(windows.window_seconds, windows.evaluation_windows)
                    telemetry.force_flush()  # the shifted phase's points start after this export
                started = time.perf_counter()
                calls = send(assistant, rng, args.rows, args.batch_size, shifted)
                telemetry.force_flush()
                print(
                    f"\n{phase}: {args.rows} questions, {calls} monitored calls in "
                    f"{time.perf_counter() - started:.1f} s"
                )
                found[phase] = findings(collector.drift.evaluate_now())
                show(phase, found[phase])
                check_rows(found[phase], args.rows, phase)
        finally:
            telemetry.shutdown()
            collector.shutdown(5)
    print(f"\nforwarded downstream (OTLP requests): {downstream.requests}")
    if args.json is not None:
        args.json.write_text(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
