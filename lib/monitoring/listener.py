"""The non-blocking, polled TCP listener behind the control socket, the
Prometheus endpoint and the trace port.

A :class:`PolledListener` binds a non-blocking listening socket, polls it
and its clients with one ``select.poll`` (``ipoll`` on MicroPython: an
idle poll allocates nothing) and runs one asyncio task calling
:meth:`PolledListener.step` every ``poll_ms``. The task never dies: an
exception is recorded (``last_error``), a MemoryError also reported
through :func:`monitoring.memory_error`.

The module functions read and write non-blocking sockets on MicroPython
(``readinto``, ``write(buf, off, n)``: no allocation) and CPython alike.
"""

import select
import socket

from .compat import WOULD_BLOCK, asyncio, error_text, sleep_ms

# MicroPython sockets: readinto and write(buf, off, n), which allocate nothing
_MP = hasattr(socket.socket, "write")


def recv_into(s, buf):
    """Bytes read from the non-blocking socket ``s`` into ``buf``; None:
    nothing there yet; 0: end of input."""
    try:
        return s.readinto(buf) if _MP else s.recv_into(buf)
    except OSError as e:
        if e.errno not in WOULD_BLOCK:
            raise


def send(s, buf, pos, end):
    """Send ``buf[pos:end]`` on the non-blocking socket ``s``: bytes sent,
    or None (or 0) when it would block."""
    try:
        return s.write(buf, pos, end - pos) if _MP else s.send(memoryview(buf)[pos:end])
    except OSError as e:
        if e.errno not in WOULD_BLOCK:
            raise


class PolledListener:
    """A listening socket on ``addr:port`` (listen backlog ``backlog``)
    served by ``step()`` every ``poll_ms``.

    Subclasses provide ``step()`` (returning True to be called again at
    once) and ``_failed(e)`` (count what it raised, then call this one's).
    ``clients``: the client slots, each with ``sock``, ``fd``, ``out`` and
    ``flags`` (poll events, set by :meth:`_polled`).
    """

    def __init__(self, port, addr, poll_ms, backlog=2):
        self.port = port
        self.addr = addr
        self.poll_ms = poll_ms
        self.backlog = backlog
        self.clients = ()
        self.sock = None  # the listening socket once bound
        self.last_error = None
        self._poll = None
        self._task = None

    def bind(self):
        """Open the listening socket (done by :meth:`start`); raises
        OSError when the port cannot be bound."""
        if self.sock is not None:
            return
        s = socket.socket()  # TCP over IPv4
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(socket.getaddrinfo(self.addr, self.port)[0][-1])
            s.listen(self.backlog)
            s.setblocking(False)
        except OSError as e:
            s.close()
            if type(e.errno) is not int:  # a name lookup's error
                raise
            # which port: start() may open three listeners
            raise OSError(e.errno, "cannot listen on %s:%s" % (self.addr, self.port))
        except BaseException:
            s.close()
            raise
        p = self._poll = select.poll()
        p.register(s, select.POLLIN)
        self._ipoll = getattr(p, "ipoll", p.poll)
        self._lfd = s.fileno() if hasattr(s, "fileno") else -1
        self.sock = s

    def start(self):
        """Bind the port and start the serving task (returned)."""
        if self._task is None:
            self.bind()
            self._task = asyncio.create_task(self.run())
        return self._task

    def stop(self):
        """Cancel the task, close the clients and the listening socket."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for c in self.clients:
            self._close(c)
        s = self.sock
        if s is not None:
            self.sock = self._poll = None
            try:
                s.close()
            except OSError:
                pass

    async def run(self):
        """Serve until cancelled."""
        while True:
            busy = False
            try:
                busy = self.step()
            except Exception as e:  # never raise into the loop
                self._failed(e)
            await sleep_ms(0 if busy else self.poll_ms)

    def _failed(self, e, where, n=80):
        # what step() raised: recorded (``n`` characters); a MemoryError
        # reported as in ``where``
        self.last_error = error_text(e, n, True)
        if isinstance(e, MemoryError):
            from . import memory_error

            memory_error(where)

    def _polled(self):
        """Set ``flags`` of the clients the poller reports; True when a
        connection waits to be accepted. Allocates nothing (``ipoll``)."""
        lsock = self.sock
        lfd = self._lfd
        cl = self.clients
        incoming = False
        for ev in self._ipoll(0):
            o = ev[0]
            if o is lsock or o == lfd:
                incoming = True
                continue
            for i in range(len(cl)):
                c = cl[i]
                if c.sock is not None and (o is c.sock or o == c.fd):
                    c.flags = ev[1]
        return incoming

    def _accept(self, c=None, busy=None, choose=None):
        """A waiting connection, non-blocking, or None. With client slot
        ``c`` (or, when ``c`` is None, the slot ``choose()`` returns once a
        connection is there): the slot serves it, polled for input; else
        with ``busy`` (bytes): it gets that line and is closed (counted in
        ``refused``)."""
        try:
            s = self.sock.accept()[0]
        except OSError:
            return None
        try:
            if c is None and choose is not None:
                c = choose()
            s.setblocking(False)
            if c is not None:
                c.fd = s.fileno() if hasattr(s, "fileno") else -1
                c.flags = 1  # read at once
                self._poll.register(s, select.POLLIN)
                c.sock = s
            elif busy is not None:
                self.refused += 1
                try:
                    s.send(busy)
                except OSError:
                    pass
                s.close()
        except BaseException:
            s.close()
            raise
        return s

    def _close(self, c):
        """Close client slot ``c``'s socket (errors ignored); it is free."""
        s = c.sock
        c.sock = c.out = None
        if s is not None:
            try:
                self._poll.unregister(s)
            except Exception:
                pass
            try:
                s.close()
            except OSError:
                pass
