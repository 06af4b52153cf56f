"""The control socket: a TCP listener speaking the :mod:`control` protocol.

One asyncio task polls a non-blocking listening socket and its clients
every ``poll_ms``; the loop is never blocked and RAM is fixed at start
(per client slot a ``line_max + 2`` byte line buffer and a 128-byte one
through which a list reply of any length is sent as it is made).

- A command ends at LF (CRLF accepted), at end of input, or after
  ``silence_ms`` (250 ms) without data, for clients that send one
  unterminated command and wait. One reply line per command, LF-ended.
- At most ``clients`` at once. When every slot is taken, a new connection
  takes the slot of the oldest client that may lose it (with a token, one
  not authenticated; without, any), which is closed; only when every
  slot holds an authenticated client does it get ``error: busy``. So
  whatever other connections do, an operator with the token (or, without
  a token, anyone) gets in. Each step gives the clients their turn, then
  accepts up to 8 connections, each served at once; a slot taken in a
  step is not taken again in it (the rest wait in the listen queue, in
  order): a client keeps its slot for a step at least, however fast
  other connections churn. A line longer than ``line_max`` bytes gets
  ``error: line too long`` and is discarded up to its LF, without
  buffering it. A client whose first complete line has not come within
  ``first_line_ms`` (5 s) of its connection, however many bytes it
  sends, is closed; so is one that neither sends nor reads for
  ``idle_ms`` (30 s).
- With a ``token``, the first line must be ``auth TOKEN`` (compared in
  constant time): ``ok``, or ``error: unauthorized`` and close (a first
  line too long to hold is a failed authentication too).

Use it on a private network: without a token anyone who reaches the port
can change log levels and metrics.
"""

from .compat import const, ticks_diff, ticks_ms
from .control import MAX_LINE, run
from .listener import PolledListener, recv_into, send

DEFAULT_PORT = const(2323)
_LF = const(10)
_CR = const(13)
# reads and commands per client per poll: bound the time one step takes
_READS_PER_STEP = const(32)
_CMDS_PER_STEP = const(4)
# the listen queue: connections wait there for a slot, a few a step, in
# order; longer than the connections that may churn at once, or a new one
# (the operator's) is dropped by the stack and retried a second later (on
# lwIP through MicroPython's modlwip, 4 bytes of heap an entry)
_BACKLOG = const(64)
# new connections accepted per step at most (bounds the time one takes)
_ACCEPTS = const(8)
# a list (``l``, ``m``) is sent through a buffer of this many bytes per
# client: a reply of any length takes no more
_OUT = const(128)


def _token(v):
    # str, or bytes from Python: a line of its own after "auth "
    if type(v) is str:
        v = v.encode()
    if type(v) is not bytes or not v or [1 for b in v if b < 32 or b == 127]:
        return "a non-empty string without control characters"
    return None


# the ``control`` section: key, default, rule, ...; see docs/control.md
OPTIONS = (
    "port", DEFAULT_PORT, (0, 65535),
    "addr", "0.0.0.0", "host",
    "token", None, _token,  # None: no "auth" line asked for
    "clients", 2, (1, 16),
)


def check(section):
    """The ``control`` section checked: every key, defaults filled in."""
    from . import options

    return options.check("control", OPTIONS, section)


def start(mon, o, logmod=None):
    """Run the checked section ``o`` on :class:`Monitor` ``mon``: the
    control server, setting the levels of ``logmod`` (None: ``L``/``l``
    answer ``error: no logging``)."""
    from .logbackend import backend_for

    mon.control = mon._add(ControlServer(mon.registry, backend_for(logmod), o, pool=mon.pool))


def same_secret(given, secret):
    """Compare two byte strings in time that depends only on ``given``'s
    length, never on where they differ."""
    n = len(secret)
    diff = len(given) ^ n
    for i in range(len(given)):
        diff |= given[i] ^ secret[i % n]
    return diff == 0


