"""Process-wide registry of inference streams, and the fork handler that resets all local state in a child."""

from __future__ import annotations

import os
import sys
import threading
import weakref
from typing import Any

from otel_mlmon import _records as records
from otel_mlmon._aggregate import InferenceStream
from otel_mlmon._faults import faults
from otel_mlmon._records import PredictionRecorder
from otel_mlmon._summarize import SummaryStream
from otel_mlmon.summary import SummaryConfig

__all__ = ["inference_stream", "prediction_recorder", "summary_stream"]

_Key = tuple[tuple[str, str], ...]
# Per meter provider (weakly held: a provider's streams go with it; None stands for the global provider).
_streams: weakref.WeakKeyDictionary[Any, dict[_Key, InferenceStream]] = weakref.WeakKeyDictionary()
_summaries: weakref.WeakKeyDictionary[Any, dict[_Key, SummaryStream]] = weakref.WeakKeyDictionary()
_global_streams: dict[_Key, InferenceStream] = {}
_global_summaries: dict[_Key, SummaryStream] = {}
_recorders: weakref.WeakKeyDictionary[Any, dict[_Key, PredictionRecorder]] = weakref.WeakKeyDictionary()
_global_recorders: dict[_Key, PredictionRecorder] = {}
_lock = threading.Lock()


def inference_stream(provider: Any, attributes: dict[str, str]) -> InferenceStream:
    """The one stream for these attributes and meter provider (``None`` = the global provider).

    Functions decorated with the same model, version and operation share a stream, so their series never collide.
    """
    key = tuple(sorted(attributes.items()))
    with _lock:
        streams = _global_streams if provider is None else _streams.setdefault(provider, {})
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = InferenceStream(dict(attributes))
        return stream


def summary_stream(
    provider: Any, attributes: dict[str, str], config: SummaryConfig, **options: Any
) -> SummaryStream:
    """The one summary stream for these attributes and meter provider; the first caller's options win."""
    key = tuple(sorted(attributes.items()))
    with _lock:
        streams = _global_summaries if provider is None else _summaries.setdefault(provider, {})
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = SummaryStream(dict(attributes), config, **options)
        return stream


def prediction_recorder(provider: Any, attributes: dict[str, str], **options: Any) -> PredictionRecorder:
    """The one prediction recorder for these attributes and meter provider; the first caller's options win."""
    key = tuple(sorted(attributes.items()))
    with _lock:
        recorders = _global_recorders if provider is None else _recorders.setdefault(provider, {})
        recorder = recorders.get(key)
        if recorder is None:
            recorder = recorders[key] = PredictionRecorder(dict(attributes), **options)
        return recorder


def _after_fork_in_child() -> None:
    # The parent keeps and exports what it recorded before the fork; the child starts from zero with fresh locks
    # (a lock held by another parent thread at fork time would otherwise never be released in the child).
    global _lock
    _lock = threading.Lock()
    for streams in [
        *_streams.values(),
        *_summaries.values(),
        *_recorders.values(),
        _global_streams,
        _global_summaries,
        _global_recorders,
    ]:
        for stream in list(streams.values()):
            stream._reset()
    faults._reset()
    records._ids._reset()  # a new id prefix: the child must never generate the parent's ids
    # The folder thread is reset by otel_mlmon._lifecycle's own fork handler. The bridge is only loaded once
    # metrics were bridged; importing it here could meet an import the parent had half done at fork time.
    bridge = sys.modules.get("otel_mlmon._bridge")
    if bridge is not None and hasattr(bridge, "_reset_after_fork"):
        bridge._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
