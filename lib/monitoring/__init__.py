"""micropython-monitoring: metrics to Influx, syslog, a trace port and a
control socket for MicroPython boards.

Quick use, from inside your asyncio program::

    import monitoring
    from monitoring.metrics import Source

    app = Source("app", tags=("demo",))
    mon = monitoring.start(influx=("192.168.1.10", 8094), hostname="pico-1")
    ...
    app.incr("requests")
    app.set("temperature", 21.5)
    ...
    mon.stop()

Only what ``start`` is asked for is imported, so an unused capability
costs no RAM.
"""

from .metrics import default_registry
from .sources import Counters, add_builtin_sources

__version__ = "0.1.0"

# the running Monitor, for module-level helpers (mark, region...)
current = None


class Monitor:
    """What :func:`start` returns: the running capabilities.

    Attributes: ``registry`` (the metrics registry), ``counters`` (the
    ``monitoring`` source's counters), ``influx`` (the
    :class:`influx.InfluxReporter` or None), ``control`` (the
    :class:`control_server.ControlServer` or None), ``syslog``,
    ``trace`` (a :class:`trace.TraceServer`), ``prometheus`` (each the
    running service or None), ``regions`` (the :class:`regions.Regions`
    behind :func:`region`, or None).
    """

    def __init__(self, registry, counters):
        self.registry = registry
        self.counters = counters
        self.influx = None
        self.control = None
        self.syslog = None
        self.trace = None
        self.prometheus = None
        self.regions = None
        self.want_regions = False
        self.services = []

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


