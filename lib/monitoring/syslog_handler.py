"""Syslog: logging handlers that queue records and one asyncio task that
sends them to a syslog server over UDP or TCP.

Attach with one line, for the logging module you use::

    sender = SyslogSender(counters, check({"host": "192.168.1.10"}))  # or monitoring.start(syslog=...)
    sender.start()
    logging.getLogger().addHandler(MicroPythonHandler(sender))   # micropython-lib logging
    adafruit_logging.getLogger("app").addHandler(AdafruitHandler(sender))
    logging.getLogger().addHandler(syslog_cpython.cpython_handler(sender))  # CPython

or ``sender.attach(logger_or_module)``, which picks the right class.

A handler's ``emit`` only formats the record (with :mod:`syslog`) into the
sender's bounded queue and returns: it never touches the network, never
blocks and never raises (an exception while formatting is counted in
``counters.log_errors``). The queue (default 4 KB; :func:`new_queue`: a
:class:`framequeue.FrameQueue` of ready frames for octet counting, sent
out of it as they are, else a :class:`linequeue.LineQueue`) drops its
oldest messages first when full; every drop is counted in
``counters.log_dropped``, and after a loss the sender first sends one
message of its own, ``N messages dropped`` (severity warning, MSGID
``monitoring``, no structured data), before the next record.

Transports: ``"udp"`` (one message per datagram) or ``"tcp"`` with
``"octet"`` counting (RFC 6587 ``LEN SP MSG``, default) or ``"lf"``
framing, on one kept-open connection that is reconnected with exponential
backoff and jitter; what is queued while the link is down is sent after
reconnecting, in order. Before each send on TCP the connection is checked
for an EOF from the server (a syslog server never writes), so a restarted
server does not swallow the next message on the dead connection. UDP
cannot tell whether anyone listens: datagrams to a stopped server are lost
(and counted as sent). ``"relp"``: :class:`relp_sender.RelpSender` (what
:func:`start` makes for it), a message leaving the queue only once the
server acknowledged it.
"""

from .compat import asyncio, sleep_ms, ticks_diff, ticks_ms
from .framequeue import FrameQueue
from .linequeue import LineQueue
from .metrics import Source
from .netio import Sender, TcpClient, UdpClient
from .syslog import SyslogFormatter, check_option, facility_code, frame, put_int


def _facility(v):
    try:
        facility_code(v)
        return None
    except ValueError:
        return "a number from 0 to 23 or a facility name (daemon, local0...)"


# the ``syslog`` section: key, default, rule, ...; see docs/syslog.md
OPTIONS = (
    "host", ..., "host",
    "port", None, (1, 65535),  # None: 514, 2514 on relp, 6514 on tls
    "transport", "udp", ("udp", "tcp", "tls", "relp"),
    "framing", "octet", ("octet", "lf"),
    "format", "rfc5424", ("rfc5424", "rfc3164"),
    "facility", "daemon", _facility,
    "app_name", None, "text",  # None: the firmware name
    "loggers", None, "loggers",  # None: the logging module's root logger
    "queue_bytes", 4096, (256, 1048576),
    "max_message_bytes", None, (64, 65535),  # None: 480 UDP, 2048 TCP
    "bom", False, "bool",
    "timeout_ms", 5000, (1, 600000),
    # TLS (transport tls): see monitoring.tlsio
    "ca", None, "file",
    "insecure", False, "bool",
    "cert", None, "file",
    "key", None, "file",
    "server_name", None, "host",  # None: host
)


def check(section):
    """The ``syslog`` section checked: every key, defaults filled in."""
    from . import options
    from .netio import tls_keys

    o = options.check("syslog", OPTIONS, section, tls_keys)
    if o["port"] is None:
        t = o["transport"]
        o["port"] = 2514 if t == "relp" else 6514 if t == "tls" else 514
    return o


