"""The non-blocking, polled TCP listener behind the control socket, the
Prometheus endpoint and the trace port.

A :class:`PolledListener` binds a non-blocking listening socket from its
pool (:mod:`netpool`), polls it and its clients with one poller (see
:meth:`PolledListener.poller`: ``select.poll``, whose ``ipoll`` allocates
nothing on MicroPython, or for a CircuitPython pool :class:`netpool.Tried`)
and runs one asyncio task calling :meth:`PolledListener.step` every
``poll_ms``. The task never dies: an exception is recorded
(``last_error``), a MemoryError also reported through
:func:`monitoring.memory_error`.

The module functions read and write non-blocking sockets of every pool
(on MicroPython ``readinto``, ``write(buf, off, n)``: no allocation).
"""

import errno

from .compat import WOULD_BLOCK, asyncio, const, error_text, sleep_ms, use_pool

POLLIN = 1  # select.POLLIN (the same on every port)
# a listener with nothing to poll for a second polls this often: an idle
# board wakes 4 times a second per listener, not 50
_IDLE_MS = const(250)


def recv_into(io, s, buf):
    """Bytes read from the non-blocking socket ``s`` (of a pool used as
    ``io`` says: :func:`compat.use_pool`) into ``buf``; None: nothing there
    yet; 0: end of input (ENOTCONN too: CircuitPython on ESP32 says so)."""
    try:
        return s.readinto(buf) if io == 2 else s.recv_into(buf)
    except OSError as e:
        if e.errno in WOULD_BLOCK:
            return None
        if e.errno == errno.ENOTCONN:
            return 0
        raise


def send(io, s, buf, pos, end):
    """Send ``buf[pos:end]`` on the non-blocking socket ``s``: bytes sent,
    or None (or 0) when it would block."""
    try:
        if io == 2:
            return s.write(buf, pos, end - pos)
        return s.send(memoryview(buf)[pos:end])
    except OSError as e:
        if e.errno not in WOULD_BLOCK:
            raise


class PolledListener:
    """A listening socket on ``addr:port`` (listen backlog ``backlog``)
    served by ``step()`` every ``poll_ms``.

    Subclasses provide ``step()`` (returning True to be called again at
    once) and ``_failed(e)`` (count what it raised, then call this one's).
    ``clients``: the client slots, each with ``sock``, ``fd``, ``out`` and
    ``flags`` (poll events, set by :meth:`_polled`). ``pool``: where the
    sockets come from (None: the ``socket`` module), kept with ``io``
    (:func:`compat.use_pool`).
    """

    def __init__(self, port, addr, poll_ms, backlog=2, pool=None):
        use_pool(self, pool)
        self.port = port
        self.addr = addr
        self.poll_ms = poll_ms
        self.backlog = backlog
        self.clients = ()
        self.sock = None  # the listening socket once bound
        self.last_error = None
        self._poll = None
        self._task = None
        # every attribute made here, none in bind() or run(), and as few
        # as will do: a control server's 23 fill its instance table, one
        # more would grow it to 29 (a 464-byte piece on the 64-bit port)
        self._ipoll = None  # once bound: (the poller's ipoll, listening fd or -1)
        self._quiet = False  # the last poll reported nothing

    def bind(self):
        """Open the listening socket (done by :meth:`start`); raises
        OSError when the port cannot be bound."""
        if self.sock is not None:
            return
        pool = self.pool
        s = None
        try:
            a = pool.getaddrinfo(self.addr, self.port, 0, pool.SOCK_STREAM)[0][-1]
            s = pool.socket(pool.AF_INET, pool.SOCK_STREAM)
            s.setsockopt(pool.SOL_SOCKET, pool.SO_REUSEADDR, 1)
            s.bind(a)
            s.listen(self.backlog)
            s.setblocking(False)
        except OSError as e:
            if s is not None:
                s.close()
            if type(e.errno) is not int or e.errno < 0:
                raise  # a name lookup's error (gaierror: a negative errno)
            # which port: start() may open three listeners
            raise OSError(e.errno, "cannot listen on %s:%s" % (self.addr, self.port))
        except BaseException:
            if s is not None:
                s.close()
            raise
        # with what a poll may report instead of a socket: its fd (CPython)
        self._watch(s, s.fileno() if self.io and hasattr(s, "fileno") else -1)
        self.sock = s

    def _watch(self, s, fd):
        # a new poller, the listening socket ``s`` (``fd``: its fd or -1)
        # alone in it
        p = self._poll = self.poller()
        p.register(s, POLLIN)
        self._ipoll = (getattr(p, "ipoll", p.poll), fd)

    def poller(self):
        """A new poller for this listener's sockets: ``select.poll()`` for a
        ``socket`` module's, else (CircuitPython: no poll to trust, see
        :mod:`netpool`) a :class:`netpool.Tried`, with the same
        ``register``, ``modify``, ``unregister`` and ``ipoll``."""
        if self.io:
            import select

            return select.poll()
        from .netpool import Tried

        return Tried()

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
        """Serve until cancelled: every ``poll_ms``, at once while busy, and
        every 250 ms once a second has passed with no poll event (no
        connection, no client sending: a new one then waits up to 250 ms)."""
        quiet = 0  # steps in a row without a poll event
        calm = 1000 // self.poll_ms
        while True:
            busy = False
            self._quiet = False
            try:
                if quiet == calm:  # a second without events: once each time
                    self._settle()
                busy = self.step()
            except Exception as e:  # never raise into the loop
                self._failed(e)
            quiet = 0 if busy or not self._quiet else quiet + 1
            await sleep_ms(0 if busy else self.poll_ms if quiet < calm else _IDLE_MS)

    def _failed(self, e, where, n=80):
        # what step() raised: recorded (``n`` characters); a MemoryError
        # reported as in ``where``
        t = error_text(e, n, True)
        if t != self.last_error:  # the same again keeps its text (see netio)
            self.last_error = t
        if isinstance(e, MemoryError):
            from . import memory_error

            memory_error(where)

    def _polled(self):
        """Set ``flags`` of the clients the poller reports; True when a
        connection waits to be accepted (with :class:`netpool.Tried`:
        always). Allocates nothing (``ipoll``)."""
        lsock = self.sock
        ipoll, lfd = self._ipoll
        cl = self.clients
        incoming = False
        self._quiet = True  # no event (netpool.Tried always has some)
        for ev in ipoll(0):
            self._quiet = False
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
        if s is None:  # the Pico W's accept, interrupted
            return None
        try:
            if c is None and choose is not None:
                c = choose()
            s.setblocking(False)
            if c is not None:
                c.fd = s.fileno() if self.io and hasattr(s, "fileno") else -1
                c.flags = 1  # read at once
                self._poll.register(s, POLLIN)
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

    def _settle(self):
        # MicroPython's ipoll reports every event in one tuple it keeps:
        # the last socket reported stays referenced from there, closed,
        # until the next event. Once quiet with no client left, a new
        # poller (the listening socket alone) lets it go; made after a
        # collection, it takes the lowest hole, not the place allocation
        # had reached. Not at each close: a storm of connections would
        # make a storm of collections
        if self.io != 2:
            return  # (CPython's poll makes new tuples, netpool.Tried none)
        for c in self.clients:
            if c.sock is not None:
                return
        import gc

        gc.collect()
        self._watch(self.sock, self._ipoll[1])
