"""The collector's state in words a first user reads: start-up lines, a periodic drift summary, drift on /health.

With a downstream backend configured, nothing about drift shows on the collector's own terminal: the findings
leave as OTLP. A user setting it up needs to see, locally, whether drift and ground truth are on, where the
reference profiles come from and how many were found, and, as traffic flows, what the engine concludes. This
module turns the engine's objects into those lines and into the JSON the health endpoint serves; it decides
nothing and changes nothing.
"""

from __future__ import annotations

import time
from typing import Any

from ._drift_engine import DriftProcessor, Evaluation, StreamDrift
from ._references import ChainedReferences, DirectoryReferenceStore, TrailingWindowReference

__all__ = ["drift_state", "drift_summary", "reference_sources", "startup_lines"]

_MAX_NAMES = 5


def reference_sources(provider: Any) -> tuple[list[str], int]:
    """Where references are read from, one phrase each, and how many profiles were found there now.

    Reads a profile directory once (``refresh(force=True)``), as the first evaluation would.
    """
    if isinstance(provider, ChainedReferences):
        phrases: list[str] = []
        total = 0
        for inner in provider.providers:
            more, count = reference_sources(inner)
            phrases += more
            total += count
        return phrases, total
    if isinstance(provider, DirectoryReferenceStore):
        provider.refresh(force=True)
        found = sorted(f"{r.model} {r.version or '(any version)'}" for r in provider.references())
        if not provider.directory.is_dir():
            return [f"directory {provider.directory} (it does not exist yet; polled for new profiles)"], 0
        skipped = len(provider.errors)
        phrase = f"directory {provider.directory}: {len(found)} profile(s)"
        if found:
            phrase += f" ({_names(found)})"
        if skipped:
            phrase += f", {skipped} unreadable file(s) skipped (see the warnings above)"
        return [phrase], len(found)
    if isinstance(provider, TrailingWindowReference):
        return ["earlier production traffic (trailing_reference)"], 0
    uri = getattr(provider, "tracking_uri", None)
    if uri is not None:
        return [f"MLflow registry {uri} (profiles attached to model versions, read when a model is seen)"], 0
    return [], 0


def startup_lines(drift: DriftProcessor | None, ground_truth: Any) -> list[tuple[bool, str]]:
    """``(is_warning, line)`` about drift and ground truth, for the collector's start-up log."""
    lines: list[tuple[bool, str]] = []
    if drift is None:
        lines.append((False, "drift: off (the configuration has no drift: section)"))
    else:
        config = drift.config
        windows = config.windows
        sources, found = reference_sources(drift.references)
        lines.append(
            (
                False,
                f"drift: on, evaluated every {config.evaluation_interval_seconds:g} s over the last "
                f"{windows.evaluation_windows} windows of {windows.window_seconds:g} s; references from "
                + ("; ".join(sources) if sources else "nowhere (set drift.references.directory)"),
            )
        )
        if found == 0 and config.references_directory is not None and config.trailing_reference is None:
            lines.append(
                (
                    True,
                    "drift: no reference profile found yet, so no model is compared until one appears; build "
                    "one with `otel-mlmon profile build` and put it in the references directory",
                )
            )
    if ground_truth is None:
        lines.append((False, "ground truth: off (the configuration has no ground_truth: section)"))
    else:
        config = ground_truth.config
        lines.append(
            (
                False,
                f"ground truth: on, labels joined to predictions for {config.ttl_seconds / 3600:g} h, "
                f"performance every {config.evaluation_interval_seconds:g} s, state in {config.path}; "
                f"reference performance from {_performance_source(drift, ground_truth)}",
            )
        )
    return lines


def _performance_source(drift: DriftProcessor | None, ground_truth: Any) -> str:
    """Where the alerts' reference performance comes from: the profiles' ``performance`` fields."""
    own = getattr(ground_truth, "references", None)
    if isinstance(own, DirectoryReferenceStore):
        return f"the profiles in {own.directory} (ground_truth.references)"
    if drift is not None:
        return "the drift references' profiles (built with labels: Profile.from_data(..., labels=...))"
    return "nowhere (no drift: section and no ground_truth.references: only the change detector runs)"


def drift_summary(evaluation: Evaluation | None) -> str:
    """One line: per monitored model, what drifted out of how many features, and the rows compared."""
    if evaluation is None:
        return "drift: no ml.* metrics received yet (is the SDK exporting its metrics to this collector?)"
    if not evaluation.streams:
        return "drift: no model sent ml.* metrics within the evaluation windows"
    stamp = time.strftime("%H:%M:%SZ", time.gmtime(evaluation.time))
    return f"drift at {stamp}: " + "; ".join(_stream_phrase(s) for s in evaluation.streams)


def drift_state(drift: DriftProcessor | None) -> dict[str, Any]:
    """The drift part of ``GET /health``: on or off, the last evaluation's time and each model's findings."""
    if drift is None:
        return {"enabled": False}
    evaluation = drift.last_evaluation
    state: dict[str, Any] = {"enabled": True, "evaluated_at": None, "models": []}
    if evaluation is None:
        return state
    state["evaluated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(evaluation.time))
    for stream in evaluation.streams:
        checked = [c for c in stream.columns if c.target == "feature" and c.detected is not None]
        state["models"].append(
            {
                "model": stream.key.model,
                "version": stream.key.version,
                "operation": stream.key.operation,
                "rows": stream.rows,
                "reference": stream.reference.source if stream.reference is not None else None,
                "features_checked": len(checked),
                "features_drifted": [_plain(n) for n in stream.drifted("feature")],
                "outputs_drifted": [
                    _plain(c.name) for c in stream.columns if c.target != "feature" and c.detected
                ],
            }
        )
    return state


def _stream_phrase(stream: StreamDrift) -> str:
    name = stream.key.model + (f" {stream.key.version}" if stream.key.version is not None else "")
    if stream.reference is None:
        return f"{name}: no reference profile, not compared ({stream.rows} rows)"
    checked = [c for c in stream.columns if c.target == "feature" and c.detected is not None]
    drifted = [_plain(n) for n in stream.drifted("feature")]
    outputs = [_plain(c.name) for c in stream.columns if c.target != "feature" and c.detected]
    phrase = f"{name}: {len(drifted)} of {len(checked)} features drifted"
    if drifted:
        phrase += f" ({_names(drifted)})"
    if outputs:
        phrase += f", outputs drifted ({_names(outputs)})"
    return phrase + f", {stream.rows} rows"


def _plain(name: Any) -> str:
    """``age``, or ``prediction[fraud]`` for the confidence of one predicted class."""
    return f"{name[0]}[{name[1]}]" if isinstance(name, tuple) else str(name)


def _names(names: list[str]) -> str:
    more = len(names) - _MAX_NAMES
    return ", ".join(names[:_MAX_NAMES]) + (f", and {more} more" if more > 0 else "")
