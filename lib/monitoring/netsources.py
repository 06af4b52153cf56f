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
from .sources import _builtin, _copy

_NET = (("influx_points_sent", "points_sent"), ("influx_bytes_sent", "bytes_sent"),
        ("syslog_sent", "log_sent"), ("syslog_bytes_sent", "log_bytes_sent"))
PROM_FIELDS = ("prometheus_scrapes", "prometheus_bytes_sent")


def net_sampler(mon, net_status=None):
    """The sampler of the ``net`` source: ``mon`` is the :class:`Monitor`
    (its ``counters`` and ``prometheus``), ``net_status`` the board hook
    or None."""

    def sample(src):
        st = net_status and net_status()
        if st:
            v = st.get("connected")
            if v is not None:
                src.set("connected", bool(v))
            v = st.get("rssi")
            if v is not None:
                src.set("rssi_dbm", int(v))
            v = st.get("reconnects")
            if v is not None:
                _copy(src, "reconnects", int(v))
        c = mon.counters
        for name, attr in _NET:
            _copy(src, name, getattr(c, attr))
        p = getattr(mon, "prometheus", None)
        if p is not None:
            _copy(src, PROM_FIELDS[0], p.scrapes)
            _copy(src, PROM_FIELDS[1], p.bytes_sent)

    return sample


class LoopLag:
    """The loop-lag probe (``start()``/``stop()`` its task) and the sampler
    of the ``asyncio`` source. ``max``, ``sum`` (ms) and ``n`` are the
    figures since the last report."""

    def __init__(self, period_ms=100):
        self.period_ms = period_ms
        self.max = self.sum = self.n = 0
        self._task = None

    async def run(self):
        """Probe until cancelled."""
        p = self.period_ms
        while True:
            t0 = ticks_ms()
            await sleep_ms(p)
            ms = max(0, ticks_diff(ticks_ms(), t0) - p)
            self.sum += ms
            self.n += 1
            self.max = max(self.max, ms)

    def __call__(self, src):
        n = self.n
        src.set("lag_max_seconds", self.max / 1000)
        src.set("lag_mean_seconds", self.sum / n / 1000 if n else 0.0)
        src.set("lag_samples", n)
        self.max = self.sum = self.n = 0
        f = getattr(asyncio, "all_tasks", None)
        if f is not None:
            src.set("tasks", len(f()))

    def start(self):
        """Start the probe task."""
        if self._task is None:
            self._task = asyncio.create_task(self.run())

    def stop(self):
        """Cancel the probe task."""
        if self._task is not None:
            self._task.cancel()
            self._task = None


def add_net_sources(registry, mon, net_status=None, lag_period_ms=100):
    """Register ``net`` and (unless ``lag_period_ms`` is 0) ``asyncio`` in
    ``registry`` if absent; returns the services to start (the probe)."""
    if registry.get("net") is None:
        # its fields created now, not on a later, fuller heap
        _builtin(registry, "net", net_sampler(mon, net_status)).sample()
    if lag_period_ms and registry.get("asyncio") is None:
        lag = LoopLag(lag_period_ms)
        _builtin(registry, "asyncio", lag)
        return (lag,)
    return ()
