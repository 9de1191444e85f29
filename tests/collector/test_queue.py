"""The bounded queue: limits by count and bytes, FIFO order, close, join and drain."""

from __future__ import annotations

import threading
import time

import pytest
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._queue import BoundedQueue


def _r(size: int, tag: int = 0) -> OtlpRequest:
    return OtlpRequest("metrics", bytes([tag % 256]) * size)


def test_count_bound() -> None:
    """Once max_requests are queued, try_put refuses until one is taken."""
    q = BoundedQueue(max_requests=2, max_bytes=1 << 20)
    assert q.try_put(_r(1)) and q.try_put(_r(1))
    assert not q.try_put(_r(1))
    q.get(timeout=0)
    assert q.try_put(_r(1))


def test_byte_bound_but_a_big_request_fits_an_empty_queue() -> None:
    """The byte bound refuses overflow, yet a request larger than the bound is accepted when the queue is empty."""
    q = BoundedQueue(max_requests=10, max_bytes=100)
    assert q.try_put(_r(60))
    assert not q.try_put(_r(60))
    assert q.bytes == 60
    q.get(timeout=0)
    q.task_done()
    assert q.try_put(_r(500))
    assert not q.try_put(_r(1))


def test_fifo_order_and_timeout() -> None:
    """Requests come out in the order they went in; get on an empty queue returns None after the timeout."""
    q = BoundedQueue(10, 1000)
    for i in range(5):
        q.try_put(_r(1, i))
    assert [q.get(0).payload[0] for _ in range(5)] == [0, 1, 2, 3, 4]
    started = time.monotonic()
    assert q.get(timeout=0.05) is None
    assert time.monotonic() - started >= 0.04


def test_close_wakes_consumers_and_refuses_puts() -> None:
    """close() makes a blocked get return None and later puts fail."""
    q = BoundedQueue(10, 1000)
    result: list[object] = []
    consumer = threading.Thread(target=lambda: result.append(q.get()))
    consumer.start()
    time.sleep(0.05)
    q.close()
    consumer.join(2)
    assert result == [None]
    assert not q.try_put(_r(1))


def test_join_waits_for_in_flight_and_drain_empties() -> None:
    """join() returns only when nothing is queued or in flight; drain() removes what is left."""
    q = BoundedQueue(10, 1000)
    q.try_put(_r(3))
    q.try_put(_r(4))
    assert not q.join(timeout=0.01)
    q.get(0)
    assert q.in_flight == 1
    assert [len(r.payload) for r in q.drain()] == [4]
    assert not q.join(timeout=0.01)
    q.task_done()
    assert q.join(timeout=0.01)
    assert (len(q), q.bytes) == (0, 0)


def test_invalid_bounds_raise() -> None:
    """Non-positive bounds are rejected at construction, naming the parameter."""
    with pytest.raises(ValueError, match="max_requests"):
        BoundedQueue(0, 10)
    with pytest.raises(ValueError, match="max_bytes"):
        BoundedQueue(1, 0)
