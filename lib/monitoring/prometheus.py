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
  ``408`` and closed; a request body (``Content-Length``, up to 64 KB) is
  read and forgotten before the connection is closed, so that the close
  does not reset it under the answer; a longer one, or a body of chunks,
  gets ``413``;
- at most ``max_clients`` connections are served at once; further ones wait
  in the listen backlog (queued, not refused) until a slot frees, which
  takes at most ``timeout_ms``: the longest any connection is kept.

One task serves every connection: non-blocking sockets polled (with
``select.poll``, or by attempts on a CircuitPython pool: see
:mod:`netpool`) every ``poll_ms`` when idle, so the loop is never blocked
and an idle server costs one poll per ``poll_ms``. Buffers are allocated
once, in :meth:`start` (one of ``max(buf_size, head_max)`` bytes per
connection slot).

Counts on the server: ``scrapes`` (complete ``/metrics`` answers),
``bytes_sent`` (all response bytes), ``rejected`` (4xx answers),
``timeouts`` (408 answers and responses not finished in time),
``errors`` (connections lost to socket errors or to an error while
writing the exposition; the last one in ``last_error``).
"""

from .compat import const, error_text, ticks_add, ticks_diff, ticks_ms
from .listener import PolledListener, recv_into, send
from .promfmt import PromEncoder, body_length, chunk_header, response_head, route, wants_chunked

_FREE = const(0)
_READ = const(1)
_SEND = const(2)
_DRAIN = const(3)
_DRAIN_MS = const(200)
# the longest request body read (and forgotten); a longer one gets a 413
_BODY_MAX = const(65536)
# select.POLLIN, select.POLLOUT (the same on every port)
_POLLIN = const(1)
_POLLOUT = const(4)
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
        self.left = 0  # request body bytes not read yet
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
        # chunked: 0 (next chunk), n > 0 (size line out, its n bytes next),
        # -1 (the chunk out, its CRLF next)
        self.phase = 0


# the ``prometheus`` section: key, default, rule, ...; see docs/prometheus.md
OPTIONS = (
    "port", 9100, (0, 65535),
    "addr", "0.0.0.0", "host",
    "clients", 2, (1, 8),
)


def check(section):
    """The ``prometheus`` section checked: every key, defaults filled in."""
    from . import options

    return options.check("prometheus", OPTIONS, section)


def start(mon, o):
    """Serve ``/metrics`` for the checked section ``o`` as ``mon.prometheus``."""
    mon.prometheus = mon._add(PrometheusServer(mon.registry, o, pool=mon.pool))
    net = mon.registry.get("net")
    if net is not None:
        from .netsources import PROM_FIELDS

        # the fields exist from the start: a sample on a tight heap
        # later never has to grow the source
        for name in PROM_FIELDS:
            net.incr(name, 0)
        net.sample()


class PrometheusServer(PolledListener):
    """Serves ``registry``'s active sources at ``/metrics`` as the
    ``prometheus`` section ``section`` says (the dict :func:`check`
    returns). ``start()`` binds (raising OSError if the port is
    taken) and starts the serving task; ``stop()`` closes everything.
    The rest tunes buffers (``buf_size`` >= 128, ``head_max`` >= 64) and
    timeouts; ``pool``: where the sockets come from (None: the ``socket``
    module; see :mod:`netpool`)."""

    def __init__(self, registry, section, buf_size=512, head_max=512, head_timeout_ms=2000,
                 timeout_ms=5000, poll_ms=20, backlog=2, pool=None):
        o = section
        PolledListener.__init__(self, o["port"], o["addr"], poll_ms, backlog, pool)
        self.registry = registry
        self.max_clients = o["clients"]
        self.buf_size = buf_size
        self.head_max = head_max
        self.head_timeout_ms = head_timeout_ms
        self.timeout_ms = timeout_ms
        self.encoder = PromEncoder()
        self.scrapes = 0
        self.bytes_sent = 0
        self.rejected = 0
        self.timeouts = 0
        self.errors = 0

    def bind(self):
        """Open the listening socket and allocate the connection slots
        (done by :meth:`start`)."""
        PolledListener.bind(self)
        cl = self.clients
        if not cl:
            cl = self.clients = []
            for _ in range(self.max_clients):
                cl.append(_Slot(max(self.buf_size, self.head_max)))

    def _failed(self, e):
        self.errors += 1
        PolledListener._failed(self, e, b"prometheus", 120)

    # -- serving -----------------------------------------------------------

    def step(self):
        """One round: accept, read, write, time out. Returns True while a
        response is being sent (the caller then polls again at once)."""
        pending = self._polled()
        slots = self.clients
        now = ticks_ms()
        busy = False
        for i in range(len(slots)):
            sl = slots[i]
            st = sl.state
            if st == _FREE:
                if pending:
                    pending = False
                    if self._accept(sl) is not None:
                        sl.state = _READ
                        sl.n = 0
                        sl.left = 0
                        sl.start = now
                        sl.deadline = ticks_add(now, self.head_timeout_ms)
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
            if st == _SEND or (st == _DRAIN and sl.left > 0):
                busy = True
            if st != _FREE and ticks_diff(now, sl.deadline) >= 0:
                # out of time: an incomplete request gets a 408, the rest
                # is closed
                if st == _READ:
                    self.timeouts += 1
                    sl.deadline = ticks_add(now, _DRAIN_MS)
                    self._respond(sl, 408)
                else:
                    if st == _SEND:
                        self.timeouts += 1
                    self._close(sl)
        return busy

    def _drain(self, sl):
        # read and forget what the client sends (a body, the rest of a
        # refused request) until it closes, or, once the body announced
        # has been read after a 200, close: nothing unread, no reset
        for _ in range(16):  # at most 16 buffers a round: the loop goes on
            try:
                r = recv_into(self.io, sl.sock, sl.buf)
            except OSError:
                r = 0
            if r is None:
                return
            if r == 0:
                break
            sl.left -= r
            if sl.left <= 0 and sl.status == 200:
                break
        else:
            return
        self._close(sl)

    def _close(self, sl):
        sl.gen = None
        sl.state = _FREE
        PolledListener._close(self, sl)

    def _respond(self, sl, status, chunked=False):
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
        self._poll.modify(sl.sock, _POLLOUT)
        self._send(sl)

    def _read(self, sl):
        mv = sl.mv
        n = sl.n
        try:
            r = recv_into(self.io, sl.sock, mv[n:self.head_max])
        except OSError:
            self.errors += 1
            r = 0
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
            body = body_length(head)
            # the body's bytes not read yet (some may have come with the head)
            sl.left = body - (sl.n - end - (4 if buf[end] == 13 else 2))
            status = route(head)
            if body < 0 or body > _BODY_MAX:
                status = 413
            self._respond(sl, status, wants_chunked(head))
        elif sl.n >= self.head_max:
            sl.deadline = ticks_add(ticks_ms(), self.timeout_ms)
            sl.left = 0
            self._respond(sl, 413)

    def _send(self, sl):
        # send sl's response piece by piece while the socket takes it
        s = sl.sock
        while True:
            if sl.out is None and not self._next_piece(sl):
                return
            pos = sl.pos
            end = sl.end
            try:
                k = send(self.io, s, sl.out, pos, end)
            except OSError:
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

    def _next_piece(self, sl):
        # the next piece of sl's response as sl.out[0:sl.end]: chunked, a
        # chunk's size line, its bytes and its CRLF, then the last chunk;
        # else the exposition's bytes as they come. False when there is
        # none: the response is finished (or cut short, and closed).
        phase = sl.phase
        sl.pos = 0
        if phase > 0:  # a chunk-size line sent: the chunk's bytes
            sl.out = sl.buf
            sl.end = phase
            sl.phase = -1
            return True
        if phase:  # the CRLF closing a chunk
            sl.out = _CRLF
            sl.end = 2
            sl.phase = 0
            return True
        if sl.gen is not None:
            try:
                n = next(sl.gen)
            except StopIteration:
                n = 0
            except Exception as e:
                # cut short: with chunked encoding the scraper sees no
                # closing chunk and discards the scrape
                self.errors += 1
                self.last_error = error_text(e, 120, True)
                self._close(sl)
                return False
            if n:
                sl.out = sl.buf
                sl.end = n
                if sl.chunked:  # its size line first
                    sl.out = sl.hdr
                    sl.end = chunk_header(sl.hdr, n)
                    sl.phase = n
                return True
            sl.gen = None
            if sl.chunked:
                sl.out = _LAST_CHUNK
                sl.end = 5
                return True
        # the whole response is out
        if sl.status == 200:
            self.scrapes += 1
            if sl.left <= 0:
                self._close(sl)
                return False
            # the request's body first, then close
            sl.state = _DRAIN
            self._poll.modify(sl.sock, _POLLIN)
            self._drain(sl)
        else:
            # read what the client still sends for a moment, so that
            # closing does not reset the connection under the answer
            sl.state = _DRAIN
            sl.deadline = ticks_add(ticks_ms(), _DRAIN_MS)
            self._poll.modify(sl.sock, _POLLIN)
        return False