def start(hostname="micropython", influx=None, transport="tcp", interval=10,
          db=None, org=None, bucket=None, token=None, precision="ns",
          buffer_size=4096, mtu=512, timeout_ms=5000, firmware="unknown",
          registry=None, builtin_sources=True,
          # control socket (issue: control socket)
          listen_port=None, listen_addr="0.0.0.0", control_token=None,
          control_clients=2,
          # syslog (issue: syslog)
          syslog=None, syslog_transport="udp", syslog_framing="octet",
          syslog_format="rfc5424", syslog_facility=3, app_name=None,
          syslog_queue=4096, loggers=None, syslog_max_len=None, syslog_bom=False,
          # trace port (issue: trace port)
          trace_port=None, trace_interval_ms=200,
          # Prometheus endpoint (issue: Prometheus)
          prometheus_port=None, prometheus_addr="0.0.0.0",
          net_sources=False, net_status=None, asyncio_lag_ms=100,
          **extra):
    """Start monitoring; returns a :class:`Monitor` (call ``stop()`` on it).

    Metrics: ``influx=(host, port)`` enables the Influx reporter, which
    every ``interval`` seconds sends the active sources over ``transport``
    (``"tcp"``, ``"udp"`` or ``"http"``; HTTP needs ``db``, or ``org`` and
    ``bucket`` and usually ``token`` for InfluxDB 2). ``precision`` is the
    timestamp unit (``s``, ``ms``, ``us``, ``ns``), ``buffer_size`` the
    bytes of unsent lines kept while the sink is down, ``mtu`` the largest
    UDP datagram, ``timeout_ms`` the longest wait on the network before a
    send counts as failed. ``hostname`` is sent as the ``host`` tag of every point.
    ``builtin_sources`` registers ``memory``, ``system`` and ``monitoring``.
    ``net_sources=True`` registers ``net`` and ``asyncio`` too (tag
    ``builtin``; off by default: about 5 KB of RAM): ``net_status`` is the
    board's hook (``board.net_status``, returning ``{"connected", "rssi",
    "reconnects"}`` or None), ``asyncio_lag_ms`` the period of the loop-lag
    probe (0: no ``asyncio`` source).

    Prometheus: ``prometheus_port=9100`` serves ``GET /metrics`` on
    ``prometheus_addr`` (see :mod:`monitoring.prometheus`).

    Syslog: ``syslog=(host, port)`` attaches a handler to ``loggers`` (a
    logging module, a logger, a logger name, or a tuple of them; default
    the root logger of micropython-lib ``logging``, else
    ``adafruit_logging``) that ships every record over
    ``syslog_transport`` (``"udp"`` or ``"tcp"``, with ``syslog_framing``
    ``"octet"`` or ``"lf"``) as ``syslog_format`` (``"rfc5424"`` or
    ``"rfc3164"``) with facility ``syslog_facility`` (number or name,
    default 3, daemon), APP-NAME ``app_name`` (default ``firmware``),
    messages of at most ``syslog_max_len`` bytes (default 480 on UDP, 2048
    on TCP) queued in ``syslog_queue`` bytes; ``syslog_bom`` puts a BOM
    before each message. With ``builtin_sources`` it also registers the
    ``log`` source (records per level, drops).

    Control socket: ``listen_port=2323`` starts it on ``listen_addr``
    (``L``/``l``/``M``/``m`` commands, see :mod:`control`), with at most
    ``control_clients`` clients and, if ``control_token`` is set, an
    ``auth TOKEN`` first line. Log levels are those of ``loggers`` when it
    is a logging module, else of micropython-lib ``logging`` or
    ``adafruit_logging``, whichever is installed.

    Must be called with an asyncio event loop available (from inside
    ``asyncio.run``'s coroutine on CPython).
    """
    global current
    if extra:
        raise TypeError("unknown option: %s" % ", ".join(extra))
    import gc

    # what importing left behind goes first, so the buffers below (a few
    # KB each) find contiguous room on a small, fragmented heap
    gc.collect()
    reg = registry if registry is not None else default_registry
    reg.set_host(hostname)
    counters = Counters()
    mon = Monitor(reg, counters)
    if builtin_sources:
        add_builtin_sources(reg, counters, firmware)
    try:
        if influx is not None:
            from .influx import InfluxReporter

            _address("influx", influx)
            mon.influx = mon._add(InfluxReporter(
                reg, counters, influx[0], influx[1] if len(influx) > 1 else None,
                transport, interval,
                db=db, org=org, bucket=bucket, token=token,
                precision=precision, mtu=mtu, buffer_size=buffer_size,
                timeout_ms=timeout_ms))

        # -- control socket: start it here ------------------------------
        if listen_port is not None:
            from .control_server import ControlServer
            from .logbackend import backend_for, default_logging

            # ``loggers`` may be the logging module to control; anything
            # else (logger names, None): the installed logging module
            logmod = loggers if hasattr(loggers, "getLogger") else default_logging()
            mon.control = mon._add(ControlServer(
                reg, backend_for(logmod), listen_port, listen_addr,
                token=control_token, max_clients=control_clients))

        # -- syslog: start it here --------------------------------------
        if syslog is not None:
            from .syslog_handler import start_syslog

            _address("syslog", syslog)
            mon.syslog = start_syslog(
                mon, syslog, syslog_transport, syslog_framing, syslog_format,
                syslog_facility, app_name or firmware, syslog_queue, loggers,
                syslog_max_len, syslog_bom, timeout_ms, builtin_sources)

        # -- trace port: start it here ----------------------------------
        # regions: measured for a trace client and for a metrics consumer
        # (Influx, Prometheus, the control socket); for metrics alone, the
        # machinery loads at the first region() call, so a firmware that
        # uses no regions never pays for it
        mon.want_regions = builtin_sources and (
            influx is not None or prometheus_port is not None or listen_port is not None)
        if trace_port is not None:
            from .trace import TraceServer

            mon.make_regions()

            mon.trace = mon._add(TraceServer(trace_port, trace_interval_ms, device=hostname,
                                             regions=mon.regions))
            mon.regions.tracer = mon.trace

        # -- Prometheus endpoint: start it here -------------------------
        if net_sources or prometheus_port is not None:
            from .netsources import start_endpoint

            start_endpoint(mon, prometheus_port, prometheus_addr, net_sources, net_status,
                           asyncio_lag_ms)

    except BaseException:
        mon.stop()
        raise
    current = mon
    return mon


def _address(name, addr):
    # (host, port) or (host,): not the host alone, whose characters would
    # be taken for host and port
    if type(addr) not in (tuple, list) or not 1 <= len(addr) <= 2:
        raise ValueError("%s: expected (host, port), got %r" % (name, addr))


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
    was given a metrics consumer: ``influx``, ``prometheus_port`` or
    ``listen_port``). While monitoring is not started,
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


def memory_error(where):
    """Report a MemoryError caught by a monitoring task: an ``E`` line in
    the trace stream (and the trace server's ``memory_errors`` count)."""
    m = current
    if m is not None and m.trace is not None:
        m.trace.memory_error(where)
