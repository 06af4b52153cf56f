"""Crash reports: the persistent record's layout, and the report written
into it without allocating.

Pure module: no sockets, no asyncio; runs on MicroPython, CircuitPython
and CPython. :mod:`crash` is the edge around it (the store, the delivery
at the next boot).

The record is one preallocated bytearray (``HEAD`` bytes of header, then
at most ``report_bytes`` of report), written whole to RTC memory or to a
file. Header (little-endian):

======  ====  =============================================================
offset  size  field
======  ====  =============================================================
0       4     magic ``MCR1``
4       4     crashes: reports written since the store was new (never cleared)
8       4     the uptime in seconds of the last crash
12      2     the length of the report waiting for delivery (0: none)
14      1     the length of the heartbeat's task name (0: none)
15      1     flags: 1 counters saved (before a deep sleep)
16      16    the heartbeat's task name
32      4     the heartbeat's uptime in seconds
36      4     wakes: deep-sleep cycles since the store was new
40      64    up to 16 counters (the ``monitoring`` source's), kept across deep sleep
104     ...   the report: UTF-8 text, lines ended by LF, no trailing LF
======  ====  =============================================================

The report: one line ``TYPE after N s; heap free N B, alloc N B, largest
N B; firmware NAME`` (largest ``?`` where the port cannot tell), the
traceback (``sys.print_exception``'s text; cut in the middle, ``...``,
when too long: its head and its last lines kept), then ``last records:``
and the last few log records, oldest first (``N s L name: message``, L
the level's initial). Writing it allocates 32 bytes on MicroPython (a
memoryview of the exception's type name; the traceback goes through an
``io.IOBase`` stream whose ``write`` copies byte by byte): with a small
reserve freed first, it works on a full heap. Keeping a log record
allocates a memoryview of its message, as the syslog handler does.
"""

from .compat import const

HEAD = const(104)
_MAGIC = b"MCR1"
_NAME = const(16)
NCOUNTERS = const(16)

try:
    from io import IOBase as _Base
except ImportError:  # a port without io.IOBase: print_exception needs a stream
    _Base = object


def get_u32(b, p):
    return b[p] | b[p + 1] << 8 | b[p + 2] << 16 | b[p + 3] << 24


def put_u32(b, p, v):
    # no "& 0xFFFFFFFF" first: on a 32-bit port that constant is a long
    # int, and every operation on one allocates (bytes are the same)
    b[p] = v & 255
    b[p + 1] = v >> 8 & 255
    b[p + 2] = v >> 16 & 255
    b[p + 3] = v >> 24 & 255


def put_int(b, p, end, n):
    """The decimal digits of ``n >= 0`` at ``b[p:end]`` (nothing when they
    do not fit); returns the position after them. Allocates nothing."""
    k = 1
    w = 1
    while k * 10 <= n:
        k *= 10
        w += 1
    if p + w > end:
        return p
    while k:
        b[p] = 48 + n // k % 10
        p += 1
        k //= 10
    return p


def put_bytes(b, p, end, src, n=-1):
    """Copy ``src`` (bytes, bytearray, memoryview; a str is taken as its
    UTF-8 bytes) at ``b[p:end]``, cut to fit, control bytes but LF made
    spaces; returns the position after it. Allocates nothing for bytes (a
    memoryview for a str on MicroPython, its encoding on CPython)."""
    if type(src) is str:
        try:
            src = memoryview(src)
        except TypeError:  # CPython
            src = src.encode()
    if n < 0:
        n = len(src)
    i = 0
    while i < n and p < end:
        c = src[i]
        b[p] = c if c >= 32 and c != 127 or c == 10 else 32
        p += 1
        i += 1
    return p


def _reverse(b, i, j):
    # reverse b[i:j] in place
    j -= 1
    while i < j:
        c = b[i]
        b[i] = b[j]
        b[j] = c
        i += 1
        j -= 1


class Writer(_Base):
    """The stream ``sys.print_exception`` writes into: bytes go to
    ``buf[start:stop]``; when they overflow it, the first half is kept and
    the rest becomes a ring of the last bytes, put in order (after a
    ``...`` line) by :meth:`finish`. Allocates nothing."""

    def __init__(self, buf):
        self.buf = buf
        self.open(0, 0)

    def open(self, start, stop):
        self.start = start
        self.stop = stop
        self.p = start
        self.mid = start + (stop - start) // 2  # where the ring starts
        self.wrapped = False

    def write(self, data):
        buf = self.buf
        if type(data) is str:  # CPython's traceback module writes str
            data = data.encode()
        n = len(data)
        p = self.p
        stop = self.stop
        i = 0
        while i < n:
            if p >= stop:
                if self.mid + 5 >= stop:
                    break  # too small for a ring: the rest is cut
                p = self.mid + 5
                self.wrapped = True
            buf[p] = data[i]
            p += 1
            i += 1
        self.p = p
        return n

    def finish(self):
        """Where the text ends, in order."""
        if not self.wrapped:
            return self.p
        buf = self.buf
        mid = self.mid
        lo = mid + 5
        stop = self.stop
        # the ring's oldest byte is at p: rotate [lo, stop) left by p - lo
        _reverse(buf, lo, self.p)
        _reverse(buf, self.p, stop)
        _reverse(buf, lo, stop)
        # the cut line's remains dropped: the tail starts at a line
        i = lo
        while i < stop - 1 and buf[i] != 10:
            i += 1
        k = i + 1 if i < stop - 1 else lo
        for j in range(5):
            buf[mid + j] = b"\n...\n"[j]
        p = lo
        while k < stop:
            buf[p] = buf[k]
            p += 1
            k += 1
        self.wrapped = False
        self.p = p
        return p


