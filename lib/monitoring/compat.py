"""What differs between MicroPython, CircuitPython and CPython, in one place.

``ticks_ms``/``ticks_diff``/``ticks_add`` (wrapping millisecond ticks),
``sleep_ms`` (an awaitable), ``asyncio``, ``error_text``, ``const``,
``WOULD_BLOCK``, and ``use_pool`` (which socket pool, see :mod:`netpool`).

Modules take ``const`` from here: the MicroPython compiler (mpy-cross too)
folds ``NAME = const(...)`` by the name alone, wherever ``const`` was
imported from: MicroPython never calls it, CPython gets x back.
"""

import errno
import time

const = int  # const(x) is x for the ints it is given

try:
    import asyncio  # MicroPython's own; on CircuitPython the bundle's package
except ImportError as e:
    try:
        import uasyncio as asyncio  # older MicroPython
    except ImportError:  # CircuitPython without the bundle's asyncio
        from .circuitpy import need_asyncio

        need_asyncio(e)  # raises, saying what to install

# the errno of a non-blocking socket that cannot take or give bytes now
WOULD_BLOCK = (errno.EAGAIN, getattr(errno, "EWOULDBLOCK", errno.EAGAIN))

if hasattr(time, "ticks_ms"):  # MicroPython
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
elif not hasattr(time, "perf_counter"):  # CircuitPython: supervisor's, wrapping at 2**29
    from .circuitpy import ticks_add, ticks_diff, ticks_ms
else:  # CPython
    _mono = time.monotonic_ns

    def ticks_ms():
        """Milliseconds from an arbitrary point (monotonic, never wraps)."""
        return _mono() // 1000000

    def ticks_diff(a, b):
        """``a - b`` in ms."""
        return a - b

    def ticks_add(a, d):
        """``a + d`` in ms."""
        return a + d


def error_text(e, n=120, rep=False):
    """``str(e)`` (``repr(e)`` with ``rep``) cut to ``n`` characters, for a
    ``last_error``; an OSError holding only a number is named
    (``[Errno 32] EPIPE``, not ``32``). When even that text cannot be
    allocated, the constant ``"MemoryError"`` (a task recording its
    error must not die of the recording)."""
    try:
        a = e.args if isinstance(e, OSError) and not rep else ()
        if len(a) == 1 and type(a[0]) is int:
            # MicroPython's table lacks EPIPE, the error a closed peer gives
            name = errno.errorcode.get(a[0]) or ("EPIPE" if a[0] == 32 else None)
            if name:
                return "[Errno %d] %s" % (a[0], name)
        return (repr(e) if rep else str(e))[:n]
    except MemoryError:
        return "MemoryError"


if hasattr(asyncio, "sleep_ms"):
    sleep_ms = asyncio.sleep_ms
else:

    def sleep_ms(ms):
        """Awaitable sleep of ``ms`` milliseconds."""
        return asyncio.sleep(ms / 1000)


# -- socket pools (see netpool) -------------------------------------------


def use_pool(obj, pool):
    """Give ``obj`` (a client or a listener) its ``pool`` (None: the
    ``socket`` module, imported here and only here: ImportError where there
    is none, as on CircuitPython, whose pool must be given) and ``io``, how
    the pool's sockets are used: 2 MicroPython's ``socket`` (``readinto``, ``write(buf, off,
    n)``, ``select.poll`` with ``ipoll``), 1 CPython's (``recv_into``,
    ``send``, ``select.poll``), 0 any other pool (``recv_into``, ``send``,
    readiness by attempts: :mod:`netpool`)."""
    if pool is None:
        try:
            import socket as pool
        except ImportError:
            raise ImportError("no socket module: give monitoring.start a pool "
                              "(CircuitPython: pool=socketpool.SocketPool(wifi.radio))")
    obj.pool = pool
    cls = pool.socket
    # a socket module's socket is a class; a SocketPool's a method
    obj.io = (2 if hasattr(cls, "write") else 1) if isinstance(cls, type) else 0
