"""Trace stream format and region accounting.

Pure module: no sockets, no asyncio. Runs on MicroPython and CPython.

The stream is text, one record per LF-terminated line. The first line is a
JSON object (the header, see :func:`header`); every other line is
tab-separated and starts with a one-letter kind, so ``nc`` shows it
readably and ``line.rstrip("\\n").split("\\t")`` parses it. A missing value
is ``-``. Times are ms since tracing started (the client connected), sizes
are bytes::

    S  ms  free  alloc  largest  stack  tasks  gcs  dropped   a sample
    M  ms  label                                              a marker
    G  ms  alloc_before  alloc_after                          a library gc.collect
    E  ms  error  where                                       e.g. MemoryError
    R  ms  name  count  bytes  region_ms  inexact             region totals

``gcs`` counts the collections observed since tracing started, ``dropped``
the lines (samples or events) lost since the previous sample line because
the client read too slowly.

Lines are encoded straight into a caller's bytearray (``put_*`` and
``*_line`` functions return the new end offset, or -1 when the line does
not fit, writing nothing usable): encoding ints allocates nothing.

Regions (:class:`Regions`, :class:`Region`) account the bytes allocated
(``gc.mem_alloc`` delta) and the time spent inside ``with`` blocks; see
:meth:`Region.__exit__` for the approximation.
"""

import gc
import json

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

try:
    from time import ticks_diff, ticks_us
except ImportError:  # CPython
    from time import perf_counter_ns as _pc

    def ticks_us():
        return _pc() // 1000

    def ticks_diff(a, b):
        return a - b

if hasattr(gc, "mem_alloc"):
    _mem_alloc = gc.mem_alloc
else:  # CPython: what tracemalloc sees, when it runs
    import tracemalloc

    def _mem_alloc():
        return tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0

FORMAT = "mpmon-trace"
VERSION = const(1)
_TAB = const(9)
_LF = const(10)
_DASH = const(45)
_SPACE = const(32)
_DEPTH = const(4)

SAMPLE_FIELDS = ("ms", "free", "alloc", "largest", "stack", "tasks", "gcs", "dropped")
COLUMNS = {
    "S": SAMPLE_FIELDS,
    "M": ("ms", "label"),
    "G": ("ms", "alloc_before", "alloc_after"),
    "E": ("ms", "error", "where"),
    "R": ("ms", "name", "count", "bytes", "region_ms", "inexact"),
}
UNITS = {
    "ms": "ms since tracing started", "free": "B", "alloc": "B", "largest": "B",
    "stack": "B", "tasks": "count", "gcs": "count since start",
    "dropped": "lines lost since previous S", "alloc_before": "B", "alloc_after": "B",
    "count": "count since boot", "bytes": "B since boot", "region_ms": "ms since boot",
    "inexact": "count since boot",
}


def header(device, platform, version, heap_total, interval_ms, extra=None):
    """The header line (bytes, LF-terminated): a JSON object with the
    format name and version, the device, platform, MicroPython version,
    heap total (B), sample interval (ms), columns per line kind and units.
    ``extra`` (a dict) is merged in."""
    d = {
        "format": FORMAT, "version": VERSION, "device": device, "platform": platform,
        "micropython": version, "heap_total": heap_total, "interval_ms": interval_ms,
        "columns": COLUMNS, "units": UNITS,
    }
    if extra:
        for k in extra:
            d[k] = extra[k]
    return (json.dumps(d) + "\n").encode()


def put_int(buf, pos, end, n):
    """Write ``n`` (an int, or None for ``-``) at ``buf[pos:]``, not past
    ``end``; returns the new position or -1."""
    if pos < 0:
        return -1
    if n is None:
        if pos >= end:
            return -1
        buf[pos] = _DASH
        return pos + 1
    if n < 0:
        if pos >= end:
            return -1
        buf[pos] = _DASH
        pos += 1
        n = -n
    k = 1
    t = n
    while t >= 10:
        t //= 10
        k += 1
    if pos + k > end:
        return -1
    i = pos + k - 1
    while i >= pos:
        buf[i] = 48 + n % 10
        n //= 10
        i -= 1
    return pos + k


def put_text(buf, pos, end, s):
    """Write ``s`` (bytes, bytearray or str) at ``buf[pos:]``; tabs, LF
    and other control bytes become spaces so a label never breaks a line.
    A str is encoded as UTF-8 (that allocates; bytes do not)."""
    if pos < 0:
        return -1
    if isinstance(s, str):
        s = s.encode()
    n = len(s)
    if pos + n > end:
        return -1
    for i in range(n):
        b = s[i]
        buf[pos + i] = _SPACE if b < 32 or b == 127 else b
    return pos + n


