"""Trace port: streams heap samples, markers and region totals to one TCP
client on demand (``nc board 4242``, or ``montrace``).

The asyncio edge around :mod:`tracefmt` (the line format). While nobody is
connected only the listener exists: one task polls it every
``accept_poll_ms`` and allocates nothing. When a client connects, a
:class:`tracesession.Session` (imported then: a board never traced never
loads it) serves it: it gets
the header line, then one sample line every ``interval_ms`` and event lines
as they happen; a second client gets ``error: trace already active`` and is
closed. The session ends when the client closes, on a socket error, or when
pending output makes no progress for ``write_timeout_ms``; its task is
then released. Its buffers, made for the first session, are kept for the
next ones: sessions coming and going leave no holes in the heap.

Writes never block: lines go into a ``buffer_size`` bytearray drained with
non-blocking sends; a line that does not fit is dropped and counted, and the
next sample line carries the count in its ``dropped`` column. With the
``socket`` module's sockets on MicroPython (``ipoll``, ``write(buf, off,
n)`` and ``readinto``) a sample allocates nothing; a CircuitPython pool's
are served by attempts (see :mod:`netpool`).
"""

from .compat import error_text
from .listener import PolledListener

REFUSED = b"error: trace already active\n"


# the ``trace`` section: key, default, rule, ...; see docs/trace.md
OPTIONS = (
    "port", 4242, (0, 65535),
    "addr", "0.0.0.0", "host",
    "interval_ms", 200, (10, 60000),
    "buffer_bytes", 1024, (256, 65536),
)


def check(section):
    """The ``trace`` section checked: every key, defaults filled in."""
    from . import options

    return options.check("trace", OPTIONS, section)


def start(mon, o):
    """Run the checked section ``o`` on :class:`Monitor` ``mon``."""
    regions = mon.make_regions()
    mon.trace = mon._add(TraceServer(o, mon.registry.host, regions, pool=mon.pool))
    regions.tracer = mon.trace


class TraceServer(PolledListener):
    """The trace listener of the ``trace`` section ``section`` (the dict
    :func:`check` returns): ``interval_ms`` between samples,
    ``buffer_bytes`` of unsent lines kept per session. ``regions``: a
    :class:`regions.Regions` whose totals are streamed (and which reports
    library collections here). ``write_timeout_ms``: a session whose pending output
    makes no progress for that long is ended. ``task_count``: optional
    callable returning the number of asyncio tasks (the ``tasks`` column,
    ``-`` without it). ``sndbuf``: socket send buffer to ask for
    (``socket`` module only; None: 4 KB on Linux, whose buffers would
    otherwise grow to megabytes under a client that does not read, the
    port's own elsewhere). ``pool``: where the sockets come from (None:
    the ``socket`` module; see :mod:`netpool`).

    Counters: ``sessions``, ``refused``, ``samples``, ``dropped`` (lines
    lost), ``timeouts`` (sessions ended by a stalled client),
    ``memory_errors``. ``active`` is True while a client is served.
    """

    def __init__(self, section, device="micropython", regions=None, write_timeout_ms=5000,
                 accept_poll_ms=100, task_count=None, sndbuf=None, pool=None):
        o = section
        PolledListener.__init__(self, o["port"], o["addr"], accept_poll_ms, 2, pool)
        self.interval_ms = o["interval_ms"]
        self.device = device
        self.regions = regions
        self.buffer_size = o["buffer_bytes"]
        self.write_timeout_ms = write_timeout_ms
        self.task_count = task_count
        self.sndbuf = sndbuf
        self.active = False
        self.sessions = 0
        self.refused = 0
        self.samples = 0
        self.dropped = 0
        self.timeouts = 0
        self.memory_errors = 0
        self.session = None
        self.buffers = None  # the sessions' output and input buffers, once made

    # -- accepting ---------------------------------------------------------

    def step(self):
        """Accept a waiting client: served by a :class:`tracesession.Session`,
        or refused while another one is. Idle, allocates nothing."""
        if not self._polled():
            return
        s = self.session
        # the client may have left with input unread: read up to 64 KB of
        # it to find its end, and serve the new one
        if s is not None and not s.check_input(1024):
            s.end()
        conn = self._accept(None, None if self.session is None else REFUSED)
        if conn is None or self.session is not None:
            return  # none, or refused
        try:
            if self.buffers is None:
                self.collect()  # the module's code lands low, see collect
            from .tracesession import Session

            self.session = Session(self, conn)
        except BaseException:
            conn.close()
            raise
        self.sessions += 1
        self.active = True

    def collect(self):
        """A collection before what a first session makes and keeps (the
        module's code, the buffers): that then takes the heap's lowest holes
        that fit instead of whatever place the allocations since the last
        collection had reached, where it would split the largest free block
        for good."""
        r = self.regions
        if r is not None:
            r.collect()
        else:
            import gc

            gc.collect()

    def _failed(self, e):
        if isinstance(e, MemoryError):
            self.memory_error(b"trace accept")
        else:
            self.last_error = error_text(e)

    def stop(self):
        """End any session, stop the task, close the listener."""
        s = self.session
        if s is not None:
            s.end()
        PolledListener.stop(self)

    # -- events (called from anywhere, synchronously) ------------------------

    def mark(self, label):
        """Queue a marker line (``label``: str or bytes; bytes allocate
        nothing). No-op without a client."""
        s = self.session
        if s is not None:
            s.mark(label)

    def memory_error(self, where):
        """Count a MemoryError caught in ``where`` (str or bytes) and queue
        an ``E`` line."""
        self.memory_errors += 1
        s = self.session
        if s is not None:
            s.memory_error(where)

    def collected(self, before, after):
        """Queue a ``G`` line: the library ran gc.collect (alloc before and
        after)."""
        s = self.session
        if s is not None:
            s.collected(before, after)