import sys

_pe = getattr(sys, "print_exception", None)


def print_exception(exc, stream):
    """``exc``'s traceback written to ``stream`` (MicroPython's
    ``sys.print_exception``; CPython's and CircuitPython's ``traceback``)."""
    if _pe is not None:
        _pe(exc, stream)
    else:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=stream)


def escaped(text):
    """``text`` (bytes, a memoryview) as a str escaped as a syslog
    message is (:func:`syslog.put_msg`: LF as ``\\n``, a backslash
    doubled...): one line. Allocates (for the control port's reply)."""
    from .syslog import put_msg

    buf = bytearray(4 * len(text))
    end = put_msg(buf, 0, len(buf), bytes(text).decode())
    return bytes(buf[0:end]).decode()


_LEVELS = b"DIWEC"


class Report:
    """The crash record (``blob``, ``HEAD + report_bytes`` bytes) and the
    ring of the last ``records`` log records (each cut to ``record_bytes``),
    all allocated here, at start."""

    def __init__(self, report_bytes=1024, records=4, record_bytes=80):
        self.blob = bytearray(HEAD + report_bytes)
        self.size = HEAD + report_bytes
        self.ring = bytearray(records * record_bytes)
        self.rlen = [0] * records
        self.record_bytes = record_bytes
        self.rnext = 0  # the slot the next record takes
        self.writer = Writer(self.blob)
        self.fresh()

    def fresh(self):
        """A new, empty record (no crash yet)."""
        b = self.blob
        for i in range(HEAD):
            b[i] = 0
        for i in range(4):
            b[i] = _MAGIC[i]

    def load(self, data):
        """Take a stored record (bytes); a wrong magic or size gives a new
        one. Returns True when it was taken."""
        if data is None or len(data) < HEAD or bytes(data[0:4]) != _MAGIC:
            self.fresh()
            return False
        b = self.blob
        n = min(len(data), self.size)
        for i in range(n):
            b[i] = data[i]
        if HEAD + self.pending() > self.size:  # stored with a larger report_bytes
            self.set_pending(self.size - HEAD)
        return True

    # -- header fields ---------------------------------------------------

    def crashes(self):
        return get_u32(self.blob, 4)

    def last_uptime(self):
        return get_u32(self.blob, 8)

    def pending(self):
        """The length of the report waiting for delivery (0: none)."""
        b = self.blob
        return b[12] | b[13] << 8

    def set_pending(self, n):
        self.blob[12] = n & 255
        self.blob[13] = n >> 8

    def wakes(self):
        return get_u32(self.blob, 36)

    def beat_name(self):
        """The heartbeat's task name as bytes, or None."""
        n = self.blob[14]
        return bytes(self.blob[16:16 + n]) if n else None

    def beat_uptime(self):
        return get_u32(self.blob, 32)

    def set_beat(self, name, up_s):
        """Record the heartbeat: ``name`` (bytes or str, cut to 16 bytes),
        at ``up_s``. Allocates nothing for bytes."""
        b = self.blob
        put_u32(b, 32, up_s)
        b[14] = put_bytes(b, 16, 16 + _NAME, name) - 16 if name else 0

    def clear_beat(self):
        self.blob[14] = 0

    def save_counters(self, counters, names):
        """Keep ``counters``' fields ``names`` (at most 16) in the record,
        and count a wake."""
        b = self.blob
        for i in range(min(len(names), NCOUNTERS)):
            put_u32(b, 40 + 4 * i, getattr(counters, names[i]))
        b[15] |= 1
        put_u32(b, 36, self.wakes() + 1)

    def restore_counters(self, counters, names):
        """Add the kept counters to ``counters`` (after a deep sleep) and
        forget them; returns True when there were some."""
        b = self.blob
        if not b[15] & 1:
            return False
        for i in range(min(len(names), NCOUNTERS)):
            n = names[i]
            setattr(counters, n, getattr(counters, n) + get_u32(b, 40 + 4 * i))
        b[15] &= 0xFE
        return True

    def report_view(self, n=None):
        """A memoryview of the report's text (``n`` bytes; default the
        pending report's)."""
        if n is None:
            n = self.pending()
        return memoryview(self.blob)[HEAD:HEAD + n]

    # -- the log ring ------------------------------------------------------

    _names = None

    def _name_bytes(self, name):
        # a logger name's bytes, cached (a few loggers: at most 8 kept), so
        # that a record allocates only its message's memoryview
        c = self._names
        if c is None:
            c = self._names = {}
        b = c.get(name)
        if b is None:
            try:
                b = memoryview(name)
            except TypeError:  # CPython
                b = name.encode()
            if len(c) < 8:
                c[name] = b
        return b

    def add_record(self, levelno, name, msg, up_s):
        """Keep one log record in the ring (the oldest goes). Allocates
        a memoryview of ``msg`` when it is a str (names are cached)."""
        k = len(self.rlen)
        if not k:
            return
        i = self.rnext
        self.rnext = i + 1 if i + 1 < k else 0
        w = self.record_bytes
        r = self.ring
        p = i * w
        end = p + w
        start = p
        p = put_int(r, p, end, up_s)
        if p + 5 < end:
            r[p] = 32
            r[p + 1] = 115  # s
            r[p + 2] = 32
            r[p + 3] = _LEVELS[min(max(levelno // 10 - 1, 0), 4)]
            r[p + 4] = 32
            p += 5
        p = put_bytes(r, p, end, self._name_bytes(name or "root"))
        if p + 2 < end:
            r[p] = 58  # :
            r[p + 1] = 32
            p += 2
        p = put_bytes(r, p, end, msg)
        # one line per record
        j = start
        while j < p:
            if r[j] == 10:
                r[j] = 32
            j += 1
        self.rlen[i] = p - start

    # -- writing a report ------------------------------------------------------

    def write_report(self, exc, up_s, free, alloc, largest, firmware):
        """Write the report of ``exc`` (uptime ``up_s``, heap figures,
        ``largest`` -1 when unknown, ``firmware`` bytes or str) as the
        pending one and count the crash; returns its length. Allocates a
        memoryview of the type's name on MicroPython (32 bytes; and one of
        ``firmware`` when it is a str)."""
        b = self.blob
        end = self.size
        p = HEAD
        p = put_bytes(b, p, end, type(exc).__name__)
        p = put_bytes(b, p, end, b" after ")
        p = put_int(b, p, end, up_s)
        p = put_bytes(b, p, end, b" s; heap free ")
        p = put_int(b, p, end, free)
        p = put_bytes(b, p, end, b" B, alloc ")
        p = put_int(b, p, end, alloc)
        p = put_bytes(b, p, end, b" B, largest ")
        if largest < 0:
            p = put_bytes(b, p, end, b"?")
        else:
            p = put_int(b, p, end, largest)
            p = put_bytes(b, p, end, b" B")
        p = put_bytes(b, p, end, b"; firmware ")
        p = put_bytes(b, p, end, firmware)
        p = put_bytes(b, p, end, b"\n")
        # the records' room kept (a third of the report at most)
        keep = 0
        rl = self.rlen
        for i in range(len(rl)):  # (a list's iterator would be allocated)
            if rl[i]:
                keep += rl[i] + 1
        if keep:
            keep += 14  # "last records:\n"
        if keep > (end - p) // 3:
            keep = (end - p) // 3
        w = self.writer
        w.open(p, end - keep)
        try:
            print_exception(exc, w)
        except Exception:  # what was written stays
            pass
        p = w.finish()
        while p > HEAD and b[p - 1] == 10:
            p -= 1
        p = self._put_records(p, end)
        self.set_pending(p - HEAD)
        put_u32(b, 4, self.crashes() + 1)
        put_u32(b, 8, up_s)
        return p - HEAD

    def write_text(self, text, up_s):
        """Write ``text`` (bytes) and the records as the pending report
        (a watchdog reset's, made at the next boot) and count the crash."""
        b = self.blob
        p = put_bytes(b, HEAD, self.size, text)
        p = self._put_records(p, self.size)
        self.set_pending(p - HEAD)
        put_u32(b, 4, self.crashes() + 1)
        put_u32(b, 8, up_s)
        return p - HEAD

    def _put_records(self, p, end):
        # the ring's records, oldest first, after "last records:"
        b = self.blob
        k = len(self.rlen)
        first = True
        for j in range(k):
            i = (self.rnext + j) % k
            n = self.rlen[i]
            if not n:
                continue
            if first:
                p = put_bytes(b, p, end, b"\nlast records:")
                first = False
            if p + 1 >= end:
                break
            b[p] = 10
            p += 1
            r = self.ring
            s = i * self.record_bytes
            q = 0
            while q < n and p < end:
                b[p] = r[s + q]
                p += 1
                q += 1
        return p
