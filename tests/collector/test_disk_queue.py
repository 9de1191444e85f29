"""The on-disk queue: order, bounds, restart (what is resent, what is not), corruption, fsync policies, the lane."""

from __future__ import annotations

import doctest
import os
import random
import threading
import time
from pathlib import Path

import pytest
from otel_mlmon_collector import _disk_queue
from otel_mlmon_collector._config import RetryConfig
from otel_mlmon_collector._disk_queue import DiskQueue, DiskQueueError
from otel_mlmon_collector._exporters import ExportResult
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._pipeline import ExportLane, Pipeline
from otel_mlmon_collector._selfmetrics import SelfMetrics


def _r(i: int, size: int = 16) -> OtlpRequest:
    return OtlpRequest(
        ("traces", "metrics", "logs")[i % 3], i.to_bytes(4, "little") * (size // 4), None, i, "http"
    )


def _open(d: Path, **kw: object) -> DiskQueue:
    kw = {"max_requests": 1000, "max_bytes": 1 << 20, "fsync": "never", **kw}
    return DiskQueue(d, **kw)  # type: ignore[arg-type]


def _take_all(q: DiskQueue) -> list[OtlpRequest]:
    out = []
    while (r := q.get(timeout=0)) is not None:
        out.append(r)
        q.task_done(r)
    return out


def _segments(d: Path) -> list[Path]:
    return sorted(d.glob("*.seg"))


def test_doctest() -> None:
    """The module's example runs."""
    assert doctest.testmod(_disk_queue).failed == 0


def test_fifo_order_and_fields_round_trip(tmp_path: Path) -> None:
    """Requests come out in the order they went in, with signal, payload, items and source intact."""
    q = _open(tmp_path)
    sent = [_r(i, 4 * (i + 1)) for i in range(50)]
    assert all(q.try_put(r) for r in sent)
    got = _take_all(q)
    assert [(r.signal, r.payload, r.items, r.source) for r in got] == [
        (r.signal, r.payload, r.items, r.source) for r in sent
    ]
    assert len(q) == 0 and q.bytes == 0
    q.shutdown()


def test_count_and_byte_bounds_answer_like_the_memory_queue(tmp_path: Path) -> None:
    """Past max_requests or max_bytes try_put refuses (back-pressure); one oversized request fits an empty queue;
    in-flight requests still count against the byte bound until acknowledged."""
    q = _open(tmp_path, max_requests=3, max_bytes=100)
    assert q.try_put(_r(0, 40)) and q.try_put(_r(1, 40))
    assert not q.try_put(_r(2, 40))  # 120 > 100 bytes
    taken = q.get(timeout=0)
    assert taken is not None and not q.try_put(_r(2, 40))  # still on disk while in flight
    q.task_done(taken)
    assert q.try_put(_r(2, 40))
    _take_all(q)
    assert q.try_put(_r(3, 400))  # larger than the bound, queue empty
    assert not q.try_put(_r(4, 4))
    q.shutdown()
    q = _open(tmp_path / "count", max_requests=2, max_bytes=1 << 20)
    assert q.try_put(_r(0)) and q.try_put(_r(1)) and not q.try_put(_r(2))
    q.shutdown()


def test_restart_resends_pending_and_in_flight_but_not_acknowledged(tmp_path: Path) -> None:
    """After a stop without flushing, the next open queues what was pending and what was in flight at the stop
    (the only duplicates), in order, and nothing that was acknowledged."""
    q = _open(tmp_path)
    for i in range(10):
        assert q.try_put(_r(i))
    a, b, c = q.get(timeout=0), q.get(timeout=0), q.get(timeout=0)
    assert a and b and c
    q.task_done(b)  # acknowledged out of order; a and c stay in flight
    q.shutdown()  # what kill -9 leaves behind: nothing more is written at a kill

    q = _open(tmp_path)
    assert q.stats.recovered == 9 and q.stats.corrupt == 0
    assert [r.items for r in _take_all(q)] == [0, 2, 3, 4, 5, 6, 7, 8, 9]
    q.shutdown()
    q = _open(tmp_path)
    assert q.stats.recovered == 0 and q.get(timeout=0) is None
    assert q.try_put(_r(42)) and q.get(timeout=0).items == 42  # type: ignore[union-attr]
    q.shutdown()


def test_a_killed_process_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """A child process puts requests, acknowledges some, and is killed with SIGKILL mid-stream: the parent
    reopens the directory and finds every put request not acknowledged by the child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        try:
            os.close(read_end)
            q = _open(tmp_path, fsync="never")
            for i in range(200):
                q.try_put(_r(i))
                if i % 3 == 0:
                    r = q.get(timeout=0)
                    q.task_done(r)
            os.write(write_end, b"x")
            threading.Event().wait(60)
        finally:
            os._exit(0)
    os.close(write_end)
    assert os.read(read_end, 1) == b"x"
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    os.close(read_end)
    q = _open(tmp_path)
    acked = set(range(67))  # the child took and acknowledged one request per three puts, oldest first
    assert [r.items for r in _take_all(q)] == [i for i in range(200) if i not in acked]
    q.shutdown()


def test_segments_roll_and_are_deleted_once_acknowledged(tmp_path: Path) -> None:
    """Segments roll at segment_bytes; a fully acknowledged segment is deleted, the disk use follows the queue."""
    q = _open(tmp_path, segment_bytes=256)
    for i in range(40):
        assert q.try_put(_r(i, 64))
    assert len(_segments(tmp_path)) >= 10
    _take_all(q)
    assert len(_segments(tmp_path)) == 1  # the active one
    q.shutdown()
    q = _open(tmp_path)  # a new start opens a new segment and deletes the empty old one
    assert len(_segments(tmp_path)) == 1 and q.get(timeout=0) is None
    q.shutdown()


def test_truncated_tail_is_skipped_and_counted(tmp_path: Path) -> None:
    """A record cut short (the process died inside write) is skipped and counted; the records before it come back."""
    q = _open(tmp_path)
    for i in range(5):
        q.try_put(_r(i, 100))
    q.shutdown()
    (segment,) = _segments(tmp_path)
    size = segment.stat().st_size
    with open(segment, "r+b") as f:
        f.truncate(size - 30)
    q = _open(tmp_path)
    assert (q.stats.recovered, q.stats.corrupt) == (4, 1)
    assert q.stats.skipped_bytes == 20 + 7 + 4 + 100 - 30  # header, body, source, payload, minus the cut
    assert [r.items for r in _take_all(q)] == [0, 1, 2, 3]
    q.shutdown()


def test_flipped_bytes_fail_the_checksum(tmp_path: Path) -> None:
    """A record whose bytes changed on disk fails its CRC: it and the rest of its segment are skipped and
    counted; other segments are unaffected; new requests go on."""
    q = _open(tmp_path, segment_bytes=400)
    for i in range(12):
        q.try_put(_r(i, 100))
    q.shutdown()
    first = _segments(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[8 + 131 + 60] ^= 0xFF  # inside the second record's payload
    first.write_bytes(bytes(data))
    q = _open(tmp_path)
    items = [r.items for r in _take_all(q)]
    assert q.stats.corrupt == 1
    assert items[0] == 0 and 1 not in items and items[-1] == 11
    assert q.try_put(_r(99)) and q.get(timeout=0).items == 99  # type: ignore[union-attr]
    q.shutdown()


def test_garbage_cursor_means_resend_everything_not_lose_anything(tmp_path: Path) -> None:
    """If both cursor slots are unreadable, every record still on disk is sent again (duplicates, no loss)."""
    q = _open(tmp_path)
    for i in range(6):
        q.try_put(_r(i))
    for _ in range(2):
        r = q.get(timeout=0)
        q.task_done(r)
    q.shutdown()
    (tmp_path / "cursor").write_bytes(os.urandom(300))
    q = _open(tmp_path)
    assert [r.items for r in _take_all(q)] == [0, 1, 2, 3, 4, 5]
    q.shutdown()


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_random_operations_against_a_model(tmp_path: Path, seed: int) -> None:
    """Random puts, takes, acknowledgements and reopenings agree with a model of what is owed (exactly: no
    duplicates beyond the requests in flight at each reopening)."""
    rnd = random.Random(seed)
    q = _open(tmp_path, segment_bytes=300)
    owed: list[int] = []  # items put and not acknowledged, in order
    taken: list[OtlpRequest] = []
    n = 0
    for _ in range(600):
        op = rnd.random()
        if op < 0.45:
            assert q.try_put(_r(n, rnd.choice([4, 40, 120])))
            owed.append(n)
            n += 1
        elif op < 0.75 and len(q):
            r = q.get(timeout=0)
            assert r is not None
            taken.append(r)
        elif op < 0.95 and taken:
            r = taken.pop(rnd.randrange(len(taken)))
            q.task_done(r)
            owed.remove(r.items)
        elif op >= 0.95:
            q.shutdown()
            q = _open(tmp_path, segment_bytes=300)
            taken = []
            assert q.stats.corrupt == 0
            assert q.stats.recovered == len(owed)
    q.shutdown()
    q = _open(tmp_path)
    assert sorted(r.items for r in _take_all(q)) == sorted(owed)
    q.shutdown()


def test_a_directory_is_used_by_one_queue_only(tmp_path: Path) -> None:
    """A second queue on a locked directory fails clearly, naming the directory."""
    q = _open(tmp_path)
    with pytest.raises(DiskQueueError, match="in use by another process"):
        _open(tmp_path)
    q.shutdown()
    _open(tmp_path).shutdown()


def test_an_unwritable_directory_is_an_error(tmp_path: Path) -> None:
    """A directory that cannot be created is a DiskQueueError naming the path."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DiskQueueError, match="file"):
        _open(blocker / "queue")


@pytest.mark.parametrize("policy", ["always", "interval", "never"])
def test_fsync_policies_deliver_the_same(tmp_path: Path, policy: str) -> None:
    """Each fsync policy queues, commits and restores the same requests."""
    q = _open(tmp_path, fsync=policy, fsync_interval_millis=5)
    for i in range(20):
        assert q.put_unchecked(_r(i)) and q.commit()
    q.shutdown()
    q = _open(tmp_path, fsync=policy)
    assert [r.items for r in _take_all(q)] == list(range(20))
    q.shutdown()


def test_a_failing_write_is_back_pressure_and_leaves_no_half_record(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """When the disk refuses a write (ENOSPC), the request is refused and the segment stays readable."""
    q = _open(tmp_path)
    assert q.try_put(_r(0))
    real_writev, real_write = os.pwritev, os.pwrite

    def short(fd: int, parts: list[bytes], offset: int) -> int:
        return real_write(fd, parts[0], offset)  # only the header goes through

    def full(fd: int, data: object, offset: int) -> int:
        raise OSError(28, "No space left on device")  # the rest does not

    monkeypatch.setattr(_disk_queue.os, "pwritev", short)
    monkeypatch.setattr(_disk_queue.os, "pwrite", full)
    assert not q.try_put(_r(1))
    monkeypatch.setattr(_disk_queue.os, "pwritev", real_writev)
    monkeypatch.setattr(_disk_queue.os, "pwrite", real_write)
    assert q.try_put(_r(2))
    q.shutdown()
    q = _open(tmp_path)
    assert q.stats.corrupt == 0 and [r.items for r in _take_all(q)] == [0, 2]
    q.shutdown()


def test_lane_keeps_unsent_requests_on_disk_at_the_shutdown_deadline(tmp_path: Path) -> None:
    """With a downstream that never answers ok, shutdown drops nothing from a disk queue: the request being
    retried and those waiting are all sent by the next lane on the same directory."""

    class Down(InMemoryExporter):
        calls = 0

        def export(self, request: OtlpRequest) -> ExportResult:
            Down.calls += 1
            time.sleep(0.2)  # a slow, failing downstream
            return ExportResult.retryable("down")

    retry = RetryConfig(initial_interval_seconds=0.05, max_interval_seconds=0.05)
    lane = ExportLane(Down(), _open(tmp_path), ["traces", "metrics", "logs"], retry, SelfMetrics())
    pipeline = Pipeline([lane])
    pipeline.start()
    for i in range(20):
        assert pipeline.emit(_r(i))
    started = time.monotonic()
    assert pipeline.shutdown(timeout_seconds=0.3)  # nothing dropped
    assert time.monotonic() - started < 1.5
    calls = Down.calls
    time.sleep(0.5)
    assert Down.calls == calls <= 6  # the workers stop at the deadline, not after one more try per request
    sink = InMemoryExporter()
    lane = ExportLane(sink, _open(tmp_path), ["traces", "metrics", "logs"], retry, SelfMetrics())
    pipeline = Pipeline([lane])
    pipeline.start()
    assert pipeline.shutdown(timeout_seconds=5)
    got = sorted(r.items for s in ("traces", "metrics", "logs") for r in sink.requests(s))
    assert got == list(range(20))


def test_config_builds_one_disk_queue_per_exporter_and_a_held_directory_is_a_config_error(
    tmp_path: Path,
) -> None:
    """queue.directory gives each exporter its own subdirectory; a directory another collector holds, or a bad
    fsync value, is a ConfigError naming the key."""
    from otel_mlmon_collector import Collector
    from otel_mlmon_collector._config import ConfigError, parse_config

    data = {
        "receivers": {"grpc": {"enabled": False}, "http": {"enabled": False}},
        "health": {"enabled": False},
        "self_metrics": {"enabled": False},
        "queue": {"directory": str(tmp_path), "fsync": "always"},
        "exporters": [{"name": "a/b", "type": "console"}, {"name": "c", "type": "console"}],
    }
    config = parse_config(data, env={})
    assert (config.queue.directory, config.queue.fsync, config.queue.fsync_interval_millis) == (
        str(tmp_path),
        "always",
        1000,
    )
    first = Collector(config)
    assert [type(lane.queue).__name__ for lane in first.pipeline.lanes] == ["DiskQueue", "DiskQueue"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_b", "c"]
    with pytest.raises(ConfigError, match=r"queue\.directory: .*in use by another process"):
        Collector(config)
    first.start()
    assert first.shutdown(5)
    Collector(config).shutdown(5)  # released at shutdown
    with pytest.raises(ConfigError, match=r"queue\.fsync"):
        parse_config({**data, "queue": {"fsync": "sometimes"}}, env={})


def test_a_short_write_is_completed(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """When the kernel writes only part of a record, the rest is written and the record reads back whole."""
    real_write = os.pwrite
    monkeypatch.setattr(
        _disk_queue.os, "pwritev", lambda fd, parts, offset: real_write(fd, parts[0][:7], offset)
    )
    q = _open(tmp_path)
    assert q.try_put(_r(5, 64))
    q.shutdown()
    monkeypatch.undo()
    q = _open(tmp_path)
    (r,) = _take_all(q)
    assert (r.items, r.payload, q.stats.corrupt) == (5, _r(5, 64).payload, 0)
    q.shutdown()
