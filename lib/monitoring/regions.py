"""Regions: the bytes allocated and the time spent inside ``with`` blocks
(or decorated functions), for :func:`monitoring.region`.

Pure module: no sockets, no asyncio. Runs on MicroPython, CircuitPython
and CPython.
See :meth:`Region.__exit__` for how bytes are measured and the
approximation.
"""

import gc

from .compat import ticks_diff

# ticks_us(), and ticks_diff of two of its values in us: MicroPython's
# ticks_us (its ticks_diff serves ms and us alike); CPython's
# perf_counter_ns; on CircuitPython, which has neither, the millisecond
# ticks (supervisor.ticks_ms, allocating nothing where monotonic_ns makes a
# long int at each call) and circuitpy.diff_us: a pass shorter than a
# millisecond counts 0 or 1 ms, 1 as often as a tick falls inside it,
# right on average.
try:
    from time import ticks_us
except ImportError:
    try:
        from time import perf_counter_ns

        def ticks_us():  # CPython
            return perf_counter_ns() // 1000

    except ImportError:  # CircuitPython
        from .circuitpy import diff_us as ticks_diff
        from .circuitpy import ticks_ms as ticks_us

if hasattr(gc, "mem_alloc"):
    _mem_alloc = gc.mem_alloc
else:  # CPython: what tracemalloc sees, when it runs
    import tracemalloc

    def _mem_alloc():
        return tracemalloc.get_traced_memory()[0]  # 0 while not tracing

_DEPTH = 4  # nesting levels measured


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
        self.count = self.bytes = self.ms = self.inexact = self.overflow = self._us = 0
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
            d *= 3
            st[d + 1] = self.owner.freed
            st[d + 2] = ticks_us()
            st[d] = self.owner.mem_alloc()
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
        owner = self.owner
        alloc = owner.mem_alloc()
        now = ticks_us()
        d = self._depth - 1
        self._depth = d
        if d >= _DEPTH:
            self.overflow += 1
            return False
        st = self._stack
        d *= 3
        delta = alloc - st[d] + (owner.freed - st[d + 1]) - owner.bias
        if delta < 0:
            self.inexact += 1
            delta = 0
        self.count += 1
        self.bytes += delta
        us = self._us + ticks_diff(now, st[d + 2])
        self.ms += us // 1000
        self._us = us % 1000
        self.dirty = True
        owner.changed(self)
        return False

    def __call__(self, fn):
        return self.owner.wrap(self.name, fn)


class Regions:
    """The set of regions, the bytes freed by library collections
    (``freed``, ``collects``), and where totals go: ``source`` (a metrics
    :class:`Source`, fields ``<name>_count``, ``<name>_bytes``,
    ``<name>_ms``) and ``tracer`` (a :class:`trace.TraceServer`: while
    its ``active`` is true it reads the regions whose ``dirty`` flag is set
    and is told of library collections with ``collected(before, after)``),
    each optional.

    ``lookup`` is the function decorators call to find the region (or a
    no-op) at call time; :func:`monitoring.region` by default.
    ``mem_alloc`` reads the allocated heap bytes (``gc.mem_alloc``; on
    CPython, tracemalloc's current size while it traces).
    """

    def __init__(self, source=None, tracer=None, lookup=None, mem_alloc=None):
        self.mem_alloc = mem_alloc or _mem_alloc
        self.by_name = {}
        self.list = []
        self.freed = self.collects = self.bias = 0
        self.source = self.tracer = None
        # MicroPython puts a call's frame on the heap when it is large and
        # frees it on return, so __exit__ reads mem_alloc with its own frame
        # allocated and __enter__'s freed: an empty region shows a fixed
        # delta. Measure it once, subtract it from every pass.
        probe = Region("bias", self)  # a region nobody sees
        for _ in range(3):
            b = probe.bytes
            with probe:
                pass
        self.bias = probe.bytes - b
        self.source = source
        self.tracer = tracer
        self.lookup = lookup
        self.dirty = False

    def on(self):
        """True when someone wants the totals (metrics source active or a
        trace client connected)."""
        s = self.source
        t = self.tracer
        return s is not None and s.active or t is not None and t.active

    def get(self, name):
        """The region called ``name``, created on first use (a name is
        what metrics allow as a field name prefix)."""
        r = self.by_name.get(name)
        if r is None:
            if not isinstance(name, str) or not name or min(name) < " " or "\x7f" in name:
                raise ValueError("bad region name: %r" % (name,))
            r = self.by_name[name] = Region(name, self)
            self.list.append(r)
        return r

    def changed(self, r):
        self.dirty = True
        s = self.source
        if s is not None:  # (set() returns at once while s is inactive)
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
        def wrapper(*args, **kw):
            look = self.lookup
            r = look(name) if look is not None else self.get(name)
            with r:
                return fn(*args, **kw)

        return wrapper
