"""A bounded FIFO of encoded requests in front of each exporter, limited by count and by bytes.

``BoundedQueue`` keeps the requests in memory (the default: kill -9 loses what is queued); ``DiskQueue``
(``_disk_queue.py``, ``queue.directory``) writes them ahead to disk. Both follow the ``ExportQueue`` protocol.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Protocol

from ._otlp import OtlpRequest

__all__ = ["BoundedQueue", "ExportQueue", "QueueBase"]


class ExportQueue(Protocol):
    """What an export lane and the pipeline need from a queue (see ``BoundedQueue`` for the semantics)."""

    #: True when queued requests survive a crash (then nothing queued is dropped at the shutdown deadline).
    durable: bool
    max_requests: int
    max_bytes: int

    def __len__(self) -> int: ...

    @property
    def bytes(self) -> int: ...

    def has_room(self, size: int) -> bool: ...

    def try_put(self, request: OtlpRequest) -> bool: ...

    def put_unchecked(self, request: OtlpRequest) -> bool: ...

    def commit(self) -> bool: ...

    def get(self, timeout: float | None = None) -> OtlpRequest | None: ...

    def task_done(self, request: OtlpRequest | None = None, keep: bool = False) -> None: ...

    def close(self) -> None: ...

    def join(self, timeout: float | None = None) -> bool: ...

    def drain(self) -> list[OtlpRequest]: ...

    def shutdown(self) -> None: ...


class QueueBase:
    """What both queues share: the two bounds, closing, waiting on the condition with a deadline, ``join``.

    A subclass sets ``self._cond`` (a ``threading.Condition``) and ``self._closed`` in its ``_reset`` and says
    in ``_busy`` whether anything is waiting or in flight.
    """

    _cond: threading.Condition
    _closed: bool

    def __init__(self, max_requests: int, max_bytes: int) -> None:
        if max_requests < 1:
            raise ValueError(f"max_requests must be >= 1, got {max_requests}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.max_requests = max_requests
        self.max_bytes = max_bytes

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called: no more puts; ``get`` returns ``None`` when empty."""
        return self._closed

    def _busy(self) -> bool:
        raise NotImplementedError

    def _wait_until(self, done: Callable[[], object], deadline: float | None) -> bool:
        """Wait on the condition (held by the caller) until ``done()``; False if ``deadline`` passed first."""
        while not done():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._cond.wait(remaining)
        return True

    def close(self) -> None:
        """Refuse further puts and wake waiting consumers."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until empty with nothing in flight; return False if ``timeout`` passed first."""
        with self._cond:
            return self._wait_until(lambda: not self._busy(), deadline_after(timeout))


def deadline_after(timeout: float | None) -> float | None:
    """The monotonic time ``timeout`` seconds from now (``None``: no deadline)."""
    return None if timeout is None else time.monotonic() + timeout


class BoundedQueue(QueueBase):
    """Thread-safe FIFO holding at most ``max_requests`` requests and ``max_bytes`` bytes of payload.

    ``try_put`` never blocks: a full queue is the receivers' signal to answer with back-pressure. A request
    larger than ``max_bytes`` is still accepted into an empty queue, so no single request is refused forever.

    Example:
        >>> q = BoundedQueue(max_requests=1, max_bytes=1024)
        >>> q.try_put(OtlpRequest("traces", b"x"))
        True
        >>> q.try_put(OtlpRequest("traces", b"y"))
        False
        >>> q.get(timeout=0).payload, len(q)
        (b'x', 0)
    """

    durable = False

    def __init__(self, max_requests: int, max_bytes: int) -> None:
        super().__init__(max_requests, max_bytes)
        self._reset()

    def _reset(self) -> None:
        self._items: collections.deque[OtlpRequest] = collections.deque()
        self._bytes = 0
        self._in_flight = 0
        self._closed = False
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """Payload bytes currently queued."""
        return self._bytes

    @property
    def in_flight(self) -> int:
        """Requests taken by a worker and not yet marked done."""
        return self._in_flight

    def _busy(self) -> bool:
        return bool(self._items or self._in_flight)

    def has_room(self, size: int) -> bool:
        """Return whether a payload of ``size`` bytes would be accepted now."""
        if self._closed or len(self._items) >= self.max_requests:
            return False
        return not self._items or self._bytes + size <= self.max_bytes

    def try_put(self, request: OtlpRequest) -> bool:
        """Append ``request`` if there is room; return whether it was queued."""
        with self._cond:
            if not self.has_room(len(request.payload)):
                return False
            self._items.append(request)
            self._bytes += len(request.payload)
            self._cond.notify_all()
            return True

    def put_unchecked(self, request: OtlpRequest) -> bool:
        """Append ``request`` whatever the bound (the caller checked ``has_room`` under its own lock)."""
        with self._cond:
            self._items.append(request)
            self._bytes += len(request.payload)
            self._cond.notify_all()
        return True

    def commit(self) -> bool:
        """Nothing to make durable in memory."""
        return True

    def get(self, timeout: float | None = None) -> OtlpRequest | None:
        """Take the oldest request, waiting up to ``timeout`` seconds; ``None`` on timeout or closed and empty.

        Every request taken must be handed back with ``task_done()``.
        """
        with self._cond:
            if (
                not self._wait_until(lambda: self._items or self._closed, deadline_after(timeout))
                or not self._items
            ):
                return None
            request = self._items.popleft()
            self._bytes -= len(request.payload)
            self._in_flight += 1
            return request

    def task_done(self, request: OtlpRequest | None = None, keep: bool = False) -> None:
        """Mark a request taken with ``get`` as finished (exported, rejected or dropped; ``keep`` has no effect:
        memory does not outlive the process)."""
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def drain(self) -> list[OtlpRequest]:
        """Remove and return everything still queued (used when the shutdown deadline passed)."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()
            return items

    def shutdown(self) -> None:
        """Nothing to release."""
