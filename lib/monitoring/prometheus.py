"""Prometheus endpoint: a tiny HTTP server answering ``GET /metrics``.

The asyncio edge around :mod:`promfmt` (exposition text and routing).

- ``GET /metrics`` -> ``200`` with ``Content-Type: text/plain;
  version=0.0.4``, the body streamed family by family through a small
  per-connection buffer. To an HTTP/1.1 request (Prometheus sends those)
  the body goes in chunked transfer encoding, so a scrape cut short (a
  MemoryError while writing it, say) lacks the closing chunk and the
  scraper discards it instead of storing half; to HTTP/1.0 it is ended by
  closing the connection. ``Connection: close`` either way;
- another path -> ``404``; another method -> ``405``; a request line that is
  not HTTP -> ``400``; a request head (request line and headers) longer than
  ``head_max`` bytes -> ``413``; a head not complete within
  ``head_timeout_ms`` of the connection being accepted (a slowloris) ->
  ``408`` and closed;
- at most ``max_clients`` connections are served at once; further ones wait
  in the listen backlog (queued, not refused) until a slot frees, which
  takes at most ``timeout_ms``: the longest any connection is kept.

One task serves every connection: non-blocking sockets polled with
``select.poll`` every ``poll_ms`` when idle, so the loop is never blocked
and an idle server costs one poll per ``poll_ms``. Buffers are allocated
once, in :meth:`start` (one of ``max(buf_size, head_max)`` bytes per
connection slot).

Counts on the server: ``scrapes`` (complete ``/metrics`` answers),
``bytes_sent`` (all response bytes), ``rejected`` (4xx answers),
``timeouts`` (408 answers and responses not finished in time),
``errors`` (connections lost to socket errors or to an error while
writing the exposition; the last one in ``last_error``).
"""

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

import errno
import select
import socket

from .compat import asyncio, sleep_ms, ticks_add, ticks_diff, ticks_ms
from .promfmt import PromEncoder, chunk_header, response_head, route, wants_chunked

_FREE = const(0)
_READ = const(1)
_SEND = const(2)
_DRAIN = const(3)
_DRAIN_MS = const(200)
# MicroPython sockets: write(buf, off, n) sends a part of buf without a slice
_WRITE = hasattr(socket.socket, "write")


def _recv_into(s, buf):
    # bytes read into buf; None when nothing is there yet, 0 at EOF
    if _WRITE:
        return s.readinto(buf)
    try:
        return s.recv_into(buf)
    except OSError as e:
        if e.args and e.args[0] == errno.EAGAIN:
            return None
        raise


_PH_DATA = const(1)
_PH_CRLF = const(2)
_CRLF = b"\r\n"
_LAST_CHUNK = b"0\r\n\r\n"


class _Slot:
    # one connection: its socket, state and buffer
    def __init__(self, size):
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.state = _FREE
        self.sock = None
        self.fd = -1
        self.n = 0
        self.out = None
        self.pos = 0
        self.end = 0
        self.gen = None
        self.status = 0
        self.start = 0
        self.deadline = 0
        self.flags = 0
        self.chunked = False
        self.hdr = bytearray(10)  # a chunk-size line
        self.chunk = 0
        self.phase = 0


