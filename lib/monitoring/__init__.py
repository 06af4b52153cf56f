"""micropython-monitoring: metrics to Influx, syslog, a trace port and a
control socket for MicroPython boards.

Quick use, from inside your asyncio program::

    import monitoring
    from monitoring.metrics import Source

    app = Source("app", tags=("demo",))
    mon = monitoring.start(hostname="pico-1",
                           influx={"host": "192.168.1.10", "db": "telemetry"})
    ...
    app.incr("requests")
    app.set("temperature", 21.5)
    ...
    mon.stop()

Each capability is one section, a dict with the same keys as in
``config.json`` and in docs/. Only what ``start`` is asked for is
imported, so an unused capability costs no RAM.
"""

from .metrics import default_registry
from .sources import Counters, add_builtin_sources

__version__ = "0.2.0"

# the running Monitor, for module-level helpers (mark, region...)
current = None


class Monitor:
    """What :func:`start` returns: the running capabilities.

    Attributes: ``registry`` (the metrics registry), ``counters`` (the
    ``monitoring`` source's counters), ``influx`` (the
    :class:`influx.InfluxReporter` or None), ``control`` (the
    :class:`control_server.ControlServer` or None), ``syslog``,
    ``trace`` (a :class:`trace.TraceServer`), ``prometheus`` (each the
    running service or None), ``crash`` (the :class:`crash.CrashStore`
    or None), ``regions`` (the :class:`regions.Regions`
    behind :func:`region`, or None), ``pool`` (``start``'s: where every
    socket comes from; None: the ``socket`` module).
    """

    def __init__(self, registry, counters):
        self.registry = registry
        self.counters = counters
        self.firmware = "unknown"
        self.builtin_sources = True
        self.influx = None
        self.control = None
        self.syslog = None
        self.trace = None
        self.prometheus = None
        self.regions = None
        self.want_regions = False
        self.services = []

    # the crash section's store, and start()'s rtc and reset_cause: class
    # attributes until set (a firmware without them keeps a smaller dict)
    crash = rtc = reset_cause = None

    def make_regions(self):
        """The :class:`regions.Regions` behind :func:`region`, created on
        first need with its ``regions`` metrics source (when a metrics
        consumer runs)."""
        if self.regions is None:
            from .regions import Regions

            src = None
            if self.want_regions:
                src = self.registry.get("regions")
                if src is None:
                    from .metrics import Source

                    src = Source("regions", tags=("builtin",), registry=self.registry)
            self.regions = Regions(source=src, lookup=region)
            self.regions.tracer = self.trace
        return self.regions

    def _add(self, service):
        self.services.append(service)
        service.start()
        return service

    async def flush(self, timeout_ms=5000, collect=True):
        """Deliver every queued point and record now; returns
        ``(delivered, dropped, left)``, never raises: :func:`flush.flush`."""
        from .flush import flush

        return await flush(self, timeout_ms, collect)

    def stop(self):
        """Stop every capability: tasks cancelled, sockets closed."""
        global current
        for s in self.services:
            try:
                s.stop()
            except Exception:
                pass
        self.services = []
        if current is self:
            current = None


def check(doc):
    """Every section of ``doc`` (the keywords of :func:`start`) checked:
    ``{name: options}`` for the sections that are on, defaults filled in.
    Raises ValueError naming ``section.key`` at the first bad one. The
    sections and their owner modules: :data:`options.SECTIONS`."""
    from . import options

    return options.check_document(doc)[0]


def _unload(name):
    # forget a submodule so that its code can be collected
    import sys

    sys.modules.pop("monitoring." + name, None)
    g = globals()
    if name in g:
        del g[name]


