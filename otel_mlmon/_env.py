"""Numeric settings read from environment variables, with the same rule everywhere: unset or empty gives the
default; a value that does not parse, or is below the minimum, warns on the ``otel_mlmon`` logger and gives the
default (monitoring never fails over a setting)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TypeVar

__all__ = ["env_number"]

N = TypeVar("N", int, float)

_logger = logging.getLogger("otel_mlmon")


def env_number(name: str, default: N, convert: Callable[[str], N], minimum: N) -> N:
    """``convert(os.environ[name])`` when it parses and is at least ``minimum``, else ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = convert(raw)
        if value >= minimum:
            return value
    except ValueError:
        pass
    kind = "an integer" if convert is int else "a number"
    _logger.warning("%s=%r is not %s >= %s; using %s", name, raw, kind, minimum, default)
    return default