def _tab(buf, pos, end):
    if pos < 0 or pos >= end:
        return -1
    buf[pos] = _TAB
    return pos + 1


def _kind(buf, pos, end, letter):
    if pos + 2 > end:
        return -1
    buf[pos] = letter
    buf[pos + 1] = _TAB
    return pos + 2


def _lf(buf, pos, end):
    if pos < 0 or pos >= end:
        return -1
    buf[pos] = _LF
    return pos + 1


def sample_line(buf, pos, end, ms, free, alloc, largest, stack, tasks, gcs, dropped):
    """Encode an ``S`` line; None values are written ``-``."""
    p = _kind(buf, pos, end, 83)
    p = put_int(buf, p, end, ms)
    p = put_int(buf, _tab(buf, p, end), end, free)
    p = put_int(buf, _tab(buf, p, end), end, alloc)
    p = put_int(buf, _tab(buf, p, end), end, largest)
    p = put_int(buf, _tab(buf, p, end), end, stack)
    p = put_int(buf, _tab(buf, p, end), end, tasks)
    p = put_int(buf, _tab(buf, p, end), end, gcs)
    p = put_int(buf, _tab(buf, p, end), end, dropped)
    return _lf(buf, p, end)


def marker_line(buf, pos, end, ms, label):
    """Encode an ``M`` line."""
    p = put_int(buf, _kind(buf, pos, end, 77), end, ms)
    p = put_text(buf, _tab(buf, p, end), end, label)
    return _lf(buf, p, end)


def gc_line(buf, pos, end, ms, before, after):
    """Encode a ``G`` line (a collection run by the library)."""
    p = put_int(buf, _kind(buf, pos, end, 71), end, ms)
    p = put_int(buf, _tab(buf, p, end), end, before)
    p = put_int(buf, _tab(buf, p, end), end, after)
    return _lf(buf, p, end)


def error_line(buf, pos, end, ms, error, where):
    """Encode an ``E`` line (``error`` e.g. ``b"MemoryError"``)."""
    p = put_int(buf, _kind(buf, pos, end, 69), end, ms)
    p = put_text(buf, _tab(buf, p, end), end, error)
    p = put_text(buf, _tab(buf, p, end), end, where)
    return _lf(buf, p, end)


def region_line(buf, pos, end, ms, region):
    """Encode an ``R`` line with a :class:`Region`'s totals."""
    p = put_int(buf, _kind(buf, pos, end, 82), end, ms)
    p = put_text(buf, _tab(buf, p, end), end, region.bname)
    p = put_int(buf, _tab(buf, p, end), end, region.count)
    p = put_int(buf, _tab(buf, p, end), end, region.bytes)
    p = put_int(buf, _tab(buf, p, end), end, region.ms)
    p = put_int(buf, _tab(buf, p, end), end, region.inexact)
    return _lf(buf, p, end)


def parse(line):
    """Parse one line (str): ``("H", dict)`` for the header, else
    ``(kind, values)`` with ints where the column is numeric, None for
    ``-``. Raises ValueError on a malformed line."""
    line = line.rstrip("\n")
    if line.startswith("{"):
        return "H", json.loads(line)
    parts = line.split("\t")
    kind = parts[0]
    cols = COLUMNS.get(kind)
    if cols is None or len(parts) != len(cols) + 1:
        raise ValueError("bad trace line: %r" % line[:80])
    out = []
    for i in range(1, len(parts)):
        v = parts[i]
        name = cols[i - 1]
        if name in ("label", "error", "where", "name"):
            out.append(v)
        elif v == "-":
            out.append(None)
        else:
            out.append(int(v))
    return kind, out


