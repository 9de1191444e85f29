"""A drift method that never fires: the null object for features that should not be checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otel_mlmon_collector.drift._base import DriftResult, Kind

__all__ = ["NullMethod"]


@dataclass(frozen=True)
class NullMethod:
    """Never detects drift; reports a zero score so that a switched-off feature still shows up as checked.

    ``score = 0``, ``detected = False``, whatever the inputs.

    Parameters:
        kind: The kind of data it stands in for (``"numeric"``, ``"categorical"`` or ``"missing"``).

    Example:
        >>> from otel_mlmon_collector.drift import NullMethod
        >>> NullMethod().compare(object(), object()).detected
        False

    References:
        Woolf, B. (1998). Null Object. In Pattern Languages of Program Design 3, Addison-Wesley.
    """

    kind: Kind = "numeric"
    name: str = "none"
    threshold: float = float("inf")

    def compare(self, reference: Any, current: Any) -> DriftResult:
        """Return a result that never reports drift."""
        if current is None and hasattr(reference, "n_current"):
            n, m = int(reference.n_reference), int(reference.n_current)
        else:
            n, m = _size(reference), _size(current)
        return DriftResult(self.name, 0.0, self.threshold, False, None, n, m, details={"disabled": True})


def _size(side: Any) -> int:
    for attr in ("total", "count"):
        value = getattr(side, attr, None)
        if isinstance(value, (int, float)):
            return int(value)
    return 0
