"""Process-wide registry of inference streams, and the fork handler that resets all local state in a child."""

from __future__ import annotations

import os
import threading
from typing import Any

from otel_mlmon._aggregate import InferenceStream
from otel_mlmon._faults import faults
from otel_mlmon._summarize import SummaryStream
from otel_mlmon.summary import SummaryConfig

__all__ = ["inference_stream", "summary_stream"]

_streams: dict[tuple[int | None, tuple[tuple[str, str], ...]], InferenceStream] = {}
_summaries: dict[tuple[int | None, tuple[tuple[str, str], ...]], SummaryStream] = {}
_lock = threading.Lock()


def inference_stream(provider: Any, attributes: dict[str, str]) -> InferenceStream:
    """The one stream for these attributes and meter provider (``None`` = the global provider).

    Functions decorated with the same model, version and operation share a stream, so their series never collide.
    """
    key = (None if provider is None else id(provider), tuple(sorted(attributes.items())))
    with _lock:
        stream = _streams.get(key)
        if stream is None:
            stream = _streams[key] = InferenceStream(dict(attributes))
        return stream


def summary_stream(
    provider: Any, attributes: dict[str, str], config: SummaryConfig, **options: Any
) -> SummaryStream:
    """The one summary stream for these attributes and meter provider; the first caller's options win."""
    key = (None if provider is None else id(provider), tuple(sorted(attributes.items())))
    with _lock:
        stream = _summaries.get(key)
        if stream is None:
            stream = _summaries[key] = SummaryStream(dict(attributes), config, **options)
        return stream


def _after_fork_in_child() -> None:
    # The parent keeps and exports what it recorded before the fork; the child starts from zero with fresh locks
    # (a lock held by another parent thread at fork time would otherwise never be released in the child).
    global _lock
    _lock = threading.Lock()
    for stream in [*_streams.values(), *_summaries.values()]:
        stream._reset()
    faults._reset()
    from otel_mlmon import _bridge  # only loaded once metrics were bridged

    _bridge._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
