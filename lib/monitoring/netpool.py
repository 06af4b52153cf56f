"""Socket pools: where every socket of the library comes from.

A pool is ``monitoring.start(..., pool=...)``: on CircuitPython
``socketpool.SocketPool(wifi.radio)``, which has no ``socket`` module; by
default the ``socket`` module (MicroPython, CPython), imported by
:func:`compat.use_pool` only. ``start`` hands it to every client
(:mod:`netio`) and listener (:mod:`listener`); each keeps it as ``pool``,
with ``io`` (:func:`compat.use_pool`): how its sockets are used, chosen
once. They use only the calls both runtimes have: the pool's
``getaddrinfo(host, port, 0, kind)``, ``socket(AF_INET, kind)``,
``SOCK_STREAM``, ``SOCK_DGRAM``, ``SOL_SOCKET``, ``SO_REUSEADDR``; the
sockets' ``recv_into``, ``send``, ``sendto``, ``connect``, ``bind``,
``listen``, ``accept``, ``setblocking``, ``settimeout``, ``setsockopt``,
``close``. A ``socket`` module's sockets are also polled with
``select.poll`` and, on MicroPython, read and written with ``readinto``
and ``write(buf, off, n)``: ``ipoll`` and those allocate nothing, so an
idle listener and a trace sample allocate nothing. Any other pool's
readiness is found by attempts (the code here, loaded for such a pool
alone: :class:`Tried`, the poller, and :func:`connect`), and its errors
are mapped to the same outcomes: EAGAIN/EWOULDBLOCK "not yet", ENOTCONN
on a read the end of input (:func:`listener.recv_into`), EINPROGRESS/
EALREADY a connect under way, EISCONN connected, ETIMEDOUT at once from
a non-blocking connect the ESP32's "cannot follow" (:func:`connect`), a
negative errno from ``getaddrinfo`` (gaierror) a name lookup's failure
(:meth:`listener.PolledListener.bind`).
"""

# What CircuitPython's source says (adafruit/circuitpython at cd3da4a5,
# 2026-08; SB = shared-bindings/socketpool, ESP = ports/espressif/
# common-hal/socketpool/Socket.c, RP = ports/raspberrypi/common-hal/
# socketpool/Socket.c, the Pico W):
# - Socket methods (SB/Socket.c locals table): accept bind close connect
#   listen recvfrom_into recv_into send sendall sendto setblocking
#   setsockopt settimeout, property type. No recv, readinto, write,
#   fileno, makefile, getsockopt.
# - SB/SocketPool.c: getaddrinfo(host, port, family=0, type=0, proto=0,
#   flags=0) (positional only: proto's keyword is misspelt "port") returns
#   [(family, type, proto, "", (ip, port))]; a failed lookup raises
#   SocketPool.gaierror(OSError) with errno EAI_NONAME = -2 (SB/enum.h).
#   socket(family=AF_INET, type=SOCK_STREAM). SOL_SOCKET=0xfff,
#   SO_REUSEADDR=4 (lwIP's values, not Linux's); no SO_SNDBUF.
# - send/sendall (SB): BrokenPipeError (EPIPE) unless the socket is marked
#   connected; else what the port raises: EAGAIN when the buffer is full
#   (ESP lwip_send, RP lwip_tcp_send).
# - connect, ESP: a non-blocking socket (timeout 0) whose connect does not
#   complete at once raises ETIMEDOUT, and the socket is never marked
#   connected (only a connect that completes within its timeout sets
#   ``connected``): every later send raises EPIPE, a second connect raises
#   EALREADY or EISCONN. So there a connect must be given a timeout (it
#   then blocks, at most that long). RP: non-blocking raises EINPROGRESS,
#   a second connect EALREADY while connecting and EISCONN once connected;
#   a failed connect frees the pcb, and every call then raises EBADF.
# - recv_into, non-blocking: EAGAIN when nothing is there (ESP, RP); end of
#   input is 0 on RP but OSError(ENOTCONN) on ESP; on ESP a reset also
#   reads as EAGAIN (any lwip_recv error other than ENOTCONN).
# - accept, non-blocking: EAGAIN (ESP socketpool_socket_accept, RP);
#   RP returns None when interrupted.
# - sendto: ESP raises BrokenPipeError on any error; RP the error.
# - select: extmod/modselect.c, built when MICROPY_PY_SELECT, which
#   py/circuitpy_mpconfig.mk ties to MICROPY_PY_ASYNCIO (full builds: ESP,
#   RP). It polls a socket through SB/Socket.c's stream ioctl, which
#   reports only readable and writable (never POLLERR/POLLHUP), and: RP's
#   writable is tcp_sndbuf != 0, true while still connecting (a poll says
#   "connected" before it is); RP's readable for a listening socket is
#   always true (it tests the address of the accept queue's slot, not the
#   slot); ESP's use lwip's select, counting an error as ready. Hence
#   attempts, not select, for every pool that is not a ``socket`` module.

