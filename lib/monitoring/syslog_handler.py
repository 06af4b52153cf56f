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
``counters.log_errors``). The queue (:class:`linequeue.LineQueue`, default
4 KB) drops its oldest messages first when full; every drop is counted in
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
    with ``hostname``, and APP-NAME ``app_name`` or ``"-"``); ``queue``: a
    :class:`linequeue.LineQueue` to use instead of allocating one of
    ``queue_bytes`` (allocate it first on a small heap: one 4 KB block is
    easier to find before code is loaded). Reconnects back off from 0.5 s
    up to ``backoff_max_ms``. ``pool``: where the socket comes from (None:
    the ``socket`` module; see :mod:`netpool`).
    """

    def __init__(self, counters, section, formatter=None, queue=None, hostname="-",
                 backoff_max_ms=60000, pool=None):
        o = section
        transport = o["transport"]
        if queue is None:
            queue = LineQueue(o["queue_bytes"])
        if formatter is None:
            formatter = make_formatter(o, hostname, o["app_name"] or "-")
        host, port, framing = o["host"], o["port"], o["framing"]
        Sender.__init__(self, counters, backoff_max_ms)
        self.transport = transport
        framing = self.framing = framing if transport in ("tcp", "tls") else "none"
        self.formatter = formatter
        self.queue = queue
        # octet counting: frames are built in _tx (1 KB) at send time, up
        # to 32 at once (_ends: where each frame ends in _tx, _srcs: where
        # the next message starts in the queue); the queue holds each
        # message once, LF-terminated
        if framing == "octet":
            self._tx = memoryview(bytearray(1024))
            self._ends = [0] * 32
            self._srcs = [0] * 32
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
            # formatted straight into the queue's free tail (one byte kept
            # for the LF); when it does not fit there whole, the oldest
            # messages are dropped (an eighth of the queue at a time) until
            # it does
            while True:
                used = q.used
                end = f.format_into(q.mv, used, levelno, name, msg, ns, True,
                                    q.capacity - used - 1)
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
            q.buf[end] = 10
            q.commit(end + 1 - used)
        except Exception:
            c.log_errors += 1
            return False
        self._event.set()
        return True

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
            if not udp:
                # a syslog server never writes: anything to read is an EOF
                # (or junk), an error a dead connection: reconnect
                if conn.closed(self._rmv):
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
            if udp:
                # a datagram per message from the head on, the queue moved
                # once when they are out (not after each: a long queue
                # drains in time linear in its length)
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
            elif self.framing == "lf":
                # whole lines, in chunks of a quarter of the queue (at least
                # 1 KB): the queue moves at most four times a fill
                while q.used:
                    k = q.head(max(1024, q.capacity >> 2))
                    q.pin(k)
                    try:
                        await conn.send(q.view(k))
                    except OSError:
                        # count the lines wholly sent (consume unpins them)
                        k = q.buf.rfind(b"\n", 0, conn.partial) + 1
                        self._sent(k, k)
                        raise
                    self._sent(k, k)
            else:
                await self._send_octets(conn)
            self.backoff.succeeded()
        except Exception as e:  # never raise into the loop
            self._fail(e)
        finally:
            q.pin(0)
        return q.used == 0

    async def _send_octets(self, conn):
        # batches of frames from the head on; the messages sent leave the
        # queue a quarter of the queue at a time (at least 1 KB), not after
        # each batch: a long queue drains in time linear in its length
        q = self.queue
        pos = 0
        while pos < q.used:
            pos = await self._send_frames(conn, pos)
            if pos >= max(1024, q.capacity >> 2):
                self._sent(pos, 0)
                pos = 0
        if pos:
            self._sent(pos, 0)

    async def _send_frames(self, conn, start):
        # frame the queued messages from ``start`` into _tx (LEN SP MSG
        # each), as many as fit (and _ends has room for), and send them;
        # returns where the next message starts in the queue. Frame bytes
        # are counted as they go; on an error the messages wholly sent
        # (those before ``start`` too) leave the queue before it is raised
        q = self.queue
        buf = q.buf
        tx = self._tx
        ends = self._ends
        srcs = self._srcs
        p = k = 0
        src = start
        used = q.used
        while src < used and k < len(ends):
            e = buf.find(b"\n", src, used)
            n = e - src
            if p + n + 7 > len(tx):
                if k:
                    break
                # the first message is longer than _tx: "LEN SP" from _tx,
                # then the message from the queue in place
                p = put_int(tx, 0, n)
                tx[p] = 32
                q.pin(e + 1)
                try:
                    await conn.send(tx[0:p + 1])
                    await conn.send(q.mv[src:e])
                except OSError:
                    self._sent(start, 0)  # this one goes again, whole
                    raise
                self.counters.log_bytes_sent += p + 1 + n
                return e + 1
            p = put_int(tx, p, n)
            tx[p] = 32
            p += 1
            tx[p:p + n] = q.mv[src:e]
            p += n
            src = e + 1
            ends[k] = p
            srcs[k] = src
            k += 1
        q.pin(src)
        try:
            await conn.send(tx[0:p])
        except OSError:
            # count the frames wholly sent; the rest goes again, whole
            part = conn.partial
            i = 0
            while i < k and ends[i] <= part:
                i += 1
            self._sent(srcs[i - 1] if i else start, ends[i - 1] if i else 0)
            raise
        self.counters.log_bytes_sent += p
        return src

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
    queue = LineQueue(o["queue_bytes"])
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
