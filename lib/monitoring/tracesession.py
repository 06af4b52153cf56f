"""One trace client's session: samples, events and the non-blocking
writer, for :class:`trace.TraceServer`.

Imported when the first client connects, so a board that is never traced
never loads it. A :class:`Session` owns the client socket and the sampling
task, which :meth:`Session.end` releases, and uses the server's output and
input buffers (made for the first session, then kept).
Reads and writes go through :func:`listener.recv_into` and
:func:`listener.send` with the server's ``io``; with MicroPython's
``socket`` (``ipoll``, ``write(buf, off, n)`` and ``readinto``) nothing
here allocates.
"""

import gc
import sys

from . import clock
from . import tracefmt as tf
from .compat import asyncio, error_text, sleep_ms, ticks_add, ticks_diff, ticks_ms
from .sources import _version
from .listener import POLLIN, recv_into, send

_GONE = (104, 32, 107, 128)

try:
    from micropython import stack_use as _stack_use
except ImportError:
    _stack_use = None

try:
    import esp32 as _esp32
except ImportError:
    _esp32 = None

class Session:
    """Serves ``conn`` for ``server`` (its options and counters) until the
    client leaves, an error, or no write progress for
    ``server.write_timeout_ms``."""

    def __init__(self, server, conn):
        self.server = server
        self.sock = conn  # non-blocking (as the listener accepts)
        snd = server.sndbuf
        if snd is None and sys.platform == "linux":
            # Linux grows a send buffer to megabytes, where a board's lwIP
            # holds a few KB: kept near a board's, so that a client that
            # never reads stalls the writes and meets write_timeout_ms
            snd = 4096
        if snd and server.io:  # a socket module's socket
            try:
                conn.setsockopt(server.pool.SOL_SOCKET, getattr(server.pool, "SO_SNDBUF", 7), snd)
            except OSError:
                pass
        bufs = server.buffers
        if bufs is None:
            server.collect()  # what the import left: the buffers go low
        p = server.poller()
        p.register(conn, POLLIN)
        self.poll = p
        alloc = gc.mem_alloc()
        total = gc.mem_free() + alloc  # before anything allocates
        ns = clock.unix_ns()
        hdr = tf.header(server.device, sys.platform, _version(), total, server.interval_ms,
                        {"buffer_size": server.buffer_size,
                         "start_unix_ms": ns // 1000000 if clock.is_set(ns) else None})
        # the header goes first in the buffer (which grows for a long one).
        # The buffers are the server's, made for the first session and kept:
        # a session allocates no large block, so a hundred of them leave the
        # heap as they found it
        n = len(hdr)
        if bufs is None or len(bufs[0]) < n + 256:
            bufs = server.buffers = (bytearray(max(server.buffer_size, n + 256)), bytearray(64))
        self.buf, self.rbuf = bufs
        self.cap = len(self.buf)
        self.buf[0:n] = hdr
        self.used = n
        self.pending_drops = 0
        self.elapsed = 0
        self.last_ticks = ticks_ms()
        self.progress = self.last_ticks
        self.gcs = 0
        self.last_alloc = alloc
        r = server.regions
        self.lib_collects = 0
        if r is not None:
            self.lib_collects = r.collects
            for reg in r.list:
                reg.dirty = True
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
        srv = self.server
        if srv.session is self:
            srv.session = None
            srv.active = False
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
                # send what is pending, without blocking: a socket error
                # (raised) or no progress for write_timeout_ms ends the
                # session. After a partial write the rest moves to the front
                # of the buffer (that allocates a memoryview: only a slow
                # client pays it)
                u = self.used
                if not u:
                    self.progress = now
                else:
                    k = send(self.server.io, self.sock, self.buf, 0, u)
                    if k:
                        self.progress = now
                        if k < u:
                            self.buf[0:u - k] = memoryview(self.buf)[k:u]
                        self.used = u - k
                    elif ticks_diff(now, self.progress) >= srv.write_timeout_ms:
                        srv.timeouts += 1
                        break
                if not self.check_input():
                    break
                wait = ticks_diff(nxt, ticks_ms())
                if self.used:
                    wait = min(wait, 20)  # poll the writes every 20 ms
                await sleep_ms(wait if wait > 0 else 0)
        except Exception as e:  # never raise into the loop: end the session
            # the client's end (a reset 104, a broken pipe 32, gone 107 or
            # 128 on newlib boards) is no error of ours and keeps no text (a
            # string a session leaves behind lands wherever the heap had
            # reached, and splits it); anything else is recorded
            if not (isinstance(e, OSError) and e.args and e.args[0] in _GONE):
                srv.last_error = error_text(e)
        finally:
            self.task = None
            self.end()

    def now(self):
        """ms since the session started."""
        t = ticks_ms()
        self.elapsed += ticks_diff(t, self.last_ticks)
        self.last_ticks = t
        return self.elapsed

    def check_input(self, reads=16):
        """Read and discard what the client sent, up to ``reads`` buffers of
        it; False at its end (the client left) or an error."""
        for _ in self.poll.ipoll(0):  # allocates nothing
            io = self.server.io
            for _ in range(reads):
                try:
                    r = recv_into(io, self.sock, self.rbuf)
                except OSError:
                    return False
                if not r:
                    return r is None  # None: nothing more yet; 0: the end
            return True
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
        largest = None
        if _esp32 is not None:
            # ESP32: largest free block of the IDF data heaps (allocates a list)
            largest = 0
            for h in _esp32.idf_heap_info(_esp32.HEAP_DATA):
                if h[2] > largest:
                    largest = h[2]
        if not self.commit(tf.sample_line(
                self.buf, self.used, self.cap, ms, free, alloc, largest,
                _stack_use() if _stack_use is not None else None,
                tc() if tc is not None else None, self.gcs, self.pending_drops)):
            return
        self.pending_drops = 0
        srv.samples += 1
        if r is not None and r.dirty:
            # an ``R`` line per region changed since the last ones
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
        self.commit(tf.error_line(self.buf, self.used, self.cap, self.now(), b"MemoryError",
                                  where))

    def collected(self, before, after):
        self.commit(tf.gc_line(self.buf, self.used, self.cap, self.now(), before, after))