def start(hostname="micropython", firmware="unknown", registry=None, logging=None,
          net_status=None, pool=None, rtc=None, reset_cause=None, **sections):
    """Start monitoring; returns a :class:`Monitor` (call ``stop()`` on it).

    ``hostname`` is the ``host`` tag of every point and the syslog
    HOSTNAME; ``firmware`` the firmware's name and version (the
    ``system`` source's ``firmware`` field, the default syslog APP-NAME).
    Each capability is a section, a dict of options (absent, None or
    ``{"enabled": False}``: off), the same as in ``config.json``:
    ``influx``, ``syslog``, ``control``, ``trace``, ``prometheus``,
    ``crash``, and ``sources`` (which built-in sources run; on by default). Their keys are
    in docs/ and in each owner module's ``OPTIONS``; so
    ``start(**json.load(f))`` works, the firmware's own keys (``wifi``,
    ``ntp``, ``watchdog_ms``, ``heartbeat_s``, ``log_level``, ``sleep_s``)
    ignored.

    Python objects beside the sections: ``registry`` (default the
    package's), ``logging`` (the logging module whose levels the control
    socket sets and whose loggers syslog attaches to, by name; default
    micropython-lib's or CPython's ``logging``, else ``adafruit_logging``),
    ``net_status`` (the board's hook for the ``net`` source, returning
    ``{"connected", "rssi", "reconnects"}`` or None), ``pool`` (where every
    client and listener gets its sockets: an object with ``getaddrinfo``,
    ``socket`` and the ``AF_INET``, ``SOCK_STREAM``, ``SOCK_DGRAM``,
    ``SOL_SOCKET``, ``SO_REUSEADDR`` constants; on CircuitPython
    ``socketpool.SocketPool(wifi.radio)``; default the ``socket`` module,
    which CircuitPython lacks). See :mod:`netpool`. ``rtc`` (an object with
    ``machine.RTC``'s ``memory()``, where the ``crash`` section keeps its
    record; default the port's RTC memory, else a file) and
    ``reset_cause`` (the board's name for why it last reset, reported by
    the ``crash`` section). See :mod:`crash`.

    Every option is checked before anything starts: a bad one raises
    ValueError naming ``section.key`` and nothing is left running. A port
    that cannot be bound raises OSError, and what had started is stopped.
    Must be called with an asyncio event loop available (from inside
    ``asyncio.run``'s coroutine on CPython).
    """
    global current
    import gc

    # what importing left behind goes first, so the code loaded below and
    # then the buffers (a few KB each) find contiguous room on a small heap
    gc.collect()
    sections["hostname"] = hostname
    sections["firmware"] = firmware
    try:
        from . import options

        # {name: options}, and [(owner module, options)] in starting order
        opts, owners = options.check_document(sections)
        if logging is None and ("control" in opts or "syslog" in opts):
            logging = options.default_logging()
    finally:
        # the checking code is needed before starting only: a board keeps none of it
        _unload("options")
    gc.collect()
    mon = _run(hostname, firmware, opts, owners, registry, logging, net_status, pool, rtc,
               reset_cause)
    current = mon
    return mon


def _run(hostname, firmware, opts, owners, registry, logging, net_status, pool, rtc=None,
         reset_cause=None):
    # the checked sections started, in order, on a new Monitor; what had
    # started is stopped when one fails (a port taken)
    reg = registry if registry is not None else default_registry
    reg.set_host(hostname)
    mon = Monitor(reg, Counters())
    mon.pool = pool
    mon.firmware = firmware
    if rtc is not None:
        mon.rtc = rtc
    if reset_cause is not None:
        mon.reset_cause = reset_cause
    src = opts["sources"]
    mon.builtin_sources = src["builtin"]
    if src["builtin"]:
        add_builtin_sources(reg, mon.counters, firmware)
    # regions: measured for a trace client and for a metrics consumer; for
    # metrics alone the machinery loads at the first region() call, so a
    # firmware that uses no regions never pays for it
    mon.want_regions = src["builtin"] and (
        "influx" in opts or "prometheus" in opts or "control" in opts)
    try:
        if src["net"]:
            from .netsources import add_net_sources

            for svc in add_net_sources(reg, mon, net_status, src["asyncio_lag_ms"]):
                mon._add(svc)
        for m, o in owners[1:]:  # the first, sources, is done
            if m.__name__ in ("monitoring.control_server", "monitoring.syslog_handler",
                              "monitoring.crash"):
                m.start(mon, o, logging)
            else:
                m.start(mon, o)
    except BaseException:
        mon.stop()
        raise
    return mon


