"""The one seam every sequential change detector sits behind (River's ``update`` + ``drift_detected``)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["ChangeDetector"]


@runtime_checkable
class ChangeDetector(Protocol):
    """A sequential change detector fed one value at a time.

    ``update(x)`` reads the next value of the stream (0/1 errors or absolute errors); afterwards
    ``drift_detected`` tells whether a change was detected at that value. ``reset()`` forgets everything
    (configuration is kept). An optional class attribute ``binary_input = True`` says the detector reads 0/1
    error bits only (DDM), so callers do not feed it regression errors.
    """

    name: str

    @property
    def drift_detected(self) -> bool: ...

    def update(self, x: float) -> None: ...

    def reset(self) -> None: ...
