"""Built-in sources ``net`` and ``asyncio`` (tag ``builtin``).

``net``, sampled when reported:

- from the board's ``net_status()`` hook, when it returns a dict:
  ``connected`` (bool), ``rssi_dbm`` (int, dBm, last known while
  disconnected), ``reconnects`` (counter);
- everywhere, what monitoring itself sent, per transport (counters):
  ``influx_points_sent``, ``influx_bytes_sent``, ``syslog_sent``,
  ``syslog_bytes_sent`` (from :class:`sources.Counters`) and, while the
  Prometheus endpoint runs, ``prometheus_scrapes`` and
  ``prometheus_bytes_sent``.

``asyncio``: a probe task sleeps ``period_ms`` (100 ms by default) again
and again and measures how late it wakes, in whole milliseconds. Reported
(in seconds, the Prometheus base unit, so the names pass ``promtool``'s
lint): ``lag_max_seconds`` and ``lag_mean_seconds`` (floats) and
``lag_samples`` (int, wake-ups measured), over the time since the
previous report (by any reporter: with both Influx and Prometheus reading
it, each sees the part since the other's last read), then reset; and
``tasks`` (int) where the runtime can count its tasks (CPython; MicroPython's
asyncio has no task list, so the field is absent there). A lag sample
allocates nothing.
"""

from .compat import asyncio, sleep_ms, ticks_diff, ticks_ms
from .metrics import Source


def _count(src, name, v):
    # a counter field copied from elsewhere (no allocation once it exists)
    f = src.fields
    if name in f:
        f[name] = v
    else:
        src.incr(name, v)


class NetSampler:
    """Sampler of the ``net`` source: ``mon`` is the :class:`Monitor`
    (its ``counters`` and ``prometheus``), ``net_status`` the board hook
    or None."""

    def __init__(self, mon, net_status=None):
        self.mon = mon
        self.net_status = net_status

    def __call__(self, src):
        hook = self.net_status
        if hook is not None:
            st = hook()
            if st:
                c = st.get("connected")
                if c is not None:
                    src.set("connected", bool(c))
                r = st.get("rssi")
                if r is not None:
                    src.set("rssi_dbm", int(r))
                r = st.get("reconnects")
                if r is not None:
                    _count(src, "reconnects", int(r))
        c = self.mon.counters
        _count(src, "influx_points_sent", c.points_sent)
        _count(src, "influx_bytes_sent", c.bytes_sent)
        _count(src, "syslog_sent", c.log_sent)
        _count(src, "syslog_bytes_sent", c.log_bytes_sent)
        p = getattr(self.mon, "prometheus", None)
        if p is not None:
            _count(src, "prometheus_scrapes", p.scrapes)
            _count(src, "prometheus_bytes_sent", p.bytes_sent)


class LoopLag:
    """The loop-lag probe and the sampler of the ``asyncio`` source.

    ``start()`` runs the probe task, ``stop()`` cancels it; ``late(ms)``
    records one sample (the probe calls it; tests may too)."""

    def __init__(self, period_ms=100):
        self.period_ms = period_ms
        self.max = 0
        self.sum = 0
        self.n = 0
        self._task = None
        self._all_tasks = getattr(asyncio, "all_tasks", None)

    def late(self, ms):
        """Record a wake-up ``ms`` milliseconds late."""
        if ms < 0:
            ms = 0
        self.sum += ms
        self.n += 1
        if ms > self.max:
            self.max = ms

    async def run(self):
        """Probe until cancelled."""
        p = self.period_ms
        while True:
            t0 = ticks_ms()
            await sleep_ms(p)
            self.late(ticks_diff(ticks_ms(), t0) - p)

    def __call__(self, src):
        n = self.n
        src.set("lag_max_seconds", self.max / 1000)
        src.set("lag_mean_seconds", self.sum / n / 1000 if n else 0.0)
        src.set("lag_samples", n)
        self.max = 0
        self.sum = 0
        self.n = 0
        if self._all_tasks is not None:
            try:
                src.set("tasks", len(self._all_tasks()))
            except Exception:
                pass

    def start(self):
        """Start the probe task."""
        if self._task is None:
            self._task = asyncio.create_task(self.run())
        return self._task

    def stop(self):
        """Cancel the probe task."""
        if self._task is not None:
            self._task.cancel()
            self._task = None



def add_net_sources(registry, mon, net_status=None, lag_period_ms=100):
    """Register ``net`` and (unless ``lag_period_ms`` is 0) ``asyncio`` in
    ``registry`` if absent; returns the services to start (the probe)."""
    services = []
    if registry.get("net") is None:
        Source("net", tags=("builtin",), sampler=NetSampler(mon, net_status), registry=registry)
    if lag_period_ms and registry.get("asyncio") is None:
        lag = LoopLag(lag_period_ms)
        Source("asyncio", tags=("builtin",), sampler=lag, registry=registry)
        services.append(lag)
    return services
