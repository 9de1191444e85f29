"""Monitoring faults: counted, logged at a bounded rate, never raised into the user's call."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import ClassVar

from otel_mlmon._aggregate import CountInterval
from otel_mlmon._ratelimit import RateLimiter

__all__ = ["FaultCounter", "faults", "report_fault"]

_logger = logging.getLogger("otel_mlmon")


class FaultCounter:
    """Counts monitoring faults by kind and logs each kind at most once per ``log_interval_seconds``.

    A fault is anything that went wrong inside otel-mlmon while the user's call itself was fine (an input it could
    not read, an exporter hook that raised, an internal bug). The bridge exports the counts as
    ``otel_mlmon.sdk.faults``; ``counts()`` gives the running totals.
    """

    #: A fault stream carries no model attributes: the fault kind is its only label.
    attributes: ClassVar[dict[str, str]] = {}

    def __init__(
        self, log_interval_seconds: float = 60.0, _timer: Callable[[], float] = time.monotonic
    ) -> None:
        self.log_interval_seconds = log_interval_seconds
        self._timer = _timer
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._interval = CountInterval()
        self._totals = CountInterval()
        self._log_limiter = RateLimiter(self.log_interval_seconds, self._timer)

    def report(self, kind: str, exc: BaseException | None = None, *, message: str | None = None) -> None:
        """Count one fault of ``kind`` and log it unless this kind was logged recently. Never raises.

        ``message``, when given, is logged instead of the generic line (for faults whose cause is known).
        """
        try:
            with self._lock:
                for interval in (self._interval, self._totals):
                    interval.counts[kind] = interval.counts.get(kind, 0) + 1
            suppressed = self._log_limiter.admit(kind)
            if suppressed is None:
                return
            more = f" ({suppressed} more since the last report)" if suppressed else ""
            if message is not None:
                _logger.warning("%s%s", message, more, exc_info=exc)
                return
            _logger.warning(
                "otel-mlmon monitoring fault (%s)%s; the predict call is unaffected",
                kind,
                more,
                exc_info=exc,
            )
        except Exception:  # noqa: BLE001 - the fault path itself must never raise
            pass

    def counts(self) -> dict[str, int]:
        """The running totals of faults by kind since start (or fork)."""
        with self._lock:
            return dict(self._totals.counts)

    def swap(self) -> CountInterval:
        """Stream protocol: the faults since the last swap."""
        with self._lock:
            interval, self._interval = self._interval, CountInterval()
        return interval

    def new_interval(self) -> CountInterval:
        return CountInterval()


#: The process-wide fault counter.
faults = FaultCounter()
report_fault = faults.report