class Region:
    """One named region's totals: ``count`` (exits), ``bytes`` (allocated
    inside, see :meth:`__exit__`), ``ms`` (time inside), ``inexact``
    (exits whose byte count could not be compensated). Use through
    :func:`monitoring.region`, as ``with`` or as a decorator.

    Nesting the same region (recursion, or a ``with`` block containing an
    ``await`` entered again by another task) is measured up to 4 deep;
    deeper entries are not measured and counted in ``overflow``.
    """

    def __init__(self, name, owner):
        self.name = name
        self.bname = name.encode()
        self.owner = owner
        self.count = 0
        self.bytes = 0
        self.ms = 0
        self.inexact = 0
        self.overflow = 0
        self._us = 0
        self.dirty = False
        self.keys = (name + "_count", name + "_bytes", name + "_ms")
        # per nesting level: alloc at entry, library-freed bytes at entry, ticks_us
        self._stack = [0] * (3 * _DEPTH)
        self._depth = 0

    def __enter__(self):
        d = self._depth
        self._depth = d + 1
        if d < _DEPTH:
            st = self._stack
            st[3 * d + 1] = self.owner.freed
            st[3 * d + 2] = ticks_us()
            st[3 * d] = self.owner.mem_alloc()
        return self

    def __exit__(self, exc_type, exc, tb):
        """Account one pass.

        bytes = mem_alloc(exit) - mem_alloc(entry) + bytes freed by
        library collections (:meth:`Regions.collect`) in between, minus
        the fixed cost of the region's own call frames (measured once when
        :class:`Regions` is created): exact
        when every collection inside went through the library. An
        automatic collection (heap full) or a freeing realloc inside can
        make the delta negative: then 0 is added and ``inexact`` counted
        (and when it only shrinks the delta, the region is under-counted).
        Everything allocated while the region is open is counted, by any
        task (keep ``await`` out of regions for per-task figures).
        """
        alloc = self.owner.mem_alloc()
        now = ticks_us()
        d = self._depth - 1
        self._depth = d
        if d >= _DEPTH:
            self.overflow += 1
            return False
        st = self._stack
        owner = self.owner
        delta = alloc - st[3 * d] + (owner.freed - st[3 * d + 1]) - owner.bias
        if delta < 0:
            self.inexact += 1
            delta = 0
        self.count += 1
        self.bytes += delta
        us = self._us + ticks_diff(now, st[3 * d + 2])
        if us >= 1000:
            self.ms += us // 1000
            us %= 1000
        self._us = us
        self.dirty = True
        owner.changed(self)
        return False

    def __call__(self, fn):
        return self.owner.wrap(self.name, fn)


class Regions:
    """The set of regions, the bytes freed by library collections
    (``freed``, ``collects``), and where totals go: ``source`` (a metrics
    :class:`Source`, fields ``<name>_count``, ``<name>_bytes``,
    ``<name>_ms``) and ``tracer`` (an object with ``active`` and
    ``region_changed(region)``, ``collected(before, after)``), each
    optional.

    ``lookup`` is the function decorators call to find the region (or a
    no-op) at call time; :func:`monitoring.region` by default.
    ``mem_alloc`` reads the allocated heap bytes (``gc.mem_alloc``; on
    CPython, tracemalloc's current size while it traces).
    """

    def __init__(self, source=None, tracer=None, lookup=None, mem_alloc=None):
        self.mem_alloc = mem_alloc or _mem_alloc
        self.by_name = {}
        self.list = []
        self.freed = 0
        self.collects = 0
        self.source = None
        self.tracer = None
        self.bias = 0
        self._calibrate()
        self.source = source
        self.tracer = tracer
        self.lookup = lookup
        self.dirty = False

    def _calibrate(self):
        # MicroPython puts a call's frame on the heap when it is large and
        # frees it on return, so __exit__ reads mem_alloc with its own frame
        # allocated and __enter__'s freed: an empty region shows a fixed
        # delta. Measure it once, subtract it from every pass.
        probe = Region("_probe", self)
        for _ in range(3):
            b = probe.bytes
            with probe:
                pass
        self.bias = probe.bytes - b
        self.dirty = False

    def on(self):
        """True when someone wants the totals (metrics source active or a
        trace client connected)."""
        s = self.source
        if s is not None and s.active:
            return True
        t = self.tracer
        return t is not None and t.active

    def get(self, name):
        """The region called ``name``, created on first use (a name is
        what metrics allow as a field name prefix)."""
        r = self.by_name.get(name)
        if r is None:
            if not isinstance(name, str) or not name:
                raise ValueError("bad region name: %r" % (name,))
            for ch in name:
                if ord(ch) < 32 or ord(ch) == 127:
                    raise ValueError("bad region name: %r" % (name,))
            r = Region(name, self)
            self.by_name[name] = r
            self.list.append(r)
        return r

    def changed(self, r):
        self.dirty = True
        s = self.source
        if s is not None and s.active:
            k = r.keys
            s.set(k[0], r.count)
            s.set(k[1], r.bytes)
            s.set(k[2], r.ms)

    def collect(self):
        """``gc.collect()``, accounting the bytes it freed (so regions
        open across it stay exact) and telling the tracer. Returns the
        bytes freed."""
        ma = self.mem_alloc
        before = ma()
        gc.collect()
        after = ma()
        freed = before - after
        if freed > 0:
            self.freed += freed
        self.collects += 1
        t = self.tracer
        if t is not None and t.active:
            t.collected(before, after)
        return freed

    def wrap(self, name, fn):
        """``fn`` wrapped so each call runs inside region ``name`` (looked
        up at call time, so it costs nothing while monitoring is off;
        MicroPython allocates the call's ``*args`` tuple)."""
        regions = self

        def wrapper(*args, **kw):
            look = regions.lookup
            r = look(name) if look is not None else regions.get(name)
            with r:
                return fn(*args, **kw)

        return wrapper