class _Client:
    """One client slot: its socket, line buffer and pending reply."""

    def __init__(self, size):
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        # a list (``l``, ``m``) goes out through this, a piece at a time
        self.obuf = bytearray(_OUT)
        self.sock = None
        self.fd = -1
        self.flags = 0  # poll events seen for it (or 1: read anyway)
        # every attribute exists from the start: opening a client then
        # allocates nothing that could fail halfway
        self.open(0)

    def open(self, now):
        self.n = 0  # bytes in buf
        self.since = now  # ticks of the connection
        self.spoken = False  # a first complete line came
        self.last = now  # ticks of the last byte in or out
        self.discard = False  # inside a too-long line
        self.swallow = False  # LF that may end a command run by silence
        self.authed = False
        self.eof = False
        self.closing = False  # close once the reply is sent
        self.fresh = True  # taken in this step: no newer connection takes it in it
        self.out = None  # the reply being sent: bytes, or a Listing
        self.pos = 0
        self.end = 0  # of what the Listing wrote in obuf

    def drop(self, k):
        """Forget the first ``k`` bytes of buf."""
        n = self.n
        if k < n:
            self.mv[0:n - k] = self.mv[k:n]
        self.n = n - k if k < n else 0


class ControlServer(PolledListener):
    """Serve the control protocol for ``registry`` (a
    :class:`metrics.Registry`) and ``log_backend`` (a
    :class:`logbackend.LogBackend`, or None: ``L``/``l`` answer
    ``error: no logging``) as the ``control`` section ``section`` says
    (the dict :func:`check` returns).

    ``start()`` binds and starts the task (raises OSError when the port
    cannot be bound); ``stop()`` closes everything. ``commands``,
    ``errors`` (``error:`` replies), ``refused`` (busy), ``evicted``
    (clients closed for a new connection) and ``step_errors`` (unexpected
    exceptions, the last in ``last_error``) count what happened. ``pool``:
    where the sockets come from (None: the ``socket`` module; see
    :mod:`netpool`).
    """

    def __init__(self, registry, log_backend, section, line_max=MAX_LINE, idle_ms=30000,
                 silence_ms=250, poll_ms=20, first_line_ms=5000, pool=None):
        o = section
        token = o["token"]
        if isinstance(token, str):
            token = token.encode()
        PolledListener.__init__(self, o["port"], o["addr"], poll_ms, _BACKLOG, pool)
        self.registry = registry
        self.logs = log_backend
        self.token = token
        # one attribute for the three (see PolledListener: few attributes)
        self._limits = (idle_ms, silence_ms, first_line_ms)
        cl = self.clients = []
        for _ in range(o["clients"]):
            cl.append(_Client(line_max + 2))
        self.commands = 0
        self.errors = 0
        self.refused = 0
        self.evicted = 0
        self.step_errors = 0

    # what `c` shows: the crash section's store (it sets it when on; a class
    # attribute until then, so the instance's dict stays as small as it was)
    crash = None

    def _failed(self, e):
        self.step_errors += 1
        PolledListener._failed(self, e, b"control")

    # -- one poll ----------------------------------------------------------

    def step(self):
        """Read, answer, accept and time out, without waiting. An idle
        step allocates nothing on MicroPython (``ipoll``)."""
        now = ticks_ms()
        cl = self.clients
        incoming = self._polled()
        for c in cl:
            c.fresh = False
        for turn in (0, 1):
            if turn:
                # after the clients' turn (each has had one since the step
                # that accepted it before a newer connection may take its
                # slot): up to _ACCEPTS new connections, each served at
                # once, so one that said all and left frees its slot for
                # the next; a slot taken in this step is not taken again
                # in it: the rest wait in the listen queue, in order
                if not incoming:
                    break
                for _ in range(_ACCEPTS):
                    free = None
                    for c in cl:
                        if c.sock is None:
                            free = c
                            free.open(now)
                            break
                    if free is None and not self._evict(False):
                        break
                    # no free slot: one is taken from an older client, if
                    # any may lose it, once a connection is really waiting
                    s = self._accept(free, b"error: busy\n", None if free else self._evict)
                    if s is None:
                        break
                    for c in cl:
                        if c.sock is s:
                            try:
                                self._service(c, now)
                            except OSError:
                                self._close(c)
            for i in range(len(cl)):
                c = cl[i]
                if c.sock is not None:
                    try:
                        self._service(c, now)
                    except OSError:
                        self._close(c)

    def _evict(self, close=True):
        # the slot a new connection takes: the oldest client without a
        # claim on it (with a token, not authenticated) and not accepted
        # in this step, closed; or None. Without ``close``: whether a
        # connection may be accepted now (such a slot, or every slot
        # authenticated: "busy"), none closed
        old = None
        wait = False
        for c in self.clients:
            if c.authed:
                continue
            if c.fresh:
                wait = True
            elif old is None or ticks_diff(c.since, old.since) < 0:
                old = c
        if not close:
            return old is not None or not wait
        if old is not None:
            self.evicted += 1
            self._close(old)
            old.open(ticks_ms())
        return old

    def _send(self, c, now, text=None):
        """Start the reply ``text`` (a str without LF, or a
        :class:`control.Listing`) if given, then send what is pending
        without blocking."""
        if text is not None:
            if isinstance(text, str):
                if text.startswith("error:"):
                    self.errors += 1
                text = (text + "\n").encode()
            c.out = text
            c.pos = c.end = 0
        out = c.out
        if isinstance(out, bytes):
            end = len(out)
        else:
            out = c.obuf
            end = c.end
        while True:
            if c.pos == end:
                if out is not c.obuf:
                    break
                # the list's next bytes
                c.pos = 0
                end = c.end = c.out.fill(out)
                if not end:
                    break
            k = send(self.io, c.sock, out, c.pos, end)
            if not k:
                return
            c.pos += k
            c.last = now
        c.out = None

    def _command(self, c, line, now):
        """Run one complete line (without LF) and start its reply."""
        c.spoken = True
        if self.token is not None and not c.authed:
            if line[-1:] == b"\r":
                line = line[:-1]
            if line[:5] == b"auth " and same_secret(line[5:], self.token):
                c.authed = True
                self._send(c, now, "ok")
            else:
                c.closing = True
                self._send(c, now, "error: unauthorized")
            return
        self.commands += 1
        self._send(c, now, run(line, self.logs, self.registry, len(c.buf) - 2, self.crash))

    def _service(self, c, now):
        idle, silence, first_ms = self._limits
        if c.out is not None:
            self._send(c, now)
        # read and answer while no reply is pending (one reply at a time)
        reads = _READS_PER_STEP
        first = self.commands
        busy = True
        while c.out is None and not c.closing:
            if self.commands - first >= _CMDS_PER_STEP:
                break  # more next poll
            got = False
            if c.flags and not c.eof and c.n < len(c.buf) and reads:
                reads -= 1
                r = recv_into(self.io, c.sock, c.mv[c.n:])
                if r == 0:
                    c.eof = got = True
                elif r:
                    c.n += r
                    c.last = now
                    got = True
            if not self._lines(c, now) and not got:
                busy = False
                break
        c.flags = 0  # what is left, the poller reports again
        if not busy and c.out is None and not c.closing:
            if c.n and not c.discard and (
                    c.eof or ticks_diff(now, c.last) >= silence):
                # an unterminated command: end of input, or silence
                line = bytes(c.mv[0:c.n])
                c.n = 0
                c.swallow = True
                self._command(c, line, now)
            elif c.eof:
                c.closing = True
        if c.out is None and c.closing:
            self._close(c)
        elif c.sock is not None and (ticks_diff(now, c.last) >= idle or (
                not c.spoken and ticks_diff(now, c.since) >= first_ms)):
            self._close(c)

    def _lines(self, c, now):
        """Handle one complete line in buf, if any; True when it did
        something (so there may be more to do)."""
        buf = c.buf
        if c.swallow and c.n:
            c.swallow = False
            if buf[0] == _LF:
                c.drop(1)
                return True
            if buf[0] == _CR and c.n > 1 and buf[1] == _LF:
                c.drop(2)
                return True
        i = buf.find(b"\n", 0, c.n)
        if i < 0:
            if c.discard:
                c.n = 0
                return False
            if c.n >= len(buf):
                c.n = 0
                if self.token is not None and not c.authed:
                    c.closing = True  # no token is that long: a failed auth
                    self._send(c, now, "error: unauthorized")
                    return True
                c.discard = True
                self._send(c, now, "error: line too long")
                return True
            return False
        if c.discard:
            c.discard = False
            c.drop(i + 1)
            return True
        # a command read in place (a memoryview, no copy of the line; an
        # auth line copied, as it is compared with bytes), and dropped from
        # the buffer once answered: one that raised (a MemoryError,
        # recorded by run() in step_errors, last_error and an E line in
        # the trace) is tried again next poll
        line = c.mv[0:i]
        if self.token is not None and not c.authed:
            line = bytes(line)
        self._command(c, line, now)
        c.drop(i + 1)
        return True
