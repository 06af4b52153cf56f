"""Non-blocking TCP and UDP clients driven cooperatively from asyncio.

Sockets are non-blocking and come from a pool (:mod:`netpool`: the
``socket`` module, or CircuitPython's ``SocketPool``); when one cannot
make progress the coroutine sleeps a few milliseconds and polls again, so
the event loop is never blocked and the same code runs on MicroPython,
CircuitPython and CPython. Every wait is bounded by a timeout. (One
exception: CircuitPython on ESP32 cannot follow a non-blocking connect,
so there a connect waits, at most ``timeout_ms``: see :mod:`netpool`.)

Name resolution (the pool's ``getaddrinfo``) may block on a board when
given a host name; it is done once per client and cached (a failed one is
tried again at the next send). Give IP addresses on boards where that
matters.
"""

import errno

from .backoff import Backoff
from .compat import WOULD_BLOCK, asyncio, error_text, sleep_ms, ticks_diff, ticks_ms, use_pool

_IN_PROGRESS = (errno.EINPROGRESS, getattr(errno, "EALREADY", 114)) + WOULD_BLOCK
ETIMEDOUT = getattr(errno, "ETIMEDOUT", 110)


def tls_keys(o):
    """The TLS keys of a checked section ``o`` (syslog, influx) against
    its transport, as an options ``cross`` returns: :func:`tlsio.check`,
    imported only when they or a TLS transport are there."""
    if o["ca"] or o["insecure"] or o["cert"] or o["key"] or o["server_name"] \
            or o["transport"] in ("tls", "https"):
        from .tlsio import check

        return check(o)
    return None


class UdpClient:
    """Datagrams to ``host:port``; ``send`` never blocks (a datagram the
    stack cannot take right now raises OSError(EAGAIN)). Also what
    :class:`TcpClient` builds on: the peer, the socket (None while
    closed) and the peer's address, resolved once. ``pool``: where the
    socket comes from (None: the ``socket`` module)."""

    def __init__(self, host, port, pool=None):
        use_pool(self, pool)  # pool and io
        self.host = host
        self.port = port
        # _raw: beneath a TLS socket, the pool's (closed with it)
        self.sock = self._addr = self._raw = None

    def _new_sock(self, kind):
        # a non-blocking socket of ``kind``; the address is resolved (with
        # a blocking DNS lookup when the host is a name) the first time
        pool = self.pool
        if self._addr is None:
            self._addr = pool.getaddrinfo(self.host, self.port, 0, kind)[0][-1]
        s = pool.socket(pool.AF_INET, kind)
        s.setblocking(False)
        return s

    def send(self, buf):
        """Send one datagram; returns its size."""
        if self.sock is None:
            self.sock = self._new_sock(self.pool.SOCK_DGRAM)
        return self.sock.sendto(buf, self._addr)

    def close(self):
        """Close the socket (safe to call twice)."""
        s = self.sock
        self.sock = None
        for s in (s, self._raw):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self._raw = None


