"""The background folder thread and its lifecycle: started on demand, stopped and drained at exit, safe at fork.

Buffered calls are folded into sketches (and ``ml.prediction`` records emitted) by one daemon thread per process.
A daemon thread still inside numpy when the interpreter finalizes is force-unwound by CPython and aborts the
process (exit 134, FACTS.md), so the thread must be stopped first. The exit hook is registered with
``threading``'s own exit hooks, which run before every ``atexit`` handler: the thread is stopped and joined, and the
buffers are drained into the user's providers while those are still alive (the OpenTelemetry SDK shuts its
providers down from ``atexit``, whether they were created before or after this module was imported). Exit is never
delayed by more than ``OTEL_MLMON_EXIT_TIMEOUT_SECONDS`` (default 5 s); what is left then is dropped and counted.

At fork, the forking thread waits (bounded) for a fold in flight, so the child never inherits a lazy import that
a fold had half done (numpy imports ``numpy.ma`` on first use of ``np.unique``); the child starts without a thread.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import threading
import time
import weakref
from typing import Any

from otel_mlmon._env import env_number
from otel_mlmon._faults import report_fault

__all__ = ["EXIT_TIMEOUT_ENV", "Folder", "exit_timeout_seconds", "folder"]

_logger = logging.getLogger("otel_mlmon")

#: Environment variable bounding how long otel-mlmon may delay interpreter exit (seconds, default 5).
EXIT_TIMEOUT_ENV = "OTEL_MLMON_EXIT_TIMEOUT_SECONDS"
_DEFAULT_EXIT_TIMEOUT = 5.0
_STOP = object()


def exit_timeout_seconds() -> float:
    """The exit budget: ``OTEL_MLMON_EXIT_TIMEOUT_SECONDS`` if set to a number ≥ 0, else 5 (a bad value warns)."""
    return env_number(EXIT_TIMEOUT_ENV, _DEFAULT_EXIT_TIMEOUT, float, 0.0)


class Folder:
    """One daemon thread per process that folds buffers, so a predict call never waits for a fold.

    Streams are anything with ``fold(max_entries=None) -> int`` (the calls still buffered afterwards) and
    ``discard() -> int`` (drop the buffer, return the calls dropped). ``watch``ed streams (prediction records) are
    also folded every ``FLUSH_SECONDS``; ``track``ed streams (summaries) only when they ask or at exit. Every fold,
    wherever it runs, holds ``gate``, which a fork waits for.
    """

    FLUSH_SECONDS = 1.0
    #: Calls folded per step at first, so that a stop, a fork or a collection never waits for a whole buffer.
    CHUNK = 128
    #: Calls folded per step at most. A step has fixed costs (a stacked run's checks, reads, column arrays), so
    #: larger steps fold small calls for less CPU per call: a stream's step doubles, up to this, while steps take
    #: less than half of ``STEP_SECONDS``, and shrinks in proportion when one takes longer.
    MAX_CHUNK = 512
    #: Wall time a step should take at most (what a stop, a fork or a collection may wait for a fold in flight).
    STEP_SECONDS = 0.1
    #: How long a fork waits for a fold in flight.
    FORK_WAIT_SECONDS = 5.0

    def __init__(self) -> None:
        self._watched: weakref.WeakSet[Any] = weakref.WeakSet()
        self._tracked: weakref.WeakSet[Any] = weakref.WeakSet()
        self._chunks: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # calls per step
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self.gate = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._gate_held_for_fork = False

    @property
    def stopped(self) -> bool:
        """True once the process started exiting: no thread runs any more, buffers are folded by collections."""
        return self._stopped

    def _ensure_thread(self) -> None:
        if self._thread is None and not self._stopped:
            with self._lock:
                if self._thread is None and not self._stopped:
                    thread = threading.Thread(target=self._run, name="otel-mlmon-folder", daemon=True)
                    thread.start()
                    self._thread = thread

    def request(self, stream: Any) -> None:
        """Fold ``stream`` soon, on the folder thread."""
        self._ensure_thread()
        self._queue.put(stream)

    def watch(self, stream: Any) -> None:
        """Fold ``stream`` at least every FLUSH_SECONDS while it lives, and at exit."""
        self._watched.add(stream)
        self._ensure_thread()

    def track(self, stream: Any) -> None:
        """Drain ``stream`` at exit (it asks for folds itself with :meth:`request`)."""
        self._tracked.add(stream)

    def flush(self) -> None:
        """Fold every watched buffer now, in the calling thread."""
        for stream in list(self._watched):
            _fold_quietly(stream)

    def _run(self) -> None:
        while not self._stopped:
            try:
                stream = self._queue.get(timeout=self.FLUSH_SECONDS)
            except queue.Empty:
                stream = None
            if stream is _STOP or self._stopped:
                return
            if stream is None:
                self.flush()
            elif self._step(stream):
                self._queue.put(stream)  # more left: continue after the other streams' requests

    def _step(self, stream: Any) -> int:
        """Fold one step of ``stream`` (its current chunk of calls) and adapt its chunk; the calls left."""
        try:
            chunk = self._chunks.get(stream, self.CHUNK)
        except TypeError:  # not weakly referenceable: fixed steps
            return _fold_quietly(stream, self.CHUNK)
        start = time.monotonic()
        left = _fold_quietly(stream, chunk)
        elapsed = time.monotonic() - start
        if elapsed > self.STEP_SECONDS:
            chunk = max(1, int(chunk * self.STEP_SECONDS / elapsed))
        elif left and elapsed < self.STEP_SECONDS / 2:  # only a full step tells what a full step costs
            chunk = min(self.MAX_CHUNK, chunk * 2)
        self._chunks[stream] = chunk
        return left

    # -- exit -------------------------------------------------------------------------------------------------

    def stop(self, timeout: float) -> bool:
        """Stop the thread after its current step and wait for it at most ``timeout`` s; True if it ended."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        if thread is None:
            return True
        self._queue.put(_STOP)
        thread.join(max(timeout, 0.0))
        return not thread.is_alive()

    def drain(self, deadline: float, streams: list[Any] | None = None) -> None:
        """Fold the buffers in the calling thread until ``deadline`` (monotonic); drop and count the rest."""
        if streams is None:
            streams = [*self._watched, *self._tracked]  # records first: they are what the user's logs expect
        for stream in streams:
            while time.monotonic() < deadline:
                if not self._step(stream):
                    break
            else:
                dropped = stream.discard()
                if dropped:
                    kind = getattr(stream, "EXIT_FAULT", "exit_timeout")
                    for _ in range(dropped):  # one fault per call left out, like the overflow faults
                        report_fault(kind)
                    _logger.warning(
                        "otel-mlmon: %d buffered calls left out at exit (%s=%s s exceeded)",
                        dropped,
                        EXIT_TIMEOUT_ENV,
                        exit_timeout_seconds(),
                    )

    def shutdown(self, timeout: float) -> None:
        """Stop the thread and drain every buffer, taking at most about ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        if not self.stop(timeout):
            # The thread is still inside a fold and holds the gate: drop the buffers (counted) so that nothing is
            # left to fold at the final collection either.
            report_fault("exit_timeout")
            _logger.warning("otel-mlmon: the folder thread did not stop within %s s", timeout)
            deadline = time.monotonic()
        self.drain(deadline)

    def acquire_gate(self) -> bool:
        """Take ``gate`` for a fold; once exiting, wait at most a second (a stuck fold must not hold up exit)."""
        return self.gate.acquire(timeout=1.0 if self._stopped else -1)

    # -- fork -------------------------------------------------------------------------------------------------

    def _before_fork(self) -> None:
        # The child gets a copy of memory, not of threads: wait for a fold in flight so that nothing it was doing
        # (a lazy import above all) is half done in the child.
        self._gate_held_for_fork = self.gate.acquire(timeout=self.FORK_WAIT_SECONDS)

    def _after_fork_in_parent(self) -> None:
        if self._gate_held_for_fork:
            self._gate_held_for_fork = False
            self.gate.release()

    def _after_fork_in_child(self) -> None:
        self._reset()  # the thread did not survive the fork; the child starts one on its first fold


def _fold_quietly(stream: Any, max_entries: int | None = None) -> int:
    """Fold ``stream``; the calls still buffered afterwards (0 after a fault)."""
    try:
        return stream.fold(max_entries) or 0
    except Exception as exc:  # noqa: BLE001 - the folder thread must survive anything
        report_fault("summaries", exc)
        return 0


folder = Folder()


def _on_exit() -> None:
    # Runs from threading's exit hooks: before non-daemon threads are joined and before every atexit handler.
    # An exit hook must never change how the process exits, whatever happens inside it.
    with contextlib.suppress(BaseException):
        folder.shutdown(exit_timeout_seconds())


def _late_flush() -> None:
    # atexit: records buffered by non-daemon threads after _on_exit, into providers that are still open.
    with contextlib.suppress(BaseException):
        if folder.stopped:
            folder.drain(time.monotonic() + 1.0, streams=list(folder._watched))


def _register() -> None:
    try:
        threading._register_atexit(_on_exit)  # type: ignore[attr-defined] # what concurrent.futures uses
    except (AttributeError, RuntimeError):
        atexit.register(_on_exit)
    atexit.register(_late_flush)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=folder._before_fork,
            after_in_parent=folder._after_fork_in_parent,
            after_in_child=folder._after_fork_in_child,
        )


_register()