class SyslogSender(Sender):
    """The shared queue and sending task behind every syslog handler.

    ``counters``: a :class:`sources.Counters`; ``section``: the ``syslog``
    options (the dict :func:`check` returns; ``loggers`` is
    used by :func:`start`, not here); ``formatter``: a
    :class:`syslog.SyslogFormatter` (default: one made from the section
    with ``hostname``, and APP-NAME ``app_name`` or ``"-"``); ``queue``: the
    queue :func:`new_queue` makes for the section, to use instead of
    allocating one (allocate it first on a small heap: one 4 KB block is
    easier to find before code is loaded). Reconnects back off from 0.5 s
    up to ``backoff_max_ms``. ``pool``: where the socket comes from (None:
    the ``socket`` module; see :mod:`netpool`).
    """

    def __init__(self, counters, section, formatter=None, queue=None, hostname="-",
                 backoff_max_ms=60000, pool=None):
        o = section
        transport = o["transport"]
        if queue is None:
            queue = new_queue(o)
        if formatter is None:
            formatter = make_formatter(o, hostname, o["app_name"] or "-")
        host, port = o["host"], o["port"]
        framing = self.framing = _framing(o)
        if isinstance(queue, FrameQueue) != (framing == "octet"):
            raise ValueError("error: syslog: framing %s wants the queue new_queue(section) "
                             "makes" % framing)
        Sender.__init__(self, counters, backoff_max_ms)
        self.transport = transport
        self.formatter = formatter
        self.queue = queue
        # octet counting: each message is formatted into the queue after
        # room for its "LEN SP", as wide as the last one's (it moves when
        # the width differs), and sent out of the queue as it is
        self._pre = 4 if framing == "octet" else 0
        self._premax = len(str(formatter.max_len)) + 1
        # bytes of the pinned head already on the connection's wire (the
        # socket took part of it at once): send() sends the rest
        self._wire = 0
        # records per level bucket (debug..critical) seen by the handlers
        self.counts = [0] * 5
        # messages dropped and not yet announced with a notice
        self.lost = 0
        self.attached = []
        # the connection is opened (TCP) or the socket made (UDP) at the first send
        tls = None
        if transport == "tls":
            from .tlsio import tls_for

            tls = tls_for(self, o, host, pool, "syslog")
        self._conn = (UdpClient(host, port, pool) if transport == "udp" else
                      TcpClient(host, port, o["timeout_ms"], counters, pool, tls))
        # what a TCP server sends (an EOF, or junk) is read into it
        self._rmv = None if transport == "udp" else memoryview(bytearray(1))
        self._event = asyncio.Event()  # set when a record is queued
        # (thread id, event loop) of the sending task, for the CPython handler
        self._loop = None

    # -- producer side (called by handlers; never raises) ---------------

    def count(self, levelno):
        """Count a record that passed its logger's level."""
        # buckets: < 20 debug, < 30 info, < 40 warning, < 50 error, critical
        self.counts[min(max(levelno // 10 - 1, 0), 4)] += 1

    def log(self, levelno, name, msg, ns=None):
        """Format one record into the queue. Never raises, never blocks;
        returns True if it was queued."""
        c = self.counters
        try:
            q = self.queue
            f = self.formatter
            # formatted straight into the queue's free tail, after room for
            # "LEN SP" (octet counting; room kept for the widest) or with a
            # byte kept for the LF; when it does not fit there whole, the
            # oldest messages are dropped (an eighth of the queue at a
            # time) until it does
            pre = self._pre
            while True:
                used = q.used
                room = q.capacity - used - (self._premax if pre else 1)
                end = f.format_into(q.mv, used + pre, levelno, name, msg, ns, True, room)
                if end >= 0:
                    break
                n = q.drop_oldest()
                if n < 0:
                    # longer than the queue beside what is being sent
                    c.log_queued += 1
                    c.log_dropped += 1
                    self.lost += 1
                    return False
                c.log_dropped += n
                self.lost += n
            c.log_queued += 1
            if pre:
                end = self._prefix(used, end)
            else:
                q.buf[end] = 10
                end += 1
            q.commit(end - used)
        except Exception:
            c.log_errors += 1
            return False
        self._event.set()
        return True

    def _prefix(self, used, end):
        # the message formatted at used + _pre up to ``end``: put its
        # "LEN SP" at ``used``, moving it when LEN is not as wide as
        # guessed (a memoryview, the only allocation); returns its end
        q = self.queue
        n = end - used - self._pre
        w = 2  # digits + SP
        k = 10
        while k <= n:
            k *= 10
            w += 1
        if w != self._pre:
            q.mv[used + w:used + w + n] = q.mv[used + self._pre:end]
            self._pre = w
        put_int(q.buf, used, n)
        q.buf[used + w - 1] = 32
        return used + w + n

    # -- sending -----------------------------------------------------------

    def _sent(self, k, wire):
        # the first k bytes of the queue went out as ``wire`` bytes
        self.counters.log_sent += self.queue.consume(k)
        self.counters.log_bytes_sent += wire

    async def send(self):
        """Try to send what is queued (the drop notice first); returns True
        when the queue emptied."""
        q = self.queue
        if q.used == 0:
            return True
        if not self.backoff.ready():
            return False
        udp = self.transport == "udp"
        conn = self._conn
        try:
            # a syslog server never writes: anything to read is an EOF (or
            # junk), an error a dead connection: reconnect
            if not udp and conn.closed(self._rmv):
                self._wire = 0  # a record begun on the old one goes again whole
                await conn.connect()
            if self.lost:
                # "N messages dropped", framed, without structured data
                lost = self.lost
                msg = frame(self.formatter.format(30, "monitoring", "%d messages dropped" % lost,
                                                  None, False), self.framing)
                sending = conn.send(msg)
                if not udp:  # a TCP send is a coroutine
                    await sending
                self.lost -= lost
                self.counters.log_bytes_sent += len(msg)
            while q.used:
                if self._wire or self._put(conn):
                    # the socket had no room for all of the head: wait for it
                    k = q.pinned
                    try:
                        await conn.send(q.view(k), self._wire)
                    except OSError:
                        # count the records wholly sent (consume unpins
                        # them); the rest goes again, whole
                        k = q.whole(conn.partial)
                        self._sent(k, k)
                        raise
                    finally:
                        self._wire = 0
                    self._sent(k, k)
            self.backoff.succeeded()
        except Exception as e:  # never raise into the loop
            self._fail(e)
        finally:
            q.pin(0)
        return q.used == 0

    def _put(self, conn):
        # send from the head what the socket takes now, with no wait;
        # returns how many bytes of the pinned head are left for send()
        # (``_wire`` of them went)
        q = self.queue
        if self.transport == "udp":
            # a datagram per message, the queue moved once when they are
            # out (not after each: a long queue drains in linear time)
            src = wire = 0
            used = q.used
            try:
                while src < used:
                    e = q.buf.find(b"\n", src, used)
                    conn.send(q.mv[src:e])
                    wire += e - src
                    src = e + 1
            finally:
                if src:
                    self._sent(src, wire)
            return 0
        # the queue's bytes as they are (LF lines or octet frames), whole
        # records, a quarter of the queue (at least 1 KB) at a time: the
        # queue moves at most four times a fill
        k = q.head(max(1024, q.capacity >> 2))
        q.pin(k)
        n = conn.send_now(q.buf, k)
        if n < k:
            self._wire = n
            return k - n
        self._sent(k, k)
        return 0

    def _send_now(self):
        # send() without a coroutine, the usual case: connected, no drop
        # notice due, and the socket takes what is queued at once. False
        # when send() has work (connecting, the notice, waiting for room)
        q = self.queue
        conn = self._conn
        if self.lost or (self.transport != "udp" and conn.closed(self._rmv)):
            return False
        try:
            while q.used:
                if self._put(conn):
                    return False  # the head stays pinned, _wire of it sent
            self.backoff.succeeded()
        except Exception as e:  # never raise into the loop
            q.pin(0)
            self._fail(e)
        return True

    # -- task ----------------------------------------------------------------

    async def run(self):
        """Send whatever is queued, as it comes, until cancelled."""
        self._note_loop()
        q = self.queue
        while True:
            if q.used == 0:
                self._event.clear()
                await self._event.wait()
                continue
            if not self.backoff.ready():
                await sleep_ms(max(ticks_diff(self.backoff._next, ticks_ms()), 0))
                continue
            try:
                if not self._send_now():
                    await self.send()
            except Exception as e:  # defensive: the sender must not die
                self._error(e, b"syslog")
                self.backoff.failed()  # and must not spin on a repeating error
            await sleep_ms(0)

    def _note_loop(self):
        try:
            import threading

            self._loop = (threading.get_ident(), asyncio.get_running_loop())
        except Exception:  # not CPython, or no loop running
            pass

    def stop(self):
        """Detach the handlers, cancel the task, close the connection.
        Messages still queued are counted as dropped."""
        self.detach()
        self.counters.log_dropped += self._shut()

    # -- handlers --------------------------------------------------------

    def attach(self, target=None, level=0):
        """Add a handler of the right kind to ``target`` and return it.

        ``target``: a logger object, a logging module (its root logger),
        a logger name (in the default module: micropython-lib ``logging``
        if importable, else ``adafruit_logging``; CPython ``logging`` on
        CPython), or None (the default module's root logger).
        """
        if target is None or isinstance(target, str):
            from .options import default_logging

            mod = default_logging()
            if mod is None:
                raise ValueError("no logging module to attach syslog to")
            target = mod.getLogger(target) if target else mod
        if hasattr(target, "getLogger"):
            # a module: its root logger (micropython-lib, CPython:
            # getLogger(); adafruit_logging: getLogger(""))
            try:
                target = target.getLogger()
            except TypeError:
                target = target.getLogger("")
        check_option(hasattr(target, "addHandler"), "logger", target)
        # CPython's loggers have a manager, micropython-lib's a record
        if hasattr(target, "manager"):
            from .syslog_cpython import cpython_handler

            h = cpython_handler(self, level)
        elif hasattr(target, "record"):
            h = MicroPythonHandler(self, level)
        else:
            h = AdafruitHandler(self, level)
        target.addHandler(h)
        self.attached.append((target, h))
        return h

    def detach(self):
        """Remove every handler :meth:`attach` added."""
        for logger, h in self.attached:
            try:
                # micropython-lib's loggers have no removeHandler
                (getattr(logger, "removeHandler", None) or logger.handlers.remove)(h)
            except Exception:
                pass
        self.attached = []

    def log_source(self, registry=None):
        """Register and return the ``log`` metrics source (tag ``builtin``):
        records per level since start (``debug`` ... ``critical``, counted
        by the handlers for records that passed their logger's level) and
        ``dropped`` (messages the queue dropped); all counters."""
        return Source("log", tags=("builtin",), sampler=self._sample, registry=registry)

    def _sample(self, src):
        # the log source's sampler
        f = src.fields
        # records per level bucket, in order, then drops
        for i in range(6):
            n = ("debug", "info", "warning", "error", "critical", "dropped")[i]
            v = self.counts[i] if i < 5 else self.counters.log_dropped
            if n in f:
                f[n] = v
            else:
                src.incr(n, v)


class MicroPythonHandler:
    """Handler for micropython-lib ``logging``: its logger calls ``emit``
    for every record at or above the logger's level, reusing one
    ``LogRecord`` whose text is in ``message``; the handler checks its own
    level and formats the record into the queue before returning."""

    _text = "message"  # the record's attribute holding its text

    def __init__(self, sender, level=0):
        self.sender = sender
        self.level = level
        self.formatter = None

    def setLevel(self, level):
        """Records below ``level`` are not sent (still counted)."""
        self.level = level

    def setFormatter(self, formatter):
        """Use ``formatter.format(record)`` as the message text (default:
        the record's message alone)."""
        self.formatter = formatter

    def format(self, record):
        return self.formatter.format(record)

    def emit(self, record):
        """Count the record, and queue it if at or above this handler's
        level. Never raises (an error is counted in ``log_errors``)."""
        s = self.sender
        try:
            lv = record.levelno
            s.count(lv)
            if lv >= self.level:
                msg = (getattr(record, self._text) if self.formatter is None else
                       self.format(record))
                s.log(lv, record.name, msg)
        except Exception:
            s.counters.log_errors += 1

    def flush(self):
        pass

    close = flush  # nothing to flush or close


class AdafruitHandler(MicroPythonHandler):
    """Handler for CircuitPython's ``adafruit_logging``: its logger checks
    both levels and passes a namedtuple record whose ``msg`` is already
    ``msg % args``. The same handler, reading the text from ``msg``."""

    _text = "msg"


def _framing(o):
    # how records are delimited on the wire: "none" for one per datagram
    # (UDP) or per RELP frame
    return o["framing"] if o["transport"] in ("tcp", "tls") else "none"


def new_queue(o):
    """The queue the checked section ``o`` needs: a
    :class:`framequeue.FrameQueue` for octet counting, else a
    :class:`linequeue.LineQueue`, of ``queue_bytes``."""
    return (FrameQueue if _framing(o) == "octet" else LineQueue)(o["queue_bytes"])


def make_formatter(o, hostname, app_name):
    """The :class:`syslog.SyslogFormatter` of the checked section ``o``."""
    n = o["max_message_bytes"] or (480 if o["transport"] == "udp" else 2048)
    return SyslogFormatter(hostname, app_name, facility_code(o["facility"]), o["format"], n,
                           o["bom"])


def start(mon, o, logmod=None):
    """Run the checked section ``o`` on :class:`Monitor` ``mon``: a
    :class:`SyslogSender` attached to ``o["loggers"]`` (names are looked
    up in the logging module ``logmod``; None: no logging installed), with the
    ``log`` source when the built-in sources are on. Kept here so a
    firmware without syslog never loads this code."""
    import gc

    cls = SyslogSender
    if o["transport"] == "relp":
        from .relp_sender import RelpSender as cls
    # what loading the code left behind, collected before the
    # queue asks for its one large block
    gc.collect()
    queue = new_queue(o)
    reg = mon.registry
    fmt = make_formatter(o, reg.host, o["app_name"] or mon.firmware)
    sender = cls(mon.counters, o, fmt, queue, pool=mon.pool)
    # running before the handlers go on, so stop() takes them off
    mon.syslog = mon._add(sender)
    loggers = o["loggers"]
    if loggers is None:
        # the logging module's root logger, if there is one
        loggers = (logmod,) if logmod else ()
    for lg in loggers if type(loggers) in (list, tuple) else (loggers,):
        if type(lg) is str and logmod is not None:
            lg = logmod.getLogger(lg)
        sender.attach(lg)
    if mon.builtin_sources:
        reg.remove("log")  # a previous start's, counting for a stopped sender
        sender.log_source(reg)
