"""Trace port: streams heap samples, markers and region totals to one TCP
client on demand (``nc board 4242``, or ``montrace``).

The asyncio edge around :mod:`tracefmt` (the line format). While nobody is
connected only the listener exists: one task polls it every
``accept_poll_ms`` and allocates nothing. When a client connects it gets
the header line, then one sample line every ``interval_ms`` and event lines
as they happen; a second client gets ``error: trace already active`` and is
closed. The session ends when the client closes, on a socket error, or when
pending output makes no progress for ``write_timeout_ms``; its buffer and
task are then released.

Writes never block: lines go into a ``buffer_size`` bytearray drained with
non-blocking sends. MicroPython only (``ipoll``, ``socket.write(buf, off,
n)`` and ``readinto``: the calls that allocate nothing). A line that does not fit is dropped and counted, and the
next sample line carries the count in its ``dropped`` column.
"""

import errno
import gc
import socket
import sys

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

from . import clock
from . import tracefmt as tf
from .sources import _version
from .compat import asyncio, sleep_ms, ticks_add, ticks_diff, ticks_ms

try:
    import select
except ImportError:  # pragma: no cover
    import uselect as select

try:
    from micropython import stack_use as _stack_use
except ImportError:
    _stack_use = None

try:
    import esp32 as _esp32
except ImportError:
    _esp32 = None

REFUSED = b"error: trace already active\n"
_ROOM = const(160)
_FLUSH_POLL_MS = const(20)
_MEMORY_ERROR = b"MemoryError"
_WOULD_BLOCK = (errno.EAGAIN, getattr(errno, "EWOULDBLOCK", errno.EAGAIN))


def _poll_flags(p):
    # events of the one registered object (ipoll allocates nothing)
    for ev in p.ipoll(0):
        return ev[1]
    return 0


def _largest_free():
    # ESP32: largest free block of the IDF data heaps (allocates a list)
    if _esp32 is None:
        return None
    info = _esp32.idf_heap_info(_esp32.HEAP_DATA)
    m = 0
    for i in range(len(info)):
        if info[i][2] > m:
            m = info[i][2]
    return m


