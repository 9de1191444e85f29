"""A write-ahead queue on disk in front of one exporter, so acknowledged requests survive kill -9 and a restart.

Layout of the queue's directory (one per exporter):

- ``<first seq>.seg`` segment files: an 8-byte file header, then records appended one after another. A record is a
  20-byte header (magic ``OMQR``, body length, CRC-32 of sequence number and body, 64-bit sequence number) and a
  body (signal, item count, source, the encoded OTLP request). A segment is deleted once all its records are
  acknowledged; a new one is started after ``segment_bytes`` and at every start (old segments are never appended to).
- ``cursor``: the acknowledgement state, in two alternating slots (generation number + CRC, so a torn write leaves
  the other slot valid): the first sequence number still pending and the ones taken by a worker and not finished.
  Everything else below that number is delivered (or finally rejected). It is rewritten at every acknowledgement
  (one ``pwrite``, no fsync of its own), so after kill -9 only the requests in flight at the kill are sent again.
- ``lock``: an exclusive ``flock``, so two collectors never share a queue.

Durability: a record is written with ``write(2)`` before ``try_put`` / ``put_unchecked`` returns, so it survives kill
-9 of the process (the kernel keeps the page cache) whatever the fsync policy. The policy decides what survives an
operating-system crash or power loss: ``always`` fsyncs before the request is acknowledged to the client (grouped:
concurrent receivers share one fsync), ``interval`` every ``fsync_interval_millis`` (at most that much acknowledged
data is lost), ``never`` leaves it to the kernel.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import logging
import os
import re
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from ._config import FSYNC_POLICIES, SIGNALS
from ._otlp import OtlpRequest
from ._queue import QueueBase, deadline_after

__all__ = ["DiskQueue", "DiskQueueError", "RecoveryStats"]

_log = logging.getLogger(__name__)

_FILE_MAGIC = b"OMQSEG01"
_REC = struct.Struct("<4sIIQ")  # magic, body length, crc32(seq + body), seq
_REC_MAGIC = b"OMQR"
_BODY = struct.Struct("<BIH")  # signal index, items, source length
_SLOT = 1 << 16  # bytes per cursor slot: room for ~8 000 in-flight sequence numbers
_CUR = struct.Struct("<4sQQI")  # magic, generation, first pending seq, in-flight count
_CUR_MAGIC = b"OMQC"
_MAX_IN_FLIGHT_SAVED = (_SLOT - _CUR.size - 4) // 8
_SEGMENT_NAME = re.compile(r"^(\d{20})\.seg$")


class DiskQueueError(OSError):
    """The queue directory cannot be used (not writable, or already used by another collector)."""


@dataclass
class RecoveryStats:
    """What opening the directory found: requests to resend, and damage skipped."""

    #: Requests found on disk and queued again (pending or in flight at the last stop).
    recovered: int = 0
    #: Records that failed their checksum or were cut short (each ends its segment's scan).
    corrupt: int = 0
    #: Bytes skipped after a corrupt record.
    skipped_bytes: int = 0


@dataclass(frozen=True, slots=True)
class _Entry:
    seq: int
    segment: int
    offset: int
    length: int
    size: int  # payload bytes, what the byte bound counts
    recovered: bool = False  # read back from an earlier run: checksum checked again when taken


class DiskQueue(QueueBase):
    """Thread-safe FIFO of encoded requests written ahead to ``directory``, bounded by count and payload bytes.

    Same contract as :class:`~otel_mlmon_collector._queue.BoundedQueue` (``try_put`` never blocks and a full queue
    means back-pressure), except that queued requests are read back from disk, survive a crash, and the byte bound
    counts requests in flight too (they stay on disk until acknowledged). Hand every request taken with ``get``
    back with ``task_done(request)``; ``keep=True`` leaves it on disk to be sent after the next start.

    Args:
        directory: created if missing; holds only this queue.
        max_requests: requests waiting (not yet taken).
        max_bytes: payload bytes on disk not yet acknowledged; one request of any size fits an empty queue.
        fsync: ``always``, ``interval`` or ``never`` (module docstring).
        fsync_interval_millis: period of the ``interval`` policy.
        segment_bytes: a segment file is closed and a new one started beyond this size.

    Raises:
        DiskQueueError: the directory cannot be created, written or locked.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> q = DiskQueue(d, max_requests=10, max_bytes=1024, fsync="never")
        >>> q.try_put(OtlpRequest("traces", b"x", items=1))
        True
        >>> q.shutdown()  # as if the process were killed
        >>> q = DiskQueue(d, max_requests=10, max_bytes=1024, fsync="never")
        >>> r = q.get(timeout=0); r.payload, r.items, q.stats.recovered
        (b'x', 1, 1)
        >>> q.task_done(r); q.shutdown()
    """

    durable = True

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_requests: int,
        max_bytes: int,
        fsync: str = "interval",
        fsync_interval_millis: int = 1000,
        segment_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        super().__init__(max_requests, max_bytes)
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, got {fsync!r}")
        if fsync_interval_millis < 1:
            raise ValueError(f"fsync_interval_millis must be >= 1, got {fsync_interval_millis}")
        self.directory = Path(directory)
        self.fsync = fsync
        self.fsync_interval_millis = fsync_interval_millis
        self.segment_bytes = segment_bytes
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._pending: collections.deque[_Entry] = collections.deque()
        self._taken: dict[int, _Entry] = {}  # id(request) -> entry, for requests handed to workers
        self._kept: list[_Entry] = []  # given back unsent at shutdown: owed at the next start
        self._unacked_per_segment: dict[int, int] = {}
        self._fds: dict[int, int] = {}
        self._bytes = 0
        self._closed = False
        self._stopped = False  # drained at the shutdown deadline: get hands nothing more out
        self._active: int | None = None
        self._cursor_fd = -1
        self._generation = 0
        self._dirty = False  # written since the last fsync
        self._synced_to = 0  # write counter covered by the last fsync (group commit)
        self._written = 0
        self._sync_lock = threading.Lock()
        self.stats = RecoveryStats()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise DiskQueueError(
                f"queue directory {str(self.directory)!r} is not usable: {e.strerror}"
            ) from e
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise DiskQueueError(
                f"queue directory {str(self.directory)!r} is in use by another process; give each collector "
                "its own queue.directory"
            ) from None
        try:
            self._cursor_fd = os.open(self.directory / "cursor", os.O_RDWR | os.O_CREAT, 0o644)
            next_seq = self._recover()
            self._open_segment(next_seq)
        except OSError as e:
            self.shutdown()
            raise DiskQueueError(
                f"queue directory {str(self.directory)!r} is not usable: {e.strerror}"
            ) from e
        self._syncer: threading.Thread | None = None
        if self.fsync == "interval":
            self._syncer = threading.Thread(target=self._sync_periodically, name="queue-fsync", daemon=True)
            self._syncer.start()

    # -- the BoundedQueue contract ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def bytes(self) -> int:
        """Payload bytes on disk not yet acknowledged (waiting or in flight)."""
        return self._bytes

    @property
    def in_flight(self) -> int:
        """Requests taken by a worker and not yet marked done."""
        return len(self._taken)

    def _busy(self) -> bool:
        return bool(self._pending or self._taken)

    def has_room(self, size: int) -> bool:
        """Return whether a payload of ``size`` bytes would be accepted now."""
        if self._closed or len(self._pending) >= self.max_requests:
            return False
        return self._bytes == 0 or self._bytes + size <= self.max_bytes

    def try_put(self, request: OtlpRequest) -> bool:
        """Write ``request`` ahead and queue it if there is room; return whether it was queued (and durable)."""
        with self._cond:
            if not self.has_room(len(request.payload)):
                return False
            ok = self._append(request)
        return ok and self.commit()

    def put_unchecked(self, request: OtlpRequest) -> bool:
        """Write and queue ``request`` whatever the bound; False if the write failed (disk full, I/O error).

        With ``fsync: always`` the caller must call :meth:`commit` before acknowledging the request.
        """
        with self._cond:
            return self._append(request)

    def commit(self) -> bool:
        """Make everything written so far durable as the fsync policy requires; False if the fsync failed."""
        if self.fsync != "always":
            return True
        target = self._written
        with self._sync_lock:  # group commit: one fsync covers every write before it
            if self._synced_to >= target:
                return True
            with self._cond:
                fd, upto = self._fds.get(self._active), self._written
            try:
                if fd is not None:
                    os.fsync(fd)
            except OSError as e:
                if e.errno != errno.EBADF:  # EBADF: the segment was acknowledged and deleted meanwhile
                    _log.error("queue %s: fsync failed: %s", self.directory, e)
                    return False
            self._synced_to = upto
            return True

    def get(self, timeout: float | None = None) -> OtlpRequest | None:
        """Take the oldest request, waiting up to ``timeout`` seconds; ``None`` on timeout or closed and empty.

        A record whose checksum fails when read back is counted as corrupt and skipped.
        """
        deadline = deadline_after(timeout)
        with self._cond:
            while True:
                ready = self._wait_until(lambda: self._pending or self._closed or self._stopped, deadline)
                if not ready or self._stopped or not self._pending:
                    return None
                entry = self._pending.popleft()
                request = self._read(entry)
                if request is not None:
                    self._taken[id(request)] = entry
                    return request
                self._acknowledge(entry)

    def task_done(self, request: OtlpRequest | None = None, keep: bool = False) -> None:
        """Acknowledge ``request`` (taken with ``get``): delete it from disk, or with ``keep`` leave it for the
        next start (the shutdown deadline passed while it was being sent)."""
        with self._cond:
            entry = self._taken.pop(id(request), None)
            if entry is None:
                return
            if keep:
                self._kept.append(entry)
                self._save_cursor()
                self._cond.notify_all()
                return
            self._acknowledge(entry)

    def drain(self) -> list[OtlpRequest]:
        """Nothing is dropped at the shutdown deadline: what is still queued stays on disk for the next start
        (and ``get`` hands nothing more out, so the workers stop)."""
        with self._cond:
            self._stopped = True
            if self._pending:
                _log.warning(
                    "queue %s: %d requests kept on disk for the next start",
                    self.directory,
                    len(self._pending),
                )
            self._cond.notify_all()
        return []

    def shutdown(self) -> None:
        """Flush (per the policy), close the files and release the directory lock; the queue is unusable after."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            if self.fsync != "never":
                self._sync_all()
            for fd in [*self._fds.values(), self._cursor_fd, self._lock_fd]:
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._fds.clear()
            self._cursor_fd = self._lock_fd = -1

    # -- writing ------------------------------------------------------------------------------------------

    def _append(self, request: OtlpRequest) -> bool:
        if self._closed:
            return False
        if self._fds and self._segment_size >= self.segment_bytes:
            try:
                self._open_segment(self._next_seq)
            except OSError as e:
                _log.error("queue %s: cannot start a segment: %s", self.directory, e)
                return False
        seq = self._next_seq
        source = request.source.encode("utf-8")[:65535]
        body = _BODY.pack(SIGNALS.index(request.signal), request.items, len(source)) + source
        crc = zlib.crc32(request.payload, zlib.crc32(body, zlib.crc32(seq.to_bytes(8, "little"))))
        header = _REC.pack(_REC_MAGIC, len(body) + len(request.payload), crc, seq)
        fd, offset = self._fds[self._active], self._segment_size
        try:
            _write_all(fd, [header, body, request.payload], offset)
        except OSError as e:
            _log.error("queue %s: write failed, request refused: %s", self.directory, e)
            try:
                os.ftruncate(fd, offset)  # no half record before the next one
            except OSError:
                self._segment_size = self.segment_bytes  # start a new segment next time
            return False
        length = _REC.size + len(body) + len(request.payload)
        self._segment_size += length
        self._next_seq += 1
        self._written += 1
        self._dirty = True
        self._track(_Entry(seq, self._active, offset, length, len(request.payload)))
        self._cond.notify_all()
        return True

    def _track(self, entry: _Entry) -> None:
        self._pending.append(entry)
        self._bytes += entry.size
        self._unacked_per_segment[entry.segment] = self._unacked_per_segment.get(entry.segment, 0) + 1

    def _open_segment(self, first_seq: int) -> None:
        path = self.directory / f"{first_seq:020d}.seg"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        _write_all(fd, [_FILE_MAGIC], 0)
        previous = self._active
        if previous is not None and not self._unacked_per_segment.get(previous):
            self._delete_segment(previous)
        elif previous is not None and self.fsync != "never":
            _fsync_all(self.directory, [self._fds[previous]])  # commit() only fsyncs the active segment
        self._fds[first_seq] = fd
        self._active = first_seq
        self._segment_size = len(_FILE_MAGIC)
        self._next_seq = first_seq
        if self.fsync != "never":
            _fsync_directory(self.directory)

    def _acknowledge(self, entry: _Entry) -> None:
        self._bytes -= entry.size
        left = self._unacked_per_segment[entry.segment] - 1
        self._unacked_per_segment[entry.segment] = left
        self._save_cursor()
        if left == 0 and entry.segment != self._active:
            self._delete_segment(entry.segment)
        self._cond.notify_all()

    def _delete_segment(self, segment: int) -> None:
        self._unacked_per_segment.pop(segment, None)
        fd = self._fds.pop(segment, None)
        if fd is not None:
            os.close(fd)
        try:
            os.unlink(self.directory / f"{segment:020d}.seg")
        except OSError as e:
            _log.warning("queue %s: cannot delete segment %d: %s", self.directory, segment, e)

    def _save_cursor(self) -> None:
        """Record what is still owed: the first pending sequence number and the ones in flight."""
        in_flight = [e.seq for e in self._taken.values()] + [e.seq for e in self._kept]
        first = self._next_seq
        for entry in self._pending:  # sorted; below the boundary are the few resent from the last run
            if entry.seq >= self._boundary:
                first = entry.seq
                break
            in_flight.append(entry.seq)
        in_flight.sort()
        if len(in_flight) > _MAX_IN_FLIGHT_SAVED:  # resend more rather than lose any
            first, in_flight = min(first, in_flight[0]), []
        self._generation += 1
        head = _CUR.pack(_CUR_MAGIC, self._generation, first, len(in_flight))
        data = head + struct.pack(f"<{len(in_flight)}Q", *in_flight)
        data += zlib.crc32(data).to_bytes(4, "little")
        try:
            os.pwrite(self._cursor_fd, data, (self._generation % 2) * _SLOT)
            self._dirty = True
        except OSError as e:  # the cursor only saves resending: a failed write costs duplicates, not data
            _log.warning("queue %s: cannot write the cursor: %s", self.directory, e)

    def _sync_all(self) -> None:
        _fsync_all(self.directory, [self._fds.get(self._active, -1), self._cursor_fd])
        self._dirty = False

    def _sync_periodically(self) -> None:
        interval = self.fsync_interval_millis / 1000.0
        while True:
            with self._cond:
                if self._closed:
                    return
                fds = [self._fds.get(self._active, -1), self._cursor_fd] if self._dirty else []
                self._dirty = False
            _fsync_all(self.directory, fds)  # outside the lock: puts go on meanwhile
            time.sleep(interval)

    # -- reading and recovery ------------------------------------------------------------------------------

    def _read(self, entry: _Entry) -> OtlpRequest | None:
        fd = self._fds.get(entry.segment)
        try:
            data = os.pread(fd, entry.length, entry.offset) if fd is not None else b""
        except OSError as e:
            _log.error("queue %s: cannot read record %d: %s", self.directory, entry.seq, e)
            data = b""
        request = _decode(data, entry.seq, check=entry.recovered)
        if request is None:
            self.stats.corrupt += 1
            _log.error("queue %s: record %d is corrupt on disk, skipped", self.directory, entry.seq)
        return request

    def _recover(self) -> int:
        """Scan the segments, queue every record still owed, return the next sequence number."""
        first, in_flight = self._load_cursor()
        self._boundary = first  # owed records below it are listed one by one in the cursor
        next_seq = first
        segments = sorted(
            int(m.group(1)) for p in self.directory.iterdir() if (m := _SEGMENT_NAME.match(p.name))
        )
        for segment in segments:
            path = self.directory / f"{segment:020d}.seg"
            fd = os.open(path, os.O_RDONLY)
            self._fds[segment] = fd
            owed = 0
            for entry in self._scan(fd, segment, path):
                next_seq = max(next_seq, entry.seq + 1)
                if entry.seq >= first or entry.seq in in_flight:
                    self._track(entry)
                    owed += 1
            if not owed:
                self._delete_segment(segment)
        self.stats.recovered = len(self._pending)
        if self._pending or self.stats.corrupt:
            _log.warning(
                "queue %s: %d requests recovered from disk (to be sent again), %d corrupt records skipped",
                self.directory,
                self.stats.recovered,
                self.stats.corrupt,
            )
        return next_seq

    def _scan(self, fd: int, segment: int, path: Path) -> list[_Entry]:
        size = os.fstat(fd).st_size
        if os.pread(fd, len(_FILE_MAGIC), 0) != _FILE_MAGIC:
            if size:
                self._damage(path, 0, size)
            return []
        entries, offset = [], len(_FILE_MAGIC)
        while offset < size:
            head = os.pread(fd, _REC.size, offset)
            if len(head) < _REC.size:
                self._damage(path, offset, size - offset)
                break
            magic, length, _, seq = _REC.unpack(head)
            total = _REC.size + length
            if magic != _REC_MAGIC or offset + total > size:
                self._damage(path, offset, size - offset)
                break
            request = _decode(os.pread(fd, total, offset), seq)
            if request is None:
                self._damage(path, offset, size - offset)
                break
            entries.append(_Entry(seq, segment, offset, total, len(request.payload), recovered=True))
            offset += total
        return entries

    def _damage(self, path: Path, offset: int, skipped: int) -> None:
        self.stats.corrupt += 1
        self.stats.skipped_bytes += skipped
        _log.warning(
            "queue %s: corrupt or truncated record at byte %d, %d bytes skipped", path, offset, skipped
        )

    def _load_cursor(self) -> tuple[int, frozenset[int]]:
        best: tuple[int, int, frozenset[int]] | None = None
        for slot in (0, 1):
            data = os.pread(self._cursor_fd, _SLOT, slot * _SLOT)
            if len(data) < _CUR.size + 4:
                continue
            magic, generation, first, count = _CUR.unpack_from(data)
            end = _CUR.size + 8 * count
            if magic != _CUR_MAGIC or end + 4 > len(data):
                continue
            if zlib.crc32(data[:end]) != int.from_bytes(data[end : end + 4], "little"):
                continue
            if best is None or generation > best[0]:
                best = (generation, first, frozenset(struct.unpack_from(f"<{count}Q", data, _CUR.size)))
        if best is None:
            return 0, frozenset()  # no cursor: everything on disk is owed
        self._generation = best[0]
        return best[1], best[2]


