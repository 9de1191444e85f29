"""Column work spread over a few threads: sketching a large table's columns, encoding its string columns.

The compiled kernels (``sketch/_flatkernel.c``: scans, bucket counts, string encoding) release the GIL, so a
100 000 × 25 table's profile takes about three quarters of the wall time on two cores (16–20 ms against 22–27 ms
on one), for the same CPU: the Python between the kernels holds the GIL. Work
is shared only when there is enough of it (:data:`MIN_VALUES` values over at least two columns): below that the
hand-off costs more than it saves.

Each item is processed by exactly one thread and items touch disjoint state (one column's sketch each), so the
result equals the serial one. The calling thread works too; the helpers are a ``concurrent.futures`` pool (its
threads are not daemons, so interpreter exit waits for an item in flight instead of aborting inside numpy). When
the pool cannot take work (the interpreter is exiting), the caller does it all. After a fork the child starts a new
pool on first use: the parent's threads do not exist there.

``OTEL_MLMON_THREADS`` sets the number of threads (the caller included; ``1`` turns sharing off); the default is
the CPUs this process may run on, at most 4.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from otel_mlmon._env import env_number

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["MIN_VALUES", "THREADS_ENV", "map_columns", "threads"]

T = TypeVar("T")
R = TypeVar("R")

#: Environment variable: threads used for column work (the calling thread included); 1 turns sharing off.
THREADS_ENV = "OTEL_MLMON_THREADS"
_MAX_DEFAULT_THREADS = 4
#: Values (rows × columns) below which a table's columns are processed by the calling thread alone.
MIN_VALUES = 1 << 17

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_threads: int | None = None


def threads() -> int:
    """Threads used for column work: ``OTEL_MLMON_THREADS`` if set to an integer >= 1, else the CPUs this process
    may run on, at most 4 (a bad value warns once and uses the default)."""
    global _threads
    if _threads is None:
        _threads = _configured_threads()
    return _threads


def _configured_threads() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return env_number(THREADS_ENV, max(1, min(_MAX_DEFAULT_THREADS, cpus)), int, 1)


def map_columns(fn: Callable[[T], R], items: Sequence[T], values: int) -> list[R]:
    """``[fn(item) for item in items]``, shared among :func:`threads` threads when ``values`` (the rows × columns
    the items stand for) reach :data:`MIN_VALUES`.

    ``fn`` must be safe to run on different items at once (each item its own state). The first exception, in item
    order, is raised once every item has been tried.
    """
    n = len(items)
    workers = min(threads(), n)
    if workers < 2 or values < MIN_VALUES:
        return [fn(item) for item in items]
    job = _Job(fn, items)
    pool = _get_pool()
    if pool is not None:
        try:
            for _ in range(workers - 1):
                pool.submit(job.work)
        except RuntimeError:  # the interpreter is exiting: the caller does what is left
            pass
    job.work()
    job.done.wait()
    for error in job.errors:
        if error is not None:
            raise error
    return job.results  # type: ignore[return-value]


class _Job:
    """One ``map_columns`` call: threads take the next item until none is left; ``done`` is set after the last."""

    def __init__(self, fn: Callable[[T], R], items: Sequence[T]) -> None:
        self.fn = fn
        self.items = items
        self.take = itertools.count().__next__  # atomic under the GIL: every index goes to one thread
        self.results: list[R | None] = [None] * len(items)
        self.errors: list[BaseException | None] = [None] * len(items)
        self.left = len(items)
        self.lock = threading.Lock()
        self.done = threading.Event()
        if not items:
            self.done.set()

    def work(self) -> None:
        n = len(self.items)
        while True:
            i = self.take()
            if i >= n:
                return
            try:
                self.results[i] = self.fn(self.items[i])
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self.errors[i] = exc
            with self.lock:
                self.left -= 1
                if not self.left:
                    self.done.set()


def _get_pool() -> ThreadPoolExecutor | None:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                from concurrent.futures import ThreadPoolExecutor  # imported on first use: a light SDK import

                try:
                    _pool = ThreadPoolExecutor(
                        max_workers=threads() - 1, thread_name_prefix="otel-mlmon-columns"
                    )
                except RuntimeError:
                    return None
    return _pool


def _after_fork_in_child() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()  # the parent's threads did not survive the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