class TcpClient(UdpClient):
    """One TCP connection to ``host:port``.

    ``await connect()`` then ``await send(buf)``; ``close()`` any time.
    Errors raise OSError (a timeout as ``OSError(ETIMEDOUT)``).
    ``counters`` (optional, a :class:`sources.Counters`): its
    ``reconnects`` is bumped at every successful connect after the first.
    Only the peer, socket and ``close`` come from :class:`UdpClient`.

    ``tls`` (a :class:`tlsio.Tls`, or None): the connection is wrapped in
    TLS once connected; ``handshaking`` is True until the first bytes
    are taken (the handshake is done by the first writes, a step at a
    time, see :mod:`tlsio`), and what a TLS socket raises comes out as
    :func:`tlsio.why` names it.
    """

    def __init__(self, host, port, timeout_ms=5000, counters=None, pool=None, tls=None):
        UdpClient.__init__(self, host, port, pool)
        self.timeout_ms = timeout_ms
        self.counters = counters
        self.ever_connected = False
        self.tls = tls
        self.handshaking = False

    def _pause(self, start):
        # no progress since ``start``: raise once timeout_ms have passed,
        # else a sleep to await before polling again, growing with the wait
        # (0 ms, then a quarter of the time waited, at most 5 ms): a peer
        # on the LAN answers in a millisecond or two, and is served then
        waited = ticks_diff(ticks_ms(), start)
        if waited >= self.timeout_ms:
            raise OSError(ETIMEDOUT)
        return sleep_ms(waited >> 2 if waited < 20 else 5)

    async def connect(self):
        """Open the connection (no-op if open)."""
        if self.sock is not None:
            return
        t = self.tls
        if t is not None and not self.io:
            # CircuitPython's ssl: connect and handshake in one blocking call
            s = t.connect_blocking(self)
        elif not self.io:
            # a pool with no poll to trust (CircuitPython): by attempts
            from .netpool import connect

            s = await connect(self)
        else:
            import select

            s = self._new_sock(self.pool.SOCK_STREAM)
            try:
                try:
                    s.connect(self._addr)
                except OSError as e:
                    if e.errno not in _IN_PROGRESS:
                        raise
                # wait until writable (connected) or failed
                p = select.poll()
                p.register(s, select.POLLOUT)
                start = ticks_ms()
                while True:
                    ev = p.poll(0)
                    if ev:
                        if ev[0][1] & (select.POLLERR | select.POLLHUP):
                            # connecting again reports why it failed
                            # (ECONNREFUSED...) where the stack keeps it
                            s.connect(self._addr)
                            raise OSError(errno.ECONNRESET)
                        break
                    await self._pause(start)
            except BaseException:
                s.close()
                raise
            if t is not None:
                s = t.wrap(self, s)  # the handshake under way
        self.sock = s
        if not self.handshaking:
            self._connected()

    def _connected(self):
        # counted once the connection can carry bytes (over TLS: once the
        # handshake is over)
        c = self.counters
        if self.ever_connected and c is not None:
            c.reconnects += 1
        self.ever_connected = True

    def send_now(self, buf, k):
        """Send what the socket takes of the first ``k`` bytes of ``buf``
        at once, with no wait and no coroutine made; returns how many
        bytes (0: it would block, or a TLS handshake is under way, which
        ``send`` carries on), also in ``partial``. Errors as ``send``.
        Allocates nothing on MicroPython (``write(buf, 0, k)``)."""
        s = self.sock
        self.partial = 0
        if s is None:
            raise OSError(errno.ENOTCONN)
        if self.handshaking:
            return 0
        try:
            n = s.write(buf, 0, k) if self.io == 2 else s.send(memoryview(buf)[0:k])
        except OSError as e:
            if e.errno in WOULD_BLOCK:
                return 0
            self._failed(e)
            raise
        self.partial = n = n or 0  # (None: it would block)
        return n

    async def send(self, buf, sent=0):
        """Send all of ``buf`` (from byte ``sent`` on: what ``send_now``
        took is not sent again) and return its length.

        On an error, or no progress for ``timeout_ms``, the connection is
        closed and OSError raised; ``self.partial`` then holds how many
        bytes of ``buf`` were sent before the failure."""
        mv = buf if type(buf) is memoryview else memoryview(buf)
        self.partial = sent
        start = ticks_ms()
        s = self.sock
        if s is None:
            raise OSError(errno.ENOTCONN)
        try:
            while sent < len(mv):
                hs = self.handshaking
                try:
                    # while the handshake is under way, one byte at a time
                    n = s.send(mv[sent:sent + 1] if hs else mv[sent:] if sent else mv)
                except OSError as e:
                    if e.errno not in WOULD_BLOCK:
                        raise
                    n = 0
                if n:
                    if hs:
                        await self.tls.settle(self)
                    sent += n
                    self.partial = sent
                    start = ticks_ms()
                else:
                    await self._pause(start)
        except BaseException as e:
            self._failed(e)
            raise
        return sent

    def _failed(self, e):
        # closed on any failure; what TLS raised is raised named
        self.close()
        if self.tls is not None and isinstance(e, Exception):
            self.tls.error(self, e)

    def closed(self, mv):
        """Whether the connection is closed, or has now been: closed when
        the peer closed it (EOF), sent bytes (read into ``mv``, a peer that
        should say nothing) or fails. For a peer that never writes
        unasked (syslog; HTTP between requests)."""
        if self.sock is not None:
            try:
                if self.read_now(mv) < 0:
                    return False
            except OSError:
                pass
            self.close()
        return True

    def read_now(self, mv):
        """Read what the peer sent into ``mv`` without waiting: the byte
        count, 0 at EOF, -1 when nothing is waiting. Allocates nothing on
        MicroPython."""
        s = self.sock
        try:
            n = s.readinto(mv) if self.io == 2 else s.recv_into(mv)
        except OSError as e:
            if e.errno in WOULD_BLOCK:
                return -1
            if e.errno == errno.ENOTCONN:  # the end, on CircuitPython's ESP32
                return 0
            if self.tls is not None:
                self.tls.error(self, e)
            raise
        except Exception as e:  # a TLS socket's ValueError (a certificate refused)
            if self.tls is not None:
                self.tls.error(self, e)
            raise
        return -1 if n is None else n

    async def recv_into(self, mv):
        """Read into the memoryview ``mv``; returns the byte count, 0 at
        EOF. Allocates nothing. Times out like send."""
        if self.sock is None:
            raise OSError(errno.ENOTCONN)
        start = ticks_ms()
        try:
            while True:
                n = self.read_now(mv)
                if n >= 0:
                    return n
                await self._pause(start)
        except Exception:
            self.close()
            raise