class PrometheusServer:
    """Serves ``registry``'s active sources on ``addr:port`` at
    ``/metrics``. ``start()`` binds (raising OSError if the port is taken)
    and starts the serving task; ``stop()`` closes everything."""

    def __init__(self, registry, port=9100, addr="0.0.0.0", max_clients=2, buf_size=512,
                 head_max=512, head_timeout_ms=2000, timeout_ms=5000, poll_ms=20,
                 backlog=2):
        if max_clients < 1:
            raise ValueError("bad max_clients: %r" % (max_clients,))
        if buf_size < 128 or head_max < 64:
            raise ValueError("buffers too small")
        self.registry = registry
        self.port = port
        self.addr = addr
        self.max_clients = max_clients
        self.buf_size = buf_size
        self.head_max = head_max
        self.head_timeout_ms = head_timeout_ms
        self.timeout_ms = timeout_ms
        self.poll_ms = poll_ms
        self.backlog = backlog
        self.encoder = PromEncoder()
        self.scrapes = 0
        self.bytes_sent = 0
        self.rejected = 0
        self.timeouts = 0
        self.errors = 0
        self.last_error = None
        self._lsock = None
        self._poll = None
        self._slots = ()
        self._task = None

    # -- lifecycle -------------------------------------------------------

    def start(self):
        """Bind, listen and start the serving task."""
        if self._task is not None:
            return self._task
        ai = socket.getaddrinfo(self.addr, self.port, 0, socket.SOCK_STREAM)[0][-1]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(ai)
            s.listen(self.backlog)
            s.setblocking(False)
        except BaseException:
            s.close()
            raise
        self._lsock = s
        self._lfd = s.fileno()
        self._poll = select.poll()
        self._poll.register(s, select.POLLIN)
        self._ipoll = getattr(self._poll, "ipoll", self._poll.poll)
        size = self.buf_size if self.buf_size > self.head_max else self.head_max
        self._slots = tuple(_Slot(size) for _ in range(self.max_clients))
        self._task = asyncio.create_task(self.run())
        return self._task

    def stop(self):
        """Stop serving: the task cancelled, every socket closed."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for sl in self._slots:
            self._close(sl)
        if self._lsock is not None:
            try:
                self._poll.unregister(self._lsock)
            except Exception:
                pass
            self._lsock.close()
            self._lsock = None

    # -- serving -----------------------------------------------------------

    async def run(self):
        """Serve until cancelled."""
        while True:
            try:
                busy = self.step()
            except Exception as e:  # defensive: the server must not die
                self.errors += 1
                self.last_error = repr(e)[:120]
                if isinstance(e, MemoryError):
                    from . import memory_error

                    memory_error(b"prometheus")
                busy = False
            await sleep_ms(0 if busy else self.poll_ms)

    def step(self):
        """One round: accept, read, write, time out. Returns True while a
        response is being sent (the caller then polls again at once)."""
        slots = self._slots
        lsock = self._lsock
        lfd = self._lfd
        pending = False
        for ev in self._ipoll(0):
            s = ev[0]
            if s is lsock or s == lfd:
                pending = True
                continue
            for i in range(len(slots)):
                sl = slots[i]
                if sl.state != _FREE and (s is sl.sock or s == sl.fd):
                    sl.flags = ev[1]
        now = ticks_ms()
        busy = False
        for i in range(len(slots)):
            sl = slots[i]
            st = sl.state
            if st == _FREE:
                if pending:
                    pending = False
                    self._accept(sl, now)
                continue
            fl = sl.flags
            sl.flags = 0
            if fl:
                if st == _READ:
                    self._read(sl)
                elif st == _SEND:
                    self._send(sl)
                else:
                    self._drain(sl)
            st = sl.state
            if st == _SEND:
                busy = True
            if st != _FREE and ticks_diff(now, sl.deadline) >= 0:
                self._expired(sl, now)
        return busy

    def _accept(self, sl, now):
        try:
            c, _ = self._lsock.accept()
        except OSError:
            return
        c.setblocking(False)
        sl.sock = c
        sl.fd = c.fileno()
        sl.state = _READ
        sl.n = 0
        sl.flags = 0
        sl.start = now
        sl.deadline = ticks_add(now, self.head_timeout_ms)
        self._poll.register(c, select.POLLIN)

    def _close(self, sl):
        s = sl.sock
        if s is not None:
            try:
                self._poll.unregister(s)
            except Exception:
                pass
            try:
                s.close()
            except OSError:
                pass
        sl.sock = None
        sl.fd = -1
        sl.gen = None
        sl.out = None
        sl.state = _FREE

    def _respond(self, sl, status, now, chunked=False):
        sl.status = status
        sl.chunked = chunked and status == 200
        sl.phase = 0
        sl.out = response_head(status, sl.chunked)
        sl.end = len(sl.out)
        sl.pos = 0
        sl.state = _SEND
        if status == 200:
            sl.gen = self.encoder.chunks(self.registry, sl.buf)
        else:
            self.rejected += status < 500
            sl.gen = None
        self._poll.modify(sl.sock, select.POLLOUT)
        self._send(sl)

    def _read(self, sl):
        mv = sl.mv
        n = sl.n
        try:
            r = _recv_into(sl.sock, mv[n:self.head_max])
        except OSError:
            self.errors += 1
            self._close(sl)
            return
        if r is None:
            return
        if r == 0:
            self._close(sl)  # the client went away before asking
            return
        sl.n = n + r
        buf = sl.buf
        lo = n - 3 if n > 3 else 0
        end = buf.find(b"\r\n\r\n", lo, sl.n)
        if end < 0:
            end = buf.find(b"\n\n", lo, sl.n)
        if end >= 0:
            sl.deadline = ticks_add(sl.start, self.timeout_ms)
            head = bytes(mv[:end])
            self._respond(sl, route(head), ticks_ms(), wants_chunked(head))
        elif sl.n >= self.head_max:
            sl.deadline = ticks_add(ticks_ms(), self.timeout_ms)
            self._respond(sl, 413, ticks_ms())

    def _send(self, sl):
        s = sl.sock
        while True:
            out = sl.out
            if out is None:
                phase = sl.phase
                if phase == _PH_DATA:  # chunk-size line sent: the data
                    sl.out = sl.buf
                    sl.end = sl.chunk
                    sl.pos = 0
                    sl.phase = _PH_CRLF
                    continue
                if phase == _PH_CRLF:  # the CRLF closing a chunk
                    sl.out = _CRLF
                    sl.end = 2
                    sl.pos = 0
                    sl.phase = 0
                    continue
                if sl.gen is not None:
                    try:
                        n = next(sl.gen)
                    except StopIteration:
                        n = 0
                    except Exception as e:
                        # cut short: with chunked encoding the scraper sees
                        # no closing chunk and discards the scrape
                        self.errors += 1
                        self.last_error = repr(e)[:120]
                        self._close(sl)
                        return
                    if n:
                        sl.pos = 0
                        if sl.chunked:
                            sl.chunk = n
                            sl.out = sl.hdr
                            sl.end = chunk_header(sl.hdr, n)
                            sl.phase = _PH_DATA
                        else:
                            sl.out = sl.buf
                            sl.end = n
                        continue
                    sl.gen = None
                    if sl.chunked:
                        sl.out = _LAST_CHUNK
                        sl.end = 5
                        sl.pos = 0
                        continue
                # the whole response is out
                if sl.status == 200:
                    self.scrapes += 1
                    self._close(sl)
                else:
                    # read what the client still sends for a moment, so that
                    # closing does not reset the connection under the answer
                    sl.state = _DRAIN
                    sl.deadline = ticks_add(ticks_ms(), _DRAIN_MS)
                    self._poll.modify(s, select.POLLIN)
                return
            pos = sl.pos
            end = sl.end
            try:
                if _WRITE:
                    # MicroPython: write(buf, off, n), None when it would block
                    k = s.write(out, pos, end - pos)
                else:
                    k = s.send(memoryview(out)[pos:end])
            except OSError as e:
                if e.args and e.args[0] == errno.EAGAIN:  # try again later
                    return
                self.errors += 1
                self._close(sl)
                return
            if not k:
                return
            self.bytes_sent += k
            pos += k
            if pos >= end:
                sl.out = None
            else:
                sl.pos = pos
                return

    def _drain(self, sl):
        try:
            r = _recv_into(sl.sock, sl.buf)
        except OSError:
            self._close(sl)
            return
        if r == 0:
            self._close(sl)

    def _expired(self, sl, now):
        st = sl.state
        if st == _READ:
            self.timeouts += 1
            sl.deadline = ticks_add(now, _DRAIN_MS)
            self._respond(sl, 408, now)
        else:
            if st == _SEND:
                self.timeouts += 1
            self._close(sl)