class TraceServer:
    """The trace listener on ``host:port``.

    ``interval_ms``: time between samples (10 to 60000). ``regions``: a
    :class:`tracefmt.Regions` whose totals are streamed (and which reports
    library collections here). ``buffer_size``: bytes of unsent lines kept
    per session. ``write_timeout_ms``: a session whose pending output
    makes no progress for that long is ended. ``task_count``: optional
    callable returning the number of asyncio tasks (the ``tasks`` column,
    ``-`` without it). ``sndbuf``: socket send buffer to ask for (tests).

    Counters: ``sessions``, ``refused``, ``samples``, ``dropped`` (lines
    lost), ``timeouts`` (sessions ended by a stalled client),
    ``memory_errors``. ``active`` is True while a client is served.
    """

    def __init__(self, port=4242, interval_ms=200, host="0.0.0.0", device="micropython",
                 regions=None, buffer_size=1024, write_timeout_ms=5000, accept_poll_ms=100,
                 task_count=None, sndbuf=None):
        if not (type(port) is int and 0 <= port <= 65535 and type(interval_ms) is int
                and 10 <= interval_ms <= 60000 and type(buffer_size) is int
                and buffer_size >= 256):
            raise ValueError("bad trace option: port %r (0 to 65535), interval_ms %r (10 to "
                             "60000), buffer_size %r (>= 256)" % (port, interval_ms, buffer_size))
        self.port = port
        self.host = host
        self.interval_ms = interval_ms
        self.device = device
        self.regions = regions
        self.buffer_size = buffer_size
        self.write_timeout_ms = write_timeout_ms
        self.accept_poll_ms = accept_poll_ms
        self.task_count = task_count
        self.sndbuf = sndbuf
        self.active = False
        self.sessions = 0
        self.refused = 0
        self.samples = 0
        self.dropped = 0
        self.timeouts = 0
        self.memory_errors = 0
        self.last_error = None
        self._listener = None
        self._lpoll = None
        self._task = None
        self._stask = None
        self._sid = 0
        self._release()

    def _release(self):
        # per-session state, dropped when the session ends
        self._sock = None
        self._cpoll = None
        self._buf = None
        self._rbuf = None
        self._head = 0
        self._used = 0
        self._cap = 0
        self._pending_drops = 0

    # -- lifecycle -------------------------------------------------------

    def start(self):
        """Open the listener and start the accept task."""
        if self._task is not None:
            return self._task
        addr = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0][-1]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(addr)
            s.listen(2)
            s.setblocking(False)
        except BaseException:
            s.close()
            raise
        self._listener = s
        p = select.poll()
        p.register(s, select.POLLIN)
        self._lpoll = p
        self._task = asyncio.create_task(self._serve())
        return self._task

    def stop(self):
        """End any session, stop the task, close the listener."""
        self._end()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
            self._listener = None
            self._lpoll = None

    # -- accepting ---------------------------------------------------------

    async def _serve(self):
        while True:
            try:
                if _poll_flags(self._lpoll):
                    self._accept()
            except MemoryError:
                self.memory_error(b"trace accept")
            except OSError as e:
                self.last_error = str(e)
            await sleep_ms(self.accept_poll_ms)

    def _accept(self):
        conn, _ = self._listener.accept()
        if self.active and not self._check_input():
            self._end()  # the client left: serve the new one
        if self.active:
            try:
                conn.setblocking(False)
                conn.send(REFUSED)
            except OSError:
                pass
            conn.close()
            self.refused += 1
            return
        try:
            self._begin(conn)
        except BaseException:
            self._end()
            conn.close()
            raise

    def _begin(self, conn):
        conn.setblocking(False)
        if self.sndbuf:
            conn.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_SNDBUF", 7), self.sndbuf)
        self._sock = conn
        p = select.poll()
        p.register(conn, select.POLLIN)
        self._cpoll = p
        free = gc.mem_free()
        alloc = gc.mem_alloc()
        ns = clock.unix_ns()
        extra = {"buffer_size": self.buffer_size,
                 "start_unix_ms": ns // 1000000 if clock.is_set(ns) else None}
        hdr = tf.header(self.device, sys.platform, _version(), free + alloc,
                        self.interval_ms, extra)
        # the header goes first in the buffer (which grows for a long one)
        n = len(hdr)
        self._cap = max(self.buffer_size, n + 256)
        self._buf = bytearray(self._cap)
        self._buf[0:n] = hdr
        self._used = n
        self._rbuf = bytearray(64)
        self._elapsed = 0
        self._last_ticks = ticks_ms()
        self._progress = self._last_ticks
        self._gcs = 0
        self._last_alloc = alloc
        r = self.regions
        self._lib_collects = r.collects if r is not None else 0
        if r is not None:
            lst = r.list
            for i in range(len(lst)):
                lst[i].dirty = True
            r.dirty = True
        self._sid += 1
        self.sessions += 1
        self.active = True
        self._stask = asyncio.create_task(self._session(self._sid))

    def _end(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self.active = False
        self._release()
        t = self._stask
        self._stask = None
        if t is not None and asyncio.current_task() is not t:
            t.cancel()

    # -- the session -------------------------------------------------------

    async def _session(self, sid):
        nxt = ticks_ms()
        interval = self.interval_ms
        try:
            while self.active and self._sid == sid:
                now = ticks_ms()
                if ticks_diff(now, nxt) >= 0:
                    try:
                        self._sample()
                    except MemoryError:
                        self.memory_error(b"trace")
                    nxt = ticks_add(nxt, interval)
                    if ticks_diff(nxt, now) <= 0:
                        nxt = ticks_add(now, interval)
                if not self._flush(now) or not self._check_input():
                    break
                wait = ticks_diff(nxt, ticks_ms())
                if self._head < self._used:
                    wait = min(wait, _FLUSH_POLL_MS)
                await sleep_ms(wait if wait > 0 else 0)
        except OSError as e:
            self.last_error = str(e)
        finally:
            if self._sid == sid and self.active:
                self._stask = None
                self._end()

    def _now(self):
        t = ticks_ms()
        self._elapsed += ticks_diff(t, self._last_ticks)
        self._last_ticks = t
        return self._elapsed

    def _check_input(self):
        """Read and discard what the client sent; False at EOF or error."""
        if not _poll_flags(self._cpoll):
            return True
        try:
            return self._sock.readinto(self._rbuf) != 0  # None: nothing yet
        except OSError as e:
            return e.args[0] in _WOULD_BLOCK

    def _flush(self, now):
        """Send what is pending without blocking; False ends the session
        (error, or no progress for ``write_timeout_ms``)."""
        s = self._sock
        while self._head < self._used:
            try:
                k = s.write(self._buf, self._head, self._used - self._head)
            except OSError as e:
                if e.args[0] not in _WOULD_BLOCK:
                    self.last_error = str(e)
                    return False
                k = None
            if not k:  # None: it would block
                if ticks_diff(now, self._progress) >= self.write_timeout_ms:
                    self.timeouts += 1
                    return False
                return True
            self._progress = now
            self._head += k
        self._head = self._used = 0
        self._progress = now
        return True

    def _compact(self):
        # move pending bytes to the front; True if that freed room
        h = self._head
        if h == 0:
            return False
        u = self._used
        if h < u:
            self._buf[0:u - h] = memoryview(self._buf)[h:u]
        self._used = u - h
        self._head = 0
        return True

    def _room(self):
        if self._cap - self._used < _ROOM and self._head:
            self._compact()

    def _drop(self):
        self._pending_drops += 1
        self.dropped += 1

    def _commit(self, end):
        if end < 0:
            self._drop()
        else:
            self._used = end

    def _sample(self):
        ms = self._now()
        free = gc.mem_free()
        alloc = gc.mem_alloc()
        r = self.regions
        lib = r.collects if r is not None else 0
        if lib != self._lib_collects:
            self._gcs += lib - self._lib_collects
            self._lib_collects = lib
        elif alloc < self._last_alloc:
            self._gcs += 1
        self._last_alloc = alloc
        largest = _largest_free()
        stack = _stack_use() if _stack_use is not None else None
        tc = self.task_count
        tasks = tc() if tc is not None else None
        self._room()
        end = tf.sample_line(self._buf, self._used, self._cap, ms, free, alloc, largest,
                             stack, tasks, self._gcs, self._pending_drops)
        if end < 0:
            self._drop()
            return
        self._used = end
        self._pending_drops = 0
        self.samples += 1
        if r is not None and r.dirty:
            r.dirty = False
            lst = r.list
            for i in range(len(lst)):
                reg = lst[i]
                if reg.dirty:
                    self._room()
                    end = tf.region_line(self._buf, self._used, self._cap, ms, reg)
                    if end < 0:
                        self._drop()
                        r.dirty = True  # try again after the next sample
                    else:
                        self._used = end
                        reg.dirty = False

    # -- events (called from anywhere, synchronously) ------------------------

    def mark(self, label):
        """Queue a marker line (``label``: str or bytes; bytes allocate
        nothing). No-op without a client."""
        if not self.active:
            return
        self._room()
        end = tf.marker_line(self._buf, self._used, self._cap, self._now(), label)
        if end < 0 and self._compact():
            end = tf.marker_line(self._buf, self._used, self._cap, self._now(), label)
        self._commit(end)

    def memory_error(self, where):
        """Count a MemoryError caught in ``where`` (str or bytes) and queue
        an ``E`` line."""
        self.memory_errors += 1
        if not self.active:
            return
        self._room()
        self._commit(tf.error_line(self._buf, self._used, self._cap, self._now(), _MEMORY_ERROR,
                                   where))

    def collected(self, before, after):
        """Queue a ``G`` line: the library ran gc.collect (alloc before and
        after)."""
        if not self.active:
            return
        self._room()
        self._commit(tf.gc_line(self._buf, self._used, self._cap, self._now(), before, after))