class Sender:
    """What the Influx reporter and the syslog sender share: the sending
    task, the reconnect backoff (from 0.5 s up to ``backoff_max_ms``) and
    the error bookkeeping (``counters.send_errors``, ``last_error``). A
    subclass provides ``_conn`` (its client), ``queue``, ``run()``,
    ``send()`` and ``stop()``; one whose sends must not overlap sets
    ``_sending`` during a send (and keeps ``timeout_ms``)."""

    def __init__(self, counters, backoff_max_ms):
        self.counters = counters
        self.backoff = Backoff(500, backoff_max_ms)
        self.last_error = self._task = None
        self._sending = False

    def _error(self, err, tag=None):
        # count an error and keep its text; with ``tag``, an unexpected
        # error the task caught (it must not die): a MemoryError is
        # reported to the monitoring package
        self.counters.send_errors += 1
        t = error_text(err)
        if t != self.last_error:
            # the same error again keeps the text it has: an outage's
            # thousand refused connects leave the first one's, not a new
            # string wherever the heap had reached at the last one
            self.last_error = t
        if tag and isinstance(err, MemoryError):
            from . import memory_error

            memory_error(tag)

    def _fail(self, err):
        # a failed send: counted, backed off, the connection closed
        self._error(err)
        self.backoff.failed()
        self._conn.close()

    def start(self):
        """Start the sending task."""
        if self._task is None:
            self._task = asyncio.create_task(self.run())
        return self._task

    async def aclose(self):
        """Stop the task, make one last attempt to send what is queued
        (bounded by ``timeout_ms``), then :meth:`stop`."""
        # a send in progress finishes first: cancelled mid-way, a batch the
        # server stored but whose answer had not come would go again
        t0 = ticks_ms()
        while self._sending and ticks_diff(ticks_ms(), t0) < self.timeout_ms:
            await sleep_ms(5)
        self._cancel()
        self.backoff.succeeded()
        try:
            await self.send()
        except MemoryError as e:
            # no memory for the last attempt: said (last_error, an E line
            # in the trace), and stopped as always; what stays queued is
            # counted as dropped by stop()
            self._error(e, b"aclose")
        self.stop()

    def _cancel(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _shut(self):
        # cancel the task, close the connection, empty the queue; returns
        # the number of messages dropped
        self._cancel()
        self._conn.close()
        return self.queue.clear()  # (unpins too)