import errno

from .compat import ticks_ms

# what connecting again raises once connected (the Pico W). Neither
# CircuitPython's errno nor MicroPython's names it: its number is that of the
# numbering the runtime has, newlib's 127 where EINPROGRESS is 119
# (CircuitPython's boards: their toolchain's errno.h), else Linux's 106
EISCONN = getattr(errno, "EISCONN", 127 if errno.EINPROGRESS == 119 else 106)


async def connect(client):
    """A socket of ``client`` (a :class:`netio.TcpClient` whose pool is
    not a ``socket`` module) connected to its peer, non-blocking; raises
    OSError why not (ETIMEDOUT after ``client.timeout_ms``)."""
    from .netio import _IN_PROGRESS, ETIMEDOUT

    kind = client.pool.SOCK_STREAM
    s = client._new_sock(kind)
    addr = client._addr
    try:
        # True once a connect raised ETIMEDOUT at once: the ESP32
        wait = getattr(client, "blocking_connect", False)
        if not wait:
            try:
                s.connect(addr)
                return s
            except OSError as e:
                if e.errno == ETIMEDOUT:
                    # the ESP32: this socket can never connect; this connect
                    # and every later one are given a timeout
                    wait = client.blocking_connect = True
                elif e.errno not in _IN_PROGRESS:
                    raise
        if wait:
            # blocks, at most timeout_ms
            s.close()
            s = client._new_sock(kind)
            s.settimeout(client.timeout_ms / 1000)
            try:
                s.connect(addr)
            except OSError as e:
                if e.errno in _IN_PROGRESS:  # the Pico W's "not yet"
                    raise OSError(ETIMEDOUT)
                raise
            s.setblocking(False)
            return s
        # under way (the Pico W, EINPROGRESS): connecting again returns, or
        # raises EISCONN, once connected; EALREADY while connecting
        start = ticks_ms()
        while True:
            try:
                s.connect(addr)
                return s
            except OSError as e:
                if e.errno == EISCONN:
                    return s
                if e.errno not in _IN_PROGRESS:
                    raise
            await client._pause(start)
    except BaseException:
        s.close()
        raise


class Tried:
    """Readiness by attempts, in place of ``select.poll`` (same calls):
    ``ipoll(0)`` reports every socket registered, with the events it was
    registered for, and the read, accept or send that follows finds out
    (EAGAIN: not yet). Allocates nothing per poll."""

    def __init__(self):
        self._l = []

    def ipoll(self, timeout=0):
        return self._l

    poll = ipoll

    def register(self, s, events):
        self._l.append([s, events])

    def modify(self, s, events):
        for e in self._l:
            if e[0] is s:
                e[1] = events

    def unregister(self, s):
        lst = self._l
        for i in range(len(lst)):
            if lst[i][0] is s:
                lst.pop(i)
                return
