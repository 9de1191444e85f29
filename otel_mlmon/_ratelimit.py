"""Rate-limited logging: each key logs at most once per interval, and the next line says how many were held back.

One implementation for the SDK's fault log (``_faults.py``) and the collector's processors, so that a fault that
repeats on every call or every evaluation writes one line per interval instead of flooding the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

__all__ = ["RateLimitedLog", "RateLimiter"]


class RateLimiter:
    """Lets each key through at most once per ``interval_seconds`` and counts what it held back.

    Args:
        interval_seconds: Shortest time between two admissions of one key.
        _timer: Monotonic seconds (injectable for tests).

    Example:
        >>> limiter = RateLimiter(60.0, _timer=lambda: 0.0)
        >>> limiter.admit("k"), limiter.admit("k"), limiter.admit("other")
        (0, None, 0)
    """

    def __init__(self, interval_seconds: float, _timer: Callable[[], float] = time.monotonic) -> None:
        self.interval_seconds = interval_seconds
        self._timer = _timer
        self._lock = threading.Lock()
        self._last: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def admit(self, key: Hashable) -> int | None:
        """None when ``key`` was admitted less than the interval ago (counted); else how many were held back."""
        now = self._timer()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_seconds:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._suppressed.pop(key, 0)


class RateLimitedLog:
    """Logs a message at most once per ``interval_seconds`` per key, saying how many were suppressed.

    Args:
        logger: Where the lines go.
        interval_seconds: Shortest time between two lines of one key.
        _timer: Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval_seconds: float = 10.0,
        _timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval_seconds = interval_seconds
        self._limiter = RateLimiter(interval_seconds, _timer)

    def log(self, level: int, key: Hashable, message: str, *args: object) -> None:
        """Log now, or count it as suppressed if ``key`` was logged less than the interval ago."""
        suppressed = self._limiter.admit(key)
        if suppressed is None:
            return
        if suppressed:
            message += f" ({suppressed} similar messages suppressed)"
        self.logger.log(level, message, *args, stacklevel=2)  # the caller's line, not this one