def _decode(data: bytes, seq: int, check: bool = True) -> OtlpRequest | None:
    """Parse one record (header included); None if it is cut short, not for ``seq``, or fails its checksum
    (checked unless ``check`` is False: a record this process wrote and reads back from the page cache)."""
    if len(data) < _REC.size + _BODY.size:
        return None
    magic, length, crc, found = _REC.unpack_from(data)
    if magic != _REC_MAGIC or found != seq or len(data) != _REC.size + length:
        return None
    view = memoryview(data)[_REC.size :]
    if check and zlib.crc32(view, zlib.crc32(seq.to_bytes(8, "little"))) != crc:
        return None
    signal_index, items, source_length = _BODY.unpack_from(view)
    start = _BODY.size + source_length
    if signal_index >= len(SIGNALS) or start > len(view):
        return None
    source = bytes(view[_BODY.size : start]).decode("utf-8", "replace")
    return OtlpRequest(SIGNALS[signal_index], bytes(view[start:]), None, items, source)


def _fsync_all(directory: Path, fds: list[int]) -> None:
    for fd in fds:
        if fd >= 0:
            try:
                os.fsync(fd)
            except OSError as e:  # a closed fd after shutdown, or an I/O error
                _log.error("queue %s: fsync failed: %s", directory, e)


def _write_all(fd: int, parts: list[bytes], offset: int) -> None:
    total = sum(len(p) for p in parts)
    written = os.pwritev(fd, parts, offset)  # one system call for header, body and payload
    if written == total:
        return
    rest = memoryview(b"".join(parts))[written:]  # a short write (rare): finish it piece by piece
    offset += written
    while rest:
        n = os.pwrite(fd, rest, offset)
        rest, offset = rest[n:], offset + n


def _fsync_directory(directory: Path) -> None:
    """Make a new or deleted segment's name durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
