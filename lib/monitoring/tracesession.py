"""One trace client's session: samples, events and the non-blocking
writer, for :class:`trace.TraceServer`.

Imported when the first client connects, so a board that is never traced
never loads it. A :class:`Session` owns the client socket, a preallocated
output buffer and the sampling task; :meth:`Session.end` releases all three.
MicroPython only (``ipoll``, ``socket.write(buf, off, n)`` and
``readinto``: the calls that allocate nothing).
"""

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
from .compat import asyncio, sleep_ms, ticks_add, ticks_diff, ticks_ms
from .sources import _version
from .trace import _WOULD_BLOCK, _poll_flags, select

try:
    from micropython import stack_use as _stack_use
except ImportError:
    _stack_use = None

try:
    import esp32 as _esp32
except ImportError:
    _esp32 = None

_FLUSH_POLL_MS = const(20)
_MEMORY_ERROR = b"MemoryError"


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


def _header(server, heap_total):
    ns = clock.unix_ns()
    extra = {"buffer_size": server.buffer_size,
             "start_unix_ms": ns // 1000000 if clock.is_set(ns) else None}
    return tf.header(server.device, sys.platform, _version(), heap_total, server.interval_ms,
                     extra)


class Session:
    """Serves ``conn`` for ``server`` (its options and counters) until the
    client leaves, an error, or no write progress for
    ``server.write_timeout_ms``."""

    def __init__(self, server, conn):
        self.server = server
        self.sock = conn
        conn.setblocking(False)
        if server.sndbuf:
            conn.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_SNDBUF", 7), server.sndbuf)
        p = select.poll()
        p.register(conn, select.POLLIN)
        self.poll = p
        alloc = gc.mem_alloc()
        hdr = _header(server, gc.mem_free() + alloc)
        # the header goes first in the buffer (which grows for a long one)
        n = len(hdr)
        self.cap = max(server.buffer_size, n + 256)
        self.buf = bytearray(self.cap)
        self.buf[0:n] = hdr
        self.used = n
        self.rbuf = bytearray(64)
        self.pending_drops = 0
        self.elapsed = 0
        self.last_ticks = ticks_ms()
        self.progress = self.last_ticks
        self.gcs = 0
        self.last_alloc = alloc
        r = server.regions
        self.lib_collects = r.collects if r is not None else 0
        if r is not None:
            lst = r.list
            for i in range(len(lst)):
                lst[i].dirty = True
            r.dirty = True
        self.live = True
        self.task = asyncio.create_task(self.run())

    def end(self):
        """Close the client and release the buffer and the task."""
        if not self.live:
            return
        self.live = False
        try:
            self.sock.close()
        except OSError:
            pass
        self.sock = self.poll = self.buf = self.rbuf = None
        self.server._ended(self)
        t = self.task
        self.task = None
        if t is not None and asyncio.current_task() is not t:
            t.cancel()

    async def run(self):
        srv = self.server
        interval = srv.interval_ms
        nxt = ticks_ms()
        try:
            while self.live:
                now = ticks_ms()
                if ticks_diff(now, nxt) >= 0:
                    try:
                        self.sample()
                    except MemoryError:
                        srv.memory_error(b"trace")
                    nxt = ticks_add(nxt, interval)
                    if ticks_diff(nxt, now) <= 0:
                        nxt = ticks_add(now, interval)
                if not self.flush(now) or not self.check_input():
                    break
                wait = ticks_diff(nxt, ticks_ms())
                if self.used:
                    wait = min(wait, _FLUSH_POLL_MS)
                await sleep_ms(wait if wait > 0 else 0)
        except Exception as e:  # never raise into the loop: end the session
            srv.last_error = str(e)
        finally:
            self.task = None
            self.end()

    def now(self):
        """ms since the session started."""
        t = ticks_ms()
        self.elapsed += ticks_diff(t, self.last_ticks)
        self.last_ticks = t
        return self.elapsed

    def check_input(self):
        """Read and discard what the client sent; False at EOF or error."""
        if not _poll_flags(self.poll):
            return True
        try:
            return self.sock.readinto(self.rbuf) != 0  # None: nothing yet
        except OSError as e:
            return e.args[0] in _WOULD_BLOCK

    def flush(self, now):
        """Send what is pending without blocking; False ends the session
        (error, or no progress for ``write_timeout_ms``). After a partial
        write the rest moves to the front of the buffer (that allocates a
        memoryview: only a slow client pays it)."""
        u = self.used
        if not u:
            self.progress = now
            return True
        try:
            k = self.sock.write(self.buf, 0, u)
        except OSError as e:
            if e.args[0] not in _WOULD_BLOCK:
                self.server.last_error = str(e)
                return False
            k = None
        if not k:  # None: it would block
            if ticks_diff(now, self.progress) >= self.server.write_timeout_ms:
                self.server.timeouts += 1
                return False
            return True
        self.progress = now
        if k < u:
            self.buf[0:u - k] = memoryview(self.buf)[k:u]
        self.used = u - k
        return True

    def commit(self, end):
        """Keep a line encoded at ``used`` (``end`` > 0) or count it lost."""
        if end < 0:
            self.pending_drops += 1
            self.server.dropped += 1
            return False
        self.used = end
        return True

    def sample(self):
        """Queue an ``S`` line, then ``R`` lines for changed regions."""
        srv = self.server
        ms = self.now()
        free = gc.mem_free()
        alloc = gc.mem_alloc()
        r = srv.regions
        lib = r.collects if r is not None else 0
        if lib != self.lib_collects:
            self.gcs += lib - self.lib_collects
            self.lib_collects = lib
        elif alloc < self.last_alloc:
            self.gcs += 1
        self.last_alloc = alloc
        tc = srv.task_count
        if not self.commit(tf.sample_line(
                self.buf, self.used, self.cap, ms, free, alloc, _largest_free(),
                _stack_use() if _stack_use is not None else None,
                tc() if tc is not None else None, self.gcs, self.pending_drops)):
            return
        self.pending_drops = 0
        srv.samples += 1
        if r is not None and r.dirty:
            self.region_lines(r, ms)

    def region_lines(self, r, ms):
        """Queue an ``R`` line per region changed since the last ones."""
        r.dirty = False
        lst = r.list
        for i in range(len(lst)):
            reg = lst[i]
            if reg.dirty:
                if self.commit(tf.region_line(self.buf, self.used, self.cap, ms, reg)):
                    reg.dirty = False
                else:
                    r.dirty = True  # try again after the next sample

    def mark(self, label):
        self.commit(tf.marker_line(self.buf, self.used, self.cap, self.now(), label))

    def memory_error(self, where):
        self.commit(tf.error_line(self.buf, self.used, self.cap, self.now(), _MEMORY_ERROR,
                                  where))

    def collected(self, before, after):
        self.commit(tf.gc_line(self.buf, self.used, self.cap, self.now(), before, after))
