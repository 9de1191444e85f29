"""Token usage of a generative call, read from its result: OpenAI-style ``usage`` fields or a user callback.

Only counts are read; no prompt or completion content is ever looked at or kept (the GenAI semantic conventions
make content capture opt-in, and otel-mlmon does not offer it). Both readers may raise on odd results: the call
paths in :mod:`otel_mlmon._call` catch that and count it as a ``token_usage`` fault.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Usage", "callback_reader", "openai_usage"]

#: (input tokens, output tokens); either may be None when the result reports only one of them.
Usage = tuple[int | None, int | None]

# OpenAI's Responses API (and Anthropic) say input/output, its Chat Completions API prompt/completion.
_INPUT_FIELDS = ("input_tokens", "prompt_tokens")
_OUTPUT_FIELDS = ("output_tokens", "completion_tokens")
# Results that cannot carry a ``usage`` field: skipped without an attribute lookup.
_PLAIN = frozenset({type(None), bool, int, float, str, bytes, list, tuple})


def _count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, numbers.Integral) and int(value) >= 0:  # numpy integers
        return int(value)
    return None


def _field(obj: Any, names: tuple[str, ...]) -> int | None:
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        count = _count(value)
        if count is not None:
            return count
    return None


def openai_usage(result: Any) -> Usage | None:
    """The token counts of ``result.usage`` / ``result["usage"]``, or None when it carries none."""
    if type(result) in _PLAIN:
        return None
    usage = result.get("usage") if isinstance(result, Mapping) else getattr(result, "usage", None)
    if usage is None or type(usage) in _PLAIN:
        return None
    input_tokens = _field(usage, _INPUT_FIELDS)
    output_tokens = _field(usage, _OUTPUT_FIELDS)
    if input_tokens is None and output_tokens is None:
        return None
    return input_tokens, output_tokens


def callback_reader(callback: Callable[[Any], Any]) -> Callable[[Any], Usage | None]:
    """Wrap ``monitor(token_usage=f)``: ``f(result)`` returns ``{"input": n, "output": m}`` (either optional) or
    None; anything else raises ``TypeError`` (counted as a fault by the caller)."""

    def read(result: Any) -> Usage | None:
        counts = callback(result)
        if counts is None:
            return None
        if not isinstance(counts, Mapping):
            raise TypeError(
                f"token_usage callback must return a mapping or None, got {type(counts).__name__}"
            )
        unknown = set(counts) - {"input", "output"}
        if unknown:
            raise TypeError(f"token_usage callback returned unknown keys {sorted(unknown)}; use input/output")
        input_tokens, output_tokens = _count(counts.get("input")), _count(counts.get("output"))
        for key, raw, count in (
            ("input", counts.get("input"), input_tokens),
            ("output", counts.get("output"), output_tokens),
        ):
            if raw is not None and count is None:
                raise TypeError(f"token_usage callback: {key!r} must be a non-negative int, got {raw!r}")
        if input_tokens is None and output_tokens is None:
            return None
        return input_tokens, output_tokens

    return read