# -- trace port and regions (module-level helpers) ------------------------


class _NullRegion:
    # what region() returns while nobody wants region totals: entering and
    # leaving it allocates nothing; as a decorator it looks the region up
    # at each call
    name = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return False

    def __call__(self, fn):
        name = self.name

        def wrapper(*args, **kw):
            with region(name):
                return fn(*args, **kw)

        return wrapper


_NULL = _NullRegion()


def region(name):
    """A region to measure a block: ``with monitoring.region("http"):``
    or, as a decorator, ``@monitoring.region("http")``.

    Each pass adds to the region's totals: passes, bytes allocated inside
    (``gc.mem_alloc`` delta, see :meth:`regions.Region.__exit__` for the
    approximation) and ms spent. Totals go to the ``regions`` metrics
    source (fields ``<name>_count``, ``<name>_bytes``, ``<name>_ms``) and
    to the trace client as ``R`` lines (the source exists when ``start``
    was given a metrics consumer: an ``influx``, ``prometheus`` or
    ``control`` section). While monitoring is not started,
    or neither that source is active nor a trace client connected, the
    region is a no-op that allocates nothing; when on, a pass allocates
    nothing after the region's first use (the decorator form allocates
    the call's arguments, as any ``*args`` call does on MicroPython).
    A name that is not a non-empty str without control characters is
    never measured; ``region`` never raises.
    """
    m = current
    if m is not None:
        r = m.regions
        if r is None and m.want_regions:
            r = m.make_regions()
        if r is not None and r.on():
            try:
                return r.get(name)
            except ValueError:
                # a bad name is not measured: it must not start raising
                # when an operator connects a trace client
                pass
    n = _NULL
    n.name = name
    return n


def mark(label):
    """Put a marker line (``M``) in the trace stream, if a trace client is
    connected; otherwise do nothing. ``label``: str, or bytes to allocate
    nothing."""
    m = current
    if m is not None and m.trace is not None:
        m.trace.mark(label)


def collect():
    """``gc.collect()`` run by (or for) the library: the bytes it frees
    are accounted so regions open across it stay exact, and the trace
    shows a ``G`` line. Returns the bytes freed (0 when monitoring is not
    started)."""
    m = current
    if m is not None and m.regions is not None:
        return m.regions.collect()
    import gc

    gc.collect()
    return 0


def crash_report(exc):
    """Write ``exc``'s crash report to the store of the ``crash`` section
    (once per exception), for delivery at the next boot: call it with an
    uncaught exception before resetting. Works on a full heap. Returns
    True when it was stored; False when the section is off or the store
    failed. Never raises."""
    m = current
    if m is not None and m.crash is not None:
        return m.crash.report(exc)
    return False


def beat(name):
    """The heartbeat: the task ``name`` (bytes, to allocate nothing) is
    running; after a watchdog reset the report names the last one. Cheap:
    nothing happens while the name is the one last recorded, and the store
    is written at most every ``crash.beat_s`` (RTC memory: at each change).
    Does nothing while the ``crash`` section is off."""
    m = current
    if m is not None and m.crash is not None:
        m.crash.beat(name)


def memory_error(where):
    """Report a MemoryError caught by a monitoring task: an ``E`` line in
    the trace stream (and the trace server's ``memory_errors`` count)."""
    m = current
    if m is not None and m.trace is not None:
        m.trace.memory_error(where)


def _room(n):
    # each submodule a configuration loads becomes a name here (41 with
    # every capability): the namespace's table is grown to hold them now,
    # while the heap is whole, not re-made (a larger block, the old one
    # left as a hole) in the middle of a capability's import
    g = globals()
    extra = range(n - len(g))
    for i in extra:
        g[i] = None
    for i in extra:
        del g[i]


_room(41)
del _room
